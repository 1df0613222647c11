"""``airlock webhook``: the Kubernetes admission webhook (``airlock.admission.webhook``)."""

from __future__ import annotations

import argparse
import contextlib

HELP = """\
Serve Kubernetes AdmissionReview v1 over TLS: POST /validate denies Pods and workloads whose
images do not pass the policies (ClusterImagePolicy documents, as for `airlock admit`), POST
/mutate pins the tags of signed images to their digests, GET /healthz, GET /readyz (ready once
policies and trust loaded) and GET /metrics (Prometheus; airlock_trust_expiry_seconds for
alerting before the trust root expires).

Every answer comes before the API server's deadline (its `timeout` query parameter, less a
margin); an image not judged by then, or any internal error, is denied unless --mode audit.
--mode audit allows everything and logs and warns about what enforce would deny. Policies, the
trust root and the TLS certificate are re-read when they change; a new version that does not
load leaves the old one in force and is reported (log, /readyz, airlock_reload_failures_total).

  airlock webhook --policy /etc/airlock/policies --trusted-root /etc/airlock/trusted_root.json \\
      --tls-cert /tls/tls.crt --tls-key /tls/tls.key --listen 0.0.0.0:8443 --mode audit
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("webhook", help="serve the Kubernetes admission webhook",
                                 description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", action="append", required=True, metavar="FILE_OR_DIR",
                        help="ClusterImagePolicy/TrustRoot YAML (a file or a directory; repeatable)")
    parser.add_argument("--tls-cert", required=True, metavar="FILE", help="PEM certificate chain served")
    parser.add_argument("--tls-key", required=True, metavar="FILE", help="PEM private key of --tls-cert")
    parser.add_argument("--listen", default="0.0.0.0:8443", metavar="ADDR:PORT", help="default 0.0.0.0:8443")
    parser.add_argument("--mode", choices=("audit", "enforce"), default="enforce",
                        help="enforce (default) denies; audit allows, warning and logging what would be denied")
    parser.add_argument("--trusted-root", metavar="FILE", help="trusted_root.json (default: the $TUF_ROOT mirror)")
    parser.add_argument("--no-match-policy", choices=("deny", "warn", "allow"), default="deny",
                        help="an image no policy matches: deny (default), warn or allow")
    parser.add_argument("--reload-interval", type=float, default=5.0, metavar="SECONDS",
                        help="how often changed policies, trust and TLS files are looked for (default 5)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import sys
    import threading

    from airlock.admission import webhook
    from airlock.errors import AirlockError
    from airlock.trust.layout import tuf_root

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    if args.mode == "audit":
        print("WARNING: --mode audit: nothing is denied; what enforce mode would deny is logged and warned",
              file=sys.stderr)

    loader = webhook.Loader(args.policy, webhook.gate_factory(no_match=args.no_match_policy),
                            trusted_root=args.trusted_root, tuf_root=None if args.trusted_root else tuf_root())
    loader.check()
    if loader.state is None:  # nothing to fall back to at start: refuse to serve rather than deny blindly
        raise AirlockError(f"cannot load the policies: {loader.error}")
    server = webhook.Server(webhook.Webhook(loader, mode=args.mode), tls_cert=args.tls_cert, tls_key=args.tls_key,
                            listen=args.listen, poll=args.reload_interval)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(f"airlock webhook listening on {args.listen.rpartition(':')[0]}:{server.port} ({args.mode} mode)",
              file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0
