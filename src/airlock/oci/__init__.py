"""Container images on the wire and on disk: references, OCI image layouts, registries, discovery."""
