"""Figures of the report, drawn with matplotlib's Agg canvas and returned as PNG bytes.

No pyplot state is used: every function builds its own
:class:`matplotlib.figure.Figure`, so figures never leak between calls and no
display is needed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bionas.report.curves import pareto_front, pr_curve, roc_curve, running_best

DPI = 110
#: Colours of successive series (matplotlib's tab10).
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip


def figure(width: float, height: float):
    """A new figure of ``width`` x ``height`` inches on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (no metadata that changes between runs)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _style(ax, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3, linewidth=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _step_best(history: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Steps and the best reward seen up to and including each step."""
    ordered = history.sort_values(["step", "child"], kind="stable")
    best = running_best(ordered["reward"].to_numpy(dtype=float))
    steps = ordered["step"].to_numpy()
    last = np.r_[np.flatnonzero(np.diff(steps)), len(steps) - 1]
    return steps[last], best[last]


def reward_plot(history: pd.DataFrame, reference: pd.DataFrame | None = None) -> bytes:
    """Reward of every child per step (failed children as crosses) and the running best.

    ``reference``: the history of a random search, drawn as a dashed running best.
    """
    fig = figure(6.4, 3.4)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    if reference is not None and not reference.empty:
        jitter = rng.uniform(-0.12, 0.12, len(reference))
        ax.scatter(
            reference["step"] + jitter + 0.25, reference["reward"], s=10, color="#999999",
            alpha=0.5, label="random search: children",
        )  # fmt: skip
        steps, best = _step_best(reference)
        ax.step(
            steps,
            best,
            where="post",
            color="#555555",
            linestyle="--",
            label="random search: best so far",
        )
    ok = history["status"] == "ok"
    jitter = rng.uniform(-0.12, 0.12, len(history))
    ax.scatter(
        history.loc[ok, "step"] + jitter[ok.to_numpy()], history.loc[ok, "reward"], s=16,
        color=PALETTE[0], alpha=0.8, label="children",
    )  # fmt: skip
    if (~ok).any():
        ax.scatter(
            history.loc[~ok, "step"] + jitter[~ok.to_numpy()], history.loc[~ok, "reward"],
            marker="x", s=20, color=PALETTE[3], label="failed children (penalty)",
        )  # fmt: skip
    steps, best = _step_best(history)
    ax.step(steps, best, where="post", color=PALETTE[1], linewidth=2, label="best so far")
    ax.set_xticks(sorted(set(history["step"].astype(int))))
    _style(ax, "controller step", "reward")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return png_bytes(fig)


def controller_plot(
    steps: Sequence[int],
    entropy: Sequence[float],
    probabilities: Sequence[Sequence[np.ndarray]],
    layer_names: Sequence[str],
    option_names: Sequence[Sequence[str]],
) -> bytes:
    """Controller entropy over the steps, then one panel of option probabilities per layer.

    ``probabilities[s][l]``: ``(n_options,)`` of layer ``l`` at ``steps[s]``.
    """
    n_layers = len(layer_names)
    cols = 3
    rows = 1 + (n_layers + cols - 1) // cols
    fig = figure(9.0, 2.4 * rows)
    grid = fig.add_gridspec(rows, cols)
    ax = fig.add_subplot(grid[0, :])
    ax.plot(steps, entropy, marker="o", color=PALETTE[0])
    _style(ax, "controller step", "entropy (nats)")
    ax.set_title("entropy of the controller's choices, summed over layers", fontsize=9, loc="left")
    ax.set_xticks(list(steps))
    for i, (layer, options) in enumerate(zip(layer_names, option_names, strict=True)):
        ax = fig.add_subplot(grid[1 + i // cols, i % cols])
        probs = np.array([p[i] for p in probabilities])  # (n_steps, n_options)
        for j, option in enumerate(options):
            ax.plot(steps, probs[:, j], marker=".", color=PALETTE[j % len(PALETTE)], label=option)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(list(steps))
        _style(ax, "step", "probability")
        ax.set_title(f"layer {layer}", fontsize=9, loc="left")
        ax.legend(fontsize=6, frameon=False, loc="upper left")
    fig.tight_layout()
    return png_bytes(fig)


def loss_knowledge_plot(
    history: pd.DataFrame, chosen_id: str | None, landings: pd.DataFrame | None = None
) -> bytes:
    """Validation loss against knowledge dissimilarity K of every trained child.

    The Pareto front (both minimised) is joined by a line; children with the
    chosen architecture's id are ringed; ``landings``
    (:func:`bionas.search.pareto.lambda_landings`) labels each Lambda's best child.
    """
    fig = figure(6.4, 3.8)
    ax = fig.add_subplot()
    ok = history[(history["status"] == "ok")].reset_index(drop=True)
    x = ok["knowledge"].to_numpy(dtype=float)
    y = ok["val_loss"].to_numpy(dtype=float)
    sc = ax.scatter(x, y, c=ok["step"], cmap="viridis", s=22, label="children (colour: step)")
    front = pareto_front(x, y)
    if front.size:
        ax.plot(x[front], y[front], color=PALETTE[3], linewidth=1.2, marker="s", markersize=4,
                markerfacecolor="none", label="Pareto front")  # fmt: skip
    if chosen_id is not None:
        mine = (ok["id"] == chosen_id).to_numpy()
        if mine.any():
            ax.scatter(x[mine], y[mine], s=140, facecolors="none", edgecolors="black",
                       linewidths=1.5, label="chosen architecture")  # fmt: skip
    if landings is not None and not landings.empty:
        for (k, loss), group in landings.groupby(["knowledge", "val_loss"], sort=False):
            label = "λ " + ", ".join(f"{lam:g}" for lam in group["lambda"])
            ax.annotate(label, (k, loss), xytext=(6, 6), textcoords="offset points", fontsize=7,
                        color=PALETTE[1], arrowprops={"arrowstyle": "-", "color": PALETTE[1]})  # fmt: skip
    cbar = fig.colorbar(sc, ax=ax)
    cbar.set_label("step", fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    _style(ax, "knowledge dissimilarity K (nats per column)", "validation loss")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return png_bytes(fig)


def roc_pr_plot(y_true: np.ndarray, y_score: np.ndarray, tasks: Sequence[str]) -> bytes:
    """ROC (left) and precision-recall (right) curves of every task with both classes."""
    fig = figure(8.0, 3.6)
    roc_ax, pr_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    roc_ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle=":", linewidth=1)
    for t, task in enumerate(tasks):
        y, s = y_true[:, t], y_score[:, t]
        if y.min() == y.max():
            continue
        color = PALETTE[t % len(PALETTE)]
        roc = roc_curve(y, s)
        pr = pr_curve(y, s)
        roc_ax.plot(roc.x, roc.y, color=color, label=task)
        pr_ax.step(pr.x, pr.y, where="post", color=color, label=task)
        pr_ax.axhline(y.mean(), color=color, linestyle=":", linewidth=0.8)
    _style(roc_ax, "false-positive rate", "true-positive rate")
    _style(pr_ax, "recall", "precision")
    roc_ax.set_title("ROC", fontsize=9, loc="left")
    pr_ax.set_title("precision-recall (dotted: positive fraction)", fontsize=9, loc="left")
    for ax in (roc_ax, pr_ax):
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    fig.tight_layout()
    return png_bytes(fig)
