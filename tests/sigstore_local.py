"""A real Sigstore instance on 127.0.0.1 for the tests: the published servers, not airlock's own.

``local_sigstore(workdir)`` starts, each on free loopback ports:

- ``OIDCProvider``: a small OpenID provider written here (discovery, JWKS, RS256/ES256 ID tokens)
  with two issuers, ``BASE/email`` (an email identity) and ``BASE/ci`` (GitHub workflow claims);
- Fulcio v1.8.8 (``--ca=ephemeralca``), trusting both issuers;
- a CT log, TesseraCT v0.1.1 (POSIX storage, a P-256 key made here, Fulcio's CA as its only root),
  where Fulcio logs each precertificate before it embeds the log's SCT in the certificate. It is
  optional: without its binary Fulcio runs with ``--ct-log-url=""``, the certificates carry no SCT,
  ``ctlog_url`` is None and ``sct_flags`` gives the verifiers ``--insecure-ignore-sct``;
- Rekor v2 (rekor-tiles v2.3.0, POSIX storage, an Ed25519 key made here) and a static file server
  for its tiles and checkpoint (rekor-tiles' own read endpoints answer Unimplemented);
- the timestamp authority v2.1.3 (``--timestamp-signer=memory``);

waits (bounded) until each answers, and stops them all (bounded) when the ``with`` block ends.
``LocalSigstore.trusted_root(...)`` writes a trusted_root.json for the instance (with
``airlock trusted-root create`` or ``cosign trusted-root create``) and
``LocalSigstore.signing_config(...)`` a signing config (``cosign signing-config create``).

The binaries come from ``$AIRLOCK_PEERS/instance/`` and ``$AIRLOCK_PEERS/ctlog/`` (./run-tests
builds them from their Go modules); ``missing()`` says which are absent so a fixture can skip with
a message, and ``ctlog_missing()`` whether the CT log is. Rekor v1 is not run yet.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from peers import PEERS

STARTUP_TIMEOUT = 60.0  # Fulcio and the TSA take a few seconds on a loaded 2-core machine
STOP_TIMEOUT = 10.0
METRICS_PORT_WAIT = 45.0  # how long to wait for another instance's TSA to free port 2112
CLIENT_ID = "sigstore"
EMAIL = "alice@airlock.test"
CI_REPOSITORY = "airlock-test/app"
CI_WORKFLOW_REF = f"{CI_REPOSITORY}/.github/workflows/release.yml@refs/heads/main"
CI_IDENTITY = f"https://github.com/{CI_WORKFLOW_REF}"

# name -> (path under PEERS, the module ./run-tests builds it from)
SERVERS = {
    "fulcio": ("instance/fulcio", "github.com/sigstore/fulcio@v1.8.8"),
    "rekor-tiles": ("instance/posix", "github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix@v2.3.0"),
    "timestamp-server": ("instance/timestamp-server",
                         "github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server@v2.1.3"),
}
# optional: the instance runs without it (and then without SCTs). Its binary is also named posix.
CTLOG = ("ctlog/posix", "github.com/transparency-dev/tesseract/cmd/tesseract/posix@v0.1.1")


def binary(name: str) -> Path:
    return PEERS / (CTLOG if name == "ctlog" else SERVERS[name])[0]


def missing() -> list[str]:
    """One line per server binary that is not built, saying how ./run-tests builds it."""
    return [f"{name} at {binary(name)} (./run-tests builds it from {module} when Go is present)"
            for name, (_, module) in SERVERS.items() if not os.access(binary(name), os.X_OK)]


def ctlog_missing() -> str | None:
    """Why the instance has no CT log (so no SCTs), or None when its binary is built."""
    if os.access(binary("ctlog"), os.X_OK):
        return None
    return f"the CT log at {binary('ctlog')} (./run-tests builds it from {CTLOG[1]} when Go is present)"


class MetricsPortBusy(RuntimeError):
    """The TSA could not start: port 2112, which it binds on all interfaces, stayed taken."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


