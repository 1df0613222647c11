#!/usr/bin/env python3
"""Regenerate the shipped example: an artifact, its Sigstore bundle and the trust root that verifies it.

The material comes from airlock's test Sigstore instance (``airlock.testing``): a private Fulcio-like
CA, CT log and Rekor log minted on the spot, so the example needs nothing from the network or from
``../shared``. Run from the repository root: ``python3 examples/make_example.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from airlock.testing import SigstoreInstance, bundle_bytes

HERE = Path(__file__).resolve().parent
IDENTITY = "https://github.com/airlock-example/release/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"


def main() -> None:
    instance = SigstoreInstance(now=datetime(2026, 11, 1, 9, 30, tzinfo=UTC))
    artifact = b"hello from the connected side\n"
    (HERE / "hello.txt").write_bytes(artifact)
    bundle = instance.sign_blob(artifact, identity=IDENTITY, issuer=ISSUER)
    (HERE / "hello.txt.sigstore.json").write_bytes(bundle_bytes(bundle))
    (HERE / "trusted_root.json").write_text(json.dumps(instance.trusted_root(), indent=2) + "\n")


if __name__ == "__main__":
    main()
