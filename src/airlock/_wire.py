"""Small decoders for the encodings every Sigstore format shares (FORMATS.md section 0).

Untrusted JSON is read through these helpers so that a missing field, a wrong type or bad
base64 becomes a ``FormatError`` naming the field, never a ``KeyError`` or a traceback.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

from airlock.errors import FormatError

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})\Z"
)


MAX_JSON_DEPTH = 64
"""Deepest nesting any untrusted JSON document may have; Sigstore's formats need fewer than 12."""

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_CLOSE = str.maketrans("[{]}", "(())")


def loads(data: bytes | str, what: str, *, max_depth: int = MAX_JSON_DEPTH, **hooks: Any) -> Any:
    """Parse untrusted JSON: any decoding error, or nesting deeper than ``max_depth``, is a ``FormatError``.

    ``json.loads`` itself recurses (a document nested 100,000 deep is a ``RecursionError``), and
    everything downstream walks what it returns, so the depth is bounded here, for every parse.
    ``hooks`` go to ``json.loads`` (``object_pairs_hook``, ``parse_constant``).
    """
    hooks.setdefault("parse_constant", _no_constant)
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        document = json.loads(text, **hooks)
    except RecursionError:
        raise FormatError(f"{what}: JSON nested deeper than {max_depth} levels") from None
    except FormatError:
        raise
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FormatError(f"{what}: not valid JSON ({_first_line(exc)})") from None
    if text.count("[") + text.count("{") > max_depth:  # only then can the nesting be deeper
        _check_depth(text, what, max_depth)
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")  # Python's json reads NaN and Infinity; JSON has neither


def _check_depth(text: str, what: str, max_depth: int) -> None:
    """Peel the innermost bracket pairs, one level a pass: ``str.replace`` does not rescan what it made."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).translate(_CLOSE)  # the text parsed: strings close
    for _ in range(max_depth):
        brackets = brackets.replace("()", "")
        if not brackets:
            return
    raise FormatError(f"{what}: JSON nested deeper than {max_depth} levels")


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def b64decode(value: Any, what: str) -> bytes:
    """Standard base64 with padding; Go's protojson also accepts URL-safe and unpadded input."""
    if not isinstance(value, str):
        raise FormatError(f"{what}: expected a base64 string")
    if "\n" in value or "\r" in value:  # Go's decoder skips line breaks (wrapped `base64` output)
        value = value.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        pass
    if re.fullmatch(r"[A-Za-z0-9_\-]*={0,2}", value):
        try:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            pass
    raise FormatError(f"{what}: invalid base64")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {dict: "an object", list: "a list", str: "a string", int: "an integer", bool: "true or false",
             float: "a number"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a string", int: "a number",
            float: "a number with a fraction or an exponent"}.get(type(value), type(value).__name__)


def _is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    """isinstance, except that JSON true/false is never an integer."""
    if isinstance(value, bool):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        return bool in kinds or object in kinds
    return isinstance(value, kind)


def _lookup(obj: Any, name: str, what: str, snake: str | None) -> Any:
    if not isinstance(obj, dict):
        raise FormatError(f"{what}: expected a JSON object, not {json_kind(obj)}")
    value = obj.get(name)
    if value is None and snake:
        value = obj.get(snake)
    return value


def field(obj: Any, name: str, what: str, kind: type | tuple[type, ...] = object, *, snake: str | None = None) -> Any:
    """A required field of a protojson object (lowerCamelCase, or its snake_case proto name)."""
    value = _lookup(obj, name, what, snake)
    if value is None:
        raise FormatError(f"{what}: missing {name}")
    if kind is not object and not _is_kind(value, kind):
        raise FormatError(f"{what}: {name} must be {_kind_name(kind)}, not {json_kind(value)}")
    return value


def optional(obj: Any, name: str, what: str, kind: type | tuple[type, ...], *, snake: str | None = None) -> Any:
    """An optional field: absent or JSON ``null`` is None (protobuf's JSON mapping); any other value
    must be of ``kind``. A value of the wrong type is malformed input, never "absent"."""
    value = _lookup(obj, name, what, snake)
    if value is not None and not _is_kind(value, kind):
        raise FormatError(f"{what}: {name} must be {_kind_name(kind)}, not {json_kind(value)}")
    return value


INT64_MAX = 2**63 - 1
MAX_EPOCH_SECONDS = 253402300799
"""9999-12-31T23:59:59Z, the last second a google.protobuf.Timestamp (and RFC 3339) can name."""


def int64(value: Any, what: str, *, minimum: int | None = 0, maximum: int = INT64_MAX) -> int:
    """protojson int64: a decimal string (or a JSON number); negative indices are malformed."""
    if isinstance(value, bool):
        raise FormatError(f"{what}: expected an integer")
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value):
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        raise FormatError(f"{what}: expected an integer")
    if minimum is not None and number < minimum:
        raise FormatError(f"{what}: must not be negative" if minimum == 0 else f"{what}: must be at least {minimum}")
    if number > maximum:
        raise FormatError(f"{what}: {str(number)[:24]} is out of range (at most {maximum})")
    return number


def timestamp(value: Any, what: str) -> datetime:
    """google.protobuf.Timestamp as RFC 3339 (0, 3, 6 or 9 fractional digits)."""
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if not match:
        raise FormatError(f"{what}: not an RFC 3339 time")
    day, clock, fraction, zone = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{day}T{clock}.{micro}{zone}").astimezone(UTC)
    except ValueError as exc:
        raise FormatError(f"{what}: not an RFC 3339 time") from exc


def utc(epoch_seconds: int, what: str = "time") -> datetime:
    """Seconds since the epoch as a UTC time; outside 1970..9999 is malformed, not an OverflowError."""
    if not 0 <= epoch_seconds <= MAX_EPOCH_SECONDS:
        raise FormatError(f"{what}: {str(epoch_seconds)[:24]} seconds since the epoch is out of range")
    return datetime.fromtimestamp(epoch_seconds, UTC)
