"""A small client for the OCI distribution API: manifests, blobs, tags and referrers.

How a call travels::

    RegistryClient.get_manifest("127.0.0.1:5000", "team/app", "v1")
      -> endpoint   ping ``GET /v2/`` once per registry: pick the scheme (https; plain http only for
                    loopback registries or ``insecure=True``, after https failed, as
                    go-containerregistry does) and remember the auth challenge it answered with.
                    On loopback, a first handshake trusting no CA tells a TLS server from a
                    plain-http one, which then costs no CA store (``_probe_tls``)
      -> auth       anonymous; Basic (credentials from the docker config); or Bearer: a token from
                    the challenge's realm for ``repository:<repo>:<actions>``, cached per scope.
                    A 401 on the real request (new scope, expired token) refreshes once, then fails
      -> request    urllib3, timeouts on connect and read, and a deadline on the whole exchange
                    (headers and body; see ``_Deadline``): a registry that sends one byte at a
                    time is cut off. Only GET/HEAD are retried, and only on connection errors;
                    redirects followed for GET/HEAD only, and the Authorization header is never
                    sent to another host
      -> checks     every byte read is bounded (manifests 4 MiB, blobs by ``limit``, listings by
                    pages and bytes, referrers by count) and digest-checked: a manifest fetched by
                    digest must hash to it, one fetched by tag must hash to the registry's
                    ``Docker-Content-Digest``; blobs to their digest. A manifest must be what it is
                    served as (its ``mediaType`` and its shape); all JSON goes through ``_wire.loads``

Every failure is a ``RegistryError`` with a one-line message naming the registry, the request and
the registry's answer (``404 MANIFEST_UNKNOWN: manifest unknown``); secrets never appear in
messages or logs.

Credentials come from the docker CLI's ``config.json`` (``docker_config`` argument, else
``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``): ``credHelpers``/``credsStore``
helpers when installed, else ``auths[<registry>]`` (``auth`` = base64 ``user:password``, or
``username``/``password``, or ``identitytoken``), with Docker Hub's ``https://index.docker.io/v1/``
key matching ``index.docker.io`` and ``docker.io``.

Referrers (FORMATS.md 4.5): the Referrers API when the registry has it, else the referrers tag
schema (an OCI index tagged ``sha256-<hex>``), which ``add_referrer`` maintains the way
go-containerregistry does (descriptors sorted by digest, duplicates skipped).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from airlock._wire import loads
from airlock.errors import BudgetExceeded, DigestMismatchError, FormatError, RegistryError
from airlock.media_types import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse

__all__ = [
    "DEFAULT_BLOB_LIMIT",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "MANIFEST_MEDIA_TYPES",
    "MAX_ATTESTATION_SIZE",
    "MAX_LIST_BYTES",
    "MAX_LIST_PAGES",
    "MAX_MANIFEST_SIZE",
    "MAX_REFERRERS",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_BYTES",
    "MAX_SIGNATURE_SIZE",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "BudgetExceeded",
    "Credentials",
    "DigestMismatchError",
    "FetchBudget",
    "Manifest",
    "RegistryClient",
    "RegistryError",
    "docker_config_path",
    "docker_credentials",
    "referrers_tag",
]


def _log():
    """This module's logger. ``logging`` (with traceback, string and threading) is imported on the
    first message: ``verify --local-image`` reads this module's limits and never logs."""
    import logging

    return logging.getLogger(__name__)


MANIFEST_MEDIA_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)

MAX_MANIFEST_SIZE = 4 * 1024 * 1024  # what registries accept (distribution, ggcr); also bounds indexes
DEFAULT_BLOB_LIMIT = 128 * 1024 * 1024  # cosign's default attachment limit (FORMATS.md 1.2)
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024  # for uploads of streams whose size is unknown
COPY_IN_MEMORY = 1024 * 1024  # copy_blob: a blob up to this size is read whole (one PUT); larger ones stream
_MAX_ERROR_BODY = 64 * 1024
MAX_LIST_PAGES = 100  # pages of one tag list or referrers listing
MAX_LIST_BYTES = 16 * 1024 * 1024  # all pages of one listing together
MAX_REFERRERS = 1000  # referrers of one digest: a registry listing more is refused, not truncated
# What discovery (and ``save``) may fetch for the signatures of one image, see ``FetchBudget``:
MAX_SIGNATURES = 1000  # .sig/.att layers and referrers fetched per image (cosign's layer limit)
MAX_SIGNATURE_SIZE = 4 * 1024 * 1024  # one signature payload (.sig layer) or Sigstore bundle
MAX_ATTESTATION_SIZE = 32 * 1024 * 1024  # one attestation (.att layer, or another referrer's blob)
MAX_SIGNATURE_BYTES = 128 * 1024 * 1024  # manifests and blobs of one image's signatures, all together
_READ_SIZE = 1024 * 1024

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_REGISTRY = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
_LOOPBACK = re.compile(r"localhost|127(?:\.[0-9]{1,3}){3}|\[::1\]")
_CHALLENGE_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;(?:[^,]*;)?\s*rel="?next"?', re.IGNORECASE)
_DOCKER_HUB = ("index.docker.io", "docker.io", "registry-1.docker.io")
_DOCKER_HUB_KEY = "https://index.docker.io/v1/"


class Manifest(NamedTuple):
    """A manifest's exact bytes, its media type and its verified digest.

    ``head_manifest`` returns one with empty ``data`` (a HEAD has no body).
    """

    data: bytes
    media_type: str
    digest: str

    def descriptor(self) -> dict:
        """``{mediaType, size, digest}``, e.g. the ``subject`` of a referrer (needs ``data``)."""
        if not self.data:
            raise RegistryError(f"manifest {self.digest}: no bytes to describe (from a HEAD request?)")
        return {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}


class FetchBudget:
    """How much may still be fetched for the signatures of one image: a count and a byte total.

    A registry decides how many signature layers and referrers an image has and how big they
    are; without a budget, 1,000 layers of 128 MiB or 1,000 referrers with 4 MiB bundles are
    all fetched before any is verified. Make one budget per image and ``take`` each item
    *before* fetching it, with the size its descriptor claims (then read it with that size as
    the limit, so it cannot be bigger); ``charge`` what was read without a claim (a manifest).
    Every refusal is a one-line ``RegistryError`` naming the item and the limit.
    """

    def __init__(self, what: str, *, max_items: int = MAX_SIGNATURES, max_bytes: int = MAX_SIGNATURE_BYTES) -> None:
        self.what = what
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.items = 0
        self.bytes = 0

    def take(self, size: object, what: str, *, limit: int = MAX_SIGNATURE_SIZE) -> int:
        """Count one item claiming ``size`` bytes; returns ``size`` (the limit to read it with)."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RegistryError(f"{self.what}: {what}: invalid size {_show(size)}")
        if size > limit:
            raise RegistryError(f"{self.what}: {what} claims {size} bytes, over the limit of {limit} for one item")
        if self.items + 1 > self.max_items:
            raise BudgetExceeded(f"{self.what}: more than {self.max_items} signatures, attestations and referrers")
        self.charge(size, what)
        self.items += 1
        return size

    def expect(self, count: int, what: str) -> None:
        """Refuse at once when ``count`` more items (e.g. the layers of a .sig manifest) cannot fit,
        rather than after fetching the ones that do."""
        if self.items + count > self.max_items:
            raise BudgetExceeded(f"{self.what}: {what} lists {count} more, over the limit of {self.max_items} "
                                f"signatures, attestations and referrers")

    def charge(self, size: int, what: str) -> None:
        """Count ``size`` more bytes (e.g. a manifest, once read)."""
        if self.bytes + size > self.max_bytes:
            raise BudgetExceeded(f"{self.what}: {what} would bring the signature data over "
                                f"{self.max_bytes} bytes in total")
        self.bytes += size


class Credentials(NamedTuple):
    """What the docker config holds for one registry; ``repr`` never shows the secrets."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:
        return (
            f"Credentials(username={self.username!r}, password={'<hidden>' if self.password else ''!r}, "
            f"identity_token={'<hidden>' if self.identity_token else ''!r})"
        )


class _Challenge(NamedTuple):
    scheme: str  # lower case: "basic" or "bearer"
    params: dict


class _Endpoint(NamedTuple):
    base: str  # scheme://host[:port]
    challenge: _Challenge | None


# --- small pure helpers -------------------------------------------------------------------------


