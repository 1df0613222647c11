"""``airlock trust status``: every expiry that matters, and a verdict with monitoring exit codes.

Exit codes: 0 all fine; 1 warning (something still in use expires within ``warn_days``, or the
mirror is older than ``warn_age``); 2 critical (a TUF role expired, the mirror fails offline
re-verification, the mirror is older than ``max_age``, or no Fulcio CA, no Rekor log or no CT
log is valid now).

The report names the mirror's trust anchor (the SHA-256 of the root it was bootstrapped from)
and what pins it; a mirror that does not match the operator's pin fails re-verification.

A validity window that has ended for a retired key or CA is history (the public-good root keeps
its 2021-2022 CA and CT log): shown, never an alarm by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from airlock.errors import TufError

if TYPE_CHECKING:
    from airlock.trust.mirror import Mirror
    from airlock.trust.trusted_root import TrustedRoot

OK, WARNING, CRITICAL = 0, 1, 2
VERDICTS = {OK: "ok", WARNING: "warning", CRITICAL: "critical"}


class Item(NamedTuple):
    kind: str  # tuf-role | mirror | ca | ca-certificate | tlog | ctlog | tsa | tsa-certificate
    name: str
    start: datetime | None
    end: datetime | None
    state: str  # ok | warning | expired | history | frozen
    note: str = ""

    def days_left(self, now: datetime) -> float | None:
        return None if self.end is None else (self.end - now).total_seconds() / 86400


class Report(NamedTuple):
    now: datetime
    level: int
    items: tuple[Item, ...]
    problems: tuple[str, ...]
    mirror_url: str | None = None
    mirror_verified_at: datetime | None = None
    retired: tuple[str, ...] = ()  # the problems that only say nothing is valid *now*
    anchor: tuple[int, str, str | None] | None = None  # the mirror's bootstrap root: version, SHA-256, pinned by

    @property
    def verdict(self) -> str:
        return VERDICTS[self.level]


def _window_state(start: datetime | None, end: datetime | None, now: datetime, warn: timedelta) -> str:
    if start is not None and now < start:
        return "future"
    if end is None:
        return "ok"
    if end < now:
        return "history"
    return "warning" if end - now <= warn else "ok"


def assess(*, now: datetime | None = None, tuf_root: str | None = None, trusted_root_file: str | None = None,
           warn_days: float = 7, warn_age: timedelta = timedelta(days=30),
           max_age: timedelta | None = None) -> Report:
    """Everything that expires, judged at ``now``; the mirror under ``tuf_root`` unless a file is given."""
    from airlock.trust.mirror import verify_mirror
    from airlock.trust.trusted_root import TrustedRoot

    now = now or datetime.now(UTC)
    mirror = None
    if trusted_root_file:
        root = TrustedRoot.from_file(trusted_root_file)
    else:
        try:
            mirror = verify_mirror(tuf_root, now=now, max_age=max_age)
        except TufError as exc:
            return Report(now, CRITICAL, (), (str(exc),))
        root = TrustedRoot.from_json(mirror.trusted_root, source="TUF mirror trusted_root.json")
    return judge(root, mirror, now=now, warn_days=warn_days, warn_age=warn_age)


def judge(root: TrustedRoot, mirror: Mirror | None, *, now: datetime, warn_days: float = 7,
          warn_age: timedelta = timedelta(days=30)) -> Report:
    """The report for trust material already loaded (and, for a mirror, re-verified)."""
    warn = timedelta(days=warn_days)
    items: list[Item] = []
    problems: list[str] = []
    retired: list[str] = []  # nothing valid now: new signatures cannot verify, old ones still can
    level = OK
    if mirror is not None:
        for role in mirror.roles:
            if role.rule == "now":
                state = _window_state(None, role.expires, now, warn)
                if state == "warning":
                    level = max(level, WARNING)
                    problems.append(f"{role.role}.json version {role.version} expires on "
                                    f"{role.expires:%Y-%m-%d %H:%M:%SZ}")
            else:
                state = "frozen"  # judged when the mirror was verified; valid then
            items.append(Item("tuf-role", f"{role.role} v{role.version}", None, role.expires, state,
                              f"checked against {role.rule}"))
        age = mirror.age(now)
        state = "warning" if age > warn_age else "ok"
        if state == "warning":
            level = max(level, WARNING)
            problems.append(f"the mirror was verified {age.days} days ago (more than {warn_age.days})")
        items.append(Item("mirror", mirror.url, mirror.verified_at, None, state, f"age {age.days} days"))

    usable = {"ca": 0, "tlog": 0, "ctlog": 0}
    for ca in root.certificate_authorities:
        window = _window_state(ca.valid_for.start, ca.valid_for.end, now, warn)
        certs = [(c, _window_state(c.not_valid_before_utc, c.not_valid_after_utc, now, warn)) for c in ca.chain]
        usable_now = window in ("ok", "warning") and all(s in ("ok", "warning") for _, s in certs)
        usable["ca"] += usable_now
        items.append(Item("ca", ca.uri or ca.anchor.subject.rfc4514_string(), ca.valid_for.start,
                          ca.valid_for.end, window))
        for cert, state in certs:
            if usable_now or state != "history":
                items.append(Item("ca-certificate", cert.subject.rfc4514_string(), cert.not_valid_before_utc,
                                  cert.not_valid_after_utc, state if usable_now or window != "history" else "history"))
        if usable_now and (window == "warning" or any(s == "warning" for _, s in certs)):
            level = max(level, WARNING)
            problems.append(f"CA {ca.uri} (or a certificate of its chain) expires within {warn_days:g} days")
    for kind, logs in (("tlog", root.tlogs), ("ctlog", root.ctlogs)):
        for log in logs:
            state = _window_state(log.valid_for.start, log.valid_for.end, now, warn)
            usable[kind] += state in ("ok", "warning")
            items.append(Item(kind, log.base_url, log.valid_for.start, log.valid_for.end, state))
            if state == "warning":
                level = max(level, WARNING)
                problems.append(f"{kind} {log.base_url} stops being valid within {warn_days:g} days")
    for tsa in root.timestamp_authorities:
        state = _window_state(tsa.valid_for.start, tsa.valid_for.end, now, warn)
        items.append(Item("tsa", tsa.uri or tsa.anchor.subject.rfc4514_string(), tsa.valid_for.start,
                          tsa.valid_for.end, state))
        for cert in tsa.chain:
            items.append(Item("tsa-certificate", cert.subject.rfc4514_string(), cert.not_valid_before_utc,
                              cert.not_valid_after_utc,
                              _window_state(cert.not_valid_before_utc, cert.not_valid_after_utc, now, warn)))
    for kind, label in (("ca", "Fulcio CA"), ("tlog", "Rekor log"), ("ctlog", "CT log")):
        if usable[kind] == 0:
            level = CRITICAL
            problems.append(f"no {label} in the trusted root is valid now")
            retired.append(problems[-1])
    anchor = None
    if mirror is not None and mirror.anchor_sha256:
        anchor = (mirror.anchor_version, mirror.anchor_sha256, mirror.pin.source if mirror.pin else None)
    return Report(now, level, tuple(items), tuple(problems), mirror.url if mirror else None,
                  mirror.verified_at if mirror else None, tuple(retired), anchor)


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_json(report: Report) -> dict:
    return {
        "verdict": report.verdict,
        "exitCode": report.level,
        "now": _ts(report.now),
        "mirror": {"url": report.mirror_url, "verifiedAt": _ts(report.mirror_verified_at)} if report.mirror_url
        else None,
        "anchor": None if report.anchor is None else {
            "rootVersion": report.anchor[0], "sha256": report.anchor[1], "pinned": report.anchor[2] is not None,
            "pinnedBy": report.anchor[2]},
        "problems": list(report.problems),
        "items": [{"kind": i.kind, "name": i.name, "start": _ts(i.start), "end": _ts(i.end), "state": i.state,
                   "daysLeft": None if (left := i.days_left(report.now)) is None else round(left, 2), "note": i.note}
                  for i in report.items],
    }


def to_text(report: Report) -> str:
    lines = [f"Trust status at {_ts(report.now)}: {report.verdict.upper()}"]
    if report.mirror_url:
        lines.append(f"TUF mirror {report.mirror_url}, verified {_ts(report.mirror_verified_at)}")
    if report.anchor:
        from airlock.trust.layout import PIN_ENV

        version, sha256, source = report.anchor
        pinned = f"pinned by {source}" if source else f"not pinned; set {PIN_ENV} to pin it"
        lines.append(f"Trust anchor: root v{version} SHA-256 {sha256} ({pinned})")
    for item in report.items:
        left = item.days_left(report.now)
        when = "no end" if item.end is None else f"ends {_ts(item.end)} ({left:+.1f} days)"
        note = f"  [{item.note}]" if item.note else ""
        lines.append(f"  {item.state:8} {item.kind:15} {item.name}: {when}{note}")
    lines += [f"  ! {problem}" for problem in report.problems]
    return "\n".join(lines)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_prometheus(report: Report) -> str:
    """node-exporter textfile collector format."""
    lines = [
        "# HELP airlock_trust_status Trust verdict: 0 ok, 1 warning, 2 critical.",
        "# TYPE airlock_trust_status gauge",
        f"airlock_trust_status {report.level}",
        "# HELP airlock_trust_expiry_timestamp_seconds When each piece of trust material stops being valid.",
        "# TYPE airlock_trust_expiry_timestamp_seconds gauge",
    ]
    for item in report.items:
        if item.end is not None:
            lines.append(f'airlock_trust_expiry_timestamp_seconds{{kind="{item.kind}",name="{_label(item.name)}",'
                         f'state="{item.state}"}} {item.end.timestamp():.0f}')
    if report.mirror_verified_at is not None:
        lines += [
            "# HELP airlock_tuf_mirror_verified_timestamp_seconds When the TUF mirror was verified online.",
            "# TYPE airlock_tuf_mirror_verified_timestamp_seconds gauge",
            f"airlock_tuf_mirror_verified_timestamp_seconds {report.mirror_verified_at.timestamp():.0f}",
            "# HELP airlock_tuf_mirror_age_seconds Age of the TUF mirror.",
            "# TYPE airlock_tuf_mirror_age_seconds gauge",
            f"airlock_tuf_mirror_age_seconds {(report.now - report.mirror_verified_at).total_seconds():.0f}",
        ]
    return "\n".join(lines) + "\n"
