"""The real Sigstore tools, built by ./run-tests from their published Go modules (never committed).

``./run-tests`` builds each peer once into ``$AIRLOCK_PEERS`` (default ``~/.cache/airlock-peers``),
outside the checkout, when Go is present; tests that need a missing peer skip with a message.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PEERS = Path(os.environ.get("AIRLOCK_PEERS") or Path.home() / ".cache" / "airlock-peers")

# name -> (path under PEERS, the module run-tests builds it from)
MODULES = {
    "cosign": ("bin/cosign", "github.com/sigstore/cosign/v3/cmd/cosign@v3.1.2"),
    "crane": ("bin/crane", "github.com/google/go-containerregistry/cmd/crane@v0.21.9"),
    "sigstore-go-conformance": ("sigstore-go/conformance", "github.com/sigstore/sigstore-go/test/conformance@v1.2.1"),
    "kube-apiserver": ("bin/kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver@v1.30.14 (a wrapper module)"),
    "helm": ("bin/helm", "helm.sh/helm/v3/cmd/helm@v3.22.0"),
}


def peer(name: str) -> Path:
    """The peer's binary, or skip the test saying how to get it."""
    relative, module = MODULES[name]
    path = PEERS / relative
    if not os.access(path, os.X_OK):
        pytest.skip(f"needs {name} at {path} (./run-tests builds it from {module} when Go is present)")
    return path
