"""Where a verifying command's trust comes from: ``--trusted-root FILE``, else the TUF mirror.

``FILE`` is one trusted_root.json, or a JSON Lines file of several (``gh attestation
trusted-root`` writes one root per line): a signature then verifies if any one of them, on its
own, verifies it (``TrustedRoot.each``).

With no ``--trusted-root``, the mirror under ``$TUF_ROOT`` is re-verified offline first
(``airlock.trust.mirror``) and its ``trusted_root.json`` used. Warnings (something expires
within ``warn_days``, the mirror is older than ``warn_age``) are returned for the caller to
print; anything critical raises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airlock.trust.trusted_root import TrustedRoot

WARN_DAYS = 7
WARN_AGE = timedelta(days=30)


def load(trusted_root_file: str | None, *, tuf_root: str | None = None, now: datetime | None = None,
         warn_age: timedelta = WARN_AGE, max_age: timedelta | None = None) -> tuple[TrustedRoot, list[str]]:
    import os

    from airlock.trust import layout, status
    from airlock.trust.trusted_root import TrustedRoot

    now = now or datetime.now(UTC)
    mirror = None
    if trusted_root_file:
        root = TrustedRoot.from_file(trusted_root_file)
    else:
        base = layout.tuf_root(tuf_root)
        if not os.path.exists(os.path.join(base, "remote.json")):
            from airlock.errors import UsageError

            raise UsageError(f"no trusted root: pass --trusted-root FILE, or mirror one into {base} with "
                             "`airlock initialize --mirror URL --root root.json` (TUF_ROOT selects the directory)")
        from airlock.trust.mirror import verify_mirror

        mirror = verify_mirror(base, now=now, max_age=max_age)
        root = TrustedRoot.from_json(mirror.trusted_root, source=f"{mirror.directory}/targets/trusted_root.json")
    warnings = []
    for one in root.each:  # a JSON Lines file: every root in it is judged, and named
        report = status.judge(one, mirror, now=now, warn_days=WARN_DAYS, warn_age=warn_age)
        # Signatures are judged at their signing time, so a trusted root with nothing valid *now*
        # still verifies older signatures: for a mirror that is said, for an explicit file (often
        # an archived root kept to verify old signatures) it is not worth a warning.
        problems = [p for p in report.problems if mirror is not None or p not in report.retired]
        label = f" ({one.source})" if root.others else ""
        warnings += [f"WARNING: trust root{label}: {problem}" for problem in problems]
    return root, warnings


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` or a plain number of days."""
    import argparse
    import re

    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhm]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 30d, 12h or 90m")
    value, unit = float(match.group(1)), match.group(2) or "d"
    return timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: value})