def _oneline(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(text: object) -> str:
    return repr(_oneline(str(text), 80))


def _check_registry(registry: str) -> str:
    if not isinstance(registry, str) or not _REGISTRY.fullmatch(registry):
        raise RegistryError(f"invalid registry {_show(registry)}: expected host[:port]")
    return registry


def _check_repository(repository: str) -> str:
    if not isinstance(repository, str) or len(repository) > 255 or not _REPOSITORY.fullmatch(repository):
        raise RegistryError(f"invalid repository name {_show(repository)}")
    return repository


def _is_digest(text: object) -> bool:
    return isinstance(text, str) and _DIGEST.fullmatch(text) is not None


def _check_digest(text: object, what: str = "digest") -> str:
    if not _is_digest(text):
        raise RegistryError(f"invalid {what} {_show(text)}: expected sha256:<64 hex> or sha512:<128 hex>")
    return text  # type: ignore[return-value]


def _check_reference(ref: object) -> str:
    if _is_digest(ref) or (isinstance(ref, str) and _TAG.fullmatch(ref)):
        return ref  # type: ignore[return-value]
    raise RegistryError(f"invalid tag or digest {_show(ref)}")


def _hasher(digest: str | None):
    algorithm = (digest or "sha256").partition(":")[0]
    return hashlib.new(algorithm)


def _digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def referrers_tag(digest: str) -> str:
    """The referrers tag schema's tag for ``digest``: ``sha256-<hex>`` (FORMATS.md 4.5, 4.6)."""
    algorithm, _, hex_digest = _check_digest(digest).partition(":")
    return f"{algorithm}-{hex_digest}"


def _api_host(registry: str) -> str:
    return "index.docker.io" if registry == "docker.io" else registry


def _is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.endswith("]") and ":" in registry else registry
    return _LOOPBACK.fullmatch(host.lower()) is not None


def _parse_challenges(values: list[str]) -> _Challenge | None:
    """The most useful challenge of ``WWW-Authenticate`` headers: Bearer first, then Basic."""
    found: dict[str, _Challenge] = {}
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        params = {}
        for key, raw in _CHALLENGE_PARAM.findall(rest):
            if raw.startswith('"'):
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            params[key.lower()] = raw
        found.setdefault(scheme.lower(), _Challenge(scheme.lower(), params))
    return found.get("bearer") or found.get("basic")


def _with_query(url: str, *params: tuple[str, str]) -> str:
    """``url`` with ``params`` appended to its query (an upload Location already has one)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params]
    return urlunsplit(parts._replace(query=urlencode(query)))


class _Pages:
    """The bounds of one paginated listing: no page twice, at most MAX_LIST_PAGES pages and
    MAX_LIST_BYTES bytes in all."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.seen: set[str] = set()
        self.bytes = 0

    def visit(self, url: str) -> None:
        if url in self.seen:
            raise RegistryError(f"{self.what} do not end (page {_where(url)} comes again)")
        if len(self.seen) >= MAX_LIST_PAGES:
            raise RegistryError(f"{self.what} do not end (more than {MAX_LIST_PAGES} pages)")
        self.seen.add(url)

    def add(self, data: bytes) -> None:
        self.bytes += len(data)  # a page is at most MAX_MANIFEST_SIZE: the overshoot is bounded
        if self.bytes > MAX_LIST_BYTES:
            raise RegistryError(f"{self.what} exceed {MAX_LIST_BYTES} bytes in all")


def _next_link(headers: Any, current: str, what: str) -> str | None:
    """The next page of a listing (``Link: <...>; rel="next"``): on the same host, or refused."""
    for value in headers.getlist("Link") if hasattr(headers, "getlist") else [headers.get("Link") or ""]:
        match = _LINK_NEXT.search(value)
        if match:
            try:
                url = urljoin(current, match.group(1))
                same = urlsplit(url)[:2] == urlsplit(current)[:2]
            except ValueError:
                raise RegistryError(f"{what}: invalid next-page link {_show(match.group(1))}") from None
            if not same:
                raise RegistryError(f"{what}: next-page link {_show(match.group(1))} leaves the registry")
            return url
    return None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:  # two readers could each see a different value: refuse, as the layout reader does
            raise ValueError(f"duplicate key {key!r}")
        document[key] = value
    return document


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json(data: bytes, what: str) -> Any:
    """Untrusted JSON from a registry: bounded depth, no duplicate keys, no NaN; else a one-line RegistryError."""
    try:
        return loads(data, what, object_pairs_hook=_unique_keys, parse_constant=_not_json)
    except FormatError as exc:
        raise RegistryError(str(exc)) from None


def _media_type(header: str | None, document: object) -> str:
    media_type = (header or "").split(";", 1)[0].strip().lower()
    if media_type and media_type not in ("application/json", "text/plain", "application/octet-stream"):
        return media_type
    if isinstance(document, dict):  # a registry that does not say: the document's own mediaType, else its shape
        if isinstance(document.get("mediaType"), str):
            return document["mediaType"]
        if "manifests" in document:
            return OCI_INDEX
        if "config" in document:
            return OCI_MANIFEST
    return media_type


def _check_manifest_document(document: object, media_type: str, what: str) -> dict:
    """``document`` must be what it is served as: its own ``mediaType`` and its shape (an index has
    ``manifests``, an image manifest ``config`` and ``layers``) must agree with ``media_type``, as
    the layout reader requires. A manifest served as an index would otherwise be saved without its
    config and layers, and fail only on the far side of the gap."""
    if not isinstance(document, dict):
        raise RegistryError(f"{what}: not a JSON object")
    declared = document.get("mediaType")
    if declared is not None and declared != media_type:
        raise RegistryError(f"{what}: served as {media_type}, but the document says mediaType {_show(declared)}")
    version = document.get("schemaVersion")
    if version != 2 or isinstance(version, bool):
        raise RegistryError(f"{what}: schemaVersion is {_show(version)}, not 2")
    if media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST):
        if "config" in document or "layers" in document or not isinstance(document.get("manifests"), list):
            raise RegistryError(f"{what}: served as an index ({media_type}), but it is not one "
                                f"(it needs a 'manifests' list and no config or layers)")
        children = [(f"manifests[{n}]", item) for n, item in enumerate(document["manifests"])]
    elif media_type in (OCI_MANIFEST, DOCKER_MANIFEST):
        if "manifests" in document or "config" not in document or not isinstance(document.get("layers"), list):
            raise RegistryError(f"{what}: served as an image manifest ({media_type}), but it is not one "
                                f"(it needs a config, a 'layers' list and no 'manifests')")
        children = [("config", document["config"])] + [(f"layers[{n}]", item)
                                                          for n, item in enumerate(document["layers"])]
    else:
        return document
    for name, item in children:
        _valid_descriptor(item, f"{what} {name}")
        if not isinstance(item.get("mediaType"), str) or not item["mediaType"]:
            raise RegistryError(f"{what} {name}: a descriptor has no mediaType")
    return document


_GO_DESCRIPTOR_ORDER = ("mediaType", "size", "digest", "data", "urls", "annotations", "platform", "artifactType")
_GO_PLATFORM_ORDER = ("architecture", "os", "os.version", "os.features", "variant", "features")


def _go_descriptor(descriptor: dict) -> dict:
    """A descriptor with go-containerregistry's field order (unknown fields dropped, as Go does)."""
    out = {}
    for key in _GO_DESCRIPTOR_ORDER:
        value = descriptor.get(key)
        if key in ("mediaType", "size", "digest") or value:
            if key == "annotations" and isinstance(value, dict):
                value = dict(sorted(value.items()))
            elif key == "platform" and isinstance(value, dict):
                value = {k: value[k] for k in _GO_PLATFORM_ORDER if value.get(k)}
            out[key] = value
    return out


def _go_json(document: object) -> bytes:
    """Compact JSON escaped like Go's encoding/json (FORMATS.md 0.4)."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode()


def _valid_descriptor(item: object, what: str) -> dict:
    if not isinstance(item, dict):
        raise RegistryError(f"{what}: a descriptor is not a JSON object")
    size = item.get("size")
    if not _is_digest(item.get("digest")) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"{what}: a descriptor has no valid digest or size")
    if not isinstance(item.get("mediaType", ""), str) or not isinstance(item.get("artifactType", ""), str):
        raise RegistryError(f"{what}: a descriptor's mediaType or artifactType is not a string")
    return item


def _index_descriptors(data: bytes, what: str) -> tuple[dict, list[dict]]:
    document = _json(data, what)
    if not isinstance(document, dict):
        raise RegistryError(f"{what}: not a JSON object")
    manifests = document.get("manifests")
    manifests = [] if manifests is None else manifests
    if not isinstance(manifests, list):
        raise RegistryError(f"{what}: 'manifests' is not a list")
    return document, [_valid_descriptor(item, what) for item in manifests]


# --- docker config credentials ------------------------------------------------------------------


def docker_config_path(docker_config: str | os.PathLike | None = None) -> str:
    """The docker CLI config file: ``docker_config`` (a file, or a directory holding config.json),
    else ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    if docker_config is not None:
        path = os.fspath(docker_config)
        return os.path.join(path, "config.json") if os.path.isdir(path) else path
    directory = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(directory, "config.json")


def _config_host(key: str) -> str:
    """Docker's ConvertToHostname, with Docker Hub's aliases folded together."""
    host = key
    for prefix in ("http://", "https://"):
        if host.startswith(prefix):
            host = host[len(prefix):]
    host = host.split("/", 1)[0].lower()
    return "index.docker.io" if host in _DOCKER_HUB else host


def _server_url(registry: str) -> str:
    return _DOCKER_HUB_KEY if _config_host(registry) == "index.docker.io" else registry


def _auth_entry(entry: object, where: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: the entry is not a JSON object")
    username, password = entry.get("username") or "", entry.get("password") or ""
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]).strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise RegistryError(f"{where}: 'auth' is not base64 of user:password") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise RegistryError(f"{where}: 'auth' is not base64 of user:password")
    identity_token = entry.get("identitytoken") or ""
    if not all(isinstance(v, str) for v in (username, password, identity_token)):
        raise RegistryError(f"{where}: credentials must be strings")
    if not (username or password or identity_token):
        return None
    return Credentials(username, password, identity_token)


def _credential_helper(helper: str, registry: str, timeout: float) -> Credentials | None:
    """``docker-credential-<helper> get``; None when the helper is not installed or has nothing."""
    import shutil
    import subprocess

    program = shutil.which(f"docker-credential-{helper}")
    if not program:
        _log().debug("credential helper docker-credential-%s is not installed", helper)
        return None
    try:
        proc = subprocess.run(
            [program, "get"], input=_server_url(registry).encode(), capture_output=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RegistryError(f"credential helper docker-credential-{helper} failed: {_oneline(str(exc))}") from None
    if proc.returncode != 0:
        if b"credentials not found" in proc.stdout.lower() + proc.stderr.lower():
            return None
        raise RegistryError(f"credential helper docker-credential-{helper} failed for {registry} "
                            f"(exit {proc.returncode})")
    try:
        answer = loads(proc.stdout, f"docker-credential-{helper}")
        username, secret = answer.get("Username") or "", answer.get("Secret") or ""
    except (FormatError, AttributeError):
        raise RegistryError(f"credential helper docker-credential-{helper} gave no JSON for {registry}") from None
    if not isinstance(username, str) or not isinstance(secret, str) or not (username or secret):
        return None
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username, secret)


