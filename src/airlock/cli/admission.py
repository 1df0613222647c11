"""``airlock admit``: the offline admission gate for CI and GitOps repositories."""

from __future__ import annotations

import argparse
import json
import sys

HELP = """\
Check the images of Kubernetes manifests against sigstore policy-controller policies
(ClusterImagePolicy, TrustRoot), offline: the same YAML a cluster's policy-controller reads.

  airlock admit deploy/ --policy policies/ --trusted-root trusted_root.json
  airlock admit app.yaml --policy cip.yaml --mode audit --output json

Every image of Pods, Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs and
ReplicationControllers (containers, initContainers, ephemeralContainers) is resolved to a digest
through its registry (or --local-image) and verified once. Exit 0 when every image is admitted,
1 when any is denied; --mode audit always exits 0 and prints what enforce would deny.
"""


def register(commands: argparse._SubParsersAction) -> None:
    from airlock.cli import bool_flag

    parser = commands.add_parser("admit", help="check manifests' images against ClusterImagePolicy files, offline",
                                 description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST_OR_DIR", help="Kubernetes YAML or JSON")
    parser.add_argument("--policy", action="append", required=True, metavar="FILE_OR_DIR",
                        help="ClusterImagePolicy / TrustRoot YAML (repeatable)")
    parser.add_argument("--trusted-root", metavar="FILE", help="trusted_root.json for authorities without "
                        "trustRootRef (default: the TUF mirror under $TUF_ROOT; key authorities without ctlog "
                        "need none)")
    parser.add_argument("--mode", choices=("audit", "enforce"), default="enforce",
                        help="enforce: deny (exit 1); audit: report what would be denied, exit 0")
    parser.add_argument("--no-match-policy", choices=("deny", "warn", "allow"), default="deny",
                        help="an image no policy matches (default: deny)")
    bool_flag(parser, "--require-digest", "deny images named by tag")
    parser.add_argument("--local-image", metavar="DIR", help="read the images from this OCI layout, not a registry")
    bool_flag(parser, "--allow-insecure-registry", "plain HTTP and unverified TLS to the registry")
    parser.add_argument("--output", choices=("text", "json"), default="text", help="report format")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.admission import policies, workloads
    from airlock.admission.gate import WOULD_DENY, Gate, Resource, would_deny
    from airlock.cli import common

    policy_set = policies.load(args.policy)
    found = workloads.read(args.manifests)
    source = api.layout_source(args.local_image) if args.local_image else common.registry_client(args)
    gate = Gate(policy_set, source, trusted_root=args.trusted_root, mode=args.mode,
                no_match=args.no_match_policy, require_digest=args.require_digest)
    report: dict[str, dict] = {}
    for workload in found:
        group, _, version = workload.api_version.rpartition("/")
        resource = Resource(group, version, workload.resource, workload.labels or {})
        for decision in gate.decide(workload.images, resource):
            entry = report.get(decision.image)
            if entry is None or (would_deny(decision) and not would_deny(entry["decision"])):
                report[decision.image] = entry = {"decision": decision, "workloads": (entry or {}).get("workloads", [])}
            entry["workloads"].append(f"{workload.kind}/{workload.name} ({workload.where})")
    decisions = [entry["decision"] for entry in report.values()]
    denied = [d for d in decisions if not d.allowed]
    flagged = [d for d in decisions if would_deny(d)]
    for warning in dict.fromkeys(w for d in decisions for w in d.warnings if not w.startswith(WOULD_DENY)):
        print(warning if warning.startswith("WARNING: ") else f"WARNING: {warning}", file=sys.stderr)
    if args.output == "json":
        print(json.dumps({"mode": args.mode, "admitted": not denied, "images": [
            {"image": d.image, "digest": d.digest, "allowed": d.allowed, "wouldDeny": would_deny(d), "mode": d.mode,
             "policy": d.policy, "authority": d.authority, "reason": d.reason, "warnings": d.warnings,
             "workloads": report[d.image]["workloads"]} for d in decisions]}, indent=2))
    else:
        for d in decisions:
            verdict = "DENIED" if not d.allowed else "WOULD DENY" if would_deny(d) else "ADMITTED"
            digest = f" ({d.digest})" if d.digest and d.digest not in d.image else ""
            print(f"{verdict}: {d.image}{digest}: {d.reason}")
    if not found:
        print("WARNING: the manifests run no image", file=sys.stderr)
    if denied:
        from airlock.errors import Check, VerificationError

        raise VerificationError(Check.ADMIT, f"{len(denied)} of {len(decisions)} images denied")
    if flagged:
        print(f"{len(flagged)} of {len(decisions)} images would be denied in enforce mode", file=sys.stderr)
    return 0
