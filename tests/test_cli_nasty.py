"""The nastiest user inputs through the real command line and through Snakemake.

Each bad input must stop the command with a non-zero status and one readable
line on stderr naming the file and the line or key, and leave nothing behind:
no output, no temporary file, no index of a file it refused. A valid input in
an awkward encoding (BOM, CRLF) must give exactly what the clean file gives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_helpers import ROOT, absolute_paths, load_case, snakemake

from bionas.data.genome import Genome

DATA = ROOT / "tests" / "data"
SPLIT = ["--val-chroms", "chr3", "--test-chroms", "chr4"]
#: longest error line we call readable
READABLE = 400


def bionas(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m bionas ARGS`` in a fresh process, as Snakemake runs it."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "bionas", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture()
def files(tmp_path) -> Path:
    """The tiny genome (indexed), its peak files and a MEME file in ``tmp_path/in``."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("tiny.fa", "task_a.bed", "task_b.narrowPeak", "motifs.meme"):
        shutil.copy(DATA / name, folder / name)
    with Genome(folder / "tiny.fa"):  # index it now: the commands below log nothing
        pass
    return folder


def refused(proc, command: str, where: str, *fragments: str) -> str:
    """Exit status 2 and exactly one short stderr line: ``bionas CMD: error: WHERE...``."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    line = lines[0]
    assert line.startswith(f"bionas {command}: error: {where}"), line[:1000]
    assert len(line) < READABLE, line[:1000]
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def unchanged(folder: Path, before: set[str]) -> None:
    """Nothing was added to ``folder`` (no index of a refused FASTA, no temporary file)."""
    assert set(os.listdir(folder)) == before


def prepare(files: Path, out: Path, genome: Path, *peaks: str) -> list:
    return ["prepare", "--genome", genome, "--peaks", *peaks, *SPLIT, "--window", "100",
            "--out", out / "windows.tsv", "--summary", out / "summary.tsv"]  # fmt: skip


# -- genome ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b">chr1\nACGT\x00\x00ACGT\n>chr3\nACGT\n>chr4\nACGT\n", "binary"),
        (b"", "empty FASTA"),
        (b"\xef\xbb\xbf", "empty"),
        (b"ACGTACGT\nACGT\n", "header"),
    ],
    ids=["nul-bytes", "empty", "only-a-bom", "no-header"],
)
def test_prepare_refuses_a_bad_fasta(files, tmp_path, content, fragment):
    genome = files / "bad.fa"
    genome.write_bytes(content)
    before = set(os.listdir(files))
    out = tmp_path / "out"
    proc = bionas(*prepare(files, out, genome, f"a={files / 'task_a.bed'}"), cwd=tmp_path)
    refused(proc, "prepare", f"{genome}:", fragment)
    assert not out.exists()
    unchanged(files, before)


def test_prepare_refuses_the_stale_index_of_another_genome(files, tmp_path):
    """A FASTA copied in with its old time (cp -p) under an index of another one."""
    genome = files / "tiny.fa"
    other = files / "other.fa"
    other.write_text(">chr1\n" + "ACGT" * 500 + "\n>chr3\nACGT\n>chr4\nACGT\n")
    os.utime(other, (0, 0))  # older than tiny.fa.fai
    os.replace(other, genome)
    out = tmp_path / "out"
    proc = bionas(*prepare(files, out, genome, f"a={files / 'task_a.bed'}"), cwd=tmp_path)
    refused(proc, "prepare", f"{genome}.fai:", "does not match", "delete it")
    assert not out.exists()


# -- peaks ----------------------------------------------------------------------


def test_a_bed_with_bom_and_crlf_gives_what_the_clean_file_gives(files, tmp_path):
    clean = files / "task_a.bed"
    awkward = files / "awkward.bed"
    awkward.write_bytes(b"\xef\xbb\xbf" + clean.read_bytes().replace(b"\n", b"\r\n"))
    outputs = []
    for name, peaks in (("clean", clean), ("awkward", awkward)):
        out = tmp_path / name
        proc = bionas(*prepare(files, out, files / "tiny.fa", f"a={peaks}"), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        outputs.append((out / "windows.tsv").read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") > 2


@pytest.mark.parametrize(
    "name, text, where, fragments",
    [
        ("neg.narrowPeak", "chr1\t100\t300\tp\t0\t.\t1\t2\t3\t50\nchr1\t-20\t200\tq\t0\t.\t1\t2\t3\t5\n",
         ":2:", ["negative", "start"]),
        ("summit.narrowPeak", "chr1\t100\t300\tp\t0\t.\t1\t2\t3\t500\n", ":1:", ["summit"]),
        ("chrz.bed", "chr1\t100\t300\nchrZ\t100\t300\n", ":2:", ["chrZ", "not in the genome"]),
        ("nochr.bed", "1\t100\t300\n", ":1:", ["set chrom_names: ucsc"]),
        ("long.bed", "chr1\t100\t" + "9" * 200_000 + "\n", ":1:", ["too large"]),
        ("longname.bed", "chr1" + "x" * 200_000 + "\t100\t300\n", ":1:", ["200004 characters"]),
        ("nul.bed", "chr1\t100\x00\t300\n", ":1:", ["start"]),
    ],
    ids=["negative-start", "summit-outside", "unknown-chrom", "chr-prefix", "200k-digit-number",
         "200k-char-name", "nul-byte"],
)  # fmt: skip
def test_prepare_refuses_bad_peaks(files, tmp_path, name, text, where, fragments):
    peaks = files / name
    peaks.write_text(text)
    before = set(os.listdir(files))
    out = tmp_path / "out"
    proc = bionas(*prepare(files, out, files / "tiny.fa", f"t={peaks}"), cwd=tmp_path)
    refused(proc, "prepare", f"{peaks}{where}", *fragments)
    assert not out.exists()
    unchanged(files, before)


# -- windows table (hand-edited) --------------------------------------------------


def test_encode_refuses_a_windows_table_that_is_not_utf8(files, tmp_path):
    good = tmp_path / "good"
    assert bionas(*prepare(files, good, files / "tiny.fa", f"a={files / 'task_a.bed'}"),
                  cwd=tmp_path).returncode == 0  # fmt: skip
    windows = good / "windows.tsv"
    lines = windows.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"train", b"tr\xe9in").replace(b"val", b"v\xe9l")
    windows.write_bytes(b"\n".join(lines))
    out = tmp_path / "data"
    proc = bionas("encode", "--genome", files / "tiny.fa", "--windows", windows, "--out-dir", out,
                  cwd=tmp_path)  # fmt: skip
    refused(proc, "encode", f"{windows}:4:", "UTF-8", "rerun `bionas prepare`")
    assert not out.exists()


# -- motifs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "cut, where, fragment",
    [("0.0 0.5 0", ":13:", "expected 4 numbers, found 3"), ("w= 3 nsites= 10 E= 0\n", ":11:", "empty")],
    ids=["mid-row", "after-the-header"],
)
def test_priors_refuses_a_meme_file_cut_mid_matrix(files, tmp_path, cut, where, fragment):
    text = (files / "motifs.meme").read_text()
    meme = files / "cut.meme"
    meme.write_text(text[: text.index(cut) + len(cut)])  # the file ends here
    out = tmp_path / "out" / "priors.meme"
    proc = bionas("priors", "--meme", meme, "--out", out, cwd=tmp_path)
    refused(proc, "priors", f"{meme}{where}", fragment)
    assert not out.parent.exists()


# -- model space ----------------------------------------------------------------

SPACE = """\
layers:
  - name: conv
    options:
      - {name: c8, type: conv1d, filters: 4, kernel_size: 8}
  - name: reduce
    options:
      - {name: gmax, type: global_max_pool}