# ----------------------------------------------------------------------------- OIDC provider


class OIDCProvider:
    """An OpenID provider on 127.0.0.1 with two issuers sharing one JWKS (an RSA and a P-256 key).

    ``token("email")`` / ``token("ci")`` mint ID tokens; keyword arguments override claims, and
    ``alg``/``key`` choose the signature (``key`` may be a key the JWKS does not publish)."""

    def __init__(self) -> None:
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.email_issuer = f"{self.base}/email"
        self.ci_issuer = f"{self.base}/ci"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OIDCProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT)

    def jwks(self) -> dict:
        rsa_numbers = self.rsa_key.public_key().public_numbers()
        ec_numbers = self.ec_key.public_key().public_numbers()
        return {"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": _uint(rsa_numbers.n),
             "e": _uint(rsa_numbers.e)},
            {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
             "x": _b64url(ec_numbers.x.to_bytes(32, "big")), "y": _b64url(ec_numbers.y.to_bytes(32, "big"))},
        ]}

    def discovery(self, issuer: str) -> dict:
        return {"issuer": issuer, "jwks_uri": f"{self.base}/jwks", "authorization_endpoint": f"{issuer}/auth",
                "token_endpoint": f"{issuer}/token", "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256", "ES256"]}

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                documents = {"/jwks": provider.jwks}
                for issuer in (provider.email_issuer, provider.ci_issuer):
                    path = issuer[len(provider.base):] + "/.well-known/openid-configuration"
                    documents[path] = functools.partial(provider.discovery, issuer)
                make = documents.get(self.path)
                body = json.dumps(make()).encode() if make else b'{"error":"not found"}'
                self.send_response(200 if make else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def claims(self, kind: str) -> dict:
        now = int(time.time())
        common = {"aud": CLIENT_ID, "iat": now, "nbf": now, "exp": now + 600}
        if kind == "email":
            return {**common, "iss": self.email_issuer, "sub": "alice-1234", "email": EMAIL, "email_verified": True}
        if kind == "ci":
            sha = "a" * 40
            return {**common, "iss": self.ci_issuer, "sub": f"repo:{CI_REPOSITORY}:ref:refs/heads/main",
                    "job_workflow_ref": CI_WORKFLOW_REF, "job_workflow_sha": sha, "sha": sha,
                    "event_name": "push", "repository": CI_REPOSITORY, "workflow": "release",
                    "ref": "refs/heads/main", "runner_environment": "github-hosted", "repository_id": "1001",
                    "repository_owner": "airlock-test", "repository_owner_id": "2002",
                    "repository_visibility": "public", "workflow_ref": CI_WORKFLOW_REF, "workflow_sha": sha,
                    "run_id": "3003", "run_attempt": "1"}
        raise ValueError(f"unknown identity kind {kind!r}")

    def token(self, kind: str = "email", *, alg: str = "RS256", key: object = None, **overrides: object) -> str:
        claims = {**self.claims(kind), **overrides}
        claims = {name: value for name, value in claims.items() if value is not None}
        header = {"alg": alg, "typ": "JWT", "kid": "rsa-1" if alg == "RS256" else "ec-1"}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}".encode()
        if alg == "RS256":
            signer = key or self.rsa_key
            assert isinstance(signer, rsa.RSAPrivateKey)
            signature = signer.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "ES256":
            signer = key or self.ec_key
            assert isinstance(signer, ec.EllipticCurvePrivateKey)
            r, s = decode_dss_signature(signer.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS: raw r||s, not DER
        else:
            raise ValueError(f"unsupported alg {alg!r}")
        return f"{signing_input.decode()}.{_b64url(signature)}"


# ----------------------------------------------------------------------------- the servers


class StaticFiles:
    """A read-only file server on 127.0.0.1 for rekor-tiles' storage (checkpoint, tiles, entries)."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietFiles, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT)


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _wait_ready(server: Server, url: str, deadline: float) -> None:
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.tail()}")
        try:
            _get(url, timeout=2.0)
            return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not answer {url} within {STARTUP_TIMEOUT:.0f}s:\n{server.tail()}")
        time.sleep(0.2)


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=STOP_TIMEOUT)


def _utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LocalSigstore:
    workdir: Path
    oidc: OIDCProvider
    fulcio_url: str
    rekor_url: str
    rekor_read_url: str
    rekor_origin: str
    rekor_public_pem: bytes
    tsa_url: str
    started: datetime
    servers: list[Server] = field(default_factory=list)
    ctlog_url: str | None = None  # None: no CT log, so Fulcio's certificates carry no SCT
    ctlog_public_pem: bytes | None = None

    @property
    def sct_flags(self) -> list[str]:
        """What a verifier needs about SCTs: ``--insecure-ignore-sct`` when the instance runs no CT
        log (its certificates carry none), else nothing, so that the SCT is checked."""
        return [] if self.ctlog_url else ["--insecure-ignore-sct"]

    @property
    def tsa_timestamp_url(self) -> str:
        return f"{self.tsa_url}/api/v1/timestamp"

    def fulcio_chain_pem(self) -> bytes:
        """Fulcio's CA chain from its API (``/api/v2/trustBundle``), leaf-most first."""
        bundle = json.loads(_get(f"{self.fulcio_url}/api/v2/trustBundle"))
        return "".join(bundle["chains"][0]["certificates"]).encode()

    def tsa_chain_pem(self) -> bytes:
        return _get(f"{self.tsa_url}/api/v1/timestamp/certchain")

    def material(self) -> dict[str, Path]:
        """The PEM files a trusted root is made from, written into the work directory."""
        files = {"fulcio": self.fulcio_chain_pem(), "rekor": self.rekor_public_pem, "tsa": self.tsa_chain_pem()}
        if self.ctlog_public_pem is not None:
            files["ctlog"] = self.ctlog_public_pem
        paths = {}
        for name, data in files.items():
            path = self.workdir / f"{name}.pem"
            path.write_bytes(data)
            paths[name] = path
        return paths

    def airlock_trusted_root_argv(self, out: Path) -> list[str]:
        pems = self.material()
        start = _utc(self.started - timedelta(minutes=5))
        ctlog = ["--ctfe-key", str(pems["ctlog"]), "--ctfe-url", str(self.ctlog_url), "--ctfe-start-time", start] \
            if "ctlog" in pems else []
        return ["trusted-root", "create", "--certificate-chain", str(pems["fulcio"]), "--fulcio-uri", self.fulcio_url,
                "--rekor-key", str(pems["rekor"]), "--rekor-url", self.rekor_url, "--rekor-start-time", start,
                *ctlog, "--timestamp-certificate-chain", str(pems["tsa"]), "--timestamp-uri", self.tsa_timestamp_url,
                "--out", str(out)]

    def cosign_trusted_root(self, cosign: Path, out: Path) -> None:
        pems = self.material()
        start = _utc(self.started - timedelta(minutes=5))
        ctlog = [f"--ctfe=url={self.ctlog_url},public-key={pems['ctlog']},start-time={start}"] \
            if "ctlog" in pems else []
        _run([cosign, "trusted-root", "create",
              f"--fulcio=url={self.fulcio_url},certificate-chain={pems['fulcio']}",
              f"--rekor=url={self.rekor_url},public-key={pems['rekor']},start-time={start},origin={self.rekor_origin}",
              *ctlog,
              f"--tsa=url={self.tsa_timestamp_url},certificate-chain={pems['tsa']}",
              "--out", out])

    def signing_config(self, cosign: Path, out: Path) -> None:
        start = _utc(self.started - timedelta(minutes=5))
        _run([cosign, "signing-config", "create",
              f"--fulcio=url={self.fulcio_url},api-version=1,start-time={start},operator=airlock-test",
              f"--rekor=url={self.rekor_url},api-version=2,start-time={start},operator=airlock-test",
              "--rekor-config=ANY",
              f"--oidc-provider=url={self.oidc.email_issuer},api-version=1,start-time={start},operator=airlock-test",
              f"--tsa=url={self.tsa_timestamp_url},api-version=1,start-time={start},operator=airlock-test",
              "--tsa-config=ANY",
              "--out", out])


def _run(argv: list) -> None:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(map(str, argv[:3]))} failed ({proc.returncode}): {proc.stderr.strip()}")


