"""YAML and JSON documents from untrusted files, read with bounds.

PyYAML's ``safe_load`` builds no Python objects beyond plain data, but by itself it follows
aliases (a few lines can expand to gigabytes: the "billion laughs") and recurses once per level
of nesting. So a file is refused when it is larger than ``MAX_FILE``, when it uses an alias, or
when it nests deeper than ``MAX_DEPTH``, all checked on the parser's event stream before any
document is built. JSON is YAML here (Kubernetes accepts both), and multi-document files are read
as a list of documents, empty ones dropped.
"""

from __future__ import annotations

import os
from typing import Any

from airlock.errors import FormatError

MAX_FILE = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_FILES = 10_000
SUFFIXES = (".yaml", ".yml", ".json")


def files_of(paths: list[str] | tuple[str, ...], what: str) -> list[str]:
    """The files named, with a directory standing for its ``*.yaml|*.yml|*.json`` files (recursively,
    sorted); a directory holding none of them is an error, as is a path that does not exist. Names
    starting with ``..`` are skipped: a ConfigMap or Secret volume keeps each version of its files in
    a ``..<timestamp>`` directory and points ``..data`` and the visible names at the current one, so
    walking those too would read every policy twice."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            inside = []
            for top, directories, names in os.walk(path):
                directories[:] = [name for name in directories if not name.startswith("..")]
                inside += [os.path.join(top, name) for name in names
                           if name.endswith(SUFFIXES) and not name.startswith("..")]
            inside.sort()
            if not inside:
                raise FormatError(f"{what} {path}: the directory holds no .yaml, .yml or .json file")
            found += inside
        elif os.path.exists(path):
            found.append(path)
        else:
            raise FormatError(f"{what} {path}: no such file or directory")
        if len(found) > MAX_FILES:
            raise FormatError(f"{what}: more than {MAX_FILES} files")
    return found


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE + 1)
    except OSError as exc:
        raise FormatError(f"{what} {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE:
        raise FormatError(f"{what} {path}: larger than {MAX_FILE} bytes")
    return data


def _mark(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f" (line {mark.line + 1})" if mark is not None else ""


def documents(data: bytes, label: str) -> list[Any]:
    """The documents of one YAML (or JSON) stream, with the bounds above; ``label`` names it in errors."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if len(data) > MAX_FILE:
        raise FormatError(f"{label}: larger than {MAX_FILE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{label}: not UTF-8 text") from None
    try:
        depth = 0
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise FormatError(f"{label}: YAML anchors and aliases are not allowed{_mark(event)}")
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise FormatError(f"{label}: nested deeper than {MAX_DEPTH} levels{_mark(event)}")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        return [doc for doc in yaml.load_all(text, Loader=loader) if doc is not None]
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FormatError(f"{label}: not valid YAML{line}: {problem}") from None