"""


@pytest.mark.parametrize(
    "text, where, fragment",
    [
        (SPACE.replace("      - {name: gmax", "\t- {name: gmax"), ":7:", "'\\t'"),
        (SPACE.replace("name: reduce", "name: conv"), " [layers.conv]", "used twice"),
        (SPACE.replace("name: c8", "name: 'c\tb'"), " [", "tab"),
        (SPACE.replace("filters: 4", "filters: four"), " [layers.conv", "filters"),
        (SPACE.encode().replace(b"gmax", b"gm\xe4x"), ":7:", "not UTF-8"),
    ],
    ids=["tab-indent", "duplicate-layer", "tab-in-name", "wrong-type", "not-utf8"],
)
def test_init_controller_refuses_a_bad_model_space(tmp_path, text, where, fragment):
    space = tmp_path / "space.yaml"
    space.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "controller" / "step_000"
    proc = bionas("init-controller", "--space", space, "--controller", "random", "--out", out,
                  cwd=tmp_path)  # fmt: skip
    refused(proc, "init-controller", f"{space}{where}", fragment)
    assert not out.parent.exists()


# -- through Snakemake ----------------------------------------------------------


def _once(text: str, message: str) -> None:
    assert text.count(message) == 1, text[-4000:]
    assert "Traceback" not in text, text[-4000:]


@pytest.mark.workflow
@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c, d: c["datasets"]["tiny"].update(window="100"),
         "config.yaml [datasets.tiny.window]: '100' is not of type 'integer'"),
        (lambda c, d: c["search"].update(space=_bad_space(d)), "space.yaml [layers.conv]: layer name 'conv' is used twice"),
    ],
    ids=["config-wrong-type", "space-duplicate-layer"],
)  # fmt: skip
def test_snakemake_refuses_bad_settings_when_the_dag_is_built(tmp_path, change, message):
    config = load_case("tiny")
    change(config, tmp_path)
    proc = snakemake(tmp_path / "work", config, "--dry-run", "--cores", "2")
    assert proc.returncode != 0
    _once(proc.stdout + proc.stderr, message)
    assert not (tmp_path / "work" / "results").exists()


def _bad_space(folder: Path) -> str:
    path = folder / "space.yaml"
    path.write_text(SPACE.replace("name: reduce", "name: conv"))
    return str(path)


@pytest.mark.workflow
def test_snakemake_stops_on_a_fasta_with_nul_bytes_and_leaves_nothing(tmp_path):
    genome = tmp_path / "genome.fa"
    data = (DATA / "tiny.fa").read_bytes()
    genome.write_bytes(data[:500] + b"\x00\x00" + data[500:])
    config = {
        "datasets": {
            "lab": {
                "genome": str(genome),
                "peaks": {"A": str(DATA / "task_a.bed")},
                "priors": {"meme": str(DATA / "motifs.meme")},
                "window": 100,
                "split": {"val": ["chr3"], "test": ["chr4"]},
            }
        }
    }
    work = tmp_path / "work"
    proc = snakemake(work, absolute_paths(config), "--cores", "1", "results/lab/data/windows.tsv")
    assert proc.returncode != 0
    _once(proc.stdout + proc.stderr, f"bionas prepare: error: {genome}: not a FASTA file")
    assert not (work / "results").exists()
    assert sorted(os.listdir(tmp_path)) == ["genome.fa", "work"]  # no index of the refused FASTA
    assert yaml.safe_load((work / "config.yaml").read_text())["datasets"]["lab"]["window"] == 100