@contextlib.contextmanager
def local_sigstore(workdir: Path, *, ctlog: bool | None = None) -> Iterator[LocalSigstore]:
    """Start the instance in ``workdir`` (logs, keys, storage); everything stops on exit. The CT
    log runs when ``ctlog`` is true, or (None) when its binary is built."""
    if absent := missing():
        raise FileNotFoundError("; ".join(absent))
    if ctlog is None:
        ctlog = ctlog_missing() is None
    elif ctlog and (why := ctlog_missing()):
        raise FileNotFoundError(why)
    workdir.mkdir(parents=True, exist_ok=True)
    servers: list[Server] = []
    statics: list[StaticFiles] = []

    def start(name: str, argv: list[str], ready_url: str) -> None:
        log = workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([str(binary(name)), *argv], stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=workdir, start_new_session=True)
        server = Server(name, process, log)
        servers.append(server)
        _wait_ready(server, ready_url, time.monotonic() + STARTUP_TIMEOUT)

    with OIDCProvider() as oidc:
        try:
            started = datetime.now(UTC)
            # The TSA first: it binds its metrics port on 0.0.0.0:2112 (hard-coded, no flag) and exits
            # when that is taken, so one instance runs at a time on a machine; the others get their
            # metrics ports explicitly.
            deadline = time.monotonic() + METRICS_PORT_WAIT
            while True:
                tsa_port = free_port()
                tsa_url = f"http://127.0.0.1:{tsa_port}"
                try:
                    start("timestamp-server", ["serve", "--host=127.0.0.1", f"--port={tsa_port}",
                                               "--timestamp-signer=memory", "--disable-ntp-monitoring"],
                          f"{tsa_url}/api/v1/timestamp/certchain")
                    break
                except RuntimeError:
                    if ":2112: bind: address already in use" not in servers[-1].tail():
                        raise
                    servers.pop()
                    if time.monotonic() > deadline:
                        raise MetricsPortBusy(
                            "port 2112 stayed taken: the timestamp authority hard-codes its metrics port there "
                            "and exits; another local Sigstore instance (or a Rekor v1) is running") from None
                    time.sleep(1.0)

            config = {"OIDCIssuers": {
                oidc.email_issuer: {"IssuerURL": oidc.email_issuer, "ClientID": CLIENT_ID, "Type": "email"},
                oidc.ci_issuer: {"IssuerURL": oidc.ci_issuer, "ClientID": CLIENT_ID, "Type": "github-workflow"},
            }}
            (workdir / "fulcio-config.json").write_text(json.dumps(config))
            # Fulcio before the CT log: the log's roots are Fulcio's ephemeral CA, known once Fulcio
            # runs; Fulcio only calls the log when it issues, so its URL (a port kept free) is enough.
            ct_argv, ctlog_url, ctlog_public_pem = ["--ct-log-url="], None, None
            if ctlog:
                ct_key = ec.generate_private_key(ec.SECP256R1())
                (workdir / "ctlog-key.pem").write_bytes(ct_key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,  # SEC 1, as it reads
                    serialization.NoEncryption()))
                ctlog_public_pem = ct_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
                (workdir / "ctlog-public.pem").write_bytes(ctlog_public_pem)
                ct_port = free_port()
                ctlog_url = f"http://127.0.0.1:{ct_port}"
                # Fulcio checks each SCT against the key before it embeds it
                ct_argv = [f"--ct-log-url={ctlog_url}", f"--ct-log-public-key-path={workdir / 'ctlog-public.pem'}"]
            fulcio_port = free_port()
            fulcio_url = f"http://127.0.0.1:{fulcio_port}"
            start("fulcio", ["serve", "--ca=ephemeralca", *ct_argv, "--host=127.0.0.1", f"--port={fulcio_port}",
                             "--grpc-host=127.0.0.1", f"--grpc-port={free_port()}", f"--metrics-port={free_port()}",
                             f"--legacy-unix-domain-socket={workdir / 'fulcio-legacy.sock'}",
                             f"--config-path={workdir / 'fulcio-config.json'}"], f"{fulcio_url}/api/v2/trustBundle")
            if ctlog_url is not None:
                # It has no metrics port (no clash on 2112); its OpenTelemetry exporter pushes to
                # localhost:4318, which nothing answers, and says so in its log on exit.
                bundle = json.loads(_get(f"{fulcio_url}/api/v2/trustBundle"))
                roots = "".join(chain["certificates"][-1] for chain in bundle["chains"])
                (workdir / "ctlog-roots.pem").write_text(roots)
                (workdir / "ctlog-storage").mkdir()
                start("ctlog", [f"--http_endpoint=127.0.0.1:{ct_port}",
                                "--origin=127.0.0.1",  # a URL without scheme or port, which it refuses
                                f"--private_key={workdir / 'ctlog-key.pem'}",
                                f"--roots_pem_file={workdir / 'ctlog-roots.pem'}",
                                f"--storage_dir={workdir / 'ctlog-storage'}",
                                # it answers once the entry is in a published checkpoint: by default
                                # that is ~1.8 s per certificate, with these ~0.2 s
                                "--batch_max_age=10ms", "--checkpoint_interval=100ms"],
                      f"{ctlog_url}/ct/v1/get-roots")

            rekor_key = ed25519.Ed25519PrivateKey.generate()
            key_path = workdir / "rekor-key.pem"
            key_path.write_bytes(rekor_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
            storage = workdir / "rekor-storage"
            storage.mkdir()
            rekor_port = free_port()
            rekor_url = f"http://127.0.0.1:{rekor_port}"
            origin = "127.0.0.1"  # the checkpoint origin: the log URL's host name without the port (sigstore-go)
            statics.append(StaticFiles(storage))
            start("rekor-tiles", ["serve", "--http-address=127.0.0.1", f"--http-port={rekor_port}",
                                  "--grpc-address=127.0.0.1", f"--grpc-port={free_port()}",
                                  f"--http-metrics-port={free_port()}", f"--hostname={origin}",
                                  f"--storage-dir={storage}", f"--signer-filepath={key_path}",
                                  "--checkpoint-interval=1s"], f"{rekor_url}/healthz")

            yield LocalSigstore(
                workdir=workdir, oidc=oidc, fulcio_url=fulcio_url, rekor_url=rekor_url, rekor_read_url=statics[0].url,
                rekor_origin=origin,
                rekor_public_pem=rekor_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                     serialization.PublicFormat.SubjectPublicKeyInfo),
                tsa_url=tsa_url, started=started, servers=servers, ctlog_url=ctlog_url,
                ctlog_public_pem=ctlog_public_pem)
        finally:
            for server in reversed(servers):
                _stop(server)
            for static in statics:
                static.close()


def note_key_id(origin: str, public_pem: bytes, *, full: bool = False) -> bytes:
    """The signed-note key hash of an Ed25519 log key, SHA-256(origin || "\\n" || 0x01 || key): its
    first 4 bytes are the key hint; all 32 are Rekor v2's log ID."""
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, ed25519.Ed25519PublicKey)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()
    return digest if full else digest[:4]


if __name__ == "__main__":  # manual use: python tests/sigstore_local.py DIR  (Ctrl-C stops it)
    import tempfile

    with local_sigstore(Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())) as instance:
        print(json.dumps({"oidc": instance.oidc.base, "fulcio": instance.fulcio_url, "rekor": instance.rekor_url,
                          "rekor-read": instance.rekor_read_url, "tsa": instance.tsa_url,
                          "ctlog": instance.ctlog_url}, indent=2))
        print(instance.oidc.token("email"))
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
