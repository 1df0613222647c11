"""One vocabulary (issue 10): one atomic-write helper, one module of media types and annotation
keys, one exception tree. Each rule is checked against the source, so a new copy is caught."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from airlock.files import atomic_write, atomic_writer
from conftest import REPO

SRC = REPO / "src" / "airlock"


# -- atomic writes -----------------------------------------------------------------------------


def test_atomic_write_sets_the_mode_from_the_start(tmp_path):
    target = tmp_path / "key"
    atomic_write(target, b"secret", 0o600)
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    atomic_write(target, b"public")  # replacing takes the new mode
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_bytes() == b"public"
    assert os.listdir(tmp_path) == ["key"]


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "index.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="digest mismatch"), atomic_writer(target) as stream:
        stream.write(b"half of the new")
        raise RuntimeError("digest mismatch")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["index.json"]


def test_a_failure_mid_write_leaves_no_file_when_there_was_none(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_writer(tmp_path / "blob") as stream:
        stream.write(b"partial")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_a_failed_rename_removes_the_temporary(tmp_path):
    (tmp_path / "taken").mkdir()  # os.replace of a file over a directory fails
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path / "taken", b"data")
    assert os.listdir(tmp_path) == ["taken"]


def test_no_overwrite_keeps_the_existing_file(tmp_path):
    target = tmp_path / "cosign.key"
    target.write_bytes(b"old key")
    with pytest.raises(FileExistsError):
        atomic_write(target, b"new key", 0o600, overwrite=False)
    assert target.read_bytes() == b"old key" and os.listdir(tmp_path) == ["cosign.key"]
    atomic_write(tmp_path / "new.key", b"new key", 0o600, overwrite=False)
    assert (tmp_path / "new.key").read_bytes() == b"new key"
    assert sorted(os.listdir(tmp_path)) == ["cosign.key", "new.key"]


def test_a_missing_directory_is_an_os_error_and_writes_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "absent" / "file", b"data")
    assert os.listdir(tmp_path) == []


def test_there_is_one_atomic_write():
    """``os.replace``/``mkstemp`` appear only in airlock.files (directory swaps use ``os.rename``)."""
    found = []
    for path in SRC.rglob("*.py"):
        if path.name == "files.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in ("replace", "mkstemp") and \
                    isinstance(node.value, ast.Name) and node.value.id in ("os", "tempfile"):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert found == []


# -- one exception tree ------------------------------------------------------------------------


def _defined_exceptions() -> dict[str, type]:
    """Every public exception class defined by a module of the package, by qualified name."""
    import importlib
    import pkgutil

    import airlock

    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(airlock.__path__, "airlock."):
        if info.name.endswith("__main__"):  # running it is all it does
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == info.name \
                    and not name.startswith("_"):
                found[f"{info.name}.{name}"] = value
    return found


def test_every_exception_is_in_errors_and_is_an_airlock_error():
    """A caller catches ``AirlockError`` and has everything airlock raises on purpose; private
    transport helpers (``_TransportError``, turned into ``RegistryError`` inside one module) aside."""
    from airlock.errors import AirlockError

    defined = _defined_exceptions()
    assert [name for name in defined if not name.startswith("airlock.errors.")] == []
    assert len(defined) >= 18  # the walk found the tree itself
    assert [name for name, cls in defined.items() if not issubclass(cls, AirlockError)] == []


def test_proof_errors_are_airlock_errors_not_value_errors():
    """Merkle and checkpoint failures used to be ``ValueError``s, which an ``except ValueError`` meant
    for a parse could swallow; now they are AirlockErrors with a one-line message."""
    from airlock.errors import AirlockError, CheckpointError, ProofError
    from airlock.verify import checkpoint, merkle

    with pytest.raises(ProofError, match=r"^index 5 is outside a tree of size 3$") as proof:
        merkle.verify_inclusion(5, 3, bytes(32), [], bytes(32))
    with pytest.raises(CheckpointError, match=r"^the note has no blank line before its signatures$") as note:
        checkpoint.parse("log.example\n1\n")
    for error in (proof.value, note.value):
        assert isinstance(error, AirlockError) and not isinstance(error, ValueError)


# -- one module of media types and annotation keys ---------------------------------------------

VOCABULARY_PREFIXES = ("application/vnd.", "dev.cosignproject.cosign/", "dev.sigstore.", "https://in-toto.io/Statement/",
                       "org.opencontainers.")


def literal_copies(package: Path) -> list[str]:
    """String literals under ``package`` outside media_types.py that spell a value of
    media_types.py, or look like one (a media type or annotation key not named there yet)."""
    names = ast.parse((package / "media_types.py").read_text())
    values = {node.value.value for node in names.body if isinstance(node, ast.Assign)
              and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "media_types.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and (node.value in values or node.value.startswith(VOCABULARY_PREFIXES)):
                found.append((str(path.relative_to(package)), node.lineno, node.col_offset, node.value))
    return [f"{path}:{line}:{column}: {value}" for path, line, column, value in sorted(found)]


def test_media_types_and_annotation_keys_are_spelled_once():
    assert literal_copies(SRC) == []


def test_the_literal_check_sees_copies(tmp_path):
    (tmp_path / "media_types.py").write_text((SRC / "media_types.py").read_text())
    (tmp_path / "oci").mkdir()
    (tmp_path / "oci" / "layout.py").write_text(
        '"""Reads application/vnd.oci.image.index.v1+json."""\n'  # a docstring may name one
        'OCI_INDEX = "application/vnd.oci.image.index.v1+json"\n'
        'def f(layer):\n    return layer.get("dev.sigstore.cosign/bundle"), "application/vnd.new+json"\n')
    assert literal_copies(tmp_path) == [
        "oci/layout.py:2:12: application/vnd.oci.image.index.v1+json",
        "oci/layout.py:4:21: dev.sigstore.cosign/bundle",
        "oci/layout.py:4:52: application/vnd.new+json",
    ]
