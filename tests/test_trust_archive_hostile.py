"""Hostile trust archives: each is refused fast, with one line naming the member and the reason.

The archives are built byte by byte here (``tarfile`` will not write most of them), so every test
shows the exact input it refuses. ``airlock.tarsafe`` reads them; ``tarfile`` never does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from airlock import tarsafe
from airlock.errors import FormatError
from airlock.trust import pack
from conftest import PRODUCTION_ROOT, one_line_error, run_cli, shared

# -- a raw tar writer ----------------------------------------------------------------------------


def header(name: bytes, size: int, kind: bytes = b"0", *, linkname: bytes = b"", prefix: bytes = b"",
           magic: bytes = b"ustar\x0000", size_field: bytes | None = None, checksum: int | None = None) -> bytes:
    block = bytearray(512)
    block[0:len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = size_field if size_field is not None else b"%011o\0" % size
    block[136:148] = b"00000000000\0"
    block[156:157] = kind
    block[157:157 + len(linkname)] = linkname
    block[257:265] = magic
    block[345:345 + len(prefix)] = prefix
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % (sum(block) if checksum is None else checksum)
    return bytes(block)


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def member(name: str | bytes, data: bytes = b"", kind: bytes = b"0", **fields) -> bytes:
    raw = name.encode() if isinstance(name, str) else name
    return header(raw, len(data), kind, **fields) + (padded(data) if kind in (b"0", b"x") else b"")


def record(key: str, value: str | bytes) -> bytes:
    body = b" " + key.encode() + b"=" + (value.encode() if isinstance(value, str) else value) + b"\n"
    length = len(body) + 1
    while len(str(length).encode() + body) != length:
        length += 1
    return str(length).encode() + body


def pax(*records: bytes) -> bytes:
    return member("././@PaxHeader", b"".join(records), b"x")


END = bytes(1024)


def gz(*parts: bytes, end: bytes = END) -> bytes:
    return gzip.compress(b"".join(parts) + end, 9, mtime=0)


def manifest_member(contents: dict[str, bytes], **overrides) -> bytes:
    manifest = {"format": pack.FORMAT, "kind": "trusted-root",
                "files": [{"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                          for name, data in contents.items()]}
    manifest.update(overrides)
    return member(pack.MANIFEST, json.dumps(manifest).encode())


def trusted_root_archive(*extra: bytes) -> bytes:
    data = shared(PRODUCTION_ROOT).read_bytes()
    return gz(manifest_member({"trusted_root.json": data}), member("trusted_root.json", data), *extra)


def refused(tmp_path: Path, archive: bytes, seconds: float = 1.0) -> str:
    """Import ``archive``; assert the one-line failure in under ``seconds``, that nothing was written,
    and return the line."""
    path = tmp_path / "hostile.tar.gz"
    path.write_bytes(archive)
    started = time.monotonic()
    line = one_line_error(run_cli("trust", "import", path, "--out", tmp_path / "out.json",
                                  "--tuf-root", tmp_path / "root"))
    assert time.monotonic() - started < seconds
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "root").exists()
    return line


def test_the_raw_writer_makes_an_archive_airlock_imports(tmp_path):
    """The positive control: the same builder, nothing hostile, imports."""
    path = tmp_path / "good.tar.gz"
    path.write_bytes(trusted_root_archive())
    result = run_cli("trust", "import", path, "--out", tmp_path / "out.json")
    assert result.code == 0, result.stderr
    assert (tmp_path / "out.json").read_bytes() == PRODUCTION_ROOT.read_bytes()


def test_archives_tarfile_writes_still_read(tmp_path):
    """Long names (a pax ``path``), ustar's prefix field, and tarfile's record padding."""
    long_name = "targets/" + "d" * 120 + ".json"
    prefixed = "p" * 90 + "/" + "n" * 90
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name, data in ((long_name, b"long"), ("plain", b"x" * 1000)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000.5  # a fractional mtime is a pax record too
            archive.addfile(info, io.BytesIO(data))
    files = tarsafe.read_tar_gz(io.BytesIO(out.getvalue()), "t", max_files=10, max_file=4096, max_total=8192)
    assert files == {long_name: b"long", "plain": b"x" * 1000}
    ustar = gz(member(b"n" * 90, b"u", prefix=b"p" * 90))
    assert tarsafe.read_tar_gz(io.BytesIO(ustar), "t", max_files=1, max_file=1, max_total=1) == {prefixed: b"u"}


# -- CVE-2024-6232: pax headers that make tarfile quadratic ----------------------------------------

DIGITS = 100_000


def cve_2024_6232_archive(digits: int = DIGITS) -> bytes:
    """A pax extended header of nothing but ASCII digits: about 260 bytes gzip'd."""
    return gz(header(b"././@PaxHeader", digits, b"x") + padded(b"1" * digits), member(pack.MANIFEST, b"{}"))


