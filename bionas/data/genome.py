"""FASTA access: chromosome sizes, single and bulk sequence fetches, runs of N.

A genome is a plain or bgzip-compressed FASTA file. Plain files are indexed
(``.fai``, samtools layout) by a vectorised scan written atomically beside the
file (files over 1 GiB by pyfaidx, which needs less memory), then read through
a memory map: a whole chromosome is one reshape of
its bytes, so fetching many windows costs one read per chromosome and one
slice per window. bgzip files go through pyfaidx (which also writes ``.gzi``).

Coordinates are 0-based, half-open (BED). Sequences come back uppercase.
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bionas.errors import InputError
from bionas.io import atomic_open, atomic_path

log = logging.getLogger(__name__)

_CHUNK = 1 << 26  # bytes scanned at a time when indexing
_SCAN_LIMIT = 1 << 30  # larger plain files are indexed by pyfaidx's line loop (less memory)
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"  # UTF-8 byte-order mark, skipped at the start of a plain file

# byte -> uppercase byte
UPPER = np.arange(256, dtype=np.uint8)
UPPER[ord("a") : ord("z") + 1] -= 32


@dataclass(frozen=True)
class FaiRecord:
    """One line of a ``.fai`` index (samtools layout)."""

    name: str
    length: int
    offset: int
    line_bases: int
    line_bytes: int


def _is_bgzf(head: bytes) -> bool:
    # gzip member with the FEXTRA flag and a 'BC' subfield: a BGZF block
    return len(head) >= 16 and head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"


def is_plain_gzip(path: str | os.PathLike) -> bool:
    """Whether a file is gzip-compressed but not bgzip (BGZF): UCSC ships ``hg38.fa.gz`` so.

    Such a FASTA cannot be read by position; :func:`decompress_fasta` makes a
    plain copy once (the workflow does it for a dataset's genome).
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
    except OSError:
        return False
    return head.startswith(_GZIP_MAGIC) and not _is_bgzf(head)


#: Bytes read and written at a time when decompressing.
_CHUNK = 1 << 22


def decompress_fasta(source: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write a plain copy of a gzip-compressed FASTA, atomically; return its size in bytes.

    A plain copy rather than a bgzip one: windows are then read from a
    memory map, the fastest path (:class:`Genome`), at the cost of disk (3.1
    GB for hg38 against 0.9 GB). Every gzip member is read (``cat a.gz b.gz``
    works), and the result must start like a FASTA file.

    Raises
    ------
    InputError
        ``source`` missing, not gzip, damaged or truncated, or not a FASTA
        file inside; nothing is written.
    """
    import zlib

    from bionas.io import atomic_path

    src = Path(source)
    if not src.is_file():
        raise InputError("genome file not found", path=src)
    with open(src, "rb") as handle:
        if not handle.read(2).startswith(_GZIP_MAGIC):
            raise InputError("not a gzip-compressed file; a plain FASTA needs no copy", path=src)
    written = 0
    try:
        with gzip.open(src, "rb") as reader, atomic_path(out) as tmp, open(tmp, "wb") as writer:
            first = True
            while chunk := reader.read(_CHUNK):
                if first:
                    _check_text_head(src, chunk, complete=len(chunk) < _CHUNK)
                    first = False
                writer.write(chunk)
                written += len(chunk)
            if first:
                raise InputError("the gzip file holds nothing", path=src)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise InputError(f"damaged or truncated gzip file ({err})", path=src) from None
    return written


def _check_text_head(path: Path, head: bytes, complete: bool, allow_bom: bool = True) -> None:
    """Reject binary junk and text that does not start with a FASTA header.

    ``head`` is the start of the (decompressed) file; ``complete`` says it is all of it.
    """
    if head.startswith(_BOM):
        if not allow_bom:
            raise InputError(
                "the FASTA text starts with a UTF-8 byte-order mark; remove it", path=path
            )
        head = head[len(_BOM) :]
    if b"\0" in head or any(b < 9 or 13 < b < 32 for b in head[:4096]):
        raise InputError("not a FASTA file: it holds binary data", path=path)
    for number, raw in enumerate(head.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(b";"):
            continue
        if not line.startswith(b">"):
            shown = line[:40].decode("ascii", "replace")
            raise InputError(
                f"not a FASTA file: expected a '>name' header line, found {shown!r}",
                path=path,
                line=number,
            )
        return
    if complete:
        raise InputError("empty FASTA file: no '>name' header line", path=path)


def _scan_index(path: Path) -> list[FaiRecord]:
    """Index a plain FASTA file; raise InputError with a line number on bad layout."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    bom = len(_BOM) if bytes(data[: len(_BOM)]) == _BOM else 0
    newlines = []
    non_ascii = False
    for lo in range(0, data.size, _CHUNK):
        chunk = np.asarray(data[lo : lo + _CHUNK])
        bad = (chunk < 9) | ((chunk > 13) & (chunk < 32))
        # a carriage return must end a line (CRLF) or the file
        cr = np.flatnonzero(chunk == 13) + lo
        cr = cr[cr + 1 < data.size]
        lone_cr = cr[data[cr + 1] != 10] if cr.size else cr
        if bad.any() or lone_cr.size:
            pos = min(
                [lo + int(i) for i in np.flatnonzero(bad)[:1]] + [int(i) for i in lone_cr[:1]]
            )
            line = 1 + sum(len(n) for n in newlines) + int(np.count_nonzero(data[lo:pos] == 10))
            what = "non-text byte" if data[pos] != 13 else "carriage return inside a line"
            raise InputError(f"not a FASTA file: {what} in the file", path=path, line=line)
        non_ascii = non_ascii or bool((chunk[max(bom - lo, 0) :] >= 128).any())
        newlines.append(np.flatnonzero(chunk == 10) + lo)
    ends = np.concatenate(newlines) if newlines else np.zeros(0, np.int64)
    if ends.size == 0 or ends[-1] != data.size - 1:  # last line without a newline
        ends = np.append(ends, data.size - 1)
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    starts[0] = bom
    ends = ends.astype(np.int64)
    nbytes = ends - starts + 1  # with the newline
    has_nl = data[ends] == 10
    # bases per line: strip '\n' and a preceding '\r'
    content_end = ends + 1 - has_nl
    cr = (content_end > starts) & (data[np.maximum(content_end - 1, 0)] == 13)
    nbases = content_end - cr - starts
    first = data[starts]
    is_header = (first == ord(">")) & (nbases > 0)
    headers = np.flatnonzero(is_header)
    if headers.size == 0:
        raise InputError("not a FASTA file: no '>name' header line", path=path)
    # before the first header only blank lines and ';' comments may appear
    pre = np.flatnonzero((nbases[: headers[0]] > 0) & (first[: headers[0]] != ord(";")))
    if pre.size:
        raise InputError(
            "not a FASTA file: expected a '>name' header line first",
            path=path,
            line=int(pre[0]) + 1,
        )
    if non_ascii:  # non-ASCII bytes are allowed in header lines only
        for lo in range(bom, data.size, _CHUNK):
            pos = np.flatnonzero(np.asarray(data[lo : lo + _CHUNK]) >= 128) + lo
            at = np.searchsorted(starts, pos, side="right") - 1
            wrong = at[~is_header[at]]
            if wrong.size:
                raise InputError(
                    "not a FASTA file: non-ASCII byte in a sequence line",
                    path=path,
                    line=int(wrong[0]) + 1,
                )
    records: list[FaiRecord] = []
    seen: dict[str, int] = {}
    bounds = np.append(headers, starts.size)
    for h, nxt in zip(bounds[:-1], bounds[1:], strict=True):
        header = bytes(data[starts[h] + 1 : starts[h] + nbases[h]]).decode("utf-8", "replace")
        fields = header.split()
        if not fields:
            raise InputError("FASTA header without a sequence name", path=path, line=int(h) + 1)
        name = fields[0]
        if name in seen:
            raise InputError(
                f"duplicate sequence name {name!r} (first at line {seen[name]})",
                path=path,
                line=int(h) + 1,
            )
        seen[name] = int(h) + 1
        lines = np.arange(h + 1, nxt)
        # trailing blank lines of a record are allowed, inner ones are not
        filled = np.flatnonzero(nbases[lines] > 0)
        lines = lines[: filled[-1] + 1] if filled.size else lines[:0]
        if lines.size == 0:
            records.append(FaiRecord(name, 0, int(starts[h] + nbytes[h]), 0, 0))
            continue
        width, width_bytes = int(nbases[lines[0]]), int(nbytes[lines[0]])
        body_bases = nbases[lines[:-1]]
        wrong = np.flatnonzero((body_bases != width) | (nbytes[lines[:-1]] != width_bytes))
        if wrong.size or nbases[lines[-1]] > width or nbases[lines[-1]] == 0:
            at = int(lines[wrong[0]]) if wrong.size else int(lines[-1])
            raise InputError(
                f"sequence {name!r}: lines must all hold {width} bases except the last",
                path=path,
                line=at + 1,
            )
        if np.any(first[lines] == ord(">")):
            raise InputError(
                f"sequence {name!r}: empty header line", path=path, line=int(lines[0]) + 1
            )
        length = int(nbases[lines].sum())
        records.append(FaiRecord(name, length, int(starts[lines[0]]), width, width_bytes))
    del data
    return records


def _pyfaidx_index(fasta: Path, fai: Path) -> list[FaiRecord]:
    """Index a large plain FASTA with pyfaidx (memory-light), written atomically."""
    import pyfaidx

    with atomic_path(fai, suffix=".fai") as tmp:
        tmp.unlink()  # pyfaidx builds only where no index exists
        try:
            pyfaidx.Faidx(str(fasta), indexname=str(tmp)).close()
        except ValueError as err:  # duplicate names
            raise InputError(str(err), path=fasta) from None
        except (pyfaidx.FastaIndexingError, UnicodeDecodeError) as err:
            raise InputError(f"cannot index: {err}", path=fasta) from None
        records = _read_fai(tmp)
    return records


def _read_fai(path: Path) -> list[FaiRecord]:
    rebuild = "delete it (bionas rebuilds it)"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"bad FASTA index: not UTF-8 text ({err.reason}); {rebuild}", path=path) from None
    records: list[FaiRecord] = []
    seen: set[str] = set()
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        fields = line.rstrip("\r").split("\t")
        if len(fields) < 5:
            raise InputError(
                f"bad FASTA index: expected 5 tab-separated columns; {rebuild}", path=path, line=number
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


def _check_fai(records: list[FaiRecord], mm: np.ndarray, fai: Path, fasta: Path) -> None:
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
        header = lines[-1].rstrip(b"\r").removeprefix(_BOM) if known else None
        name = b">" + r.name.encode()
        if header is not None and not (
            header == name or (header.startswith(name) and header[len(name) : len(name) + 1].isspace())
        ):
            raise bad(number, f"no header line '>{r.name}' before its sequence")
        # where its header line starts (None: a header of over 4 kB, not checked)
        header_start = r.offset - 1 - len(lines[-1]) if known else None
        spans.append((r.offset, end, number, header_start))
    spans.sort()

    def blank(a: int, b: int) -> bool:
        """Whether bytes a:b of the FASTA hold only line breaks and spaces (a BOM first)."""
        chunk = bytes(mm[a : min(b, a + 4096 + len(_BOM))]).removeprefix(_BOM if a == 0 else b"")
        return b - a <= 4096 + len(_BOM) and not chunk.strip()

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


def _write_fai(path: Path, records: list[FaiRecord]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for r in records:
            handle.write(f"{r.name}\t{r.length}\t{r.offset}\t{r.line_bases}\t{r.line_bytes}\n")


def _check_writable(fai: Path, fasta: Path) -> None:
    if not os.access(fai.parent, os.W_OK):
        raise InputError(
            f"cannot write the FASTA index {fai.name}: directory {fai.parent} is not writable; "
            "index it where it is writable (samtools faidx) or copy the FASTA to a writable directory",
            path=fasta,
        )


class Genome:
    """An open FASTA file (plain or bgzip) with its index.

    Parameters
    ----------
    path : str or PathLike
        FASTA file. A missing or stale ``.fai`` is built beside it.

    Attributes
    ----------
    sizes : dict[str, int]
        Sequence name -> length, in file order.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError("FASTA file not found", path=self.path)
        if self.path.is_dir():
            raise InputError("expected a FASTA file, found a directory", path=self.path)
        if self.path.stat().st_size == 0:
            raise InputError("empty FASTA file", path=self.path)
        with open(self.path, "rb") as handle:
            head = handle.read(1 << 16)
        complete = len(head) == self.path.stat().st_size
        self._faidx = None
        self._mm = None
        self._cache: tuple[str, np.ndarray] | None = None
        if head.startswith(_GZIP_MAGIC):
            if not _is_bgzf(head):
                raise InputError(
                    "a plain gzip FASTA cannot be read by position: make a plain copy once "
                    f"(`bionas decompress-genome --genome {self.path} --out genome.fa`; the "
                    "workflow does it by itself) or bgzip it",
                    path=self.path,
                )
            self._open_bgzf()
        else:
            _check_text_head(self.path, head, complete)
            if head.startswith(_BOM) and self.path.stat().st_size > _SCAN_LIMIT:
                raise InputError(
                    "the FASTA file starts with a UTF-8 byte-order mark; remove it", path=self.path
                )
            self._open_plain()
        self.sizes = {r.name: r.length for r in self._records}

    # -- opening ---------------------------------------------------------
    def _open_plain(self) -> None:
        fai = Path(str(self.path) + ".fai")
        trusted = fai.exists() and fai.stat().st_mtime >= self.path.stat().st_mtime
        if trusted:
            self._records = _read_fai(fai)
        elif self.path.stat().st_size > _SCAN_LIMIT:
            _check_writable(fai, self.path)
            self._records = _pyfaidx_index(self.path, fai)
        else:
            self._records = _scan_index(self.path)
            _check_writable(fai, self.path)
            _write_fai(fai, self._records)
            log.info("indexed %s: %d sequences", self.path, len(self._records))
        self._index = {r.name: r for r in self._records}
        self._mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        if trusted:
            _check_fai(self._records, self._mm, fai, self.path)

    def _open_bgzf(self) -> None:
        import pyfaidx

        with gzip.open(self.path, "rb") as handle:
            try:
                head = handle.read(1 << 16)
                complete = len(head) < 1 << 16
            except (OSError, EOFError, zlib.error) as err:
                raise InputError(f"cannot decompress: {err}", path=self.path) from None
        _check_text_head(self.path, head, complete, allow_bom=False)
        fai = Path(str(self.path) + ".fai")
        if not fai.exists() or not Path(str(self.path) + ".gzi").exists():
            _check_writable(fai, self.path)
        try:
            self._faidx = pyfaidx.Fasta(str(self.path), sequence_always_upper=True, as_raw=True)
        except ValueError as err:  # duplicate names
            raise InputError(str(err), path=self.path) from None
        except (pyfaidx.FastaIndexingError, OSError, UnicodeDecodeError, zlib.error) as err:
            raise InputError(f"cannot index: {err}", path=self.path) from None
        idx = self._faidx.faidx.index
        self._records = [FaiRecord(k, v.rlen, v.offset, v.lenc, v.lenb) for k, v in idx.items()]
        self._index = {r.name: r for r in self._records}

    def close(self) -> None:
        """Release the memory map or the pyfaidx handle."""
        self._mm = None
        self._cache = None
        if self._faidx is not None:
            self._faidx.close()
            self._faidx = None

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Genome({str(self.path)!r}, {len(self.sizes)} sequences)"

    # -- access ----------------------------------------------------------
    def _check(self, chrom: str, start: int, end: int) -> None:
        if chrom not in self.sizes:
            raise InputError(f"sequence {chrom!r} is not in the FASTA file", path=self.path)
        if not 0 <= start <= end <= self.sizes[chrom]:
            raise InputError(
                f"interval {chrom}:{start}-{end} lies outside {chrom} (length {self.sizes[chrom]})",
                path=self.path,
            )

    def chrom_codes(self, chrom: str) -> np.ndarray:
        """Whole sequence ``chrom`` as uppercase ASCII codes.

        Returns
        -------
        numpy.ndarray
            ``(length,)`` uint8. The last chromosome read is cached.
        """
        if self._cache is not None and self._cache[0] == chrom:
            return self._cache[1]
        self._check(chrom, 0, 0)
        rec = self._index[chrom]
        if self._faidx is not None:
            seq = self._bgzf_fetch(chrom, 0, rec.length)
            codes = np.frombuffer(seq.encode("ascii"), dtype=np.uint8).copy()
        elif rec.length == 0:
            codes = np.zeros(0, np.uint8)
        else:
            # the last line is always the tail: it may lack its newline at the end of the file
            full = (rec.length - 1) // rec.line_bases
            tail = rec.length - full * rec.line_bases
            raw = self._mm[rec.offset : rec.offset + full * rec.line_bytes]
            body = raw.reshape(full, rec.line_bytes)[:, : rec.line_bases]
            tail_start = rec.offset + full * rec.line_bytes
            codes = np.concatenate(
                [UPPER[body].ravel(), UPPER[self._mm[tail_start : tail_start + tail]]]
            )
        self._cache = (chrom, codes)
        return codes

    def _bgzf_fetch(self, chrom: str, start: int, end: int) -> str:
        if start == end:
            return ""
        seq = self._faidx.faidx.fetch(chrom, start + 1, end)
        return str(getattr(seq, "seq", seq)).upper()

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Sequence of ``chrom:start-end`` (0-based, half-open), uppercase."""
        start, end = int(start), int(end)
        self._check(chrom, start, end)
        if start == end:
            return ""
        if self._faidx is not None:
            return self._bgzf_fetch(chrom, start, end)
        rec = self._index[chrom]

        def byte(pos: int) -> int:
            return rec.offset + (pos // rec.line_bases) * rec.line_bytes + pos % rec.line_bases

        raw = np.asarray(self._mm[byte(start) : byte(end - 1) + 1])
        raw = raw[(raw != 10) & (raw != 13)]
        return UPPER[raw].tobytes().decode("ascii")

    def window_bytes(self, chrom: str, starts, width: int) -> np.ndarray:
        """Bytes of equal-width windows of one sequence, as stored (case kept).

        A plain file's windows are gathered from the memory map by byte
        offset: only the windows' own pages are read, and no copy of the
        chromosome is made. A bgzip file's chromosome is read whole (the last
        one read is cached, see :meth:`chrom_codes`). The caller checks that
        every window lies on the sequence.

        Parameters
        ----------
        chrom : str
        starts : array_like of int, length k
            0-based starts, ``0 <= start <= length - width``.
        width : int

        Returns
        -------
        numpy.ndarray
            ``(k, width)`` uint8, rows in input order (uppercase for a bgzip file).
        """
        starts = np.asarray(starts, dtype=np.int64)
        if self._faidx is not None:
            codes = self.chrom_codes(chrom)
            return np.lib.stride_tricks.sliding_window_view(codes, width)[starts]
        if starts.size == 0 or width == 0:
            return np.empty((starts.size, width), dtype=np.uint8)
        rec = self._index[chrom]
        lb, skip = rec.line_bases, rec.line_bytes - rec.line_bases
        line, phase = np.divmod(starts, lb)
        out = np.empty((starts.size, width), dtype=np.uint8)
        block = max(1, _GATHER // width)  # rows per gather: an 8 MiB index temporary
        # whole lines: each window's lines copied as rows, line breaks cut off by a reshape,
        # the window sliced out; a window whose lines run past the end of the file, and
        # every window when lines are longer than windows, by the byte of each base
        n_lines = -(-(lb - 1 + width) // lb)
        line_start = rec.offset + line * rec.line_bytes
        by_lines = rec.line_bytes <= width and n_lines * rec.line_bytes <= self._mm.size
        if by_lines:
            fits = line_start + n_lines * rec.line_bytes <= self._mm.size
            rows = np.lib.stride_tricks.sliding_window_view(
                np.asarray(self._mm), n_lines * rec.line_bytes
            )
            for lo in range(0, starts.size, block):
                part = np.flatnonzero(fits[lo : lo + block]) + lo
                lines = rows[line_start[part]].reshape(part.size, n_lines, rec.line_bytes)
                bases = lines[:, :, :lb].reshape(part.size, n_lines * lb)
                windows = np.lib.stride_tricks.sliding_window_view(bases, width, axis=1)
                out[part] = windows[np.arange(part.size), phase[part]]
        rest = np.flatnonzero(~fits) if by_lines else np.arange(starts.size)
        for lo in range(0, rest.size, block):
            part = rest[lo : lo + block]
            at = _line_offsets(lb, skip, width, phase[part])
            at += (line_start + phase)[part, None]
            out[part] = np.take(self._mm, at)
        return out

    def fetch_codes(self, chroms, starts, width: int) -> np.ndarray:
        """Fetch many equal-width windows at once, reading each chromosome once.

        Parameters
        ----------
        chroms : sequence of str, length n
        starts : array_like of int, length n
            0-based window starts; windows are ``[start, start + width)``.
        width : int

        Returns
        -------
        numpy.ndarray
            ``(n, width)`` uint8 uppercase ASCII codes, rows in input order.
        """
        chroms = np.asarray(chroms, dtype=object)
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((len(starts), width), dtype=np.uint8)
        if len(starts) == 0:
            return out
        for chrom in dict.fromkeys(chroms.tolist()):
            rows = np.flatnonzero(chroms == chrom)
            s = starts[rows]
            if chrom not in self.sizes:
                self._check(chrom, 0, 0)
            if s.min() < 0 or s.max() + width > self.sizes[chrom]:
                bad = rows[(s < 0) | (s + width > self.sizes[chrom])][0]
                self._check(chrom, int(starts[bad]), int(starts[bad]) + width)
            out[rows] = UPPER[self.window_bytes(chrom, s, width)]
        return out

    def iter_mapped(self, chrom: str, table: np.ndarray, chunk: int = 1 << 24):
        """``table[b]`` for the bytes ``b`` of sequence ``chrom``, in consecutive stretches.

        Reads the sequence once, ``chunk`` bases or so at a time, without
        holding it whole (a plain file) and without changing case: ``table``
        (256 uint8 entries) maps both cases itself. Each stretch is mapped by
        ``bytes.translate``, several times faster than a numpy gather.

        Yields
        ------
        numpy.ndarray
            1-D uint8 (read-only); together the whole sequence, in order.
        """
        self._check(chrom, 0, 0)
        rec = self._index[chrom]
        table = np.asarray(table, dtype=np.uint8).tobytes()
        if rec.length == 0:
            return
        if self._faidx is not None:
            for lo in range(0, rec.length, chunk):
                seq = self._bgzf_fetch(chrom, lo, min(lo + chunk, rec.length))
                yield np.frombuffer(seq.encode("ascii").translate(table), dtype=np.uint8)
            return
        full = (rec.length - 1) // rec.line_bases  # the last line may lack its newline
        rows = max(1, chunk // rec.line_bases)
        for lo in range(0, full, rows):
            hi = min(lo + rows, full)
            raw = self._mm[rec.offset + lo * rec.line_bytes : rec.offset + hi * rec.line_bytes]
            lines = raw.reshape(hi - lo, rec.line_bytes)[:, : rec.line_bases]
            yield np.frombuffer(lines.tobytes().translate(table), dtype=np.uint8)
        tail_start = rec.offset + full * rec.line_bytes
        tail = self._mm[tail_start : tail_start + rec.length - full * rec.line_bases]
        yield np.frombuffer(tail.tobytes().translate(table), dtype=np.uint8)

    def fetch_many(self, chroms, starts, ends) -> list[str]:
        """Sequences of many intervals (any widths), uppercase, in input order."""
        return [self.fetch(c, s, e) for c, s, e in zip(chroms, starts, ends, strict=True)]


#: bases gathered at a time by :meth:`Genome.window_bytes`
_GATHER = 1 << 20

#: the most offsets :func:`_line_offsets` tabulates (line width x window width)
_OFFSET_TABLE_LIMIT = 1 << 21


def _line_offsets(line_bases: int, skip: int, width: int, phase: np.ndarray) -> np.ndarray:
    """Byte offsets of a window's bases from its first base's byte: ``(k, width)`` int64.

    A window starting ``phase`` bases into a line of ``line_bases`` bases
    skips ``skip`` line-break bytes at every line end it crosses. The offsets
    of every phase are tabulated (one row per phase) when the table is small,
    else computed per base.
    """
    j = np.arange(width, dtype=np.int64)
    if line_bases * width <= _OFFSET_TABLE_LIMIT:
        per_phase = np.arange(line_bases, dtype=np.int64)[:, None] + j
        table = j + (per_phase // line_bases) * skip
        return table[phase]
    return j + ((phase[:, None] + j) // line_bases) * skip


def open_genome(fasta: str | os.PathLike | Genome) -> Genome:
    """Return ``fasta`` if it is already a :class:`Genome`, else open it."""
    return fasta if isinstance(fasta, Genome) else Genome(fasta)


def chrom_sizes(fasta: str | os.PathLike | Genome) -> dict[str, int]:
    """Sequence name -> length, in file order."""
    return dict(open_genome(fasta).sizes)


def n_runs(fasta: str | os.PathLike | Genome, min_length: int = 1):
    """Runs of ``N`` (either case) in every sequence.

    Parameters
    ----------
    fasta : path or Genome
    min_length : int
        Shortest run reported.

    Returns
    -------
    bionas.data.ranges.Intervals
        Sorted by sequence (file order) and start.
    """
    from bionas.data.ranges import Intervals

    genome = open_genome(fasta)
    chroms, starts, ends = [], [], []
    for chrom in genome.sizes:
        codes = genome.chrom_codes(chrom)
        is_n = codes == ord("N")
        change = np.flatnonzero(is_n[1:] != is_n[:-1]) + 1  # where runs begin or end
        if is_n.size and is_n[0]:
            change = np.concatenate([[0], change])
        if is_n.size and is_n[-1]:
            change = np.concatenate([change, [is_n.size]])
        s, e = change[0::2], change[1::2]
        keep = (e - s) >= min_length
        chroms.append(np.full(int(keep.sum()), chrom, dtype=object))
        starts.append(s[keep])
        ends.append(e[keep])
    if not chroms:
        return Intervals.empty()
    return Intervals(np.concatenate(chroms), np.concatenate(starts), np.concatenate(ends))
