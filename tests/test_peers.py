"""airlock beside the real sigstore-go: the 70 offline conformance cases (140 checks)."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import CONFORMANCE, PRODUCTION_ROOT, shared
from peers import peer


def _replay(entrypoint: str) -> dict[str, bool]:
    """run_cases.py's verdict for every check (by file and by digest)."""
    run = subprocess.run(
        [sys.executable, str(shared(CONFORMANCE / "run_cases.py")), entrypoint,
         "--default-trusted-root", str(shared(PRODUCTION_ROOT))],
        capture_output=True, text=True, timeout=600,
    )
    verdicts = dict(
        (m.group(2), m.group(1) == "PASS") for m in re.finditer(r"^(PASS|FAIL) (\S+) rc=", run.stdout, re.MULTILINE)
    )
    assert len(verdicts) == 140, run.stdout[-2000:] + run.stderr[-2000:]
    return verdicts


def test_sigstore_go_passes_every_conformance_case_airlock_passes() -> None:
    """test_conformance.py holds airlock to 140 of 140; the real sigstore-go must reach the same verdicts."""
    sigstore_go = _replay(str(peer("sigstore-go-conformance")))
    assert [case for case, ok in sigstore_go.items() if not ok] == []