def test_cve_2024_6232_archive_is_refused_at_once(tmp_path):
    archive = cve_2024_6232_archive()
    assert len(archive) < 300
    line = refused(tmp_path, archive)
    assert line == f"Error: trust import: pax header of {DIGITS} bytes, more than {tarsafe.MAX_PAX}"


def test_a_pax_header_of_digits_within_the_size_limit_is_refused_at_once(tmp_path):
    digits = tarsafe.MAX_PAX
    archive = gz(header(b"././@PaxHeader", digits, b"x") + padded(b"7" * digits), member(pack.MANIFEST, b"{}"))
    assert refused(tmp_path, archive) == "Error: trust import: malformed pax record length at offset 0"


def test_a_huge_pax_header_is_refused_before_it_is_read(tmp_path):
    """A 522 KB archive (500 MB of digits once inflated) used to take over 12 minutes."""
    archive = gz(header(b"././@PaxHeader", 500_000_000, b"x") + b"1" * 5_000_000, end=b"")
    assert len(archive) < 10_000
    assert refused(tmp_path, archive) == "Error: trust import: pax header of 500000000 bytes, more than 8192"


@pytest.mark.skipif(sys.version_info >= (3, 11, 10), reason="this interpreter has the CVE-2024-6232 fix")
def test_this_interpreters_tarfile_hangs_on_the_same_archive(tmp_path):
    """The reproduction: stdlib tarfile spends more than 3 s on the 248-byte archive (13-31 s measured)."""
    path = tmp_path / "cve.tar.gz"
    path.write_bytes(cve_2024_6232_archive())
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", f"import tarfile; tarfile.open({str(path)!r}, 'r:gz').getmembers()"],
                       timeout=3, capture_output=True)


@pytest.mark.parametrize("records,reason", [
    ([b"99 path=x\n"], "malformed pax record at offset 0"),
    ([b"10 path=x\n"[:-1] + b"\0"], "malformed pax record at offset 0"),
    ([b"0 path=x\n"], "malformed pax record at offset 0"),
    ([b" 9 path=x\n"], "malformed pax record length at offset 0"),
    ([b"-9 path=x\n"], "malformed pax record length at offset 0"),
    ([b"7 path\n"], "malformed pax record at offset 0"),
    ([record("path", "a"), record("path", "b")], "pax keyword 'path' appears twice"),
    ([record("linkpath", "/etc/passwd")], "unsupported pax keyword 'linkpath'"),
    ([record("GNU.sparse.map", "0,1")], "unsupported pax keyword 'GNU.sparse.map'"),
    ([record("hdrcharset", "BINARY")], "unsupported pax keyword 'hdrcharset'"),
    ([record("size", "1e9")], "member 'trusted_root.json' has a malformed pax size"),
    ([record("size", "99999999999")], "member 'trusted_root.json' is 99999999999 bytes, more than 16777216"),
    ([record("path", "../../etc/cron.d/x")], "unsafe path '../../etc/cron.d/x' (a '..' component)"),
    ([record("path", "/etc/passwd")], "unsafe path '/etc/passwd' (absolute)"),
    ([record("path", "a\nError: fine")], "unsafe path 'a\\nError: fine' (control characters or a backslash)"),
    ([record("path", b"\xff")], "member name b'\\xff' is not UTF-8"),
])
def test_malformed_pax_records(tmp_path, records, reason):
    archive = gz(pax(*records), member("trusted_root.json", b"{}"))
    assert refused(tmp_path, archive) == f"Error: trust import: {reason}"


