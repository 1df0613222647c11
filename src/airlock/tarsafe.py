"""A small, strict reader for the gzip'd tar archives airlock itself writes, linear in its input.

CPython's ``tarfile`` parses pax extended headers with regular expressions that are quadratic on
attacker bytes (CVE-2024-6232: a 240-byte archive holding a pax header of ASCII digits takes half
a minute on 3.11.7), accepts links, devices, sparse files and GNU extensions, and hands names back
unchecked. This reader never calls it. It accepts only the subset ``tarfile.open(..., "w:gz")``
produces for regular files (``TarReader``, one member at a time; ``read_tar_gz``, all at once):

- one gzip member, nothing after it (or no compression at all: ``airlock pack --compress none``);
  the decompressed stream is at most ``max_stream`` bytes;
- ustar/v7/GNU-magic headers with a valid checksum and plain octal numbers (no base-256);
- member types regular file (``0`` or NUL) and a pax extended header (``x``) for the next member,
  at most ``MAX_PAX`` bytes, whose records are parsed by hand (``path``, ``size`` and harmless
  metadata; ``linkpath``, sparse and unknown keywords are refused);
- at most ``max_files`` members, each at most ``max_file`` bytes, ``max_total`` in all;
- relative names of printable characters, at most ``MAX_NAME`` bytes, no empty, ``.`` or ``..``
  component, no duplicates, no member that is both a file and the directory of another;
- NUL bytes padding each member; the end-of-archive marker, and only NUL bytes after it.

Every refusal is a ``FormatError`` whose one-line message names the member (``repr``).
"""

from __future__ import annotations

import bisect
import zlib
from typing import BinaryIO

from airlock.errors import FormatError

BLOCK = 512
RECORD = 20 * BLOCK  # tar writers pad the archive to a whole number of records
MAX_PAX = 8 * 1024
"""Largest pax extended header; airlock writes one only for a name longer than 100 bytes."""
MAX_NAME = 1024
_CHUNK = 64 * 1024
_HIGH_BYTES = bytes(range(0x80, 0x100))

