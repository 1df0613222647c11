"""Image references (``registry/repository[:tag][@digest]``) parsed the way cosign parses them.

cosign uses go-containerregistry's ``name`` package, and the name it computes is not only an
address: it is what the simple-signing payload records in ``critical.identity.docker-reference``
(FORMATS.md 1.6) and where the ``sha256-<hex>.sig|.att|.sbom`` tags live (FORMATS.md 1.1). So the
rules here follow go-containerregistry, not Docker's CLI:

- the first path component is a registry only if it contains ``.`` or ``:`` (``localhost/x`` is
  the Docker Hub repository ``localhost/x``; write ``localhost:5000/x`` for a local registry);
- no registry, or ``docker.io``, means ``index.docker.io``; a one-component Docker Hub repository
  gets the implicit ``library/`` namespace (``ubuntu`` -> ``index.docker.io/library/ubuntu``);
- the tag defaults to ``latest`` only when neither a tag nor a digest is given;
- a digest must be ``sha256:`` followed by 64 lower-case hex digits (the only algorithm cosign
  produces, FORMATS.md 0.3); anything else is refused rather than passed to a registry.

Repository path components additionally follow the distribution spec's grammar (lower case,
separators ``.``, ``_``, ``__``, ``-`` only between alphanumerics), which go-containerregistry checks
only loosely; a name that no registry would accept is better refused here with a clear reason.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from airlock.errors import InvalidReferenceError

DEFAULT_REGISTRY = "index.docker.io"
DOCKER_HUB_ALIAS = "docker.io"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
ATTACHMENT_SUFFIXES = ("sig", "att", "sbom")

_MAX_TEXT = 1024  # far above any real reference; bounds the work done on hostile input
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_REGISTRY = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")


def _show(text: str) -> str:
    """Quote untrusted text for a one-line message: escaped, and cut short if long."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def is_digest(text: object) -> bool:
    """True for ``sha256:<64 lower-case hex>``, the only digest form airlock reads or writes."""
    return isinstance(text, str) and _DIGEST.fullmatch(text) is not None