def test_a_pax_header_must_precede_a_member(tmp_path):
    assert refused(tmp_path, gz(pax(record("path", "a")))) == \
        "Error: trust import: a pax header is not followed by a member"
    assert refused(tmp_path, gz(pax(record("path", "a")), pax(record("path", "b")), member("c"))) == \
        "Error: trust import: two pax headers in a row"


# -- member names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("names,reason", [
    (["."], "unsafe path '.' (an empty or '.' component)"),
    (["./trusted_root.json"], "unsafe path './trusted_root.json' (an empty or '.' component)"),
    (["a/./b"], "unsafe path 'a/./b' (an empty or '.' component)"),
    (["a//b"], "unsafe path 'a//b' (an empty or '.' component)"),
    (["a/"], "unsafe path 'a/' (an empty or '.' component)"),
    (["/etc/passwd"], "unsafe path '/etc/passwd' (absolute)"),
    (["//etc/passwd"], "unsafe path '//etc/passwd' (absolute)"),
    ([".."], "unsafe path '..' (a '..' component)"),
    (["../evil.json"], "unsafe path '../evil.json' (a '..' component)"),
    (["a/../../b"], "unsafe path 'a/../../b' (a '..' component)"),
    (["a\\..\\b"], "unsafe path 'a\\\\..\\\\b' (control characters or a backslash)"),
    (["a\rb"], "unsafe path 'a\\rb' (control characters or a backslash)"),
    (["a", "a/b"], "member 'a' is a file and also the directory of 'a/b'"),
    (["a", "a/b/c"], "member 'a' is a file and also the directory of 'a/b/c'"),
    (["a/b", "a"], "member 'a' is a file and also the directory of 'a/b'"),
    (["a/b/c", "a/b"], "member 'a/b' is a file and also the directory of 'a/b/c'"),
    (["a", "a-b", "a.c", "a/b"], "member 'a' is a file and also the directory of 'a/b'"),
    (["MANIFEST.json", "MANIFEST.json/x"], "member 'MANIFEST.json' is a file and also the directory of "
                                           "'MANIFEST.json/x'"),
    (["MANIFEST.json", "MANIFEST.json"], "member 'MANIFEST.json' appears twice"),
    (["x", "y", "x"], "member 'x' appears twice"),
])
def test_unsafe_or_conflicting_names(tmp_path, names, reason):
    assert refused(tmp_path, gz(*(member(name, b"{}") for name in names))) == f"Error: trust import: {reason}"


def test_deep_distinct_directories_cost_no_memory_per_level():
    """10,000 names 1,000 bytes deep, each under its own top directory: no per-prefix bookkeeping."""
    names = [f"{n:04}/" + "d/" * 497 + "f" for n in range(10_000)]
    started = time.monotonic()
    files = tarsafe.read_tar_gz(io.BytesIO(gz(*(pax(record("path", name)) + header(b"f", 0) for name in names))),
                                "t", max_files=10_000, max_file=1, max_total=1)
    assert len(files) == 10_000 and time.monotonic() - started < 10


def test_an_empty_name(tmp_path):
    assert refused(tmp_path, gz(member(b"", b"{}"))) == "Error: trust import: a member has an empty name"


def test_a_name_too_long(tmp_path):
    name = "d/" * 600
    archive = gz(pax(record("path", name)), member("x"))
    assert refused(tmp_path, archive) == \
        f"Error: trust import: member name {name[:60]!r}... is longer than {tarsafe.MAX_NAME} bytes"


