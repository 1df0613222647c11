"""Admission: ClusterImagePolicy-compatible policies, the offline ``admit`` gate and the webhook."""
