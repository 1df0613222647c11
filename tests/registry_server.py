"""Real registries for tests: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1.

``docker_registry()`` writes a config (filesystem storage in a temporary directory, a free
loopback port, deletes enabled, quiet logs), starts ``docker-registry serve``, waits until
``/v2/`` answers and yields ``host:port``; leaving the ``with`` block stops it. Optional auth:
``htpasswd_auth(...)`` (Basic, bcrypt htpasswd file written here) or ``TokenServer`` (a tiny token
service on 127.0.0.1 issuing ES256 JWTs the registry checks against a generated certificate).

YAML is a superset of JSON, so the config is written with ``json``. Every wait is bounded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

DOCKER_REGISTRY = "docker-registry"
STARTUP_TIMEOUT = 20.0


def need(tool: str) -> str:
    """The path of ``tool``, or skip the test saying how to get it."""
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} is not installed (apt-get install {tool})")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bcrypt_hash(password: str) -> str | None:
    """A bcrypt hash (the only kind distribution's htpasswd accepts), or None if nothing here makes one.

    Tried in order: the ``bcrypt`` package, the standard ``crypt`` module (libxcrypt does bcrypt;
    deprecated in 3.11, gone in 3.13), the ``htpasswd`` tool.
    """
    try:
        import bcrypt  # type: ignore[import-not-found]

        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    except ImportError:
        pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # type: ignore[import-not-found]

            if crypt.METHOD_BLOWFISH in crypt.methods:
                hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
                if hashed and hashed.startswith("$2"):
                    return hashed
    except (ImportError, AttributeError):
        pass
    if shutil.which("htpasswd"):
        proc = subprocess.run(["htpasswd", "-nbBC", "4", "user", password], capture_output=True, text=True,
                              timeout=30)
        if proc.returncode == 0 and ":" in proc.stdout:
            return proc.stdout.strip().split(":", 1)[1]
    return None


def htpasswd_auth(directory: Path, users: dict[str, str]) -> dict:
    """The ``auth`` config section for Basic auth with ``users``; skips the test if no bcrypt is at hand."""
    lines = []
    for user, password in users.items():
        hashed = bcrypt_hash(password)
        if hashed is None:
            pytest.skip("cannot make a bcrypt htpasswd here (no bcrypt package, no crypt bcrypt, no htpasswd tool)")
        lines.append(f"{user}:{hashed}\n")
    path = directory / "htpasswd"
    path.write_text("".join(lines))
    return {"htpasswd": {"realm": "airlock-test", "path": str(path)}}


def _config(storage: Path, port: int, auth: dict | None, blob_cache: bool = False) -> dict:
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}, "formatter": "text"},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if auth:
        config["auth"] = auth
    if blob_cache:  # as Debian's /etc/docker/registry/config.yml ships it
        config["storage"]["cache"] = {"blobdescriptor": "inmemory"}
    return config


def _wait_until_up(process: subprocess.Popen, host: str, log: Path, deadline: float) -> None:
    import http.client

    while True:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {process.returncode}: {_tail(log)}")
        try:
            connection = http.client.HTTPConnection(host, timeout=1)
            connection.request("GET", "/v2/")
            status = connection.getresponse().status
            connection.close()
            if status in (200, 401):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"docker-registry on {host} did not answer within {STARTUP_TIMEOUT}s: {_tail(log)}")
        time.sleep(0.05)


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:]) or "(no output)"
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def docker_registry(*, auth: dict | None = None, directory: Path | None = None,
                    blob_cache: bool = False) -> Iterator[str]:
    """Run ``docker-registry serve`` on 127.0.0.1 with fresh storage; yields ``host:port``.
    ``blob_cache``: blob descriptors cached in memory, as Debian's packaged config does (the
    benchmarks; tests that delete blobs leave it off)."""
    exe = need(DOCKER_REGISTRY)
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="airlock-registry-")))
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        for _attempt in range(3):  # the free port can be taken between probing and binding
            port = free_port()
            host = f"127.0.0.1:{port}"
            config = directory / f"config-{port}.yml"
            config.write_text(json.dumps(_config(directory / "storage", port, auth, blob_cache), indent=1))
            log = directory / f"registry-{port}.log"
            with open(log, "wb") as out:
                process = subprocess.Popen([exe, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, env=env)
            try:
                _wait_until_up(process, host, log, time.monotonic() + STARTUP_TIMEOUT)
            except RuntimeError:
                _stop(process)
                if "address already in use" in _tail(log) and _attempt < 2:
                    continue
                raise
            break
        try:
            yield host
        finally:
            _stop(process)


# --- a tiny token service for "auth: token:" ----------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A Docker token service on 127.0.0.1 (``with TokenServer(users) as tokens: ...``).

    ``GET /token?service=&scope=...`` with Basic credentials of ``users`` grants the requested
    actions; anonymous requests get a token granting nothing (as real services do for private
    repositories). ``POST /token`` accepts ``grant_type=refresh_token`` with ``refresh_token``.
    Every request is recorded in ``requests`` as ``(method, user, scopes)``.
    """

    service = "airlock-test-registry"
    issuer = "airlock-test-token-issuer"

    def __init__(self, users: dict[str, str], *, refresh_tokens: dict[str, str] | None = None,
                 expires_in: int = 300) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.users = users
        self.refresh_tokens = refresh_tokens or {}
        self.expires_in = expires_in
        self.requests: list[tuple[str, str, list[str]]] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airlock test token signer")])
        now = time.time()
        import datetime

        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime.fromtimestamp(now - 3600, datetime.UTC))
            .not_valid_after(datetime.datetime.fromtimestamp(now + 86400, datetime.UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self._cert.public_bytes(serialization.Encoding.PEM)
        self._server: ThreadingHTTPServer | None = None

    def auth_config(self, directory: Path) -> dict:
        """The registry's ``auth`` config section trusting this service."""
        bundle = directory / "token-root.pem"
        bundle.write_bytes(self.cert_pem)
        return {"token": {"realm": self.realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": str(bundle)}}

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def token(self, subject: str, access: list[dict]) -> str:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        der = self._cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + self.expires_in,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _grant(self, user: str | None, scopes: list[str]) -> list[dict]:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if user is not None and kind == "repository" and name:
                access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
        return access

    def __enter__(self) -> TokenServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _answer(self, status: int, document: dict) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                scopes = [s for value in query.get("scope", []) for s in value.split()]
                user = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if server.users.get(name) != password:
                        server.requests.append(("GET", f"!{name}", scopes))
                        self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                        return
                    user = name
                server.requests.append(("GET", user or "", scopes))
                if query.get("service") != [server.service]:
                    self._answer(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
                    return
                token = server.token(user or "", server._grant(user, scopes))
                self._answer(200, {"token": token, "access_token": token, "expires_in": server.expires_in})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                scopes = [s for value in form.get("scope", []) for s in value.split()]
                user = server.refresh_tokens.get((form.get("refresh_token") or [""])[0])
                server.requests.append(("POST", user or "", scopes))
                if form.get("grant_type") != ["refresh_token"] or user is None:
                    self._answer(401, {"error": "invalid_grant"})
                    return
                token = server.token(user, server._grant(user, scopes))
                self._answer(200, {"access_token": token, "expires_in": server.expires_in})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


# --- skopeo, an independent client ----------------------------------------------------------------


class Skopeo:
    """Runs ``skopeo`` with no user policy or credentials involved, bounded by a timeout."""

    def __init__(self, directory: Path) -> None:
        self.exe = need("skopeo")
        self.directory = directory
        self.auth_file = directory / "skopeo-auth.json"
        self.auth_file.write_text('{"auths": {}}')

    def __call__(self, *args: str, timeout: float = 60) -> str:
        """Run skopeo; its stdout as text, or an AssertionError carrying its stderr."""
        return self.raw(*args, timeout=timeout).decode()

    def raw(self, *args: str, timeout: float = 60) -> bytes:
        """Run skopeo; its stdout as bytes (``inspect --raw`` prints a manifest's exact bytes)."""
        env = {**os.environ, "REGISTRY_AUTH_FILE": str(self.auth_file), "TMPDIR": str(self.directory)}
        proc = subprocess.run([self.exe, "--insecure-policy", "--command-timeout", f"{int(timeout)}s", *args],
                              capture_output=True, env=env, timeout=timeout + 5)
        if proc.returncode != 0:
            raise AssertionError(f"skopeo {' '.join(args)} failed ({proc.returncode}): "
                                 f"{proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout


# --- a registry that misbehaves on purpose ----------------------------------------------------------


class HostileRegistry:
    """An HTTP/1.1 server on 127.0.0.1 for what no real registry does: stall, drip, never end, lie.

    ``routes[(method, path)]`` is ``(status, headers, body)`` or a function of the request
    handler (the query is not part of the key: a route sees it in ``handler.path``). ``GET /v2/``
    answers 200 unless replaced. Every request is recorded in ``requests`` as ``(method, path)``.

    Bounded: ``drip`` and ``endless`` stop when the client goes away, when the server closes, or
    after ``max_seconds``/``max_bytes``; leaving the ``with`` block stops everything.
    """

    def __init__(self, *, max_seconds: float = 10.0) -> None:
        self.routes: dict[tuple[str, str], object] = {("GET", "/v2/"): (200, {}, b"{}")}
        self.requests: list[tuple[str, str]] = []
        self.max_seconds = max_seconds
        self.closing = threading.Event()
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(min(length, 1 << 20))
                hostile.requests.append((self.command, self.path))
                route = hostile.routes.get((self.command, urlsplit(self.path).path))
                if route is None:
                    route = (404, {"Content-Type": "application/json"},
                             b'{"errors":[{"code":"NOT_FOUND","message":"no route"}]}')
                try:
                    if callable(route):
                        route(self)
                    else:
                        hostile.answer(self, *route)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def answer(handler: BaseHTTPRequestHandler, status: int, headers: dict, body: bytes) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        if "Content-Length" not in headers:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    @staticmethod
    def head(status: int, headers: dict) -> bytes:
        """A status line and headers, as bytes (to be dripped)."""
        lines = [f"HTTP/1.1 {status} X"] + [f"{key}: {value}" for key, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def drip(self, handler: BaseHTTPRequestHandler, data: bytes, interval: float) -> None:
        """Send ``data`` one byte every ``interval`` seconds (each byte well within a read timeout)."""
        stop = time.monotonic() + self.max_seconds
        for position in range(len(data)):
            if self.closing.is_set() or time.monotonic() > stop:
                break
            handler.wfile.write(data[position:position + 1])
            handler.wfile.flush()
            self.closing.wait(interval)
        handler.close_connection = True

    def endless(self, handler: BaseHTTPRequestHandler, headers: dict, *, max_bytes: int = 256 << 20) -> None:
        """A 200 whose body never ends (no Content-Length, closed by the server): zeros until stopped."""
        handler.send_response(200)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Connection", "close")
        handler.end_headers()
        block, sent, stop = bytes(64 * 1024), 0, time.monotonic() + self.max_seconds
        while sent < max_bytes and not self.closing.is_set() and time.monotonic() < stop:
            handler.wfile.write(block)
            sent += len(block)
        handler.close_connection = True

    def __enter__(self) -> HostileRegistry:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