def test_a_non_utf8_name(tmp_path):
    assert refused(tmp_path, gz(member(b"caf\xe9"))) == "Error: trust import: member name b'caf\\xe9' is not UTF-8"


# -- member types ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,description", [
    (b"1", "a hard link"), (b"2", "a symbolic link"), (b"3", "a character device"), (b"4", "a block device"),
    (b"5", "a directory"), (b"6", "a FIFO"), (b"7", "a contiguous file"), (b"g", "a global pax header"),
    (b"L", "a GNU long name"), (b"K", "a GNU long link name"), (b"S", "a GNU sparse file"),
    (b"V", "a GNU volume header"), (b"Z", "of unknown type b'Z'"),
])
def test_only_regular_files(tmp_path, kind, description):
    archive = trusted_root_archive(member("trusted_root.json.d", kind=kind, linkname=b"/etc/shadow"))
    assert refused(tmp_path, archive) == \
        f"Error: trust import: member 'trusted_root.json.d' is {description}, not a regular file"


def test_links_and_devices_tarfile_writes(tmp_path):
    for kind in (tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.DIRTYPE):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as archive:
            info = tarfile.TarInfo("entry")
            info.type, info.linkname = kind, "/etc/passwd"
            archive.addfile(info)
        with pytest.raises(FormatError, match=r"^t: member 'entry/?' is a .*, not a regular file$"):
            tarsafe.read_tar_gz(io.BytesIO(out.getvalue()), "t", max_files=9, max_file=9, max_total=9)


# -- headers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("block,reason", [
    (header(b"a", 1, checksum=1), "header checksum mismatch"),
    (header(b"a", 1, size_field=b"\x80" + bytes(10) + b"\x01"), "member 'a' size is a base-256 number"),
    (header(b"a", 1, size_field=b"0000000001x\0"), "member 'a' size is not an octal number"),
    (header(b"a", 1, size_field=b"-0000000001\0"), "member 'a' size is not an octal number"),
    (header(b"a", 1, size_field=b"00000000009\0"), "member 'a' size is not an octal number"),
])
def test_malformed_headers(tmp_path, block, reason):
    assert refused(tmp_path, gz(block + padded(b"x"))) == f"Error: trust import: {reason}"


def test_a_signed_checksum_is_accepted():
    """Old writers summed the header as signed bytes; both sums are valid, nothing else is."""
    block = bytearray(header("café".encode(), 1))
    block[148:156] = b" " * 8
    signed = sum(block) - 256 * sum(1 for byte in block if byte >= 0x80)
    block[148:156] = b"%06o\0 " % signed
    assert tarsafe.read_tar_gz(io.BytesIO(gz(bytes(block) + padded(b"x"))), "t", **limits()) == {"café": b"x"}


# -- sizes and counts ------------------------------------------------------------------------------

def test_a_member_larger_than_the_limit_is_refused_before_it_is_read(tmp_path):
    archive = gz(header(b"trusted_root.json", pack.MAX_FILE + 1), end=b"")
    assert refused(tmp_path, archive) == \
        f"Error: trust import: member 'trusted_root.json' is {pack.MAX_FILE + 1} bytes, more than {pack.MAX_FILE}"


def test_a_member_size_of_8_gib_minus_one(tmp_path):
    archive = gz(header(b"a", 0, size_field=b"77777777777\0"), end=b"")
    assert refused(tmp_path, archive) == "Error: trust import: member 'a' is 8589934591 bytes, more than 16777216"


def limits(**overrides) -> dict:
    return {"max_files": 3, "max_file": 100, "max_total": 150, **overrides}


def read_small(archive: bytes, **overrides) -> dict[str, bytes]:
    return tarsafe.read_tar_gz(io.BytesIO(archive), "t", **limits(**overrides))


