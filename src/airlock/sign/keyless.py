"""Keyless signing: an OIDC identity token, a short-lived Fulcio certificate for an ephemeral key,
an RFC 3161 timestamp and a Rekor v2 entry, assembled into a Sigstore bundle v0.3.

The clients speak the services' HTTP APIs with urllib3: Fulcio ``POST /api/v2/signingCert``,
Rekor v2 ``POST /api/v2/log/entries`` (hashedrekord 0.0.2 requests: rekor-tiles v2.3 refuses its
deprecated DSSE type, so a DSSE envelope is logged, as sigstore-go logs it, as a hashedrekord of
the SHA-256 of its PAE) and a timestamp authority ``POST`` of an RFC 3161 request (built with
``rfc3161-client``). Every server failure is
one ``ServiceError`` line naming the service: unreachable, refused (4xx, with the server's own
message), failed (5xx), no answer in time. A POST is retried only when the connection was refused
before anything was sent; nothing else is retried (a Rekor entry must not be made twice).

What comes back is checked before it is used: the certificate is for the ephemeral key, chains to
a Fulcio CA of the trusted root, carries the token's identity and issuer (and an SCT when the
trusted root has a CT log); the timestamp answers this request (nonce, imprint). The bundle made
here is then verified whole by the caller (``airlock.api``) before anything is written. The
private key lives only in this process and is never written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airlock import _wire
from airlock.errors import AirlockError, KeylessError, ServiceError, UsageError
from airlock.media_types import BUNDLE_V03, IN_TOTO, SIGNING_CONFIG_V02
from airlock.sign import bundles

KEY_DETAILS = "PKIX_ECDSA_P256_SHA_256"
TIMEOUT = 30.0
CONNECT_RETRIES = 2
MAX_ANSWER = 4 << 20  # no service answer is anywhere near this


@dataclass(frozen=True)
class Services:
    """Where to sign: Fulcio, Rekor v2 and a timestamp authority (its full timestamp URL)."""

    fulcio_url: str
    rekor_url: str
    tsa_url: str | None = None
    timeout: float = TIMEOUT


# -- HTTP -------------------------------------------------------------------------------------------

class Http:
    """One urllib3 pool for every service; ``post`` returns the body of a 2xx answer or raises."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        import urllib3

        self.timeout = timeout
        self.pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=min(10.0, timeout), read=timeout),
                                        retries=False)

    def request(self, method: str, url: str, what: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> bytes:
        import urllib3

        # connect retries only: a refused connection sent nothing; a read retry of a POST could log twice
        retries = urllib3.Retry(total=None, connect=CONNECT_RETRIES, read=CONNECT_RETRIES if method == "GET" else 0,
                                status=0, other=0, redirect=0, backoff_factor=0.2, allowed_methods=None,
                                raise_on_status=False)
        try:
            response = self.pool.request(method, url, body=body, headers=headers or {}, retries=retries,
                                         preload_content=False)
        except urllib3.exceptions.MaxRetryError as exc:
            raise self._failure(what, url, exc.reason) from None
        except urllib3.exceptions.HTTPError as exc:
            raise self._failure(what, url, exc) from None
        try:
            data = response.read(MAX_ANSWER + 1, decode_content=True)
        except urllib3.exceptions.HTTPError as exc:
            raise self._failure(what, url, exc) from None
        finally:
            response.release_conn()
        if len(data) > MAX_ANSWER:
            raise ServiceError(f"{what} at {url} answered more than {MAX_ANSWER} bytes")
        if response.status >= 400:
            verb = "refused the request" if response.status < 500 else "failed"
            raise ServiceError(f"{what} {verb} (HTTP {response.status}): {_server_message(data)}")
        if response.status >= 300:
            raise ServiceError(f"{what} at {url} answered HTTP {response.status} (redirects are not followed)")
        return data

    def _failure(self, what: str, url: str, reason: Any) -> ServiceError:
        import urllib3

        text = str(reason)
        # before the timeout test: urllib3's NewConnectionError is a ConnectTimeoutError, refused or not
        if isinstance(reason, urllib3.exceptions.NewConnectionError) and "timed out" not in text:
            detail = "connection refused" if "refused" in text else text.rsplit(": ", 1)[-1]
            return ServiceError(f"{what} at {url} is unreachable ({detail})")
        if isinstance(reason, urllib3.exceptions.TimeoutError):
            return ServiceError(f"{what} at {url} did not answer within {self.timeout:g}s")
        return ServiceError(f"{what} at {url}: {text.splitlines()[0][:200] if text else reason.__class__.__name__}")


def _server_message(data: bytes) -> str:
    """The server's own words: ``message``/``error`` of a JSON answer, else its first text line."""
    try:
        document = _wire.loads(data, "the answer")
    except AirlockError:
        document = None
    if isinstance(document, dict):
        for name in ("message", "error", "detail"):
            if isinstance(document.get(name), str) and document[name]:
                return _printable(document[name])
    text = data.decode("utf-8", "replace").strip()
    return _printable(text.splitlines()[0]) if text else "(no message)"


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:300]