def check_digest(text: object, what: str = "digest") -> str:
    """``text`` if it is a sha256 digest; otherwise an error saying what is wrong with it."""
    if is_digest(text):
        return text  # type: ignore[return-value]
    if not isinstance(text, str):
        raise InvalidReferenceError(f"{what} must be a string, not {type(text).__name__}")
    algorithm, sep, _ = text.partition(":")
    if sep and algorithm != "sha256" and re.fullmatch(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*", algorithm):
        raise InvalidReferenceError(f"{what} {_show(text)} uses unsupported algorithm {algorithm!r}; only sha256")
    raise InvalidReferenceError(f"{what} {_show(text)} is not sha256: followed by 64 lower-case hex digits")


def check_tag(text: object) -> str:
    """``text`` if it is a valid tag (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``)."""
    if isinstance(text, str) and _TAG.fullmatch(text):
        return text
    shown = _show(text) if isinstance(text, str) else type(text).__name__
    raise InvalidReferenceError(
        f"invalid tag {shown}: up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'"
    )


def signature_tag(digest: str, suffix: str = "sig") -> str:
    """The tag cosign attaches material to for ``digest`` (FORMATS.md 1.1, 4.6).

    ``suffix`` ``sig``/``att``/``sbom`` (with or without the dot) gives the legacy
    ``sha256-<hex>.<suffix>`` tags; the empty suffix gives ``sha256-<hex>``, the OCI referrers
    fallback tag, which holds an image index and is a different object altogether.
    """
    check_digest(digest, "subject digest")
    suffix = suffix.removeprefix(".")
    if suffix and suffix not in ATTACHMENT_SUFFIXES:
        raise InvalidReferenceError(f"unknown attachment suffix {_show(suffix)}; expected sig, att, sbom or ''")
    tag = digest.replace(":", "-", 1)
    return f"{tag}.{suffix}" if suffix else tag


class Reference(NamedTuple):
    """A parsed reference. ``tag`` and ``digest`` may both be set; the digest then decides.

    ``registry`` and ``repository`` are normalized (``index.docker.io``, ``library/``), so two
    spellings of one image compare equal on ``name``.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository``: what ``docker-reference`` holds in a simple-signing payload."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """The digest if there is one (it pins the content), else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def with_digest(self, digest: str) -> Reference:
        """The same image pinned to ``digest``; the tag is kept as a label (the digest decides)."""
        return self._replace(digest=check_digest(digest))

    def with_tag(self, tag: str) -> Reference:
        """Another tag in the same repository; any digest is dropped, since it named other content."""
        return self._replace(tag=check_tag(tag), digest=None)

    def attachment(self, suffix: str = "sig", digest: str | None = None) -> Reference:
        """The reference of ``sha256-<hex>.<suffix>`` (or the referrers fallback tag for ``""``).

        ``digest`` defaults to this reference's digest; a tag must be resolved to a digest first,
        because attachments are keyed by what was signed, never by a movable tag.
        """
        subject = digest or self.digest
        if subject is None:
            raise InvalidReferenceError(f"{self}: resolve the tag to a digest before looking for attachments")
        return self.with_tag(signature_tag(subject, suffix))


def _split_registry(remainder: str) -> tuple[str, str]:
    """(registry, repository as written); the registry is the first component if it has '.' or ':'."""
    first, sep, rest = remainder.partition("/")
    if sep and ("." in first or ":" in first):
        return first, rest
    return "", remainder


def parse_reference(text: str) -> Reference:
    """Parse ``[registry/]repository[:tag][@sha256:<hex>]`` with cosign's defaults (module docstring)."""
    if not isinstance(text, str):
        raise InvalidReferenceError(f"an image reference must be a string, not {type(text).__name__}")
    if not text:
        raise InvalidReferenceError("empty image reference")
    if len(text) > _MAX_TEXT:
        raise InvalidReferenceError(f"image reference is longer than {_MAX_TEXT} characters")
    if not text.isprintable() or any(c.isspace() for c in text):
        raise InvalidReferenceError(f"invalid image reference {_show(text)}: contains spaces or control characters")

    base, at, digest = text.partition("@")
    if at:
        if "@" in digest:
            raise InvalidReferenceError(f"invalid image reference {_show(text)}: more than one '@'")
        try:
            check_digest(digest)
        except InvalidReferenceError as exc:
            raise InvalidReferenceError(f"invalid image reference {_show(text)}: {exc}") from None
    tag: str | None = None
    head, colon, candidate = base.rpartition(":")
    if colon and "/" not in candidate:
        base, tag = head, candidate
        if not tag:
            raise InvalidReferenceError(f"invalid image reference {_show(text)}: empty tag after ':'")
        try:
            check_tag(tag)
        except InvalidReferenceError as exc:
            raise InvalidReferenceError(f"invalid image reference {_show(text)}: {exc}") from None

    registry, repository = _split_registry(base)
    if registry and not _REGISTRY.fullmatch(registry):
        raise InvalidReferenceError(f"invalid registry {_show(registry)} in {_show(text)}: not a host[:port]")
    if not repository:
        raise InvalidReferenceError(f"invalid image reference {_show(text)}: no repository")
    if not 2 <= len(repository) <= 255:  # go-containerregistry's bounds, checked before 'library/'
        raise InvalidReferenceError(
            f"invalid repository {_show(repository)} in {_show(text)}: must be 2 to 255 characters"
        )
    for component in repository.split("/"):
        if not _COMPONENT.fullmatch(component):
            raise InvalidReferenceError(
                f"invalid repository {_show(repository)} in {_show(text)}: components must be lower-case "
                "letters and digits, separated by '.', '_', '__' or '-'"
            )

    if registry in ("", DOCKER_HUB_ALIAS):
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"{DEFAULT_NAMESPACE}/{repository}"
    if tag is None and not at:
        tag = DEFAULT_TAG
    return Reference(registry, repository, tag, digest if at else None)
