"""The bytes of one WARC file as a single forward stream, whatever its gzip framing.

A gzip file is decompressed member after member however the records are split among
members (one member per record as the standard asks, the whole file gzipped as one
member, or a record spread over several); a plain file is read as stored. A member that
does not decompress ends the stream at the last good byte (`ArchiveStream.damage`) until
`resync` moves on to the next member, so the record reader (archives.py) can count the
damage once and go on. zlib gets 1 KiB of compressed bytes a call, so damage loses only
the output of the step it is in, and at most 1 MiB is inflated a call (a gzip bomb
inflates in steps).
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b\x08"
SCAN_CHUNK = 1 << 20
_RAW_CHUNK = 1 << 16          # compressed bytes read at a time
_ZLIB_STEP = 1 << 10          # compressed bytes handed to zlib at a time
_OUT_CHUNK = 1 << 20          # most bytes one zlib call may produce
# A rewind inside a gzip member decompresses the member again from its start: allowed when
# the target is this close to the start (always so for one record per member), so the
# cost stays within what was read once already.
_REWIND_REACH = 1 << 20
# Members remembered while one record is read: the one it starts in (for rewinding and
# naming it) and the latest ones (where its block ends).
_MEMBERS_KEPT = 32
_NOT_BLANK = re.compile(rb"[^\r\n]")


def _find(stream: BinaryIO, magic: bytes, start: int) -> int | None:
    """Offset of the first `magic` at or after `start` in a seekable file, or None."""
    stream.seek(start)
    position, tail = start, b""
    while True:
        chunk = stream.read(SCAN_CHUNK)
        if not chunk:
            return None
        data = tail + chunk
        found = data.find(magic)
        if found >= 0:
            return position - len(tail) + found
        tail = data[-(len(magic) - 1):]
        position += len(chunk)


@dataclass(frozen=True)
class _Damage:
    raw_offset: int     # where the undecodable gzip member (or stray bytes) starts
    message: str


class ArchiveStream:
    """The bytes of one WARC file as a single forward stream of records.

    Gzip files are decompressed member after member and the members' bytes joined;
    plain files are read as stored. `position` counts the bytes handed out (decompressed
    ones for gzip). A member that fails to decompress ends the stream at the last good
    byte (`damage`) until `resync` moves on to the next member.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        raw.seek(0)
        self.is_gzip = raw.read(len(GZIP_MAGIC) - 1) == GZIP_MAGIC[:-1]
        raw.seek(0)
        self.damage: _Damage | None = None
        self.cut_member: int | None = None   # raw offset of a gzip member the file ends inside
        self.cut_member_output = 0           # bytes that cut member produced
        self.bytes_seen = 0
        self._eof = False
        self._buf = b""
        self._i = 0                          # next unread byte of _buf
        self._buf_start = 0                  # stream position of _buf[0]
        # gzip state: (stream position, raw offset) of each member still of interest
        self._members: list[tuple[int, int]] = []
        self._decomp = None
        self._input = b""
        self._pos = 0                        # next unused byte of _input
        self._raw_next = 0
        self._produced = 0

    # -- reading
    @property
    def position(self) -> int:
        return self._buf_start + self._i

    def _available(self) -> int:
        return len(self._buf) - self._i

    def _fill(self) -> bool:
        """Append more bytes to the buffer; False at the end (or at damage)."""
        if self._eof or self.damage is not None:
            return False
        chunk = self._next_gzip_output() if self.is_gzip else self.raw.read(SCAN_CHUNK)
        if not chunk:
            self._eof = self.damage is None
            return False
        self.bytes_seen += len(chunk)
        if self._i >= len(self._buf):
            self._buf_start += len(self._buf)
            self._buf, self._i = chunk, 0
        else:
            self._buf_start += self._i
            self._buf, self._i = self._buf[self._i:] + chunk, 0
        return True

    def _next_gzip_output(self) -> bytes:
        """Up to _OUT_CHUNK decompressed bytes. zlib gets _ZLIB_STEP compressed bytes a
        call, so damage loses only the output of the step it is in."""
        parts, size = [], 0
        while size < _OUT_CHUNK:
            if self._pos >= len(self._input):
                chunk = self.raw.read(_RAW_CHUNK)
                if not chunk:
                    if self._decomp is None:
                        break
                    out = self._decomp.decompress(b"", _OUT_CHUNK - size)  # what zlib still holds
                    if not out:
                        if self._decomp.eof:
                            self._decomp = None
                        else:                     # the file ends inside this member
                            self.cut_member = self._members[-1][1]
                            self.cut_member_output = self._produced - self._members[-1][0]
                        break
                    parts.append(out)
                    size += len(out)
                    self._produced += len(out)
                    continue
                self._input, self._pos = chunk, 0
                self._raw_next += len(chunk)
            if self._decomp is None:
                self._members.append((self._produced, self._raw_next - len(self._input) + self._pos))
                if len(self._members) > 2 * _MEMBERS_KEPT:  # a record spread over countless members
                    del self._members[1:-_MEMBERS_KEPT]
                self._decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
            step = memoryview(self._input)[self._pos:self._pos + _ZLIB_STEP]
            try:
                out = self._decomp.decompress(step, _OUT_CHUNK - size)
            except zlib.error as exc:
                self.damage = _Damage(self._members[-1][1], f"zlib.error: {exc}")
                break
            if self._decomp.eof:
                self._pos += len(step) - len(self._decomp.unused_data)
                self._decomp = None
            else:
                self._pos += len(step) - len(self._decomp.unconsumed_tail)
            if out:
                parts.append(out)
                size += len(out)
                self._produced += len(out)
        return b"".join(parts)

    def at_end(self) -> bool:
        return self._available() == 0 and not self._fill()

    def at_damage(self) -> bool:
        return self.damage is not None and self._available() == 0

    def read(self, n: int) -> bytes:
        parts = []
        while n > 0 and not self.at_end():
            part = self._buf[self._i:self._i + n]
            self._i += len(part)
            n -= len(part)
            parts.append(part)
        return b"".join(parts)

    def readline(self, limit: int) -> bytes:
        while True:
            newline = self._buf.find(b"\n", self._i, self._i + limit)
            if newline >= 0 or self._available() >= limit or not self._fill():
                end = newline + 1 if newline >= 0 else self._i + limit
                line = self._buf[self._i:end]
                self._i += len(line)
                return line

    def peek(self, n: int) -> bytes:
        while self._available() < n and self._fill():
            pass
        return self._buf[self._i:self._i + n]

    def skip_blank(self) -> None:
        """Skip CR and LF bytes (the blank lines between records)."""
        while True:
            found = _NOT_BLANK.search(self._buf, self._i)
            if found:
                self._i = found.start()
                return
            self._i = len(self._buf)
            if not self._fill():
                return

    def skip_to(self, magic: bytes) -> tuple[int, bool]:
        """Skip to the next `magic` (or the end); (bytes skipped, found)."""
        start = self.position
        while True:
            found = self._buf.find(magic, self._i)
            if found >= 0:
                self._i = found
                return self.position - start, True
            self._i = max(self._i, len(self._buf) - len(magic) + 1)
            if not self._fill():
                self._i = len(self._buf)
                return self.position - start, False

    # -- positions
    def location(self, position: int) -> str:
        """Where `position` is in the file: its offset, or gzip member offset[+offset inside]."""
        if not self.is_gzip:
            return str(position)
        start, raw = self._member_at(position) or (position, "?")
        return f"{raw}" if position == start else f"{raw}+{position - start}"

    def member_at(self, position: int) -> int | None:
        member = self._member_at(position)
        return None if member is None else member[1]

    def _member_at(self, position: int) -> tuple[int, int] | None:
        found = None
        for member in self._members:
            if member[0] > position:
                break
            found = member
        return found

    def forget_before(self, position: int) -> None:
        """Positions before `position` will not be asked about again."""
        keep = 0
        for i, (start, _) in enumerate(self._members):
            if start <= position:
                keep = i
        del self._members[:keep]

    # -- moving
    def rewind(self, position: int) -> bool:
        """Go back to `position`, if the file allows it cheaply."""
        if not self.is_gzip:
            self.raw.seek(position)
            self._buf, self._i, self._buf_start, self._eof = b"", 0, position, False
            return True
        member = self._member_at(position)
        if member is None or position - member[0] > _REWIND_REACH:
            return False
        del self._members[self._members.index(member):]
        self.raw.seek(member[1])
        self._raw_next, self._input, self._pos, self._decomp = member[1], b"", 0, None
        self._produced = member[0]
        self._buf, self._i, self._buf_start = b"", 0, member[0]
        self.damage, self.cut_member, self._eof = None, None, False
        self.read(position - member[0])
        return self.position == position

    def resync(self) -> None:
        """After damage: continue at the next gzip member, if there is one."""
        resume = _find(self.raw, GZIP_MAGIC, self.damage.raw_offset + 1)
        self.damage, self._decomp, self._input, self._pos = None, None, b"", 0
        if resume is None:
            self._eof = True
        else:
            self.raw.seek(resume)
            self._raw_next = resume
