"""Small synthetic inputs for the builder, training and child-command tests.

A 10-bp motif is planted at a random position in the positive sequences of iid
random DNA; negatives are random. Tensors follow ``bionas encode``'s format.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bionas.records.architecture import make_architecture
from bionas.records.space import ModelSpace, load_space
from bionas.records.tensors import write_tensors as encode_tensors

MOTIF = "TGACTCAGCA"
BASES = "ACGT"

SPACE_YAML = """\
layers:
  - name: conv1
    options:
      - {name: conv_k10_f16, type: conv1d, filters: 16, kernel_size: 10, activation: relu}
      - {name: conv_k6_same, type: conv1d, filters: 8, kernel_size: 6, padding: same, dilation: 2}
  - name: pool
    options:
      - {name: none, type: identity}
      - {name: max2, type: maxpool1d, size: 2}
      - {name: avg3s2, type: avgpool1d, size: 3, stride: 2}
  - name: reduce
    options:
      - {name: gmax, type: global_max_pool}
      - {name: gavg, type: global_avg_pool}
      - {name: flatten, type: flatten}
  - name: extra
    options:
      - {name: none, type: identity}
      - {name: dense_8, type: dense, units: 8, activation: tanh}
      - {name: drop_0.1, type: dropout, rate: 0.1}
      - {name: bn, type: batch_norm}
"""

#: The architecture most tests train: it learns the planted motif quickly.
GOOD = ("conv_k10_f16", "none", "gmax", "none")
#: The largest architecture of the space (flatten of 100 positions).
BIG = ("conv_k6_same", "none", "flatten", "dense_8")


def write_space(path: Path) -> ModelSpace:
    path.write_text(SPACE_YAML)
    return load_space(path)


def onehot(seqs: list[str]) -> np.ndarray:
    lookup = {b: i for i, b in enumerate(BASES)}
    out = np.zeros((len(seqs), len(seqs[0]), 4), dtype=np.uint8)
    for i, seq in enumerate(seqs):
        for j, base in enumerate(seq):
            out[i, j, lookup[base]] = 1
    return out


def make_tensors(
    n: int = 240, length: int = 100, seed: int = 0, n_tasks: int = 1, motif: str = MOTIF
) -> dict[str, np.ndarray]:
    """Arrays as ``bionas encode`` writes them; task t's positives carry the motif."""
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list(BASES), size=length)) for _ in range(n)]
    y = np.zeros((n, n_tasks), dtype=np.float32)
    for i in range(n):
        if rng.random() < 0.5:
            pos = int(rng.integers(0, length - len(motif)))
            seqs[i] = seqs[i][:pos] + motif + seqs[i][pos + len(motif) :]
            y[i, :] = 1
    if n_tasks > 1:  # later tasks: a random half of the positives
        y[:, 1:] *= rng.integers(0, 2, size=(n, n_tasks - 1))
    return {
        "X": onehot(seqs),
        "y": y,
        "tasks": np.array([f"task{t}" for t in range(n_tasks)]),
        "regions": np.array([f"chr1:{i * length}-{(i + 1) * length}" for i in range(n)]),
    }


def write_tensors(path: Path, **kwargs) -> Path:
    """The arrays of :func:`make_tensors` written as ``bionas encode`` writes them."""
    arrays = make_tensors(**kwargs)
    encode_tensors(path, kind=np.array(["peak"] * len(arrays["X"])), **arrays)
    return path


def write_architecture(path: Path, space: ModelSpace, layers=GOOD, step=1, child=0) -> Path:
    path.write_text(json.dumps(make_architecture(space, layers, step=step, child=child)))
    return path


def motif_pwm(motif: str = MOTIF, p: float = 0.91) -> np.ndarray:
    """(m, 4) PWM with probability ``p`` on the motif's base."""
    pwm = np.full((len(motif), 4), (1 - p) / 3)
    for j, base in enumerate(motif):
        pwm[j, BASES.index(base)] = p
    return pwm


def write_meme(path: Path, motifs: dict[str, np.ndarray]) -> Path:
    lines = [
        "MEME version 4",
        "",
        "ALPHABET= ACGT",
        "",
        "strands: + -",
        "",
        "Background letter frequencies",
        "A 0.25 C 0.25 G 0.25 T 0.25",
        "",
    ]
    for motif_id, pwm in motifs.items():
        lines += [
            f"MOTIF {motif_id} {motif_id.lower()}",
            f"letter-probability matrix: alength= 4 w= {len(pwm)} nsites= 20 E= 0",
        ]
        lines += [" ".join(f"{v:.6f}" for v in row) for row in pwm]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def child_args(tmp: Path, out_dir: Path, *extra: str, arch: Path | None = None) -> list[str]:
    """argv for ``bionas train-child`` on the files :func:`setup_inputs` wrote."""
    return [
        "train-child",
        "--space",
        str(tmp / "space.yaml"),
        "--architecture",
        str(arch or tmp / "arch.json"),
        "--train",
        str(tmp / "train.npz"),
        "--val",
        str(tmp / "val.npz"),
        "--out-dir",
        str(out_dir),
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--learning-rate",
        "0.01",
        *extra,
    ]


def setup_inputs(tmp: Path) -> ModelSpace:
    """space.yaml, arch.json (GOOD), train.npz, val.npz and priors.meme in ``tmp``."""
    space = write_space(tmp / "space.yaml")
    write_architecture(tmp / "arch.json", space)
    write_tensors(tmp / "train.npz", n=300, seed=1)
    write_tensors(tmp / "val.npz", n=120, seed=2)
    write_meme(tmp / "priors.meme", {"PLANTED": motif_pwm(), "OTHER": motif_pwm("CCCCGGGGAA")})
    return space
