"""A demo genome with JASPAR motif instances planted at known sites.

Chromosomes ``chr1..chrN`` of iid background at a chosen GC content, with a
few short runs of ``N``. Each site holds one motif instance sampled from a
JASPAR matrix, on a random strand, centred on the site; the peak of the site
(narrowPeak) has its summit at the motif centre. Sites are at least
:data:`MIN_SPACING` bp apart, so 200 bp windows around them never overlap.
Everything is drawn from one seeded generator: the same seed gives the same
bytes.

Default motifs are long, high-information JASPAR 2024 vertebrate matrices
with no close relative in the collection, so that a small CNN learns them and
a motif comparison finds each one's own ID: CTCF (MA0139.2, 15 bp, 16 bits),
REST (MA0138.3, 20 bp, 23 bits) and SRF (MA0083.3, 16 bp, 21 bits). CTCF and
REST are the default priors; SRF is planted but left out of the priors (the
masked-knowledge experiment of BioNAS).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bionas.errors import InputError
from bionas.io import atomic_open, atomic_paths, output_dir

if TYPE_CHECKING:  # simulate reads .id, .name and .pwm of any motif-like object
    from bionas.motifs.io import Motif

log = logging.getLogger(__name__)

DEFAULT_MOTIFS = ("MA0139.2", "MA0138.3", "MA0083.3")  # CTCF, REST, SRF (JASPAR2024)
DEFAULT_PRIORS = ("MA0139.2", "MA0138.3")  # SRF is deliberately not a prior
DEFAULT_CHROMOSOMES = 6
DEFAULT_CHROM_LENGTH = 500_000
DEFAULT_GC = 0.4
SITE_DENSITY = 600  # default: one site per this many bp (5,000 sites on 6 x 500 kb)
MIN_SPACING = 300  # bp between site centres
EDGE_MARGIN = 600  # bp between a chromosome end and the nearest site centre
PEAK_HALF_WIDTH = (60, 150)  # bp from summit to each peak edge, drawn uniformly
N_RUNS_PER_CHROMOSOME = 3
N_RUN_LENGTH = (20, 300)
LINE_WIDTH = 60
_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_COMPLEMENT = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGT", b"TGCA", strict=True):
    _COMPLEMENT[_a] = _b

NARROWPEAK_COLUMNS = [
    "chrom",
    "start",
    "end",
    "name",
    "score",
    "strand",
    "signal",
    "p",
    "q",
    "summit",
]
TRUTH_COLUMNS = ["chrom", "start", "end", "strand", "motif_id", "motif_name", "sequence"]


@dataclass
class Simulation:
    """A simulated genome, its peaks and its planted instances.

    Attributes
    ----------
    sequences : dict[str, numpy.ndarray]
        Chromosome -> ``(length,)`` uint8 ASCII codes.
    peaks : pandas.DataFrame
        narrowPeak rows (:data:`NARROWPEAK_COLUMNS`), one per site.
    truth : pandas.DataFrame
        One row per planted instance (:data:`TRUTH_COLUMNS`); ``sequence`` is
        the sampled instance read in the motif's orientation.
    """

    sequences: dict[str, np.ndarray]
    peaks: pd.DataFrame
    truth: pd.DataFrame


def default_sites(n_chromosomes: int, chrom_length: int) -> int:
    """Default number of sites: one per :data:`SITE_DENSITY` bp of genome."""
    return max(1, n_chromosomes * chrom_length // SITE_DENSITY)


def max_sites(n_chromosomes: int, chrom_length: int) -> int:
    """Most sites that fit at :data:`MIN_SPACING` away from the chromosome ends."""
    per = (
        (chrom_length - 2 * EDGE_MARGIN) // MIN_SPACING + 1 if chrom_length > 2 * EDGE_MARGIN else 0
    )
    return n_chromosomes * max(per, 0)


def _check(motifs, n_chromosomes, chrom_length, n_sites, gc) -> None:
    if not motifs:
        raise InputError("no motifs to plant")
    if not 0 < gc < 1:
        raise InputError(f"--gc must lie strictly between 0 and 1, found {gc}")
    if n_chromosomes < 1:
        raise InputError(f"--chromosomes must be at least 1, found {n_chromosomes}")
    longest = max(m.width for m in motifs)
    if chrom_length < 2 * EDGE_MARGIN + longest:
        raise InputError(
            f"--chrom-length must be at least {2 * EDGE_MARGIN + longest} bp, found {chrom_length}"
        )
    if n_sites < 1:
        raise InputError(f"--sites must be at least 1, found {n_sites}")
    if n_sites > max_sites(n_chromosomes, chrom_length):
        raise InputError(
            f"--sites {n_sites} do not fit {n_chromosomes} chromosome(s) of {chrom_length} bp "
            f"with sites {MIN_SPACING} bp apart: at most {max_sites(n_chromosomes, chrom_length)}"
        )


def _sample_instances(pwm: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sequences drawn from a ``(width, 4)`` PWM: ``(n, width)`` uint8 ASCII codes."""
    cum = np.cumsum(pwm, axis=1)
    u = rng.random((n, pwm.shape[0]))
    idx = np.minimum((u[..., None] > cum[None, :, :]).sum(axis=-1), 3)
    return _BASES[idx]


