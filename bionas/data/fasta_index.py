"""FASTA indexes (``.fai``, the samtools layout): building one, reading, writing, checking.

A ``.fai`` holds one line per sequence: its name, length, the byte offset of
its first base, the bases per line and the bytes per line (line break
included). :func:`index_fasta` builds one in a single pass over the file,
reading it in blocks of :data:`BLOCK` bytes: in each block numpy finds the
line breaks and every line's length, first byte and kind, so memory stays at
a few blocks whatever the genome's size and no Python code runs per line,
only per sequence.

What is accepted (and the error raised otherwise, with its line number): a
UTF-8 byte-order mark at the start; LF or CRLF line breaks; blank lines and
``;`` comments before the first header; blank lines at the end of a
sequence; every line of a sequence as long as its first except the last,
which may be shorter; bytes of 128 and over only in header lines.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bionas.errors import InputError
from bionas.io import atomic_open

#: bytes read at a time by :func:`index_fasta`
BLOCK = 1 << 23

BOM = b"\xef\xbb\xbf"  # UTF-8 byte-order mark, skipped at the start of a plain file

_LF, _CR, _GT, _SEMI = 10, 13, ord(">"), ord(";")

# what makes an error win over another found earlier in the file (lowest first):
# a non-text byte, no header at all, text before the first header, a non-ASCII byte
# outside a header, then a bad sequence or header (the first in the file)
_NO_HEADER, _BEFORE_HEADER, _NON_ASCII, _LAYOUT = 1, 2, 3, 4


@dataclass(frozen=True)
class FaiRecord:
    """One line of a ``.fai`` index (samtools layout)."""

    name: str
    length: int
    offset: int
    line_bases: int
    line_bytes: int


class _Sequence:
    """A sequence being read: its lines so far."""

    __slots__ = ("name", "offset", "width", "width_bytes", "length", "filled", "odd", "odd_bases")

    def __init__(self, name: str, offset: int):
        self.name = name
        self.offset = offset  # the byte after its header line
        self.width = -1  # bases and bytes of its first line (-1: none yet)
        self.width_bytes = -1
        self.length = 0
        self.filled = False  # a line with bases seen
        self.odd = 0  # line number of its first line unlike the first (0: none yet)
        self.odd_bases = 0


def index_fasta(path: str | os.PathLike, block: int | None = None) -> list[FaiRecord]:
    """Index a plain FASTA file: one :class:`FaiRecord` per sequence, in file order.

    Parameters
    ----------
    path : str or PathLike
    block : int, optional
        Bytes read at a time (default :data:`BLOCK`); any size gives the same index.

    Raises
    ------
    InputError
        The file is not FASTA text, or its layout cannot be indexed (lines of
        unequal length inside a sequence, a duplicate or empty name); the
        message names the sequence and the line.
    """
    path = Path(path)
    block = block or BLOCK
    with open(path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        start = len(BOM) if os.pread(handle.fileno(), len(BOM), 0) == BOM else 0
        scan = _Scan(path, handle.fileno(), start)
        handle.seek(start)
        buf = np.empty(block, dtype=np.uint8)
        pos = start
        while True:
            n = handle.readinto(buf)
            final = not n or pos + n >= size
            scan.feed(buf[:n], pos, final)
            pos += n
            if final:
                break
    return scan.result()


class _Scan:
    """The state of :func:`index_fasta` between blocks."""

    def __init__(self, path: Path, fd: int, start: int):
        self.path, self.fd = path, fd
        self.breaks = 0  # line breaks before the current block
        self.line_start = start  # where the line the block starts in starts ...
        self.line_first = -1  # ... and its first byte (-1: it starts at the block)
        self.last_byte = -1  # the previous block's last byte
        self.seen_header = False
        self.records: list[FaiRecord] = []
        self.names: dict[str, int] = {}
        self.current: _Sequence | None = None
        self.deferred: tuple[int, InputError] | None = None

    def defer(self, rank: int, message: str, line: int) -> None:
        """Keep an error to raise at the end unless one ranked before it turns up."""
        if self.deferred is None or rank < self.deferred[0]:
            self.deferred = (rank, InputError(message, path=self.path, line=line))

    # -- one block -------------------------------------------------------------
    def feed(self, chunk: np.ndarray, pos: int, final: bool) -> None:
        """Read the block ``chunk`` of the file, which starts at byte ``pos``."""
        if not final and chunk.size and self._regular(chunk, pos):
            return
        m = chunk.size
        breaks = np.flatnonzero(chunk == _LF)
        # every byte below 32 (signed: 128 and over too) is a line break: plain ASCII text
        if m and np.count_nonzero(chunk.view(np.int8) < 32) != breaks.size:
            self._check_bytes(chunk, breaks)
        elif self.last_byte == _CR and m:  # a CR ended the previous block
            self._lone_cr(chunk[0] == _LF)
        first = self.line_first if self.line_first >= 0 else (int(chunk[0]) if m else -1)
        ends = breaks + pos
        starts = np.empty(breaks.size, dtype=np.int64)
        firsts = np.empty(breaks.size, dtype=np.int64)
        before = np.empty(breaks.size, dtype=np.int64)  # the byte before each line break
        if breaks.size:
            starts[0], firsts[0] = self.line_start, first
            starts[1:] = ends[:-1] + 1
            firsts[1:] = chunk[breaks[:-1] + 1]
            before[:] = chunk[np.maximum(breaks - 1, 0)]
            if breaks[0] == 0:
                before[0] = self.last_byte
        nbytes = ends + 1 - starts
        last_start = int(ends[-1]) + 1 if breaks.size else self.line_start
        if final and last_start < pos + m:  # a last line without a break
            last_first = int(chunk[breaks[-1] + 1]) if breaks.size else first
            ends = np.append(ends, pos + m)
            starts = np.append(starts, last_start)
            firsts = np.append(firsts, last_first)
            before = np.append(before, chunk[m - 1])
            nbytes = np.append(nbytes, pos + m - last_start)
        cr = (before == _CR) & (ends > starts)
        nbases = ends - starts - cr
        self._lines(chunk, pos, starts, nbases, nbytes, firsts)
        self._advance(chunk, pos, breaks, first)

    def _regular(self, chunk: np.ndarray, pos: int) -> bool:
        """Read a block that lies in the lines of one sequence, each as long as its first.

        Most blocks of a genome do: where the line breaks must fall is known,
        so they are checked there, and the rest of the block for any other
        byte below 32 or over 127, without finding every line break. Returns
        False, having changed nothing, for any other block.
        """
        seq = self.current
        if seq is None or self.deferred is not None or seq.width < 0 or seq.odd:
            return False
        width, line_bytes = seq.width, seq.width_bytes
        skip = line_bytes - width  # LF or CRLF
        first = self.line_first if self.line_first >= 0 else int(chunk[0])
        at = self.line_start + line_bytes - 1 - pos  # the first line break, in the block
        if skip not in (1, 2) or first == _GT or self.last_byte == _CR or at < skip - 1:
            return False
        m = chunk.size
        breaks = np.arange(at, m, line_bytes)
        next_first = breaks[breaks + 1 < m] + 1
        if not (chunk[breaks] == _LF).all() or (chunk[next_first] == _GT).any():
            return False
        if skip == 2 and not (chunk[breaks - 1] == _CR).all():
            return False
        chunk[breaks] = _GT  # the others must all be text: mask the breaks for a moment
        if skip == 2:
            chunk[breaks - 1] = _GT
        text = chunk.view(np.int8).min() >= 32
        chunk[breaks] = _LF
        if skip == 2:
            chunk[breaks - 1] = _CR
        if not text:
            return False
        seq.length += breaks.size * width
        seq.filled = seq.filled or bool(breaks.size and width)
        self._advance(chunk, pos, breaks, first)
        return True

    def _advance(self, chunk: np.ndarray, pos: int, breaks: np.ndarray, first: int) -> None:
        """Past the block ``chunk`` (at byte ``pos``, line breaks at ``breaks``): the line the
        next block starts in, and the byte it follows. ``first`` is the first byte of the line
        the block started in (-1 if none yet)."""
        self.breaks += breaks.size
        if breaks.size:
            self.line_start = pos + int(breaks[-1]) + 1
            after = int(breaks[-1]) + 1
            self.line_first = int(chunk[after]) if after < chunk.size else -1
        else:
            self.line_first = first
        if chunk.size:
            self.last_byte = int(chunk[-1])

    def _lone_cr(self, followed_by_lf: bool) -> None:
        """Raise unless the carriage return that ended the previous block ends a line."""
        if not followed_by_lf:
            raise InputError(
                "not a FASTA file: carriage return inside a line in the file",
                path=self.path,
                line=self.breaks + 1,
            )

    def _check_bytes(self, chunk: np.ndarray, breaks: np.ndarray) -> None:
        """Raise at the first control byte or lone carriage return; defer a non-ASCII byte."""
        if self.last_byte == _CR:
            self._lone_cr(chunk[0] == _LF)
        bad = np.flatnonzero((chunk < 9) | ((chunk > 13) & (chunk < 32)))[:1]
        cr = np.flatnonzero(chunk == _CR)
        cr = cr[cr + 1 < chunk.size]  # one at the end of the block: seen with the next
        lone = cr[chunk[cr + 1] != _LF][:1]
        if bad.size or lone.size:
            at = int(min(np.concatenate([bad, lone])))
            what = "carriage return inside a line" if chunk[at] == _CR else "non-text byte"
            line = self.breaks + int(np.searchsorted(breaks, at)) + 1
            raise InputError(f"not a FASTA file: {what} in the file", path=self.path, line=line)
        if self.deferred is not None and self.deferred[0] <= _NON_ASCII:
            return
        high = np.flatnonzero(chunk >= 128)
        if not high.size:
            return
        # only header lines may hold them: find the first byte of each one's line
        k = np.searchsorted(breaks, high)
        line_at = np.zeros(high.size, dtype=np.int64)
        line_at[k > 0] = breaks[k[k > 0] - 1] + 1
        firsts = chunk[line_at].astype(np.int64)
        if self.line_first >= 0:
            firsts[k == 0] = self.line_first
        wrong = np.flatnonzero(firsts != _GT)
        if wrong.size:
            self.defer(
                _NON_ASCII,
                "not a FASTA file: non-ASCII byte in a sequence line",
                self.breaks + int(k[wrong[0]]) + 1,
            )

    # -- the lines that end in a block ------------------------------------------
    def _lines(self, chunk, pos, starts, nbases, nbytes, firsts) -> None:
        number = self.breaks + 1  # line number of the first
        headers = np.flatnonzero((firsts == _GT) & (nbases > 0))
        lo = 0
        if not self.seen_header:
            lo = int(headers[0]) if headers.size else starts.size
            text = np.flatnonzero((nbases[:lo] > 0) & (firsts[:lo] != _SEMI))
            if text.size:
                self.defer(
                    _BEFORE_HEADER,
                    "not a FASTA file: expected a '>name' header line first",
                    number + int(text[0]),
                )
            self.seen_header = bool(headers.size)
        if self.deferred is not None:
            return
        bounds = np.append(headers, starts.size)
        if self.current is not None and lo < bounds[0]:
            self._body(nbases[lo : bounds[0]], nbytes[lo : bounds[0]], number + lo)
        for h, nxt in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            if self.deferred is not None:
                return
            self._finish()
            start, bases = int(starts[h]), int(nbases[h])
            if start >= pos and start + bases <= pos + chunk.size:
                raw = chunk[start - pos + 1 : start - pos + bases].tobytes()
            else:  # a header line begun in an earlier block
                raw = os.pread(self.fd, bases - 1, start + 1)
            self._open(raw, start + int(nbytes[h]), number + h)
            if self.deferred is None:
                self._body(nbases[h + 1 : nxt], nbytes[h + 1 : nxt], number + h + 1)

    def _open(self, header: bytes, offset: int, line: int) -> None:
        fields = header.decode("utf-8", "replace").split()
        if not fields:
            self.defer(_LAYOUT, "FASTA header without a sequence name", line)
            return
        name = fields[0]
        if name in self.names:
            self.defer(
                _LAYOUT,
                f"duplicate sequence name {name!r} (first at line {self.names[name]})",
                line,
            )
            return
        self.names[name] = line
        self.current = _Sequence(name, offset)

    def _body(self, nbases: np.ndarray, nbytes: np.ndarray, line: int) -> None:
        """Add lines to the current sequence: all as long as its first, the last shorter.

        The first line unlike the first one (fewer or more bases, another line
        break) is noted; a line with bases after it makes it an error.
        """
        seq = self.current
        if seq is None or not nbases.size:
            return
        if seq.width < 0:
            seq.width, seq.width_bytes = int(nbases[0]), int(nbytes[0])
        filled = np.flatnonzero(nbases > 0)
        if seq.odd and filled.size:
            self._ragged(seq.odd)
            return
        if not seq.odd:
            odd = np.flatnonzero((nbases != seq.width) | (nbytes != seq.width_bytes))[:1]
            if odd.size:
                if filled.size and filled[-1] > odd[0]:
                    self._ragged(line + int(odd[0]))
                    return
                seq.odd, seq.odd_bases = line + int(odd[0]), int(nbases[odd[0]])
        seq.length += int(nbases.sum())
        seq.filled = seq.filled or bool(filled.size)

    def _ragged(self, line: int) -> None:
        seq = self.current
        self.defer(
            _LAYOUT,
            f"sequence {seq.name!r}: lines must all hold {seq.width} bases except the last",
            line,
        )

    def _finish(self) -> None:
        seq, self.current = self.current, None
        if seq is None:
            return
        if not seq.filled:
            self.records.append(FaiRecord(seq.name, 0, seq.offset, 0, 0))
            return
        if seq.odd and seq.odd_bases > seq.width:  # a last line longer than the others
            self.current = seq
            self._ragged(seq.odd)
            return
        self.records.append(FaiRecord(seq.name, seq.length, seq.offset, seq.width, seq.width_bytes))

    def result(self) -> list[FaiRecord]:
        if self.deferred is None:
            self._finish()
        if not self.seen_header:
            raise InputError("not a FASTA file: no '>name' header line", path=self.path)
        if self.deferred is not None:
            raise self.deferred[1]
        return self.records


def read_fai(path: Path) -> list[FaiRecord]:
    """Read a ``.fai``; InputError naming the line of a malformed one."""
    rebuild = "delete it (bionas rebuilds it)"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"bad FASTA index: not UTF-8 text ({err.reason}); {rebuild}", path=path
        ) from None
    records: list[FaiRecord] = []
    seen: set[str] = set()
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        fields = line.rstrip("\r").split("\t")
        if len(fields) < 5:
            raise InputError(
                f"bad FASTA index: expected 5 tab-separated columns; {rebuild}",
                path=path,
                line=number,
            )
        if not all(v.isascii() and v.isdigit() and len(v) < 20 for v in fields[1:5]):
            raise InputError(
                f"bad FASTA index: expected 4 integer columns after the name; {rebuild}",
                path=path,
                line=number,
            )
        if fields[0] in seen:
            raise InputError(
                f"duplicate sequence name {fields[0][:60]!r} in the FASTA index; {rebuild}",
                path=path,
                line=number,
            )
        seen.add(fields[0])
        records.append(FaiRecord(fields[0], *(int(v) for v in fields[1:5])))
    return records


def check_fai(records: list[FaiRecord], mm: np.ndarray, fai: Path, fasta: Path) -> None:
    """Refuse an existing ``.fai`` that does not describe the bytes of ``fasta``.

    The index is trusted when it is newer than the FASTA, but a damaged index,
    or one left from another FASTA copied in with its old time (``cp -p``),
    would make every fetch read the wrong bytes. Checked per record: sane
    numbers, the sequence inside the file and after the previous one, its
    header line ``>name`` just before its first base, and a line break after
    its first line.
    """
    size = len(mm)

    def bad(number: int, what: str) -> InputError:
        return InputError(
            f"the FASTA index does not match {fasta} ({what}): it is stale or damaged; "
            "delete it (bionas rebuilds it)",
            path=fai,
            line=number,
        )

    if not records:
        raise bad(1, "it lists no sequence")
    spans = []
    for number, r in enumerate(records, start=1):
        if r.length < 0 or r.offset < 1 or r.offset > size:
            raise bad(number, f"length {r.length} or offset {r.offset} of {r.name!r}")
        if r.length == 0:
            end = r.offset
        else:
            if not 1 <= r.line_bases <= r.line_bytes <= r.line_bases + 2:
                raise bad(number, f"line lengths {r.line_bases}/{r.line_bytes} of {r.name!r}")
            full, tail = divmod(r.length - 1, r.line_bases)
            end = r.offset + full * r.line_bytes + tail + 1
            if end > size:
                raise bad(number, f"{r.name!r} runs past the end of the file")
            if r.length > r.line_bases and mm[r.offset + r.line_bases] not in (10, 13):
                raise bad(number, f"no line break where the first line of {r.name!r} ends")
        head = bytes(mm[max(0, r.offset - 1 - 4096) : r.offset])
        if not head.endswith(b"\n"):
            raise bad(number, f"the sequence {r.name!r} does not start a line")
        lines = head[:-1].rsplit(b"\n", 1)
        known = len(lines) > 1 or r.offset <= 4097  # the whole header line is in `head`
        header = lines[-1].rstrip(b"\r").removeprefix(BOM) if known else None
        name = b">" + r.name.encode()
        if header is not None and not (
            header == name
            or (header.startswith(name) and header[len(name) : len(name) + 1].isspace())
        ):
            raise bad(number, f"no header line '>{r.name}' before its sequence")
        # where its header line starts (None: a header of over 4 kB, not checked)
        header_start = r.offset - 1 - len(lines[-1]) if known else None
        spans.append((r.offset, end, number, header_start))
    spans.sort()

    def blank(a: int, b: int) -> bool:
        """Whether bytes a:b of the FASTA hold only line breaks and spaces (a BOM first)."""
        chunk = bytes(mm[a : min(b, a + 4096 + len(BOM))]).removeprefix(BOM if a == 0 else b"")
        return b - a <= 4096 + len(BOM) and not chunk.strip()

    # Between one sequence's last base and the next header, and around them all,
    # only blank space: a sequence the index leaves out, or a length too short,
    # would otherwise go unnoticed.
    if spans[0][3] is not None and not blank(0, spans[0][3]):
        raise bad(spans[0][2], "bytes before the first indexed sequence")
    for (_, end, _, _), (start, _, number, header_start) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise bad(number, "two sequences overlap")
        if header_start is not None and not blank(end, header_start):
            raise bad(number, "bases or a sequence the index does not list before this one")
    if not blank(spans[-1][1], size):
        raise bad(spans[-1][2], "bases or sequences after the last indexed one")


def write_fai(path: Path, records: list[FaiRecord]) -> None:
    """Write a ``.fai`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for r in records:
            handle.write(f"{r.name}\t{r.length}\t{r.offset}\t{r.line_bases}\t{r.line_bytes}\n")