_REGULAR = (b"0", b"\0")
_PAX = b"x"
_TYPE_NAMES = {
    b"1": "a hard link", b"2": "a symbolic link", b"3": "a character device", b"4": "a block device",
    b"5": "a directory", b"6": "a FIFO", b"7": "a contiguous file", b"g": "a global pax header",
    b"L": "a GNU long name", b"K": "a GNU long link name", b"S": "a GNU sparse file",
    b"D": "a GNU directory dump", b"M": "a GNU multi-volume continuation", b"V": "a GNU volume header",
}
# pax keywords with no effect on what is read; anything else (linkpath, GNU.sparse.*, hdrcharset,
# SCHILY.*, vendor extensions) is refused rather than half-understood.
_PAX_IGNORED = frozenset({"mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "comment"})
_PAX_USED = frozenset({"path", "size"})


class _Stream:
    """The decompressed bytes of one gzip member, read in exact amounts and never more than ``limit``."""

    def __init__(self, source: BinaryIO, what: str, limit: int, max_compressed: int) -> None:
        self._source, self._what, self._limit, self._max_compressed = source, what, limit, max_compressed
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip wrapper: header, CRC-32 and length
        self._buffer = bytearray()
        self._pending = b""  # compressed input zlib has not consumed yet
        self._compressed = 0
        self.produced = 0  # decompressed bytes handed out or buffered

    def _fill(self, wanted: int) -> None:
        while len(self._buffer) < wanted and not self._inflate.eof:
            if not self._pending:
                self._pending = self._source.read(_CHUNK)
                self._compressed += len(self._pending)
                if self._compressed > self._max_compressed:
                    raise FormatError(f"{self._what}: larger than {self._max_compressed} bytes")
                if not self._pending:
                    raise FormatError(f"{self._what}: the gzip stream is truncated")
            room = self._limit + 1 - self.produced
            try:
                out = self._inflate.decompress(self._pending, min(_CHUNK, room))
            except zlib.error as exc:
                raise FormatError(f"{self._what}: the file is not a gzip'd tar archive ({exc})") from None
            self._pending = self._inflate.unconsumed_tail
            self.produced += len(out)
            if self.produced > self._limit:
                raise FormatError(f"{self._what}: decompresses to more than {self._limit} bytes")
            self._buffer += out

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes, or b"" at the clean end of the gzip member (only when ``size`` is asked at it)."""
        self._fill(size)
        if len(self._buffer) < size:
            if not self._buffer and self._inflate.eof:
                return b""
            raise FormatError(f"{self._what}: the tar stream is truncated")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def finish(self) -> None:
        """Only NUL bytes remain (tar's record padding), the gzip member ends cleanly, nothing follows it."""
        while True:
            if self._buffer.count(0) != len(self._buffer):
                raise FormatError(f"{self._what}: data after the end-of-archive marker")
            self._buffer.clear()
            if self._inflate.eof:
                break
            self._fill(_CHUNK)  # raises once more than ``limit`` bytes would be produced
        trailing = self._inflate.unused_data + self._pending + self._source.read(1)
        if trailing:
            raise FormatError(f"{self._what}: data after the end of the gzip stream")


class _PlainStream:
    """An uncompressed tar stream, with the interface of ``_Stream``: never more than ``limit`` bytes."""

    def __init__(self, source: BinaryIO, what: str, limit: int) -> None:
        self._source, self._what, self._limit = source, what, limit
        self.produced = 0

    def read(self, size: int) -> bytes:
        data = self._source.read(size) if size else b""
        while data and len(data) < size:  # a pipe or socket may return less than asked
            more = self._source.read(size - len(data))
            if not more:
                break
            data += more
        self.produced += len(data)
        if self.produced > self._limit:
            raise FormatError(f"{self._what}: larger than {self._limit} bytes")
        if len(data) < size:
            if not data:
                return b""
            raise FormatError(f"{self._what}: the tar stream is truncated")
        return data

    def finish(self) -> None:
        """Only NUL bytes remain (tar's record padding), within the limit."""
        while data := self._source.read(_CHUNK):
            self.produced += len(data)
            if self.produced > self._limit:
                raise FormatError(f"{self._what}: larger than {self._limit} bytes")
            if data.count(0) != len(data):
                raise FormatError(f"{self._what}: data after the end-of-archive marker")


def _octal(field: bytes, what: str, label: str) -> int:
    if field[:1] and field[0] & 0x80:
        raise FormatError(f"{what}: {label} is a base-256 number")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    if text.translate(None, b"01234567"):
        raise FormatError(f"{what}: {label} is not an octal number")
    return int(text, 8)


def _text(field: bytes) -> bytes:
    return field.split(b"\0", 1)[0]


def _check_sum(header: bytes, what: str) -> None:
    """The header's checksum, as unsigned bytes (POSIX) or signed (old writers), the field read as spaces."""
    stored = _octal(header[148:156], what, "header checksum")
    blanked = header[:148] + b" " * 8 + header[156:]
    unsigned = sum(blanked)
    if stored != unsigned and stored != unsigned - 256 * (BLOCK - len(blanked.translate(None, _HIGH_BYTES))):
        raise FormatError(f"{what}: header checksum mismatch")


def _decode_name(raw: bytes, what: str) -> str:
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{what}: member name {raw[:100]!r} is not UTF-8") from None
    return name


def check_name(name: str, what: str) -> None:
    """A relative POSIX path of printable characters with no empty, ``.`` or ``..`` component."""
    if not name:
        raise FormatError(f"{what}: a member has an empty name")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME:
        raise FormatError(f"{what}: member name {name[:60]!r}... is longer than {MAX_NAME} bytes")
    if not name.isprintable() or "\\" in name:
        raise FormatError(f"{what}: unsafe path {name!r} (control characters or a backslash)")
    if name.startswith("/"):
        raise FormatError(f"{what}: unsafe path {name!r} (absolute)")
    parts = name.split("/")
    if ".." in parts:
        raise FormatError(f"{what}: unsafe path {name!r} (a '..' component)")
    if "." in parts or "" in parts:
        raise FormatError(f"{what}: unsafe path {name!r} (an empty or '.' component)")


def _pax_records(data: bytes, what: str) -> dict[str, bytes]:
    """``"%d %s=%s\\n"`` records, each length checked before it is used; linear in ``data``."""
    records: dict[str, bytes] = {}
    position = 0
    while position < len(data):
        if data[position] == 0 and not data[position:].strip(b"\0"):
            break  # NUL padding at the end (tarfile does not write it; some writers do)
        space = data.find(b" ", position, position + 12)
        digits = data[position:space] if space > position else b""
        if not digits or not digits.isdigit() or len(digits) > 11:
            raise FormatError(f"{what}: malformed pax record length at offset {position}")
        length = int(digits)
        end = position + length
        if length <= len(digits) + 1 or end > len(data) or data[end - 1:end] != b"\n":
            raise FormatError(f"{what}: malformed pax record at offset {position}")
        keyword, equals, value = data[space + 1:end - 1].partition(b"=")
        if not equals or not keyword:
            raise FormatError(f"{what}: malformed pax record at offset {position}")
        try:
            key = keyword.decode("ascii")
        except UnicodeDecodeError:
            raise FormatError(f"{what}: pax keyword {keyword[:40]!r} is not ASCII") from None
        if key in records:
            raise FormatError(f"{what}: pax keyword {key!r} appears twice")
        if key not in _PAX_USED and key not in _PAX_IGNORED:
            raise FormatError(f"{what}: unsupported pax keyword {key[:40]!r}")
        records[key] = value
        position = end
    return records


class TarReader:
    """Regular files of a tar stream, one member at a time, in linear time and bounded memory.

    ``next()`` checks the next header (type, name, size, limits, no duplicate) and returns the
    member's ``(name, size)``, or None at the end-of-archive marker (after which the rest of the
    stream and the file/directory clashes have been checked too); ``read(n)`` returns up to ``n``
    bytes of the current member's data, ``b""`` at its end. What ``read`` left is skipped.
    ``compression``: ``"gzip"`` (one gzip member, nothing after it) or ``"none"``. ``canonical``:
    every header checksum must be written as tarfile and GNU tar write it (six octal digits, NUL,
    space), so that no byte of a header can change unnoticed, and the stream must be a whole number
    of records (as tar pads it), so that no padding can be cut unnoticed. Padding must be NUL bytes.
    ``directories``: empty directory members (Go's ``archive/tar`` and GNU tar write them) are
    skipped, their names checked like any other, rather than refused.
    """

    def __init__(self, source: BinaryIO, what: str, *, max_files: int, max_file: int, max_total: int,
                 max_compressed: int | None = None, compression: str = "gzip", canonical: bool = False,
                 directories: bool = False) -> None:
        header_room = max_files * (3 * BLOCK + MAX_PAX) + 20 * BLOCK  # headers, pax data, padding, end
        max_stream = max_total + max_files * BLOCK + header_room
        self._what, self._max_files, self._max_file, self._max_total = what, max_files, max_file, max_total
        self._stream: _Stream | _PlainStream
        if compression == "gzip":
            self._stream = _Stream(source, what, max_stream,
                                   max_compressed if max_compressed is not None else max_stream)
        elif compression == "none":
            self._stream = _PlainStream(source, what, max_stream)
        else:
            raise ValueError(f"unknown compression {compression!r}")
        self._names: set[str] = set()
        self._total = 0
        self._left = 0  # data bytes of the current member not read yet
        self._padding = 0
        self._done = False
        self._canonical = canonical
        self._directories = directories

    def read(self, size: int = _CHUNK) -> bytes:
        """Up to ``size`` bytes of the current member's data; ``b""`` once it is all read."""
        size = min(size, self._left)
        if size <= 0:
            return b""
        data = self._stream.read(size)
        if len(data) != size:  # the stream ended at a member's data
            raise FormatError(f"{self._what}: the tar stream is truncated")
        self._left -= size
        return data

    def _skip(self) -> None:
        while self._left:
            self.read(_CHUNK)
        if self._padding:
            if self._stream.read(self._padding).count(0) != self._padding:
                raise FormatError(f"{self._what}: the padding after a member is not NUL bytes")
            self._padding = 0

    def next(self) -> tuple[str, int] | None:
        """The next regular file's (name, size); None at the end of the archive (then all is checked)."""
        if self._done:
            return None
        self._skip()
        what, stream = self._what, self._stream
        pax: dict[str, bytes] | None = None
        while True:
            header = stream.read(BLOCK)
            if not header:
                raise FormatError(f"{what}: the tar stream ends without its end-of-archive marker")
            if header == bytes(BLOCK):
                if pax is not None:
                    raise FormatError(f"{what}: a pax header is not followed by a member")
                stream.finish()
                if self._canonical and stream.produced % RECORD:
                    raise FormatError(f"{what}: the tar stream is truncated (not a whole number of records)")
                _refuse_file_directory_clashes(sorted(self._names), what)
                self._done = True
                return None
            _check_sum(header, what)
            if self._canonical and header[148:156] != b"%06o\0 " % sum(header[:148] + b" " * 8 + header[156:]):
                raise FormatError(f"{what}: a header checksum is not written as tar writes it")
            kind = header[156:157]
            magic = header[257:263]
            raw_name = _text(header[:100])
            if magic == b"ustar\0" and _text(header[345:500]):
                raw_name = _text(header[345:500]) + b"/" + raw_name
            label = f"member {_decode_name(raw_name, what)[:MAX_NAME]!r}"
            size = _octal(header[124:136], what, f"{label} size")
            if kind == _PAX:
                if pax is not None:
                    raise FormatError(f"{what}: two pax headers in a row")
                if size > MAX_PAX:
                    raise FormatError(f"{what}: pax header of {size} bytes, more than {MAX_PAX}")
                pax = _pax_records(stream.read(size + (-size % BLOCK))[:size], what)
                continue
            if kind == b"5" and self._directories and size == 0 and pax is None:
                check_name(_decode_name(raw_name, what).removesuffix("/"), what)  # the stream bound bounds these
                continue
            if kind not in _REGULAR:
                name = _decode_name(raw_name, what)
                description = _TYPE_NAMES.get(kind, f"of unknown type {kind!r}")
                raise FormatError(f"{what}: member {name!r} is {description}, not a regular file")
            if pax is not None:
                if "path" in pax:
                    raw_name = pax["path"]
                if "size" in pax:
                    digits = pax["size"]
                    if not digits.isdigit() or len(digits) > 20:
                        raise FormatError(f"{what}: {label} has a malformed pax size")
                    size = int(digits)
            name = _decode_name(raw_name, what)
            check_name(name, what)
            if len(self._names) >= self._max_files:
                raise FormatError(f"{what}: more than {self._max_files} members")
            if size > self._max_file:
                raise FormatError(f"{what}: member {name!r} is {size} bytes, more than {self._max_file}")
            if self._total + size > self._max_total:
                raise FormatError(f"{what}: the members add up to more than {self._max_total} bytes")
            if name in self._names:
                raise FormatError(f"{what}: member {name!r} appears twice")
            self._names.add(name)
            self._total += size
            self._left, self._padding = size, -size % BLOCK
            return name, size


def read_tar_gz(source: BinaryIO, what: str, *, max_files: int, max_file: int, max_total: int,
                max_compressed: int | None = None, directories: bool = False) -> dict[str, bytes]:
    """Every regular file of a gzip'd tar, by name in archive order; ``FormatError`` on anything else.
    ``directories``: empty directory members (Go's ``archive/tar`` and GNU tar write them) are
    skipped, their names checked like any other, rather than refused."""
    reader = TarReader(source, what, max_files=max_files, max_file=max_file, max_total=max_total,
                       max_compressed=max_compressed, directories=directories)
    files: dict[str, bytes] = {}
    while (member := reader.next()) is not None:
        files[member[0]] = reader.read(member[1])
    return files


def _refuse_file_directory_clashes(names: list[str], what: str) -> None:
    """No member may be a file and the directory of another (``a`` and ``a/b``), in either order.

    In sorted order every name under ``a/`` is at or after ``bisect(names, "a/")``; checking that
    one neighbour per name costs O(n log n) time and no memory beyond the list of names.
    """
    for name in names:
        position = bisect.bisect_left(names, name + "/")
        if position < len(names) and names[position].startswith(name + "/"):
            raise FormatError(f"{what}: member {name!r} is a file and also the directory of {names[position]!r}")