def test_too_many_members():
    with pytest.raises(FormatError, match=r"^t: more than 3 members$"):
        read_small(gz(*(member(f"f{n}") for n in range(4))))
    assert len(read_small(gz(*(member(f"f{n}") for n in range(3))))) == 3


def test_too_many_bytes_in_all():
    with pytest.raises(FormatError, match=r"^t: the members add up to more than 150 bytes$"):
        read_small(gz(member("a", b"a" * 100), member("b", b"b" * 51)))


def test_more_than_max_files_members_through_trust_import(tmp_path):
    archive = gz(*(member(f"f{n}") for n in range(pack.MAX_FILES + 1)))
    assert refused(tmp_path, archive, seconds=5) == f"Error: trust import: more than {pack.MAX_FILES} members"


def test_a_gzip_bomb_stops_at_the_stream_limit():
    """Zeros after the end marker inflate 1000:1; reading stops at the bound, not at the end."""
    bomb = gzip.compress(member("a", b"a") + END + bytes(64 * 1024 * 1024), 9)
    assert len(bomb) < 100_000
    with pytest.raises(FormatError, match=r"^t: decompresses to more than \d+ bytes$"):
        read_small(bomb, max_compressed=len(bomb))


def test_compressed_input_is_bounded():
    noise = os.urandom(4096)
    with pytest.raises(FormatError, match=r"^t: larger than 1000 bytes$"):
        tarsafe.read_tar_gz(io.BytesIO(gzip.compress(member("a", noise) + END)), "t",
                            max_compressed=1000, **limits(max_file=5000, max_total=5000))


# -- the stream around the members ---------------------------------------------------------------

def test_the_end_marker_is_required(tmp_path):
    assert refused(tmp_path, gz(member("a", b"x"), end=b"")) == \
        "Error: trust import: the tar stream ends without its end-of-archive marker"


def test_nothing_but_padding_after_the_end_marker(tmp_path):
    hidden = gzip.compress(member("a", b"x") + END + member("b", b"smuggled") + END, mtime=0)
    assert refused(tmp_path, hidden) == "Error: trust import: data after the end-of-archive marker"


def test_nothing_after_the_gzip_stream(tmp_path):
    assert refused(tmp_path, trusted_root_archive() + b"\0") == \
        "Error: trust import: data after the end of the gzip stream"
    assert refused(tmp_path, trusted_root_archive() + trusted_root_archive()) == \
        "Error: trust import: data after the end of the gzip stream"


