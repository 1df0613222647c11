"""Admission: which images may run. ``policies`` reads sigstore policy-controller's
ClusterImagePolicy and TrustRoot YAML, ``workloads`` finds the images of Kubernetes objects,
and ``gate`` decides each image through ``airlock.api`` (the path ``airlock verify`` takes).
``airlock admit`` and the webhook render the gate's decisions; nothing here prints."""