def docker_credentials(
    registry: str, docker_config: str | os.PathLike | None = None, *, helper_timeout: float = 30
) -> Credentials | None:
    """The credentials the docker CLI would use for ``registry``, or None (anonymous).

    Order: ``credHelpers[<registry>]``, then ``credsStore`` (each only if the helper program is
    installed and knows the registry), then ``auths``: the exact key first, then any key whose
    host (scheme and path stripped; Docker Hub aliases folded) is the registry's.
    """
    path = docker_config_path(docker_config)
    try:
        with open(path, "rb") as handle:
            config = loads(handle.read(MAX_MANIFEST_SIZE), f"docker config {path}")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RegistryError(f"cannot read docker config {path}: {exc.strerror or exc}") from None
    except FormatError:
        raise RegistryError(f"docker config {path} is not valid JSON") from None
    if not isinstance(config, dict):
        raise RegistryError(f"docker config {path} is not a JSON object")
    host = _config_host(registry)
    helpers = config.get("credHelpers") or {}
    if isinstance(helpers, dict):
        for key, helper in helpers.items():
            if _config_host(key) == host and isinstance(helper, str) and helper:
                found = _credential_helper(helper, registry, helper_timeout)
                if found:
                    return found
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        found = _credential_helper(store, registry, helper_timeout)
        if found:
            return found
    auths = config.get("auths", {}) if config.get("auths") is not None else {}
    if not isinstance(auths, dict):
        raise RegistryError(f"docker config {path}: 'auths' is not a JSON object")
    keys = [registry, _server_url(registry)] + [key for key in auths if _config_host(key) == host]
    for key in keys:
        if key in auths:
            found = _auth_entry(auths[key], f"docker config {path}: auths[{key!r}]")
            if found:
                return found
    return None


# --- deadlines ------------------------------------------------------------------------------------
#
# urllib3's timeouts bound each socket operation, so a server sending one byte every few seconds
# (in its headers or its body) is never cut off. Every request therefore runs under a ``_Deadline``:
# when the request is not finished in time, the sockets the request is using are shut down. A read
# blocked in the status line, the headers or the body then returns at once, and the caller reports
# "timed out". Connections register themselves with the deadline of the request the current thread
# is sending (``_sending``); a connection going back to the pool leaves it, so a late expiry never
# touches a connection that another request is using.
#
# One watchdog thread keeps every deadline of the process (``_WATCHDOG``): a thread per request
# (a ``threading.Timer``) cost more to start than a registry round trip on loopback, and under
# load the admission webhook spent most of an uncached verification starting them.

_sending = threading.local()
_MAX_DEADLINE = 7 * 86400.0  # a 16 GiB layer at the minimum rate needs 4.6 hours


class _Watchdog:
    """One daemon thread expiring deadlines in order of time (a heap). A deadline that finished, or
    was extended, leaves its old entry behind; entries are skipped when they come up, and the heap
    is rebuilt when most of it is such leftovers."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Nothing kept, no thread (a forked child: its parent's thread and requests are not its own,
        and a lock the thread held at the fork would stay held)."""
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._wake = threading.Condition(threading.Lock())
        self._order = 0
        self._stale = 0
        self._thread: threading.Thread | None = None

    def schedule(self, deadline: _Deadline, when: float) -> None:
        import heapq

        with self._wake:
            self._order += 1
            heapq.heappush(self._heap, (when, self._order, deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="airlock-registry-deadlines", daemon=True)
                self._thread._airlock_fork_safe = True  # type: ignore[attr-defined]
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._wake.notify()  # sooner than what the thread sleeps until

    def forget(self) -> None:
        """One entry of the heap is stale now."""
        import heapq

        with self._wake:
            self._stale += 1
            if self._stale > 256 and self._stale * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if entry[2].pending(entry[0])]
                heapq.heapify(self._heap)
                self._stale = 0

    def _next(self) -> tuple[float, _Deadline]:
        import heapq

        with self._wake:
            while True:
                while self._heap and not self._heap[0][2].pending(self._heap[0][0]):
                    heapq.heappop(self._heap)
                    self._stale = max(self._stale - 1, 0)
                if not self._heap:
                    self._wake.wait()
                    continue
                when, _, deadline = self._heap[0]
                delay = when - time.monotonic()
                if delay <= 0:
                    heapq.heappop(self._heap)
                    return when, deadline
                self._wake.wait(delay)

    def _run(self) -> None:
        while True:
            when, deadline = self._next()
            try:
                deadline.expire_at(when)
            except Exception:  # never let one deadline stop the others
                _log().exception("expiring a registry request's deadline failed")


_WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=_WATCHDOG.reset)


def fork_safe(thread: threading.Thread) -> bool:
    """Whether ``thread`` may be running when this process forks: the deadline watchdog is (the
    child starts afresh, see ``_Watchdog.reset``), so a process that made registry requests may
    still fork workers (``verify_images``)."""
    return bool(getattr(thread, "_airlock_fork_safe", False))


class _Deadline:
    """The deadline of one request, from sending it to the last byte of its body."""

    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.seconds = seconds
        self.expired = False
        self._finished = False
        self._connections: set = set()
        self._lock = threading.Lock()
        self._when = self._at(seconds)
        _WATCHDOG.schedule(self, self._when)

    def _at(self, seconds: float) -> float:
        return self.started + min(max(seconds, 0), _MAX_DEADLINE)

    def pending(self, when: float) -> bool:
        """Whether the watchdog's entry for ``when`` still stands (read without the lock: a stale
        answer only keeps an entry longer; ``expire_at`` decides under the lock)."""
        return not self._finished and when == self._when

    def extend(self, seconds: float) -> None:
        """Allow ``seconds`` from the start of the request instead (a blob whose size is now known)."""
        with self._lock:
            if self.expired or self._finished or seconds <= self.seconds:
                return
            self.seconds = seconds
            self._when = self._at(seconds)
            when = self._when
        _WATCHDOG.forget()
        _WATCHDOG.schedule(self, when)

    def watch(self, connection: Any) -> None:
        with self._lock:
            if self.expired:
                raise TimeoutError("request deadline passed")
            self._connections.add(connection)
            connection._airlock_deadline = self

    def forget(self, connection: Any) -> None:
        with self._lock:
            self._connections.discard(connection)

    def expire_at(self, when: float) -> None:
        """The watchdog's call: the deadline set for ``when`` has passed (unless it moved or finished)."""
        with self._lock:
            if self._finished or when != self._when:
                return
            self.expired = True
            connections, self._connections = list(self._connections), set()
        import socket

        for connection in connections:
            sock = getattr(connection, "sock", None)
            if sock is not None:
                # socket.socket's own shutdown: an SSLSocket's would drop its TLS state under a reader
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def done(self) -> None:
        with self._lock:
            stale = not self._finished and not self.expired
            self._finished = True
            self._connections = set()
        if stale:
            _WATCHDOG.forget()


def _watch(connection: Any) -> None:
    deadline = getattr(_sending, "deadline", None)
    if deadline is not None:
        deadline.watch(connection)


def _release(connection: Any) -> None:
    deadline = connection.__dict__.pop("_airlock_deadline", None)
    if deadline is not None:
        deadline.forget(connection)


_POOL_CLASSES: dict[str, type] = {}


def _pool_classes() -> dict[str, type]:
    """urllib3's pools, with connections that join the current request's deadline."""
    if _POOL_CLASSES:
        return _POOL_CLASSES
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Watched:
        def connect(self) -> None:
            _watch(self)  # before the TCP connect: the TLS handshake is under the deadline too
            super().connect()  # type: ignore[misc]

        def request(self, *args: Any, **kwargs: Any) -> None:
            _watch(self)  # a pooled connection, reused
            super().request(*args, **kwargs)  # type: ignore[misc]

    class Released:
        def _put_conn(self, conn: Any) -> None:
            if conn is not None:
                _release(conn)
            super()._put_conn(conn)  # type: ignore[misc]

    class Connection(Watched, HTTPConnection):
        pass

    class TLSConnection(Watched, HTTPSConnection):
        def connect(self) -> None:
            if isinstance(self.ssl_context, _LazyTLS):  # the first handshake loads the CA store
                self.ssl_context = self.ssl_context.get()
            super().connect()

    class Pool(Released, HTTPConnectionPool):
        ConnectionCls = Connection

    class TLSPool(Released, HTTPSConnectionPool):
        ConnectionCls = TLSConnection

    _POOL_CLASSES.update(http=Pool, https=TLSPool)
    return _POOL_CLASSES


def _seconds(seconds: float) -> str:
    return f"{round(seconds, 1):g}s"


def _deadline_of(response: BaseHTTPResponse) -> _Deadline | None:
    return getattr(response, "_airlock_deadline", None)


def _finish(response: BaseHTTPResponse, *, close: bool = False) -> None:
    """Done with a response: stop its deadline; ``close`` its connection rather than reuse it."""
    deadline = _deadline_of(response)
    if deadline is not None:
        deadline.done()
    if close or (deadline is not None and deadline.expired):
        response.close()
    else:
        response.release_conn()


def _timed_out(response: BaseHTTPResponse) -> bool:
    deadline = _deadline_of(response)
    return deadline is not None and deadline.expired


DEFAULT_TIMEOUT = 60.0
MIN_TRANSFER_RATE = 1024 * 1024
TIMEOUT_ENV = "AIRLOCK_REGISTRY_TIMEOUT"
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_timeout(text: str, what: str = TIMEOUT_ENV) -> float:
    """Seconds from ``90``, ``90s``, ``5m``, ``1h``, ``1m30s`` (cosign's ``--timeout`` takes Go durations)."""
    from airlock.errors import UsageError

    value = text.strip()
    seconds: float | None = None
    try:
        seconds = float(value)
    except ValueError:
        match = _DURATION.fullmatch(value)
        if value and match:
            hours, minutes, secs = (float(group or 0) for group in match.groups())
            seconds = hours * 3600 + minutes * 60 + secs
    if seconds is None or not (0 < seconds <= 86400):
        raise UsageError(f"invalid {what} {_show(text)}: expected seconds or a duration like 90s, 5m, 1h "
                         f"(more than 0, at most 24h)")
    return seconds


# --- the client ---------------------------------------------------------------------------------


class _Upload(NamedTuple):
    """A blob to upload, normalised: bytes, or a binary file positioned at its start."""

    data: bytes | None
    stream: IO[bytes] | None
    size: int | None  # None: a stream of unknown length
    digest: str | None  # None: only known once the stream has been read


