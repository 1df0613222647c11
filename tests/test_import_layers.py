"""The floors of the package hold (issue 10, NEXT-LAYOUT.md): walked from the source with ``ast``,
every import, at module level or inside a function, is checked against the rules below.

- ``verify/`` (the checks) never imports ``formats/`` (wire formats): formats are translated
  into material at the edge (Rekor entry bodies too: ``TlogEntry.claims``);
- ``oci/`` never imports ``sign/``;
- no CLI module imports another (``cli/__init__`` registers them all; ``cli/common`` is shared);
- nothing below the CLI imports it, and ``api/`` is imported only from above it (the CLI, and
  ``admission/``, the gate and webhook beside it, which nothing but the CLI imports);
- the ground floor (the material model, artifacts, errors, crypto, wire helpers) imports only
  from the ground floor: formats and checks both stand on it, so no circle runs through it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

SRC = REPO / "src"

def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(src: Path) -> set[tuple[str, str]]:
    """(importer, imported module) for every ``airlock`` import under ``src``; ``from P import N``
    counts as an import of ``P.N`` when that is a module, else of ``P``."""
    modules = {module_name(p, src): p for p in src.rglob("*.py")}
    edges = set()
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges |= {(name, alias.name) for alias in node.names if alias.name.split(".")[0] == "airlock"}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, up level-1 floors
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                if base.split(".")[0] != "airlock":
                    continue
                for alias in node.names:
                    edges.add((name, f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base))
    return edges


def floor(module: str) -> str:
    """``airlock.verify.checks`` -> ``verify``; ``airlock.cli.image`` -> ``cli.image``."""
    parts = module.split(".")
    if len(parts) < 2:
        return ""
    return ".".join(parts[1:3]) if parts[1] == "cli" else parts[1]


GROUND = {"material", "artifact", "errors", "crypto", "_wire", "media_types", "files", "tarsafe"}


def violations(src: Path) -> list[str]:
    found = []
    for importer, imported in sorted(imports(src)):
        here, there = floor(importer), floor(imported)
        if here == "verify" and there == "formats":
            found.append(f"{importer} -> {imported}: verify/ imports formats/")
        if here == "oci" and there == "sign":
            found.append(f"{importer} -> {imported}: oci/ imports sign/")
        if here.startswith("cli.") and there.startswith("cli.") and here != there and "cli.common" not in (here, there):
            found.append(f"{importer} -> {imported}: a CLI module imports another")
        if there.startswith("cli") and not here.startswith("cli") and importer not in ("airlock.__main__",):
            found.append(f"{importer} -> {imported}: imports the CLI")
        if here in GROUND and there not in GROUND:
            found.append(f"{importer} -> {imported}: the ground floor imports {there}/")
        if there == "api" and not (here.startswith("cli") or here in ("api", "admission", "")):
            found.append(f"{importer} -> {imported}: imports the api from below it")
        if there == "admission" and not (here.startswith("cli") or here == "admission"):
            found.append(f"{importer} -> {imported}: imports admission (an entry point, beside the CLI) from below")
    return found


def test_the_floors_hold():
    assert violations(SRC) == []


def test_rekor_bodies_are_read_when_material_is_built():
    """NEXT-LAYOUT step 4: formats/ reads the log entry body into ``TlogEntry.claims``, and the
    tlog-entry check compares them. A body that does not parse is no error when the material is
    built (the log may not be checked at all) and the same reason when the check runs; an entry
    built without its claims fails closed."""
    import json

    from airlock.artifact import Artifact
    from airlock.formats.bundle import parse_bundle
    from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance
    from airlock.trust.trusted_root import TrustedRoot
    from airlock.verify.policy import Identity
    from airlock.verify.verifier import Verifier

    inst = SigstoreInstance()
    verifier = Verifier(TrustedRoot.from_json(json.dumps(inst.trusted_root())), clock=inst.clock)
    policy = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)
    good = parse_bundle(inst.sign_blob(b"data"))
    assert good.tlog_entries[0].claims.kind == "hashedrekord" and good.tlog_entries[0].claims_error is None
    assert verifier.verify(good, Artifact.from_bytes(b"data"), policy=policy).ok
    body = json.dumps({"kind": "cosign-unknown", "apiVersion": "0.0.1", "spec": {}}).encode()
    odd = parse_bundle(inst.sign_blob(b"data", body=body))  # logged as is: SET and proof are valid
    assert odd.tlog_entries[0].claims is None
    assert odd.tlog_entries[0].claims_error == "log entry kind cosign-unknown 0.0.1 is not supported"
    verdict = verifier.verify(odd, Artifact.from_bytes(b"data"), policy=policy)
    assert not verdict.ok and verdict.failure.check == "tlog-entry"
    assert verdict.failure.reason == "log entry kind cosign-unknown 0.0.1 is not supported"
    bare = good._replace(tlog_entries=(good.tlog_entries[0]._replace(claims=None),))
    verdict = verifier.verify(bare, Artifact.from_bytes(b"data"), policy=policy)
    assert not verdict.ok and verdict.failure.check == "tlog-entry"
    assert verdict.failure.reason == "the log entry body was not read"


def test_the_walk_sees_what_it_must(tmp_path):
    """The checker itself: every rule fires on a tree that breaks it, whatever the import form."""
    files = {
        "airlock/__init__.py": "",
        "airlock/verify/__init__.py": "",
        "airlock/verify/checks.py": "def f():\n    from airlock.formats import bundle\n",
        "airlock/formats/__init__.py": "",
        "airlock/formats/bundle.py": "",
        "airlock/oci/__init__.py": "",
        "airlock/oci/layout.py": "from ..sign import attaching\n",
        "airlock/sign/__init__.py": "",
        "airlock/sign/attaching.py": "import airlock.cli.image\n",
        "airlock/cli/__init__.py": "from airlock.cli import image, common\n",
        "airlock/cli/common.py": "",
        "airlock/cli/image.py": "from airlock.cli import common\nfrom airlock import api\n",
        "airlock/cli/sign.py": "from airlock.cli.image import run\n",
        "airlock/api/__init__.py": "",
        "airlock/trust/__init__.py": "from airlock import api\n",
        "airlock/admission/__init__.py": "from airlock import api\n",
        "airlock/oci/sources.py": "from airlock.admission import gate\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert violations(tmp_path) == [
        "airlock.cli.sign -> airlock.cli.image: a CLI module imports another",
        "airlock.oci.layout -> airlock.sign.attaching: oci/ imports sign/",
        "airlock.oci.sources -> airlock.admission: imports admission (an entry point, beside the CLI) from below",
        "airlock.sign.attaching -> airlock.cli.image: imports the CLI",
        "airlock.trust -> airlock.api: imports the api from below it",
        "airlock.verify.checks -> airlock.formats.bundle: verify/ imports formats/",
    ]