def _post_json(http: Http, url: str, body: dict, what: str) -> Any:
    data = http.request("POST", url, what, body=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json", "Accept": "application/json"})
    return _wire.loads(data, f"{what}'s answer")


# -- the identity token -----------------------------------------------------------------------------

@dataclass(frozen=True)
class IdentityToken:
    """An OIDC ID token as Fulcio will read it. The token's signature is Fulcio's to check; what is
    read here (unverified) only says which identity the certificate must carry."""

    raw: str
    issuer: str
    subject: str
    email: str | None
    claims: dict

    @property
    def challenge(self) -> str:
        """What the proof of possession signs: the email for an email token, else ``sub``."""
        return self.email if self.email is not None else self.subject

    @property
    def identity(self) -> str:
        """The certificate SAN Fulcio issues for this token: the email, a GitHub workflow's URI, or ``sub``."""
        if self.email is not None:
            return self.email
        workflow = self.claims.get("job_workflow_ref")
        if isinstance(workflow, str) and workflow:
            return f"https://github.com/{workflow}"  # Fulcio's github-workflow issuer type
        return self.subject


def read_token(raw: str, *, now: datetime | None = None) -> IdentityToken:
    """Read an ID token's claims (not its signature). Refuses a token that is not a JWT, lacks
    ``iss``/``sub``, has an unverified email, or has expired (Fulcio would refuse it too)."""
    raw = raw.strip()
    parts = raw.split(".")
    if len(parts) != 3 or not all(parts):
        raise UsageError("the identity token is not a JWT (header.payload.signature)")
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
    except ValueError:
        raise UsageError("the identity token's claims are not base64url") from None
    claims = _wire.loads(payload, "the identity token's claims")
    if not isinstance(claims, dict):
        raise UsageError("the identity token's claims are not a JSON object")
    issuer, subject, email = claims.get("iss"), claims.get("sub"), claims.get("email")
    if not isinstance(issuer, str) or not issuer or not isinstance(subject, str) or not subject:
        raise UsageError("the identity token has no issuer (iss) or subject (sub)")
    if email is not None:
        if not isinstance(email, str) or not email:
            raise UsageError("the identity token's email claim is not a string")
        if claims.get("email_verified") is not True:
            raise UsageError(f"the identity token's email {email} is not verified (email_verified)")
    expiry = claims.get("exp")
    if not isinstance(expiry, int | float) or isinstance(expiry, bool):
        raise UsageError("the identity token has no expiry (exp)")
    moment = now or datetime.now(UTC)
    if expiry <= moment.timestamp():
        when = datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise UsageError(f"the identity token expired at {when}: get a fresh one")
    return IdentityToken(raw, issuer, subject, email, claims)


def ambient_github_token(http: Http | None = None, environ: dict[str, str] | None = None) -> str | None:
    """The GitHub Actions ID token for audience ``sigstore``, when the job may request one
    (``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``_TOKEN`` set: ``permissions: id-token: write``)."""
    env = os.environ if environ is None else environ
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        return None
    separator = "&" if "?" in url else "?"
    data = (http or Http()).request("GET", f"{url}{separator}audience=sigstore", "the GitHub Actions token service",
                                    headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"})
    document = _wire.loads(data, "the GitHub Actions token service's answer")
    value = document.get("value") if isinstance(document, dict) else None
    if not isinstance(value, str) or not value:
        raise ServiceError("the GitHub Actions token service answered without a token (value)")
    return value


# -- the signing config -----------------------------------------------------------------------------

def services_from_signing_config(data: bytes, *, now: datetime | None = None, timeout: float = TIMEOUT) -> Services:
    """Fulcio, Rekor and TSA URLs from a Sigstore SigningConfig v0.2, as cosign picks them: for each
    service, the newest entry valid now whose API version airlock speaks (Fulcio v1, Rekor v2,
    TSA v1). A config naming only Rekor v1 logs is refused: airlock uploads to Rekor v2 only."""
    document = _wire.loads(data, "--signing-config")
    if not isinstance(document, dict) or document.get("mediaType") != SIGNING_CONFIG_V02:
        raise UsageError(f"--signing-config: not a Sigstore signing config ({SIGNING_CONFIG_V02})")
    moment = now or datetime.now(UTC)

    def pick(name: str, versions: tuple[int, ...], required: bool) -> str | None:
        entries = document.get(name) or []
        if not isinstance(entries, list):
            raise UsageError(f"--signing-config: {name} is not a list")
        usable = []
        for i, entry in enumerate(entries):
            where = f"--signing-config: {name}[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                raise UsageError(f"{where} has no url")
            window = entry.get("validFor") or {}
            if not isinstance(window, dict):
                raise UsageError(f"{where}: validFor is not an object")
            start, end = _when(window.get("start"), where), _when(window.get("end"), where)
            if entry.get("majorApiVersion") in versions and (start is None or start <= moment) \
                    and (end is None or moment < end):
                usable.append((start or datetime.min.replace(tzinfo=UTC), entry["url"]))
        if not usable:
            if required:
                raise UsageError(f"--signing-config: no {name} entry valid now with API version "
                                 f"{' or '.join(map(str, versions))}")
            return None
        return max(usable, key=lambda item: item[0])[1]

    fulcio, rekor = pick("caUrls", (1,), True), pick("rekorTlogUrls", (2,), True)
    assert fulcio is not None and rekor is not None
    return Services(fulcio, rekor, pick("tsaUrls", (1,), False), timeout)


def _when(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{where}: validFor time {value!r} is not RFC 3339") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- the session ------------------------------------------------------------------------------------

class KeylessSigner:
    """One keyless signing session: an ephemeral P-256 key and its Fulcio certificate (asked for
    on first use, checked against ``trusted_root``). ``message_bundle`` and ``dsse_bundle`` sign,
    timestamp and log, and return the bundle (a dict) for the caller to verify and write."""

    def __init__(self, services: Services, token: IdentityToken, trusted_root: Any, *,
                 http: Http | None = None) -> None:
        if not services.tsa_url:
            raise UsageError("keyless signing with Rekor v2 needs a timestamp authority: pass "
                             "--timestamp-server-url (or a --signing-config with a TSA)")
        if trusted_root is None or not trusted_root.certificate_authorities:
            raise UsageError("keyless signing needs a trusted root with the Fulcio CA (--trusted-root)")
        if not trusted_root.tlogs or not trusted_root.timestamp_authorities:  # checked before any log entry
            raise UsageError("keyless signing needs a trusted root with the Rekor log and the timestamp authority "
                             "(--trusted-root): without them the bundle could not be verified, and the log entry "
                             "would be made for nothing")
        self.services = services
        self.token = token
        self.trusted_root = trusted_root
        self.http = http or Http(services.timeout)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self._leaf: x509.Certificate | None = None

    # the certificate

    def public_key_pem(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def certificate(self) -> x509.Certificate:
        if self._leaf is None:
            self._leaf = self._certify()
        return self._leaf

    def _certify(self) -> x509.Certificate:
        proof = self.key.sign(self.token.challenge.encode(), ec.ECDSA(hashes.SHA256()))
        body = {"credentials": {"oidcIdentityToken": self.token.raw},
                "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": self.public_key_pem().decode()},
                                     "proofOfPossession": bundles.b64(proof)}}
        answer = _post_json(self.http, self.services.fulcio_url.rstrip("/") + "/api/v2/signingCert", body, "Fulcio")
        chain = _issued_chain(answer)
        self.check_certificate(chain[0])
        return chain[0]

    def check_certificate(self, leaf: x509.Certificate) -> None:
        """The certificate is for our key, chains to a trusted Fulcio CA now, is a Fulcio leaf with
        the token's identity and issuer, and (when the trusted root has a CT log) carries an SCT."""
        from airlock.crypto import spki_der
        from airlock.errors import VerificationError
        from airlock.verify import checks
        from airlock.verify.policy import Identity

        if spki_der(leaf.public_key()) != spki_der(self.key.public_key()):
            raise KeylessError("Fulcio issued a certificate for another key than the one it was asked to certify")
        try:
            issuer = checks.check_certificate(leaf, datetime.now(UTC), self.trusted_root)
            if self.trusted_root.ctlogs:
                checks.check_sct(leaf, issuer, self.trusted_root)
            checks.check_fulcio_extensions(leaf)
            Identity(identity=self.token.identity, issuer=self.token.issuer).match(leaf)
        except VerificationError as exc:
            raise KeylessError(f"the certificate from Fulcio is not usable: {exc}") from None

    # signing, timestamping, logging

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def timestamp(self, signature: bytes) -> bytes:
        """An RFC 3161 timestamp response over ``signature``, checked to answer this request."""
        import rfc3161_client

        assert self.services.tsa_url is not None
        request = rfc3161_client.TimestampRequestBuilder().data(signature) \
            .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256).nonce(nonce=True).cert_request(cert_request=True) \
            .build()
        data = self.http.request("POST", self.services.tsa_url, "the timestamp authority", body=request.as_bytes(),
                                 headers={"Content-Type": "application/timestamp-query"})
        try:
            response = rfc3161_client.decode_timestamp_response(data)
        except Exception as exc:  # rfc3161_client raises several types
            raise KeylessError(f"the timestamp authority's answer is not an RFC 3161 response ({exc})") from None
        if response.status not in (rfc3161_client.PKIStatus.GRANTED, rfc3161_client.PKIStatus.GRANTED_WITH_MODS):
            raise KeylessError(f"the timestamp authority refused the request (status {response.status})")
        info = response.tst_info
        if info.nonce != request.nonce or info.message_imprint.message != hashlib.sha256(signature).digest():
            raise KeylessError("the timestamp authority's answer is not for this request (nonce or imprint differ)")
        return data

    def _log(self, request: dict) -> dict:
        answer = _post_json(self.http, self.services.rekor_url.rstrip("/") + "/api/v2/log/entries", request, "Rekor")
        if not isinstance(answer, dict) or "canonicalizedBody" not in answer or "inclusionProof" not in answer:
            raise KeylessError("Rekor's answer is not a transparency log entry with an inclusion proof")
        return answer

    def _hashedrekord(self, digest: bytes, signature: bytes) -> dict:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        verifier = {"x509Certificate": {"rawBytes": bundles.b64(der)}, "keyDetails": KEY_DETAILS}
        return {"hashedRekordRequestV002": {"digest": bundles.b64(digest),
                                            "signature": {"content": bundles.b64(signature), "verifier": verifier}}}

    def _material(self, entry: dict, timestamp: bytes) -> dict:
        return {"certificate": {"rawBytes": bundles.b64(self.certificate.public_bytes(serialization.Encoding.DER))},
                "tlogEntries": [entry],
                "timestampVerificationData": {"rfc3161Timestamps": [{"signedTimestamp": bundles.b64(timestamp)}]}}

    def message_bundle(self, data: bytes) -> dict:
        """Sign ``data`` (a hashedrekord entry): the bundle of a blob signature."""
        self.certificate  # noqa: B018 -- certified (and checked) before anything is signed
        digest = hashlib.sha256(data).digest()
        signature = self.sign(data)
        timestamp = self.timestamp(signature)
        entry = self._log(self._hashedrekord(digest, signature))
        return {"mediaType": BUNDLE_V03, "verificationMaterial": self._material(entry, timestamp),
                "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": bundles.b64(digest)},
                                     "signature": bundles.b64(signature)}}

    def dsse_bundle(self, payload: bytes, payload_type: str = IN_TOTO) -> dict:
        """Sign ``payload`` in a DSSE envelope (a DSSE entry): the bundle of an in-toto statement."""
        self.certificate  # noqa: B018
        pae = bundles.pae(payload_type, payload)
        signature = self.sign(pae)
        envelope = bundles.dsse_envelope(payload, signature, payload_type)
        timestamp = self.timestamp(signature)
        # Rekor v2 logs hashedrekord entries only (its DSSE type is deprecated): the digest is of the PAE
        entry = self._log(self._hashedrekord(hashlib.sha256(pae).digest(), signature))
        return {"mediaType": BUNDLE_V03, "verificationMaterial": self._material(entry, timestamp),
                "dsseEnvelope": envelope}


def _issued_chain(answer: Any) -> list[x509.Certificate]:
    signed = None
    if isinstance(answer, dict):
        signed = answer.get("signedCertificateEmbeddedSct") or answer.get("signedCertificateDetachedSct")
    chain = signed.get("chain") if isinstance(signed, dict) else None
    pems = chain.get("certificates") if isinstance(chain, dict) else None
    if not isinstance(pems, list) or not pems or not all(isinstance(p, str) for p in pems):
        raise KeylessError("Fulcio's answer has no certificate chain")
    try:
        return [x509.load_pem_x509_certificate(pem.encode()) for pem in pems]
    except ValueError:
        raise KeylessError("Fulcio's answer holds a certificate that does not parse") from None
