"""A throwaway SoftHSM2 token for PKCS#11 tests (Debian package ``softhsm2``).

SoftHSM reads ``SOFTHSM2_CONF`` when the module is initialized (C_Initialize), and python-pkcs11
keeps one initialized copy of each module per process, so ``softhsm_token`` re-initializes that
copy after pointing ``SOFTHSM2_CONF`` at the new token directory, and again on the way out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

import pytest

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


class SoftHsmToken(NamedTuple):
    module: str
    label: str
    pin: str
    so_pin: str
    directory: Path

    def uri(self, object: str | None = None, id: bytes | None = None, pin: bool = True, **query: str) -> str:
        """``pkcs11:token=...;object=...;id=...?module-path=...&pin-value=...`` (values %-encoded)."""
        path = [f"token={quote(self.label, safe='')}"]
        if object is not None:
            path.append(f"object={quote(object, safe='')}")
        if id is not None:
            path.append("id=" + "".join(f"%{b:02x}" for b in id))
        params = {"module-path": self.module, **({"pin-value": self.pin} if pin else {}), **query}
        return "pkcs11:" + ";".join(path) + "?" + "&".join(f"{k}={quote(v, safe='/:')}" for k, v in params.items())


def softhsm_module() -> str | None:
    for candidate in (os.environ.get("SOFTHSM2_MODULE"), *MODULE_CANDIDATES):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def _reinitialize(module: str) -> None:
    """Make an already-loaded module re-read SOFTHSM2_CONF (a no-op if python-pkcs11 never loaded it)."""
    try:
        import pkcs11
    except ImportError:
        return
    loaded = pkcs11._loaded.get(module)
    if loaded is not None and loaded.initialized:
        loaded.finalize()  # the next pkcs11.lib(module) initializes it again, reading the current config


@contextmanager
def softhsm_token(
    directory: Path, label: str = "airlock", pin: str = "1234", so_pin: str = "5678"
) -> Iterator[SoftHsmToken]:
    """Create a token directory and config under ``directory``, initialize one token in the first
    free slot, and point SOFTHSM2_CONF at it while the context lasts. Skips without SoftHSM2."""
    module = softhsm_module()
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2): no libsofthsm2.so or softhsm2-util")
    pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed")
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
                    "slots.removable = false\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        proc = subprocess.run([util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
                              capture_output=True, text=True, timeout=30)
        if proc.returncode:
            pytest.fail(f"softhsm2-util --init-token failed: {proc.stderr.strip() or proc.stdout.strip()}")
        _reinitialize(module)
        yield SoftHsmToken(module, label, pin, so_pin, directory)
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
        _reinitialize(module)