def test_a_truncated_gzip_stream(tmp_path):
    whole = trusted_root_archive()
    assert refused(tmp_path, whole[:-8]) == "Error: trust import: the gzip stream is truncated"
    assert refused(tmp_path, whole[:len(whole) // 2]) == "Error: trust import: the gzip stream is truncated"


def test_a_truncated_tar_stream(tmp_path):
    assert refused(tmp_path, gz(header(b"a", 1000) + b"x" * 10, end=b"")) == \
        "Error: trust import: the tar stream is truncated"


def test_a_corrupted_gzip_stream(tmp_path):
    for offset, check in ((-5, "data"), (-1, "length")):  # the gzip trailer: CRC-32, then the length
        whole = bytearray(trusted_root_archive())
        whole[offset] ^= 0xFF
        assert refused(tmp_path, bytes(whole)) == \
            f"Error: trust import: the file is not a gzip'd tar archive (Error -3 while decompressing data: " \
            f"incorrect {check} check)"


def test_not_gzip(tmp_path):
    plain = member("a", b"x") + END
    assert refused(tmp_path, plain) == "Error: trust import: the file is not a gzip'd tar archive " \
        "(Error -3 while decompressing data: incorrect header check)"
    assert refused(tmp_path, b"") == "Error: trust import: the gzip stream is truncated"


def test_a_directory_instead_of_a_file(tmp_path):
    line = one_line_error(run_cli("trust", "import", tmp_path, "--out", tmp_path / "out.json"))
    assert line == f"Error: trust import: cannot read {tmp_path}: Is a directory"


# -- the manifest ----------------------------------------------------------------------------------

def manifest_archive(manifest: bytes, data: bytes = b"{}") -> bytes:
    return gz(member(pack.MANIFEST, manifest), member("trusted_root.json", data))


def test_a_manifest_nested_100000_deep(tmp_path):
    deep = b"[" * 100_000 + b"]" * 100_000
    assert refused(tmp_path, manifest_archive(deep)) == \
        "Error: trust import: MANIFEST.json: JSON nested deeper than 64 levels"
    deep_object = b'{"files":' * 50_000 + b"[]" + b"}" * 50_000
    assert refused(tmp_path, manifest_archive(deep_object)) == \
        "Error: trust import: MANIFEST.json: JSON nested deeper than 64 levels"


def good_entry(data: bytes = b"{}") -> dict:
    return {"path": "trusted_root.json", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("manifest,reason", [
    (b"not json", "MANIFEST.json: not valid JSON (Expecting value: line 1 column 1 (char 0))"),
    (b"\xff", "MANIFEST.json: not valid JSON ('utf-8' codec can't decode byte 0xff in position 0: invalid start "
              "byte)"),
    (b"[]", "MANIFEST.json is malformed (no list of files)"),
    (b'"files"', "MANIFEST.json is malformed (no list of files)"),
    (json.dumps({"format": pack.FORMAT, "kind": "trusted-root", "files": {}}).encode(),
     "MANIFEST.json is malformed (no list of files)"),
    (json.dumps({"format": pack.FORMAT, "kind": ["trusted-root"], "files": []}).encode(),
     "unknown archive format"),
    (json.dumps({"format": 1, "kind": "trusted-root", "files": []}).encode(), "unknown archive format"),
    (json.dumps({"format": pack.FORMAT, "kind": "trusted-root", "files": [None]}).encode(),
     "MANIFEST.json is malformed (file 0 needs a path, size and sha256)"),
    (json.dumps({"format": pack.FORMAT, "kind": "trusted-root",
                 "files": [{**good_entry(), "path": ["trusted_root.json"]}]}).encode(),
     "MANIFEST.json is malformed (file 0 needs a path, size and sha256)"),
    (json.dumps({"format": pack.FORMAT, "kind": "trusted-root",
                 "files": [{**good_entry(), "size": "2"}]}).encode(),
     "MANIFEST.json is malformed (file 0 needs a path, size and sha256)"),
    (json.dumps({"format": pack.FORMAT, "kind": "trusted-root",
                 "files": [{**good_entry(b"x"), "size": True}]}).encode(),
     "MANIFEST.json is malformed (file 0 needs a path, size and sha256)"),
    (json.dumps({"format": pack.FORMAT, "kind": "trusted-root",
                 "files": [{**good_entry(), "sha256": None}]}).encode(),
     "MANIFEST.json is malformed (file 0 needs a path, size and sha256)"),
    (json.dumps({"format": pack.FORMAT, "kind": "trusted-root", "files": [good_entry(), good_entry()]}).encode(),
     "MANIFEST.json lists 'trusted_root.json' twice"),
    (json.dumps({"format": pack.FORMAT, "kind": "trusted-root",
                 "files": [good_entry(), {**good_entry(), "path": "x\nError: ok"}]}).encode(),
     "'x\\nError: ok' is in the manifest but not in the archive"),
    (json.dumps({"format": pack.FORMAT, "kind": "trusted-root", "files": []}).encode(),
     "'trusted_root.json' is not in the manifest"),
    (json.dumps({"format": pack.FORMAT, "kind": "trusted-root",
                 "files": [{**good_entry(), "sha256": "0" * 64}]}).encode(),
     "'trusted_root.json' does not match its SHA-256 in the manifest"),
])
def test_malformed_manifests(tmp_path, manifest, reason):
    assert refused(tmp_path, manifest_archive(manifest)) == f"Error: trust import: {reason}"
