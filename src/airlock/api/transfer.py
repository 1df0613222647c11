"""``copy_image``: an image and its signatures from one registry to another (``airlock copy``).

The work is :func:`airlock.oci.copying.copy`: blobs streamed from the source to the destination,
digest-checked as they pass, manifests after their children, the tag last. Here the names are
parsed, the source's signature repository (``$COSIGN_REPOSITORY``) found, and a client made
for the number of jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airlock.oci.copying import Copied, check_only
from airlock.oci.transfer import QUIET, Progress, default_jobs


def copy_image(source: str, destination: str, *, only: Sequence[str] = (), platform: str | None = None,
               force: bool = False, jobs: int | None = None, progress: Progress = QUIET, client: Any = None,
               insecure: bool = False) -> Copied:
    """Copy the image ``source`` (a reference) with its ``.sig``/``.att``/``.sbom`` tags and bundle
    referrers to ``destination``, as ``cosign copy`` does.

    ``only``: some of ``sig``, ``att``, ``sbom`` (then the image itself is not copied);
    ``platform``: one image of an index (``os/arch[/variant]``); ``force``: overwrite tags at the
    destination that name other content (else the copy stops before writing anything);
    ``jobs``: blobs moved at once (default: twice the CPUs, at most 8). ``client``: a
    ``RegistryClient`` (default: a new one, ``insecure`` as given).
    """
    from airlock.oci.copying import copy
    from airlock.oci.reference import parse_reference
    from airlock.oci.sources import registry_client, signature_repository

    kinds = check_only(only)
    src, dst = parse_reference(source), parse_reference(destination)
    jobs = jobs or default_jobs()
    if client is None:
        client = registry_client(insecure=insecure)
    client.connections = max(client.connections, jobs)  # one kept-alive connection per worker
    return copy(client, src, dst, only=kinds, platform=platform, force=force, jobs=jobs, progress=progress,
                signatures=signature_repository())
