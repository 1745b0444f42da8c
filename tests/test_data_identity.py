"""`bionas prepare` and `bionas encode` write the same bytes however the genome is read.

A seeded genome (GC varying by block, soft-masked runs, N runs, an IUPAC code,
a contig) and two peak files go through the CLI for each negatives method; the
windows table, the summary and every split's tensors are hashed and compared
with digests recorded from the implementation that read whole chromosomes
(before windows were gathered straight from the FASTA). The same genome is
written in several layouts (line widths, CRLF, lower case, one line per
sequence, bgzip) and read in blocks small enough to split chromosomes and
splits into many pieces: every combination must give the recorded bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from bionas.records.tensors import load_tensors

SIZES = {"chrA": 41_234, "chrB": 33_333, "chrC": 27_001, "chrD": 20_011, "chrUn_x1": 5_000}
SPLIT = ["--val-chroms", "chrC", "--test-chroms", "chrD"]

# method -> (extra prepare flags, extra encode flags)
CASES = {
    "gc_matched": (["--window", "250", "--negative-ratio", "1.5", "--seed", "7"], []),
    "shuffle": (["--window", "200", "--seed", "3"], []),
    "dinucleotide_shuffle": (["--window", "200", "--seed", "5"], ["--revcomp-train"]),
}

# method -> sha256 of windows.tsv after its #genome line, of summary.tsv, and the tensors'
# stored digests (train, val, test), recorded from the whole-chromosome implementation
GOLDEN = {
    "gc_matched": (
        "243fc77d279564a941f91d0a780b675bfe5b0453859c8c70ecfc81a1b5871f78",
        "cde3967c6176a5a671ebdfa5ff788ef0b896d9cac4f22120bcfa06e721614a0a",
        "49a19fd6224e20fb8d985ca326adb88f5e7e940980f1f6abdfdca2f9366b667c",
        "d1a1f905efadad4b4365323f21e0cc54770aa3ae3ad45615dba13424fe5c9c61",
        "2facb8fbaf4542ff0d67c5b2324f156d3c2457375305b7a2902040b4f34b66cd",
    ),
    "shuffle": (
        "0044d23f419688a9074f78fc801cf50588f02923506af5ae0982ddf1aaae69e9",
        "c1f1abfa914cbcd38e6ac4107e5a0be3c0e8693497cff4860982e1bf8ace133b",
        "6e34e9a754c7b472b6f3b5f350afdf6d4d4a01708511243e80255a02196cc18d",
        "b987e5c3780ae586e0367c1c005f2b9cbdccd0a90a08db7b64dafaeb5e97f084",
        "3fc39691709aecc48450e6669bd6a0872b5464498483277931dd7fd4b8ce0fad",
    ),
    "dinucleotide_shuffle": (
        "d16ffabbd112afd552a22c8fe3f37eeab851916a638e8a083c12ce4643f972cc",
        "050f11244931882d23dda7d15d277fa540af525a4488862a4cd6c0600b364c14",
        "9483cc5d2634ed301a65741b063951ec2d2aa134155724b0b3f3a70c0ddae79e",
        "c57fc46e81419c3c379e70caa7b341cac713732adb7ff5101a4eeea1aff291ac",
        "ed72635146b75d708fc095a89651a21b32e95269f91e01c18313c8962a33bb46",
    ),
}


def _sequences() -> dict[str, bytes]:
    rng = np.random.default_rng(16)
    out = {}
    for name, length in SIZES.items():
        gc = rng.uniform(0.3, 0.65, size=-(-length // 2000)).repeat(2000)[:length]
        u = rng.random(length)
        seq = np.where(
            u < gc / 2,
            ord("G"),
            np.where(u < gc, ord("C"), np.where(u < (1 + gc) / 2, ord("A"), ord("T"))),
        ).astype(np.uint8)
        for _ in range(3):  # soft-masked runs
            s = int(rng.integers(0, length - 600))
            seq[s : s + int(rng.integers(50, 600))] += 32
        for _ in range(2):  # N runs
            s = int(rng.integers(0, length - 300))
            seq[s : s + int(rng.integers(1, 300))] = ord("N")
        seq[int(rng.integers(length))] = ord("R")
        out[name] = seq.tobytes()
    return out


def _write_fasta(path: Path, seqs: dict[str, bytes], line: int | None, newline: bytes, lower: bool):
    with open(path, "wb") as handle:
        for name, seq in seqs.items():
            seq = seq.lower() if lower else seq
            width = line or len(seq)
            handle.write(f">{name} test\n".encode().replace(b"\n", newline))
            for i in range(0, len(seq), width):
                handle.write(seq[i : i + width] + newline)


def _peaks(path: Path, rng, centres: list[tuple[str, int]]) -> None:
    with open(path, "w") as handle:
        for k, (chrom, c) in enumerate(centres):
            start = max(0, c - int(rng.integers(50, 300)))
            end = min(SIZES[chrom], c + int(rng.integers(50, 300)))
            c = min(max(c, start), end - 1)
            handle.write(
                f"{chrom}\t{start}\t{end}\tp{k}\t{int(rng.integers(1, 1000))}\t.\t"
                f"{rng.uniform(1, 50):.3f}\t-1\t-1\t{c - start}\n"
            )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("identity")
    seqs = _sequences()
    _write_fasta(root / "lf60.fa", seqs, 60, b"\n", False)
    _write_fasta(root / "crlf7_lower.fa", seqs, 7, b"\r\n", True)
    _write_fasta(root / "oneline.fa", seqs, None, b"\n", False)
    from Bio import bgzf

    with bgzf.BgzfWriter(str(root / "bgzf.fa.gz"), "wb") as handle:
        handle.write((root / "lf60.fa").read_bytes())
    rng = np.random.default_rng(61)
    chroms = ["chrA", "chrB", "chrC", "chrD"]
    first = [(chroms[int(rng.integers(4))], 0) for _ in range(120)]
    first = [(c, int(rng.integers(0, SIZES[c]))) for c, _ in first]
    near = [(c, min(SIZES[c] - 1, x + int(rng.integers(0, 200)))) for c, x in first[:40]]
    second = near + [(c, int(rng.integers(0, SIZES[c]))) for c in rng.choice(chroms, 60)]
    second.append(("chrUn_x1", 2500))
    _peaks(root / "a.narrowPeak", rng, first)
    _peaks(root / "b.narrowPeak", rng, second)
    (root / "blacklist.bed").write_text("chrA\t10000\t11500\nchrB\t0\t900\nchrC\t5000\t5400\n")
    return {"root": root}


def _digests(cli, inputs, genome: Path, method: str, out: Path) -> tuple[str, ...]:
    root = inputs["root"]
    prep, enc = CASES[method]
    status, _, err = cli(
        "prepare", "--genome", genome, "--peaks", f"a={root / 'a.narrowPeak'}",
        f"b={root / 'b.narrowPeak'}", "--blacklist", root / "blacklist.bed", "--negatives", method,
        *SPLIT, *prep, "--out", out / "windows.tsv", "--summary", out / "summary.tsv",
    )  # fmt: skip
    assert status == 0, err
    status, _, err = cli(
        "encode",
        "--genome",
        genome,
        "--windows",
        out / "windows.tsv",
        "--out-dir",
        out / "data",
        *enc,
    )
    assert status == 0, err
    table = (out / "windows.tsv").read_bytes().split(b"\n", 1)[1]
    sha = [
        hashlib.sha256(table).hexdigest(),
        hashlib.sha256((out / "summary.tsv").read_bytes()).hexdigest(),
    ]
    sha += [load_tensors(out / "data" / f"{s}.npz").sha256 for s in ("train", "val", "test")]
    return tuple(sha)


@pytest.mark.parametrize("method", list(CASES))
@pytest.mark.parametrize(
    "layout, small",
    [("lf60.fa", False), ("crlf7_lower.fa", False), ("oneline.fa", False), ("bgzf.fa.gz", False),
     ("lf60.fa", True), ("crlf7_lower.fa", True), ("bgzf.fa.gz", True)],
)  # fmt: skip
def test_outputs_match_the_recorded_bytes(
    cli, inputs, tmp_path, monkeypatch, method, layout, small
):
    if small:  # blocks of a few windows, scans of a few hundred bases
        monkeypatch.setattr("bionas.data.negatives.SCAN_BASES", 777)
        monkeypatch.setattr("bionas.data.encode.BLOCK_BASES", 1000)
        monkeypatch.setattr("bionas.data.genome._GATHER", 500)
        monkeypatch.setattr("bionas.data.genome._OFFSET_TABLE_LIMIT", 0)
    genome = tmp_path / layout  # a copy: each run indexes its own
    genome.write_bytes((inputs["root"] / layout).read_bytes())
    got = _digests(cli, inputs, genome, method, tmp_path / "out")
    assert got == GOLDEN[method]