def _prepare_upload(source: Any, digest: str | None) -> _Upload:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        actual = _digest_of(data, (digest or "sha256").partition(":")[0])
        if digest is not None and actual != digest:
            raise DigestMismatchError(f"blob to upload has digest {actual}, not {digest}")
        return _Upload(data, None, len(data), actual)
    stream: IO[bytes] = source
    try:
        seekable = stream.seekable()
    except (AttributeError, OSError, ValueError):
        seekable = False
    if not seekable:
        return _Upload(None, stream, None, digest)
    start = stream.tell()
    size = stream.seek(0, os.SEEK_END) - start
    stream.seek(start)
    if digest is None:
        hasher = _hasher(None)
        while chunk := stream.read(_READ_SIZE):
            hasher.update(chunk)
        stream.seek(start)
        digest = f"sha256:{hasher.hexdigest()}"
    return _Upload(None, stream, size, digest)


class RegistryClient:
    """Talks to registries on behalf of one user; safe to reuse for many calls (and threads).

    ``insecure=True`` is cosign's ``--allow-insecure-registry``: TLS certificates are not verified
    and plain http is tried when https fails, for every registry (loopback registries may always
    fall back to plain http). ``allow_http=True`` is cosign's ``--allow-http-registry``: plain http
    is tried when https fails, and TLS, when used, is still verified. ``docker_config`` overrides
    where credentials are read from.

    ``timeout`` (seconds; default ``$AIRLOCK_REGISTRY_TIMEOUT``, else 60) is the deadline of each
    request as a whole: connecting, the status line, the headers and the body. A blob transfer
    gets ``timeout + size / min_rate`` (``min_rate`` in bytes per second, default 1 MiB/s), its
    size being the descriptor's (or the limit), never what the registry announces unasked.
    """

    def __init__(
        self,
        *,
        insecure: bool = False,
        allow_http: bool = False,
        docker_config: str | os.PathLike | None = None,
        timeout: float | None = None,
        min_rate: int = MIN_TRANSFER_RATE,
        user_agent: str = "airlock",
    ) -> None:
        self.insecure = insecure
        self.allow_http = allow_http
        if timeout is None:
            configured = os.environ.get(TIMEOUT_ENV)
            timeout = parse_timeout(configured) if configured else DEFAULT_TIMEOUT
        elif not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 86400:
            raise RegistryError(f"invalid registry timeout {_show(timeout)}: expected seconds, more than 0, "
                                f"at most 24h")
        if not isinstance(min_rate, int) or isinstance(min_rate, bool) or min_rate <= 0:
            raise RegistryError(f"invalid minimum transfer rate {_show(min_rate)}: expected bytes per second, "
                                f"more than 0")
        self.timeout = float(timeout)
        self.min_rate = min_rate
        self.user_agent = user_agent
        self._docker_config = docker_config
        self.connections = 8  # kept-alive connections per host: raise it to the threads sharing the client
        self._lock = threading.RLock()
        self._managers: dict[tuple[bool, str | None], Any] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._credentials: dict[str, Credentials | None] = {}
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._referrers_api: dict[tuple[str, str], bool] = {}
        self._tls = _LazyTLS()  # one verifying TLS context for every connection of this client

    def close(self) -> None:
        """Close pooled connections (the client stays usable; new connections are made on demand)."""
        with self._lock:
            managers, self._managers = list(self._managers.values()), {}
        for manager in managers:
            manager.clear()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------

    def _manager(self, url: str) -> Any:
        import urllib.request

        import urllib3

        parts = urlsplit(url)
        verify = not (self.insecure and parts.scheme == "https")
        proxy = None
        host = parts.hostname or ""
        if not _is_loopback(host if ":" not in host else f"[{host}]") and not urllib.request.proxy_bypass(host):
            proxy = urllib.request.getproxies().get(parts.scheme)
        key = (verify, proxy)
        with self._lock:
            manager = self._managers.get(key)
            if manager is None:
                options: dict[str, Any] = {
                    "num_pools": 16,
                    "maxsize": self.connections,
                    "timeout": urllib3.Timeout(connect=self.timeout, read=self.timeout),
                    "blocksize": _READ_SIZE,  # a streamed upload is read in these (16 KiB: ~20% slower)
                }
                if verify:
                    options["ssl_context"] = self._tls  # made on the first TLS handshake, not for plain http
                else:
                    import warnings

                    # the user asked for it by name; one warning in our log beats one per request
                    warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
                    _log().warning("TLS certificate verification is disabled (insecure registry access)")
                    import ssl

                    from urllib3.util.ssl_ import create_urllib3_context

                    # one context, with no CA store: urllib3 would load one per connection, unused
                    options.update(ssl_context=create_urllib3_context(cert_reqs=ssl.CERT_NONE),
                                   cert_reqs="CERT_NONE", assert_hostname=False)
                manager = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
                manager.pool_classes_by_scheme = _pool_classes()
                self._managers[key] = manager
            return manager

    @staticmethod
    def _retries(method: str) -> Any:
        from urllib3.util.retry import Retry

        if method in ("GET", "HEAD"):
            return Retry(total=8, connect=2, read=1, redirect=5, status=0, other=0, backoff_factor=0.2,
                         allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False)
        return Retry(total=0, redirect=0, raise_on_redirect=False)

    def _send(self, method: str, url: str, headers: dict, body: Any = None, *, seconds: float | None = None,
              manager: Any = None) -> BaseHTTPResponse:
        """One HTTP exchange; a failure with no HTTP answer raises ``_TransportError``.

        The whole exchange, the body included, must be over within ``seconds`` (default: the
        client's timeout): the caller reads or discards the response, which stops its deadline.
        ``manager`` replaces the client's (the TLS probe of ``_endpoint``).
        """
        import urllib3

        _log().debug("%s %s", method, url)
        deadline = _Deadline(self.timeout if seconds is None else seconds)
        _sending.deadline = deadline
        try:
            response = (manager or self._manager(url)).urlopen(
                method, url, body=body, headers=headers, retries=self._retries(method),
                redirect=method in ("GET", "HEAD"), preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            deadline.done()
            if deadline.expired:
                raise _TransportError(exc, f"timed out (no answer within {_seconds(deadline.seconds)})") from None
            raise _TransportError(exc) from None
        except BaseException:
            deadline.done()
            raise
        finally:
            _sending.deadline = None
        response._airlock_deadline = deadline
        return response

    def _transfer_seconds(self, size: int | None) -> float:
        """The deadline of a request carrying ``size`` bytes: the timeout, plus time at the minimum rate."""
        return self.timeout + (size or 0) / self.min_rate

    # -- endpoint and auth --------------------------------------------------------------------

    def _endpoint(self, registry: str) -> _Endpoint:
        with self._lock:
            endpoint = self._endpoints.get(registry)
        if endpoint is not None:
            return endpoint
        host = _api_host(_check_registry(registry))
        schemes = ["https", "http"] if self.insecure or self.allow_http or _is_loopback(host) else ["https"]
        failure: _TransportError | None = None
        for scheme in schemes:
            url = f"{scheme}://{host}/v2/"
            try:
                if scheme == "https" and _is_loopback(host) and not self.insecure and not self._tls.loaded:
                    self._probe_tls(url)
                response = self._send("GET", url, {"User-Agent": self.user_agent})
            except _TransportError as exc:
                failure = exc
                if exc.certificate_error:  # a TLS server we must not trust: never downgrade to http
                    break
                continue
            if response.status not in (200, 401):
                raise self._error(registry, "GET", url, response)
            challenge = None
            if response.status == 401:
                challenge = _parse_challenges(response.headers.getlist("WWW-Authenticate"))
            _discard(response)
            endpoint = _Endpoint(f"{scheme}://{host}", challenge)
            with self._lock:
                self._endpoints[registry] = endpoint
            _log().debug("registry %s: %s, auth %s", registry, endpoint.base, challenge and challenge.scheme)
            return endpoint
        assert failure is not None
        hint = " (use insecure registry access for a self-signed certificate)" if failure.certificate_error else ""
        raise RegistryError(f"cannot reach registry {registry}: {failure.reason}{hint}") from None

    def _probe_tls(self, url: str) -> None:
        """Whether ``url``'s server speaks TLS at all, without loading the CA store: a handshake that
        trusts no certificate. A TLS server fails it on its certificate, and then ``_endpoint``
        connects again, verifying with the CA store; a plain-http (or absent) server fails it before
        any certificate, and that failure (a ``_TransportError``) is the https attempt's, so a
        plain-http loopback registry costs no CA store. Nothing is sent but a ClientHello: no
        handshake can succeed (if one did, its answer would be dropped and the real attempt made)."""
        import urllib3
        from urllib3.util.ssl_ import create_urllib3_context

        context = create_urllib3_context()  # CERT_REQUIRED, and no CA certificate loaded
        manager = urllib3.PoolManager(num_pools=1, maxsize=1, ssl_context=context,
                                      timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout))
        manager.pool_classes_by_scheme = _pool_classes()
        try:
            _discard(self._send("GET", url, {"User-Agent": self.user_agent}, manager=manager))
        except _TransportError as exc:
            if not exc.certificate_error:
                raise
        finally:
            manager.clear()

    def credentials(self, registry: str) -> Credentials | None:
        """The credentials used for ``registry`` (read from the docker config once)."""
        with self._lock:
            if registry not in self._credentials:
                self._credentials[registry] = docker_credentials(registry, self._docker_config)
            return self._credentials[registry]

    def _authorization(self, registry: str, challenge: _Challenge | None, scope: str, *, fresh: bool = False
                       ) -> str | None:
        if challenge is None:
            return None
        credentials = self.credentials(registry)
        if challenge.scheme == "basic":
            if credentials and (credentials.username or credentials.password):
                pair = f"{credentials.username}:{credentials.password}".encode()
                return "Basic " + base64.b64encode(pair).decode()
            return None
        if challenge.scheme == "bearer":
            return "Bearer " + self._token(registry, challenge, scope, fresh=fresh)
        return None

    def _token(self, registry: str, challenge: _Challenge, scope: str, *, fresh: bool) -> str:
        key = (registry, scope)
        now = time.monotonic()
        with self._lock:
            cached = self._tokens.get(key)
        if cached and not fresh and cached[1] > now:
            return cached[0]
        realm = challenge.params.get("realm", "")
        try:
            realm_parts = urlsplit(realm)
        except ValueError:
            realm_parts = urlsplit("")
        if realm_parts.scheme not in ("http", "https") or not realm_parts.netloc:
            raise RegistryError(f"registry {registry}: Bearer challenge has no usable realm {_show(realm)}")
        service = challenge.params.get("service")
        credentials = self.credentials(registry)
        realm_host = realm_parts.netloc
        if credentials and realm_parts.scheme == "http" and not (self.insecure or _is_loopback(realm_host)):
            raise RegistryError(f"registry {registry}: refusing to send credentials to the plain-http token realm "
                                f"{realm_host} (allow insecure registry access to permit it)")
        headers = {"User-Agent": self.user_agent}
        scopes = scope.split()
        if credentials and credentials.identity_token:  # OAuth2 refresh token (docker login via a browser)
            form = [("grant_type", "refresh_token"), ("refresh_token", credentials.identity_token),
                    ("client_id", self.user_agent), ("scope", " ".join(scopes))]
            if service:
                form.append(("service", service))
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            method, url, body = "POST", realm, urlencode(form).encode()
        else:
            query = ([("service", service)] if service else []) + [("scope", s) for s in scopes]
            method, url, body = "GET", _with_query(realm, *query), None
            if credentials and (credentials.username or credentials.password):
                pair = f"{credentials.username}:{credentials.password}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        try:
            response = self._send(method, url, headers, body)
        except _TransportError as exc:
            raise RegistryError(f"registry {registry}: token request to {_where(url)} failed: {exc.reason}") from None
        if response.status != 200:
            raise self._error(registry, method, url, response, what=f"token request to {_where(url)}",
                              sent_auth="credentials" if credentials else None)
        data = self._read(response, registry, method, url, MAX_MANIFEST_SIZE)
        answer = _json(data, f"registry {registry}: token response from {_where(url)}")
        if not isinstance(answer, dict):
            raise RegistryError(f"registry {registry}: token response from {_where(url)} is not a JSON object")
        token = answer.get("token") or answer.get("access_token")
        expires_in = answer.get("expires_in") or 60
        if not isinstance(token, str) or not token or not isinstance(expires_in, (int, float)):
            raise RegistryError(f"registry {registry}: token response from {_where(url)} has no token")
        expires_in = min(expires_in, 86400)  # an int too big for a float would overflow below
        with self._lock:
            self._tokens[key] = (token, now + max(float(expires_in) * 0.9 - 5, 1))
        return token

    # -- requests -------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        registry: str,
        path_or_url: str,
        *,
        scope: str,
        ok: tuple[int, ...] = (200,),
        headers: dict | None = None,
        body: Any = None,
        allow: tuple[int, ...] = (),
        seconds: float | None = None,
    ) -> BaseHTTPResponse:
        """Send with auth; on a 401 refresh the credentials once and resend.

        ``seconds``: the deadline of each exchange, body included (default: the client's timeout).

        Statuses in ``ok`` and ``allow`` are returned (the caller reads or discards the body),
        any other becomes a RegistryError.
        """
        endpoint = self._endpoint(registry)
        url = self._url(registry, path_or_url)
        same_host = urlsplit(url).netloc.lower() == urlsplit(endpoint.base).netloc.lower()
        start = body.tell() if hasattr(body, "tell") else None
        challenge = endpoint.challenge
        fresh = False
        for attempt in (1, 2):
            request_headers = {"User-Agent": self.user_agent, **(headers or {})}
            authorization = self._authorization(registry, challenge, scope, fresh=fresh) if same_host else None
            if authorization:
                request_headers["Authorization"] = authorization
            try:
                response = self._send(method, url, request_headers, body, seconds=seconds)
            except _TransportError as exc:
                raise RegistryError(f"registry {registry}: {method} {_where(url)}: {exc.reason}") from None
            if response.status in ok or response.status in allow:
                return response
            if response.status != 401 or attempt == 2 or not same_host:
                raise self._error(registry, method, url, response, sent_auth=authorization)
            new = _parse_challenges(response.headers.getlist("WWW-Authenticate"))
            if new is None or (new.scheme == "basic" and (authorization or not self.credentials(registry))):
                raise self._error(registry, method, url, response, sent_auth=authorization)
            if new.scheme == "bearer":
                extra = [s for s in new.params.get("scope", "").split() if s not in scope.split()]
                scope = " ".join([*scope.split(), *extra])
                fresh = True
            challenge = new
            with self._lock:
                self._endpoints[registry] = endpoint._replace(challenge=new)
            if start is not None:
                body.seek(start)
            elif body is not None and not isinstance(body, (bytes, bytearray)):
                raise self._error(registry, method, url, response, sent_auth=authorization)
            _discard(response)
        raise AssertionError("unreachable")

    def _url(self, registry: str, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else self._endpoint(registry).base + path_or_url

    def _error(self, registry: str, method: str, url: str, response: BaseHTTPResponse, *,
               sent_auth: str | None = None, what: str | None = None) -> RegistryError:
        status = response.status
        try:
            body = response.read(_MAX_ERROR_BODY, decode_content=True) if method != "HEAD" else b""
        except Exception:  # the body is only decoration for the message
            body = b""
        _discard(response)
        code = message = None
        try:
            document = loads(body, "error body", max_depth=8)
            errors = document.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):  # the distribution spec
                code, message = str(errors[0].get("code") or ""), str(errors[0].get("message") or "")
            elif isinstance(document.get("error"), str):  # OAuth2 token endpoints
                code, message = document["error"], str(document.get("error_description") or "")
            elif isinstance(document.get("details"), str):  # Docker Hub's token service
                message = document["details"]
        except (FormatError, AttributeError):
            pass
        if code:
            detail = f"{status} {code}: {message}" if message else f"{status} {code}"
        else:
            text = message or (body.decode("utf-8", "replace").strip() if body[:1] not in (b"{", b"[", b"<") else "")
            reason = response.reason or ""
            detail = f"{status} {text}" if text else f"{status} {reason}".rstrip()
        if status == 401:
            if sent_auth:
                detail += " (the registry rejected the credentials)"
            elif self.credentials(registry) is None:
                detail += f" (no credentials for {registry} in {docker_config_path(self._docker_config)})"
        return RegistryError(
            _oneline(f"registry {registry}: {what or f'{method} {_where(url)}'}: {detail}", 300),
            status=status, code=code or None,
        )

    def _read(self, response: BaseHTTPResponse, registry: str, method: str, url: str, limit: int,
              *, what: str = "response") -> bytes:
        """The whole (small) body, at most ``limit`` bytes, within the request's deadline."""
        chunks: list[bytes] = []
        self._receive(response, registry, f"{method} {_where(url)}", limit, chunks.append, what=what)
        return b"".join(chunks)

    def _receive(self, response: BaseHTTPResponse, registry: str, where: str, limit: int | None, write,
                 *, what: str, raw: bool = False, hasher: Any = None) -> int:
        """Pass the body to ``write`` chunk by chunk: at most ``limit`` bytes, within the deadline.

        A body cut off by the deadline is never mistaken for a whole one: the deadline is checked
        after the last read, whatever the read returned. The response is finished either way.
        """
        length = response.headers.get("Content-Length")
        if limit is not None and length and length.isdigit() and int(length) > limit:
            _finish(response, close=True)
            raise RegistryError(f"registry {registry}: {where}: {what} of {length} bytes exceeds the "
                                f"{limit}-byte limit")
        total = 0
        try:
            while True:
                want = _READ_SIZE if limit is None else min(_READ_SIZE, limit + 1 - total)
                try:
                    chunk = response.read(want, decode_content=not raw)
                except _transport_errors() as exc:
                    if _timed_out(response):
                        raise self._too_slow(registry, where, what, response) from None
                    raise RegistryError(f"registry {registry}: {where}: reading the {what}: "
                                        f"{_describe(exc)}") from None
                if not chunk:
                    break
                total += len(chunk)
                if limit is not None and total > limit:
                    raise RegistryError(f"registry {registry}: {where}: {what} exceeds the {limit}-byte limit")
                if hasher is not None:
                    hasher.update(chunk)
                write(chunk)  # its own errors (a full disk) are the caller's, not the registry's
        except BaseException:
            _finish(response, close=True)
            raise
        if _timed_out(response):
            _finish(response, close=True)
            raise self._too_slow(registry, where, what, response)
        _finish(response)
        return total

    @staticmethod
    def _too_slow(registry: str, where: str, what: str, response: BaseHTTPResponse) -> RegistryError:
        deadline = _deadline_of(response)
        seconds = f" within {_seconds(deadline.seconds)}" if deadline is not None else ""
        return RegistryError(f"registry {registry}: {where}: timed out (the {what} did not arrive{seconds})")

    # -- manifests ------------------------------------------------------------------------------

    def get_manifest(self, registry: str, repository: str, ref: str, *,
                     accept: tuple[str, ...] = MANIFEST_MEDIA_TYPES) -> Manifest:
        """The manifest ``ref`` (a tag or a digest) points at, digest-verified (see module doc)."""
        path = f"/v2/{_check_repository(repository)}/manifests/{_check_reference(ref)}"
        response = self._request("GET", registry, path, scope=_scope(repository, "pull"),
                                 headers={"Accept": ", ".join(accept)})
        url = self._url(registry, path)
        sent_digest = response.headers.get("Docker-Content-Digest")
        content_type = response.headers.get("Content-Type")
        data = self._read(response, registry, "GET", url, MAX_MANIFEST_SIZE, what="manifest")
        digest = self._verify_manifest(registry, repository, ref, data, sent_digest)
        what = f"registry {registry}: manifest {repository}{'@' if _is_digest(ref) else ':'}{ref}"
        document = _json(data, what)
        if not isinstance(document, dict):
            raise RegistryError(f"{what}: not a JSON object")
        media_type = _media_type(content_type, document)
        if media_type not in accept:
            raise RegistryError(f"registry {registry}: {repository}:{ref} is a {_show(media_type)}, "
                                f"not one of the accepted manifest types")
        _check_manifest_document(document, media_type, what)
        return Manifest(data, media_type, digest)

    @staticmethod
    def _verify_manifest(registry: str, repository: str, ref: str, data: bytes, sent: str | None) -> str:
        where = f"{registry}/{repository}@{ref}" if _is_digest(ref) else f"{registry}/{repository}:{ref}"
        if _is_digest(ref):
            actual = _digest_of(data, ref.partition(":")[0])
            if actual != ref:
                raise DigestMismatchError(f"registry sent a manifest for {where} whose digest is {actual}")
            return ref
        if sent is not None and not _is_digest(sent.strip()):
            raise RegistryError(f"registry {registry}: invalid Docker-Content-Digest {_show(sent)} for {where}")
        expected = sent.strip() if sent else None
        actual = _digest_of(data, expected.partition(":")[0] if expected else "sha256")
        if expected and actual != expected:
            raise DigestMismatchError(f"registry sent a manifest for {where} with digest {actual} "
                                      f"but Docker-Content-Digest {expected}")
        return actual if actual.startswith("sha256:") else _digest_of(data)

    def head_manifest(self, registry: str, repository: str, ref: str, *,
                      accept: tuple[str, ...] = MANIFEST_MEDIA_TYPES) -> Manifest | None:
        """Media type and digest of ``ref`` without its bytes (``data`` is empty), or None if absent.

        A registry that sends no ``Docker-Content-Digest`` for a tag is asked with a GET instead.
        """
        path = f"/v2/{_check_repository(repository)}/manifests/{_check_reference(ref)}"
        response = self._request("HEAD", registry, path, scope=_scope(repository, "pull"),
                                 headers={"Accept": ", ".join(accept)}, allow=(404,))
        _discard(response)
        if response.status == 404:
            return None
        sent = (response.headers.get("Docker-Content-Digest") or "").strip()
        media_type = _media_type(response.headers.get("Content-Type"), None)
        if sent and not _is_digest(sent):
            raise RegistryError(f"registry {registry}: invalid Docker-Content-Digest {_show(sent)} for {repository}")
        if _is_digest(ref) and sent and sent != ref:
            raise DigestMismatchError(f"registry answered HEAD {registry}/{repository}@{ref} with digest {sent}")
        if _is_digest(ref) and media_type in accept:
            return Manifest(b"", media_type, ref)
        if not sent or media_type not in accept:  # say it with a GET then (and verify the bytes)
            manifest = self.get_manifest(registry, repository, ref, accept=accept)
            return manifest._replace(data=b"")
        return Manifest(b"", media_type, sent)

    def manifest_exists(self, registry: str, repository: str, ref: str) -> bool:
        return self.head_manifest(registry, repository, ref) is not None

    def put_manifest(self, registry: str, repository: str, ref: str, data: bytes, media_type: str) -> str:
        """Store ``data`` under ``ref`` (a tag, or its own digest); returns its digest."""
        _check_repository(repository)
        _check_reference(ref)
        data = bytes(data)
        digest = _digest_of(data, ref.partition(":")[0] if _is_digest(ref) else "sha256")
        if _is_digest(ref) and digest != ref:
            raise DigestMismatchError(f"manifest to push as {ref} has digest {digest}")
        if len(data) > MAX_MANIFEST_SIZE:
            raise RegistryError(f"manifest of {len(data)} bytes exceeds the {MAX_MANIFEST_SIZE}-byte limit")
        path = f"/v2/{repository}/manifests/{ref}"
        response = self._request("PUT", registry, path, scope=_scope(repository, "pull,push"), ok=(200, 201, 202, 204),
                                 headers={"Content-Type": media_type, "Content-Length": str(len(data))}, body=data)
        _discard(response)
        sent = (response.headers.get("Docker-Content-Digest") or "").strip()
        if sent and sent.partition(":")[0] == digest.partition(":")[0] and sent != digest:
            raise DigestMismatchError(f"registry {registry} stored {repository}:{ref} as {sent}, not {digest}")
        return digest

    def delete_manifest(self, registry: str, repository: str, digest: str) -> None:
        path = f"/v2/{_check_repository(repository)}/manifests/{_check_digest(digest)}"
        _discard(self._request("DELETE", registry, path, scope=_scope(repository, "delete"), ok=(200, 202, 204)))

    def list_tags(self, registry: str, repository: str, *, page_size: int | None = None) -> list[str]:
        """Every tag of ``repository``, following ``Link: <...>; rel="next"`` pagination."""
        first = f"/v2/{_check_repository(repository)}/tags/list"
        url: str | None = _with_query(first, ("n", str(int(page_size)))) if page_size else first
        tags: list[str] = []
        pages = _Pages(f"registry {registry}: tag list pages of {repository}")
        while url is not None:
            pages.visit(self._url(registry, url))
            response = self._request("GET", registry, url, scope=_scope(repository, "pull"))
            absolute = self._url(registry, url)
            try:
                link = _next_link(response.headers, absolute, f"registry {registry}: tag list of {repository}")
            except RegistryError:
                _discard(response)
                raise
            data = self._read(response, registry, "GET", absolute, MAX_MANIFEST_SIZE, what="tag list")
            pages.add(data)
            document = _json(data, f"registry {registry}: tag list of {repository}")
            page = (document.get("tags") or []) if isinstance(document, dict) else None
            if not isinstance(page, list) or not all(isinstance(tag, str) for tag in page):
                raise RegistryError(f"registry {registry}: tag list of {repository} is malformed")
            tags.extend(page)
            url = link
        return tags

    # -- blobs ----------------------------------------------------------------------------------

    def blob_exists(self, registry: str, repository: str, digest: str) -> bool:
        path = f"/v2/{_check_repository(repository)}/blobs/{_check_digest(digest)}"
        response = self._request("HEAD", registry, path, scope=_scope(repository, "pull"), allow=(404,))
        _discard(response)
        return response.status == 200

    def get_blob(self, registry: str, repository: str, digest: str, *, limit: int = DEFAULT_BLOB_LIMIT) -> bytes:
        """The blob's bytes (at most ``limit``), verified against ``digest``."""
        chunks: list[bytes] = []
        self._stream_blob(registry, repository, digest, chunks.append, limit)
        return b"".join(chunks)

    def copy_blob_to(self, registry: str, repository: str, digest: str, dest: str | os.PathLike | IO[bytes], *,
                     limit: int | None = None, size: int | None = None,
                     progress: Callable[[int], None] | None = None, sync: bool = True) -> int:
        """Stream a blob into ``dest`` (a path or a binary file); returns its size.

        ``size`` (a descriptor's claim) is enforced exactly: the blob must be that long (and is
        never read past it). A path is written through a temporary file beside it (mode 0644,
        synced) and renamed only once the digest and size matched, so a bad or partial blob never
        appears under that name. A file object gets the bytes as they come: on an error the
        caller must discard what was written. ``progress`` is told the length of each chunk received.
        ``sync=False`` skips the fsync of each file: for a caller that syncs the file system once
        after many blobs, before anything refers to them.
        """
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise RegistryError(f"blob {digest}: invalid size {_show(size)}")
            if limit is not None and size > limit:
                raise RegistryError(f"registry {registry}: blob {digest} claims {size} bytes, over the "
                                    f"{limit}-byte limit")
            limit = size
        if hasattr(dest, "write"):
            written = self._stream_blob(registry, repository, digest, _reporting(dest.write, progress), limit)
            self._check_size(registry, digest, written, size)
            return written
        from airlock.files import atomic_writer

        path = os.fspath(dest)
        try:
            with atomic_writer(path, sync=sync) as handle:
                written = self._stream_blob(registry, repository, digest, _reporting(handle.write, progress), limit)
                self._check_size(registry, digest, written, size)
        except OSError as exc:
            raise RegistryError(f"cannot write blob {digest} to {path}: {exc.strerror or exc}") from None
        return written

    @staticmethod
    def _check_size(registry: str, digest: str, written: int, size: int | None) -> None:
        if size is not None and written != size:
            raise RegistryError(f"registry {registry}: blob {digest} is {written} bytes, its descriptor says {size}")

    def _stream_blob(self, registry: str, repository: str, digest: str, write, limit: int | None) -> int:
        """GET a blob into ``write``; its deadline allows the timeout plus ``limit`` bytes at the minimum rate."""
        path = f"/v2/{_check_repository(repository)}/blobs/{_check_digest(digest)}"
        response = self._request("GET", registry, path, scope=_scope(repository, "pull"),
                                 seconds=self._transfer_seconds(limit))
        url = self._url(registry, path)
        length = response.headers.get("Content-Length")
        deadline = _deadline_of(response)
        if limit is None and length and length.isdigit() and deadline is not None:
            deadline.extend(self._transfer_seconds(int(length)))
        hasher = _hasher(digest)
        total = self._receive(response, registry, f"GET {_where(url)}", limit, write, what=f"blob {digest}",
                              raw=True, hasher=hasher)
        actual = f"{digest.partition(':')[0]}:{hasher.hexdigest()}"
        if actual != digest:
            raise DigestMismatchError(f"registry {registry} sent blob {digest} of {repository} with digest {actual}")
        return total

    def put_blob(self, registry: str, repository: str, data: bytes | str | os.PathLike | IO[bytes], *,
                 digest: str | None = None, chunk_size: int | None = None, mount_from: str | None = None,
                 skip_existing: bool = True) -> str:
        """Upload a blob (bytes, a file path, or a binary file object); returns its digest.

        Skipped when the repository already has it (``skip_existing=False``: the caller just
        asked); mounted from ``mount_from`` (another
        repository of the same registry) when the registry agrees; otherwise uploaded in one PUT,
        or in ``chunk_size`` PATCHes (always chunked for a stream that cannot seek).
        """
        _check_repository(repository)
        if digest is not None:
            _check_digest(digest)
        if mount_from is not None:
            _check_repository(mount_from)
        if chunk_size is not None and chunk_size <= 0:
            raise RegistryError(f"chunk size must be positive, not {chunk_size}")
        if isinstance(data, (str, os.PathLike)):
            with open(data, "rb") as handle:
                return self.put_blob(registry, repository, handle, digest=digest, chunk_size=chunk_size,
                                     mount_from=mount_from, skip_existing=skip_existing)
        upload = _prepare_upload(data, digest)
        if skip_existing and upload.digest is not None and self.blob_exists(registry, repository, upload.digest):
            _log().debug("blob %s already in %s/%s", upload.digest, registry, repository)
            return upload.digest
        location = self._start_upload(registry, repository, upload.digest, mount_from)
        if location is None:
            return upload.digest  # type: ignore[return-value]
        if upload.size is not None and chunk_size is None:
            return self._put_monolithic(registry, repository, location, upload)
        return self._put_chunked(registry, repository, location, upload, chunk_size or DEFAULT_CHUNK_SIZE)

    def _start_upload(self, registry: str, repository: str, digest: str | None, mount_from: str | None
                      ) -> str | None:
        """Open an upload session; returns its location, or None when the registry mounted
        ``digest`` from ``mount_from`` (another repository of the same registry) instead."""
        push = _scope(repository, "pull,push")
        start = f"/v2/{repository}/blobs/uploads/"
        if mount_from and digest is not None and mount_from != repository:
            scope = f"{push} {_scope(mount_from, 'pull')}"
            mount = _with_query(start, ("mount", digest), ("from", mount_from))
            response = self._request("POST", registry, mount, scope=scope, ok=(201, 202))
        else:
            response = self._request("POST", registry, start, scope=push, ok=(202,))
        _discard(response)
        if response.status == 201:
            self._check_sent_digest(registry, response, digest)
            return None
        return self._location(registry, response, start)

    def copy_blob(self, source: tuple[str, str], destination: tuple[str, str], digest: str, size: int, *,
                  mount_from: str | None = None, progress: Callable[[int], None] | None = None) -> int:
        """Copy a blob from ``source`` to ``destination`` (each ``(registry, repository)``), never
        on disk and never whole in memory (past ``COPY_IN_MEMORY`` bytes); returns the bytes sent.

        The caller has checked that the destination lacks it. Mounted from ``mount_from`` (a
        repository of the destination's registry that has it) when the registry agrees. Else the
        bytes stream from the source's GET into one PATCH of the destination's upload session,
        hashed as they pass and never past ``size``: the chunk that completes the blob is sent
        only once the digest and size matched, and the upload is committed (the final PUT) only
        after that. A mismatch, a short body or a broken source raises; the upload session is
        left uncommitted (registries expire it), so the destination never holds the blob.
        """
        _check_digest(digest)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RegistryError(f"blob {digest}: invalid size {_show(size)}")
        (src_registry, src_repository), (registry, repository) = source, destination
        location = self._start_upload(registry, _check_repository(repository), digest, mount_from)
        if location is None:
            return 0
        if size <= COPY_IN_MEMORY:  # small: one GET, one PUT (its digest checked before it is sent)
            data = self.get_blob(src_registry, src_repository, digest, limit=size)
            self._check_size(src_registry, digest, len(data), size)
            self._put_monolithic(registry, repository, location, _Upload(data, None, size, digest))
            if progress is not None:
                progress(size)
            return size
        path = f"/v2/{_check_repository(src_repository)}/blobs/{digest}"
        response = self._request("GET", src_registry, path, scope=_scope(src_repository, "pull"),
                                 seconds=self._transfer_seconds(size))
        reader = _CheckedReader(self, response, src_registry, src_repository, digest, size, progress)
        scope = _scope(repository, "pull,push")
        try:
            answer = self._request(
                "PATCH", registry, location, scope=scope, ok=(202, 204), body=reader,
                seconds=self._transfer_seconds(size),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size),
                         "Content-Range": f"0-{size - 1}"},
            )
        except RegistryError as exc:
            if reader.failure is not None:  # the source failed mid-body: that is the reason, not the cut upload
                raise reader.failure from None
            raise exc from None
        finally:
            reader.close()
        _discard(answer)
        if not reader.verified:  # never reached: the reader raises first (kept: fail closed)
            raise DigestMismatchError(f"registry {src_registry}: blob {digest} was not verified before its commit")
        location = self._location(registry, answer, location)
        done = self._request("PUT", registry, _with_query(location, ("digest", digest)), scope=scope, ok=(201, 204),
                             body=b"", headers={"Content-Length": "0", "Content-Type": "application/octet-stream"})
        _discard(done)
        self._check_sent_digest(registry, done, digest)
        return size

    def _put_monolithic(self, registry: str, repository: str, location: str, upload: _Upload) -> str:
        assert upload.digest is not None, "a monolithic upload knows its digest"
        body = upload.data if upload.data is not None else upload.stream
        response = self._request(
            "PUT", registry, _with_query(location, ("digest", upload.digest)), scope=_scope(repository, "pull,push"),
            ok=(201, 204), body=body, seconds=self._transfer_seconds(upload.size),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(upload.size)},
        )
        _discard(response)
        self._check_sent_digest(registry, response, upload.digest)
        return upload.digest

    def _put_chunked(self, registry: str, repository: str, location: str, upload: _Upload, chunk_size: int) -> str:
        scope = _scope(repository, "pull,push")
        hasher = _hasher(upload.digest)
        offset = 0
        view = memoryview(upload.data) if upload.data is not None else None
        while True:
            if view is not None:
                chunk = bytes(view[offset:offset + chunk_size])
            else:
                chunk = _read_full(upload.stream, chunk_size)  # type: ignore[arg-type]
            if not chunk:
                break
            hasher.update(chunk)
            response = self._request(
                "PATCH", registry, location, scope=scope, ok=(202, 204), body=chunk,
                seconds=self._transfer_seconds(len(chunk)),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(chunk)),
                         "Content-Range": f"{offset}-{offset + len(chunk) - 1}"},
            )
            _discard(response)
            location = self._location(registry, response, location)
            offset += len(chunk)
            if upload.size is not None and offset >= upload.size:
                break
        digest = upload.digest or f"sha256:{hasher.hexdigest()}"
        actual = f"{digest.partition(':')[0]}:{hasher.hexdigest()}"
        if actual != digest:
            raise DigestMismatchError(f"blob uploaded as {digest} has digest {actual}")
        response = self._request("PUT", registry, _with_query(location, ("digest", digest)), scope=scope, ok=(201, 204),
                                 body=b"", headers={"Content-Length": "0", "Content-Type": "application/octet-stream"})
        _discard(response)
        self._check_sent_digest(registry, response, digest)
        return digest

    def _location(self, registry: str, response: BaseHTTPResponse, current: str) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"registry {registry}: upload answer {response.status} has no Location")
        try:
            url = urljoin(self._url(registry, current), location)
            _ = urlsplit(url).port  # a bad port or bracket raises here, not deep in urllib3
        except ValueError:
            raise RegistryError(f"registry {registry}: upload answer has an invalid Location "
                                f"{_show(location)}") from None
        return url

    @staticmethod
    def _check_sent_digest(registry: str, response: BaseHTTPResponse, digest: str | None) -> None:
        sent = (response.headers.get("Docker-Content-Digest") or "").strip()
        if sent and digest and sent.partition(":")[0] == digest.partition(":")[0] and sent != digest:
            raise DigestMismatchError(f"registry {registry} stored blob {digest} as {sent}")

    # -- referrers ------------------------------------------------------------------------------

    def referrers(self, registry: str, repository: str, digest: str, artifact_type: str | None = None
                  ) -> list[dict]:
        """Descriptors of the manifests whose ``subject`` is ``digest`` (FORMATS.md 4.5 point 5).

        The Referrers API when the registry answers it with an OCI index, else the
        ``sha256-<hex>`` fallback index (absent = no referrers). ``artifact_type`` filters the
        result here too, whether or not the registry applied the filter.
        """
        _check_repository(repository)
        _check_digest(digest)
        found = self._referrers_from_api(registry, repository, digest, artifact_type)
        if found is None:
            found = self._referrers_from_tag(registry, repository, digest)
        if artifact_type is not None:
            found = [item for item in found if item.get("artifactType") == artifact_type]
        return found

    def _referrers_from_api(self, registry: str, repository: str, digest: str, artifact_type: str | None
                            ) -> list[dict] | None:
        if self._referrers_api.get((registry, repository)) is False:
            return None
        url: str | None = f"/v2/{repository}/referrers/{digest}"
        if artifact_type:
            url = _with_query(url, ("artifactType", artifact_type))  # type: ignore[arg-type]
        found: list[dict] = []
        pages = _Pages(f"registry {registry}: referrers pages of {digest}")
        while url is not None:
            pages.visit(self._url(registry, url))
            response = self._request("GET", registry, url, scope=_scope(repository, "pull"),
                                     headers={"Accept": OCI_INDEX}, allow=(400, 404, 405, 406, 501))
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
            if response.status != 200 or content_type != OCI_INDEX:
                _discard(response)
                if not found:  # no Referrers API here: remember, and use the tag schema
                    with self._lock:
                        self._referrers_api[registry, repository] = False
                    return None
                raise RegistryError(f"registry {registry}: referrers of {digest}: page answered {response.status}")
            absolute = self._url(registry, url)
            try:
                link = _next_link(response.headers, absolute, f"registry {registry}: referrers of {digest}")
            except RegistryError:
                _discard(response)
                raise
            data = self._read(response, registry, "GET", absolute, MAX_MANIFEST_SIZE, what="referrers index")
            pages.add(data)
            found.extend(_index_descriptors(data, f"registry {registry}: referrers of {digest}")[1])
            _check_referrer_count(registry, digest, found)
            url = link
        with self._lock:
            self._referrers_api[registry, repository] = True
        return found

    def _referrers_from_tag(self, registry: str, repository: str, digest: str) -> list[dict]:
        tag = referrers_tag(digest)
        try:  # accept any manifest: a registry may hide one it was not asked for behind a 404
            manifest = self.get_manifest(registry, repository, tag)
        except RegistryError as exc:
            if exc.status == 404:
                return []
            raise
        if manifest.digest == digest:  # the subject itself, tagged so by ``cosign copy``: no referrers index
            _log().debug("tag %s of %s/%s holds its subject, not a referrers index", tag, registry, repository)
            return []
        if manifest.media_type != OCI_INDEX:
            raise RegistryError(f"registry {registry}: tag {tag} of {repository} holds {manifest.media_type}, "
                                f"not a referrers index")
        return _check_referrer_count(registry, digest,
                                     _index_descriptors(manifest.data, f"registry {registry}: referrers tag {tag}")[1])

    def add_referrer(self, registry: str, repository: str, subject_digest: str, descriptor: dict) -> str | None:
        """Record ``descriptor`` (an already pushed manifest whose subject is ``subject_digest``)
        in the referrers fallback index when the registry has no Referrers API.

        Returns the digest of the fallback index (unchanged if it already listed the manifest), or
        None when the registry's Referrers API indexes referrers itself. As go-containerregistry
        does: the new entry is ``{mediaType, size, digest, artifactType}`` (artifactType: the
        manifest's, else its config's media type; annotations are not copied), entries are sorted
        by digest, the index is an OCI image index tagged ``sha256-<hex>``.
        """
        _check_repository(repository)
        _check_digest(subject_digest, "subject digest")
        descriptor = _valid_descriptor(descriptor, "referrer")
        if self._referrers_from_api(registry, repository, subject_digest, None) is not None:
            return None
        tag = referrers_tag(subject_digest)
        try:
            current = self.get_manifest(registry, repository, tag, accept=MANIFEST_MEDIA_TYPES)
        except RegistryError as exc:
            if exc.status != 404:
                raise
            current = None
        if current is not None and current.digest == subject_digest:
            current = None  # the subject itself, tagged so by ``cosign copy``: the referrers index takes the tag
        if current is not None and current.media_type != OCI_INDEX:
            raise RegistryError(f"registry {registry}: tag {tag} of {repository} holds {current.media_type}, "
                                f"not a referrers index")
        index, entries = (_index_descriptors(current.data, f"referrers tag {tag}") if current
                          else ({"schemaVersion": 2, "mediaType": OCI_INDEX}, []))
        if any(entry["digest"] == descriptor["digest"] for entry in entries):
            return current.digest  # type: ignore[union-attr]
        artifact_type = descriptor.get("artifactType") or self._artifact_type(registry, repository, descriptor)
        entry = {"mediaType": descriptor.get("mediaType") or OCI_MANIFEST, "size": descriptor["size"],
                 "digest": descriptor["digest"]}
        if artifact_type:
            entry["artifactType"] = artifact_type
        entries = sorted([*entries, entry], key=lambda item: item["digest"])
        document = {"schemaVersion": index.get("schemaVersion", 2), "mediaType": OCI_INDEX,
                    "manifests": [_go_descriptor(item) for item in entries]}
        if isinstance(index.get("annotations"), dict) and index["annotations"]:
            document["annotations"] = dict(sorted(index["annotations"].items()))
        if isinstance(index.get("subject"), dict):
            document["subject"] = _go_descriptor(index["subject"])
        return self.put_manifest(registry, repository, tag, _go_json(document), OCI_INDEX)

    def _artifact_type(self, registry: str, repository: str, descriptor: dict) -> str:
        manifest = self.get_manifest(registry, repository, descriptor["digest"])
        document = _json(manifest.data, f"referrer {descriptor['digest']}")  # already checked by get_manifest
        if isinstance(document.get("artifactType"), str) and document["artifactType"]:
            return document["artifactType"]
        config = document.get("config")
        return config.get("mediaType", "") if isinstance(config, dict) else ""


