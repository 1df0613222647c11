"""One vocabulary (issue 10): one atomic-write helper. Each rule is checked against the source,
so a new copy is caught."""

from __future__ import annotations

import ast
import os
import stat

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
