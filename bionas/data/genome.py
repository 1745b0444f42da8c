"""FASTA access: chromosome sizes, single and bulk sequence fetches, runs of N.

A genome is a plain or bgzip-compressed FASTA file. Plain files are indexed
(``.fai``, samtools layout; :mod:`bionas.data.fasta_index`) by one streaming
scan, the index written atomically beside the file, then read through a
memory map: a whole chromosome is one reshape of its bytes, so fetching many
windows costs one read per chromosome and one slice per window. bgzip files
go through pyfaidx (which also writes ``.gzi``).

Coordinates are 0-based, half-open (BED). Sequences come back uppercase.
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from pathlib import Path

import numpy as np

from bionas.data.fasta_index import BOM as _BOM
from bionas.data.fasta_index import FaiRecord, check_fai, index_fasta, read_fai, write_fai
from bionas.errors import InputError

log = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"

# byte -> uppercase byte
UPPER = np.arange(256, dtype=np.uint8)
UPPER[ord("a") : ord("z") + 1] -= 32


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
            self._open_plain()
        self.sizes = {r.name: r.length for r in self._records}

    # -- opening ---------------------------------------------------------
    def _open_plain(self) -> None:
        fai = Path(str(self.path) + ".fai")
        trusted = fai.exists() and fai.stat().st_mtime >= self.path.stat().st_mtime
        if trusted:
            self._records = read_fai(fai)
        else:
            _check_writable(fai, self.path)
            self._records = index_fasta(self.path)
            write_fai(fai, self._records)
            log.info("indexed %s: %d sequences", self.path, len(self._records))
        self._index = {r.name: r for r in self._records}
        self._mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        if trusted:
            check_fai(self._records, self._mm, fai, self.path)

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