def _check_referrer_count(registry: str, digest: str, found: list[dict]) -> list[dict]:
    if len(found) > MAX_REFERRERS:
        raise BudgetExceeded(f"registry {registry}: {digest} has more than {MAX_REFERRERS} referrers; refusing them")
    return found


# --- module internals -----------------------------------------------------------------------------


class _LazyTLS:
    """The certificate-verifying TLS context of one client, made on the first TLS handshake and then
    shared by every connection and thread: urllib3 makes one per connection otherwise, each loading
    the system's CA certificates (0.03-0.1 s of CPU), and a client that only talks plain http to a
    loopback registry never needs them. urllib3 reads ``verify_mode`` before connecting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: Any = None

    @property
    def verify_mode(self) -> Any:
        import ssl

        return ssl.CERT_REQUIRED

    @property
    def loaded(self) -> bool:
        return self._context is not None

    def get(self) -> Any:
        with self._lock:
            if self._context is None:
                from urllib3.util.ssl_ import create_urllib3_context

                context = create_urllib3_context()  # CERT_REQUIRED; urllib3 matches the host name itself
                context.load_default_certs()
                self._context = context
            return self._context


class _TransportError(Exception):
    """No HTTP answer at all; ``reason`` is a short one-line description."""

    def __init__(self, exc: BaseException, reason: str | None = None) -> None:
        self.reason = reason or _describe(exc)
        self.certificate_error = "CERTIFICATE_VERIFY_FAILED" in repr(exc) or _is_cert_error(exc)
        super().__init__(self.reason)


def _is_cert_error(exc: BaseException | None) -> bool:
    import ssl

    for _ in range(8):
        if exc is None:
            return False
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        reason = getattr(exc, "reason", None)
        exc = reason if isinstance(reason, BaseException) else exc.__cause__ or exc.__context__
    return False


def _transport_errors() -> tuple[type[BaseException], ...]:
    import urllib3

    return (urllib3.exceptions.HTTPError, OSError)


def _describe(exc: BaseException) -> str:
    """A short, one-line reason for a transport failure (no URLs of pools, no reprs)."""
    import urllib3.exceptions as e

    reason: BaseException = exc
    if isinstance(reason, e.MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    if isinstance(reason, e.MaxRetryError):
        return "too many redirects"
    if isinstance(reason, e.NewConnectionError):
        text = str(reason).split("Failed to establish a new connection:", 1)[-1]
        return "cannot connect:" + (f" {_oneline(text).strip()}" if text else "")
    if isinstance(reason, (e.ConnectTimeoutError, e.ReadTimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(reason, e.SSLError):
        return "TLS error: " + _oneline(str(reason.args[0] if reason.args else reason), 160)
    if isinstance(reason, e.ProtocolError):
        inner = reason.args[1] if len(reason.args) > 1 else reason
        return "connection broken: " + _oneline(str(inner) or type(inner).__name__, 160)
    if isinstance(reason, e.LocationParseError):
        return "invalid URL"
    return _oneline(str(reason) or type(reason).__name__, 160)


def _discard(response: BaseHTTPResponse) -> None:
    """Finish with a response we do not read: drain a small (or HEAD's empty) body for reuse, else close."""
    try:
        remaining = getattr(response, "length_remaining", None)
        if remaining is None or remaining > _MAX_ERROR_BODY or _timed_out(response):
            _finish(response, close=True)
            return
        response.drain_conn()
        _finish(response)
    except Exception:  # a connection that failed while draining is simply not reused
        _finish(response, close=True)


class _CheckedReader:
    """A blob's GET body as a file to upload from: read at most ``size`` bytes, hashed as they
    pass; the read that completes the blob raises instead of returning its last bytes unless
    the digest matched (and the body ends there). A failure is kept in ``failure`` too: the
    upload that reads from here turns it into a cut connection, and the caller reports this."""

    def __init__(self, client: RegistryClient, response: BaseHTTPResponse, registry: str, repository: str,
                 digest: str, size: int, progress: Callable[[int], None] | None) -> None:
        self.client, self.response = client, response
        self.registry, self.repository, self.digest, self.size = registry, repository, digest, size
        self.progress = progress
        self.where = f"GET {_where(client._url(registry, f'/v2/{repository}/blobs/{digest}'))}"
        self.hasher = _hasher(digest)
        self.total = 0
        self.verified = False
        self.failure: BaseException | None = None
        self.closed = False
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) != size:
            self._fail(RegistryError(f"registry {registry}: blob {digest} is {length} bytes, its descriptor "
                                     f"says {size}"))

    def _fail(self, exc: BaseException) -> None:
        self.failure = exc
        self.close()
        raise exc

    def _read(self, want: int) -> bytes:
        try:
            return self.response.read(want, decode_content=False)
        except _transport_errors() as exc:
            if _timed_out(self.response):
                self._fail(self.client._too_slow(self.registry, self.where, f"blob {self.digest}", self.response))
            self._fail(RegistryError(f"registry {self.registry}: {self.where}: reading the blob {self.digest}: "
                                     f"{_describe(exc)}"))
            raise AssertionError("unreachable") from None

    def read(self, size: int = -1) -> bytes:
        if self.failure is not None:
            raise self.failure
        if self.total >= self.size:
            return b""
        want = self.size - self.total if size is None or size < 0 else min(size, self.size - self.total)
        chunk = self._read(want)
        if not chunk or _timed_out(self.response):
            if _timed_out(self.response):
                self._fail(self.client._too_slow(self.registry, self.where, f"blob {self.digest}", self.response))
            self._fail(RegistryError(f"registry {self.registry}: blob {self.digest} is {self.total} bytes, its "
                                     f"descriptor says {self.size}"))
        self.total += len(chunk)
        self.hasher.update(chunk)
        if self.total == self.size:  # the last bytes: only once the whole blob is proven
            actual = f"{self.digest.partition(':')[0]}:{self.hasher.hexdigest()}"
            if actual != self.digest:
                self._fail(DigestMismatchError(f"registry {self.registry} sent blob {self.digest} of "
                                               f"{self.repository} with digest {actual}"))
            if self._read(1):
                self._fail(RegistryError(f"registry {self.registry}: blob {self.digest} is longer than its "
                                         f"descriptor's {self.size} bytes"))
            self.verified = True
            self.close()
        if self.progress is not None:
            self.progress(len(chunk))
        return chunk

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            _finish(self.response, close=not self.verified)


def _reporting(write: Callable[[bytes], Any], progress: Callable[[int], None] | None) -> Callable[[bytes], Any]:
    if progress is None:
        return write

    def both(chunk: bytes) -> Any:
        result = write(chunk)
        progress(len(chunk))
        return result
    return both


def _read_full(stream: IO[bytes], size: int) -> bytes:
    chunks, total = [], 0
    while total < size:
        chunk = stream.read(size - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _scope(repository: str, actions: str) -> str:
    return f"repository:{repository}:{actions}"


def _where(url: str) -> str:
    """Host-free path of a URL for messages (the query, with upload state, is noise)."""
    parts = urlsplit(url)
    return parts.path or "/"