def simulate(
    motifs: Sequence[Motif],
    n_chromosomes: int = DEFAULT_CHROMOSOMES,
    chrom_length: int = DEFAULT_CHROM_LENGTH,
    n_sites: int | None = None,
    gc: float = DEFAULT_GC,
    seed: int = 1,
) -> Simulation:
    """Simulate a genome with motif instances planted at known sites.

    Parameters
    ----------
    motifs : sequence of Motif
        Planted motifs, used in equal shares (``pwm``: ``(width, 4)``).
    n_chromosomes, chrom_length : int
        ``chr1..chrN``, each ``chrom_length`` bp.
    n_sites : int, optional
        Planted sites in all, spread evenly over the chromosomes
        (default :func:`default_sites`).
    gc : float
        GC fraction of the iid background.
    seed : int

    Returns
    -------
    Simulation
    """
    if n_sites is None:
        n_sites = default_sites(n_chromosomes, chrom_length)
    _check(motifs, n_chromosomes, chrom_length, n_sites, gc)
    rng = np.random.default_rng(seed)
    per_chrom = np.full(n_chromosomes, n_sites // n_chromosomes)
    per_chrom[: n_sites % n_chromosomes] += 1
    motif_of_site = rng.permutation(np.arange(n_sites) % len(motifs))
    background = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    sequences: dict[str, np.ndarray] = {}
    peak_rows, truth_rows = [], []
    site = 0
    for k in range(n_chromosomes):
        chrom = f"chr{k + 1}"
        n = int(per_chrom[k])
        seq = _BASES[rng.choice(4, size=chrom_length, p=background)]
        # site centres: sorted uniform draws spread by the minimum spacing
        usable = chrom_length - 2 * EDGE_MARGIN
        slack = usable - (n - 1) * MIN_SPACING if n else usable
        centres = (
            EDGE_MARGIN + np.sort(rng.integers(0, slack + 1, size=n)) + np.arange(n) * MIN_SPACING
        )
        left = rng.integers(PEAK_HALF_WIDTH[0], PEAK_HALF_WIDTH[1] + 1, size=n)
        right = rng.integers(PEAK_HALF_WIDTH[0], PEAK_HALF_WIDTH[1] + 1, size=n)
        strands = np.where(rng.random(n) < 0.5, "+", "-")
        signal = np.round(rng.lognormal(mean=2.3, sigma=0.5, size=n), 5)
        pvalue = np.round(signal * rng.uniform(2.5, 3.5, size=n), 5)
        qvalue = np.round(np.maximum(pvalue - rng.uniform(0.5, 2.0, size=n), 0.0), 5)
        score = np.minimum(1000, (signal * 40).astype(np.int64))
        chosen = motif_of_site[site : site + n]
        for m_index, motif in enumerate(motifs):
            rows = np.flatnonzero(chosen == m_index)
            if rows.size == 0:
                continue
            inst = _sample_instances(motif.pwm, rows.size, rng)
            w = motif.width
            for r, sampled in zip(rows, inst, strict=True):
                start = int(centres[r]) - w // 2
                planted = _COMPLEMENT[sampled[::-1]] if strands[r] == "-" else sampled
                seq[start : start + w] = planted
                truth_rows.append(
                    (
                        chrom,
                        start,
                        start + w,
                        strands[r],
                        motif.id,
                        motif.name,
                        sampled.tobytes().decode("ascii"),
                    )
                )
        for r in range(n):
            c = int(centres[r])
            peak_rows.append(
                (chrom, c - int(left[r]), c + int(right[r]), "", int(score[r]), ".",
                 float(signal[r]), float(pvalue[r]), float(qvalue[r]), int(left[r]))
            )  # fmt: skip
        _sprinkle_n_runs(seq, centres, rng)
        sequences[chrom] = seq
        site += n
    peaks = pd.DataFrame(peak_rows, columns=NARROWPEAK_COLUMNS).sort_values(
        ["chrom", "start"], kind="stable"
    )
    order = {f"chr{k + 1}": k for k in range(n_chromosomes)}
    peaks = (
        peaks.assign(o=peaks["chrom"].map(order))
        .sort_values(["o", "start"], kind="stable")
        .drop(columns="o")
    )
    peaks = peaks.reset_index(drop=True)
    peaks["name"] = [f"site_{i + 1}" for i in range(len(peaks))]
    truth = pd.DataFrame(truth_rows, columns=TRUTH_COLUMNS)
    truth = (
        truth.assign(o=truth["chrom"].map(order))
        .sort_values(["o", "start"], kind="stable")
        .drop(columns="o")
    )
    return Simulation(sequences, peaks, truth.reset_index(drop=True))


def _sprinkle_n_runs(seq: np.ndarray, centres: np.ndarray, rng: np.random.Generator) -> None:
    """Write a few short runs of N into gaps well away from every site (in place)."""
    guard = PEAK_HALF_WIDTH[1] + 10  # clear of peaks and 200 bp windows
    lo = np.concatenate([[0], centres + guard])
    hi = np.concatenate([centres - guard, [seq.size]])
    for _ in range(N_RUNS_PER_CHROMOSOME):
        length = int(rng.integers(N_RUN_LENGTH[0], N_RUN_LENGTH[1] + 1))
        fits = np.flatnonzero(hi - lo >= length)
        if fits.size == 0:
            log.info("no gap holds a run of %d N; skipped", length)
            continue
        g = int(rng.choice(fits))
        start = int(rng.integers(lo[g], hi[g] - length + 1))
        seq[start : start + length] = ord("N")


def write_fasta(
    path: str | os.PathLike,
    sequences: dict[str, np.ndarray],
    line_width: int = LINE_WIDTH,
    fai: str | os.PathLike | None = None,
) -> None:
    """Write sequences (uint8 codes) as FASTA and its ``.fai`` index, both atomically.

    Parameters
    ----------
    sequences : dict[str, numpy.ndarray]
        Name -> ``(length,)`` uint8 ASCII codes.
    fai : path, optional
        Where the index goes (default: ``path`` + ``.fai``).
    """
    path = Path(path)
    fai_lines = []
    offset = 0
    with atomic_open(path, "wb") as handle:
        for name, seq in sequences.items():
            header = f">{name}\n".encode("ascii")
            handle.write(header)
            offset += len(header)
            fai_lines.append(f"{name}\t{seq.size}\t{offset}\t{line_width}\t{line_width + 1}\n")
            full = seq.size // line_width
            body = np.empty((full, line_width + 1), dtype=np.uint8)
            body[:, :line_width] = seq[: full * line_width].reshape(full, line_width)
            body[:, line_width] = ord("\n")
            handle.write(body.tobytes())
            tail = seq[full * line_width :]
            if tail.size:
                handle.write(tail.tobytes() + b"\n")
            offset += body.size + (tail.size + 1 if tail.size else 0)
    fai = str(path) + ".fai" if fai is None else fai
    with atomic_open(fai, "w", encoding="ascii", newline="\n") as handle:
        handle.write("".join(fai_lines))


def write_simulation(sim: Simulation, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``genome.fa`` (+ ``.fai``), ``peaks.narrowPeak`` and ``truth.tsv`` under ``out_dir``."""
    out = output_dir(out_dir)
    paths = {
        "genome": out / "genome.fa",
        "peaks": out / "peaks.narrowPeak",
        "truth": out / "truth.tsv",
    }
    fai = out / "genome.fa.fai"
    # the four files are one set: an interrupted run leaves none of them new
    with atomic_paths([paths["genome"], fai, paths["peaks"], paths["truth"]]) as temps:
        write_fasta(temps[0], sim.sequences, fai=temps[1])
        with open(temps[2], "w", encoding="ascii", newline="") as handle:
            sim.peaks.to_csv(
                handle, sep="\t", header=False, index=False, lineterminator="\n", float_format="%.5g"
            )
        with open(temps[3], "w", encoding="ascii", newline="") as handle:
            sim.truth.to_csv(handle, sep="\t", header=True, index=False, lineterminator="\n")
    return paths
