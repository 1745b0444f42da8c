"""How far a run is: steps and children done, the best so far, time left.

Everything is read from the run's own files, so it works while Snakemake
runs (locally or on a cluster, from any machine that sees the results
folder) and after it has finished:

- ``search/step_NNN/proposals.json``: the children a step proposed;
- ``search/step_NNN/child_CC/train.json``: a child that finished training
  (``status`` ok or failed, ``seconds``, ``cached``);
- ``search/step_NNN/rung_R/promoted.json`` and ``rung_R/slot_JJ/train.json``:
  successive halving's continued children (their epochs);
- ``search/step_NNN/history.tsv``: a step whose controller update is done
  (every child so far, with its reward);
- ``controller/step_000``: the search's start (its modification time);
- ``final/summary.json``, ``interpret/summary.json``, ``report/index.html``:
  the stages after the search.

Files being written are never read half-done: bionas writes every file
atomically, and a file that cannot be read is counted as not there yet.

``bionas update-controller`` writes :func:`run_progress` as
``search/progress.json`` and :func:`leaderboard` as ``search/leaderboard.tsv``
after every step; ``bionas status`` prints the same, computed afresh.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

#: Rows of the leaderboard.
LEADERBOARD_ROWS = 10

#: Columns of ``leaderboard.tsv`` (after ``rank``; then the architecture's layers).
LEADERBOARD_COLUMNS = ["rank", "step", "child", "reward", "knowledge", "val_loss", "val_auroc",
                       "layers"]  # fmt: skip


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _steps(run: Path) -> list[Path]:
    return sorted(p for p in (run / "search").glob("step_[0-9][0-9][0-9]") if p.is_dir())


def _latest_history(run: Path) -> tuple[Path | None, pd.DataFrame | None]:
    for step in reversed(_steps(run)):
        path = step / "history.tsv"
        if path.is_file():
            try:
                return path, pd.read_csv(path, sep="\t", dtype={"layers": str})
            except (OSError, ValueError, pd.errors.ParserError):
                continue
    return None, None


def leaderboard(history: pd.DataFrame, rows: int = LEADERBOARD_ROWS) -> pd.DataFrame:
    """The best ``rows`` children of a history by reward (ties: earlier step and child first).

    ``layers`` joins the architecture's options (the history's columns before
    ``val_loss``) with `` -> ``.
    """
    if history is None or history.empty or "reward" not in history.columns:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    layer_cols = list(history.columns[: list(history.columns).index("val_loss")])
    ok = history[history.get("status", "ok") == "ok"] if "status" in history else history
    best = ok.sort_values(["reward", "step", "child"], ascending=[False, True, True], kind="stable")
    best = best.drop_duplicates("id") if "id" in best.columns else best
    best = best.head(rows).reset_index(drop=True)
    out = pd.DataFrame(
        {
            "rank": range(1, len(best) + 1),
            **{c: best[c] for c in LEADERBOARD_COLUMNS[1:-1]},
            "layers": best[layer_cols].astype(str).agg(" -> ".join, axis=1) if len(best) else [],
        },
        columns=LEADERBOARD_COLUMNS,
    )
    return out


def _continued(step: Path) -> tuple[int, float]:
    """Epochs and seconds the continued rungs of a step trained (successive halving): each
    slot's epochs less those of the member it continued from, and its seconds."""
    total, seconds = 0, 0.0
    for promoted in sorted(step.glob("rung_[1-9]/promoted.json")):
        record = _json(promoted)
        if not isinstance(record, dict) or not isinstance(record.get("promoted"), list):
            continue
        for entry in record["promoted"]:
            if not isinstance(entry, dict):
                continue
            if not (isinstance(entry.get("slot"), int) and isinstance(entry.get("from"), str)):
                continue
            slot = _json(promoted.parent / f"slot_{entry['slot']:02d}" / "train.json")
            before = _json(step / entry["from"] / "train.json")
            if isinstance(slot, dict) and isinstance(before, dict):
                if isinstance(slot.get("epochs"), int) and isinstance(before.get("epochs"), int):
                    total += max(slot["epochs"] - before["epochs"], 0)
                if isinstance(slot.get("seconds"), (int, float)):
                    seconds += float(slot["seconds"])
    return total, seconds


def run_progress(run_dir: str | Path, steps_total: int | None = None) -> dict[str, Any]:
    """Where a run stands (see the module docstring for the files read).

    Parameters
    ----------
    run_dir : path
        ``results/<dataset>/<run>``.
    steps_total : int, optional
        The search's number of steps (``search.steps``); else taken from an
        earlier ``search/progress.json``, or unknown.

    Returns
    -------
    dict
        ``steps_done``, ``steps_total``, ``children_proposed``,
        ``children_trained`` (ok), ``children_failed``, ``children_cached``,
        ``child_epochs`` (epochs trained by the children, not cache hits,
        successive halving's continued rungs included), ``current_step`` (the first step without its controller update, with
        its ``done``/``proposed`` children), ``best`` (step, child, reward,
        layers of the best child so far), ``mean_child_seconds`` (training time
        per child trained here, not cache hits, its continued rungs included), ``mean_step_seconds``,
        ``seconds_left`` (mean step time times the steps left; None when
        unknown), ``final`` (test AUROC when the final model is tested),
        ``report`` (whether the page exists) and ``updated`` (UTC time).
    """
    run = Path(run_dir)
    if steps_total is None:
        earlier = _json(run / "search" / "progress.json")
        if isinstance(earlier, dict) and isinstance(earlier.get("steps_total"), int):
            steps_total = earlier["steps_total"]
    steps = _steps(run)
    done = [s for s in steps if (s / "history.tsv").is_file()]
    proposed = trained = failed = cached = epochs = 0
    continued_seconds = 0.0
    seconds: list[float] = []
    current = None
    for step in steps:
        props = _json(step / "proposals.json")
        n_props = len(props) if isinstance(props, list) else 0
        proposed += n_props
        finished = 0
        for result in sorted(step.glob("child_*/train.json")):
            record = _json(result)
            if not isinstance(record, dict):
                continue
            finished += 1
            if record.get("status") == "ok":
                trained += 1
            else:
                failed += 1
            if record.get("cached"):
                cached += 1
            else:
                if isinstance(record.get("seconds"), (int, float)):
                    seconds.append(float(record["seconds"]))
                if isinstance(record.get("epochs"), int):
                    epochs += record["epochs"]
        more_epochs, more_seconds = _continued(step)
        epochs += more_epochs
        continued_seconds += more_seconds
        if current is None and step not in done:
            current = {"step": int(step.name[5:]), "done": finished, "proposed": n_props}
    # step durations: from the start state to each step's history, in order
    start = run / "controller" / "step_000"
    stamps = [start.stat().st_mtime] if start.exists() else []
    stamps += [(s / "history.tsv").stat().st_mtime for s in done]
    durations = [b - a for a, b in zip(stamps, stamps[1:], strict=False) if b >= a]
    mean_step = sum(durations) / len(durations) if durations else None
    left = None
    if steps_total is not None and mean_step is not None:
        left = max(steps_total - len(done), 0) * mean_step
    best = None
    _, history = _latest_history(run)
    board = leaderboard(history, 1)
    if len(board):
        row = board.iloc[0]
        best = {"step": int(row["step"]), "child": int(row["child"]),
                "reward": float(row["reward"]), "layers": str(row["layers"])}  # fmt: skip
    final = _json(run / "final" / "summary.json")
    return {
        "steps_done": len(done),
        "steps_total": steps_total,
        "children_proposed": proposed,
        "children_trained": trained,
        "children_failed": failed,
        "children_cached": cached,
        "child_epochs": epochs,
        "current_step": current,
        "best": best,
        "mean_child_seconds": (
            round((sum(seconds) + continued_seconds) / len(seconds), 2) if seconds else None
        ),
        "mean_step_seconds": round(mean_step, 1) if mean_step is not None else None,
        "seconds_left": round(left, 1) if left is not None else None,
        "final": (
            {"test_auroc": final.get("test_auroc"), "layers": final.get("layers")}
            if isinstance(final, dict)
            else None
        ),
        "report": (run / "report" / "index.html").is_file(),
        "updated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def status_lines(run_dir: str | Path, progress: dict[str, Any]) -> list[str]:
    """The summary ``bionas status`` prints, one fact a line."""
    p = progress
    total = p["steps_total"] if p["steps_total"] is not None else "?"
    lines = [f"run {run_dir}", f"search: {p['steps_done']} of {total} steps done"]
    if p["current_step"] is not None:
        c = p["current_step"]
        lines.append(f"  step {c['step']}: {c['done']} of {c['proposed']} children trained")
    lines.append(
        f"children: {p['children_trained']} trained, {p['children_failed']} failed, "
        f"{p['children_cached']} from the cache, of {p['children_proposed']} proposed; "
        f"{p.get('child_epochs', 0)} child-epochs trained"
    )
    if p["best"] is not None:
        b = p["best"]
        lines.append(f"best so far: reward {b['reward']:.4f} (step {b['step']}, child "
                     f"{b['child']}): {b['layers']}")  # fmt: skip
    over = p["steps_done"] == p["steps_total"] or p["final"] is not None
    lines.append(
        f"mean child {_duration(p['mean_child_seconds'])}, mean step "
        f"{_duration(p['mean_step_seconds'])}; search time left "
        f"{'none, the search is over' if over else _duration(p['seconds_left'])}"
    )
    if p["final"] is not None:
        auroc = p["final"].get("test_auroc")
        lines.append(f"final model tested: test AUROC {auroc:.3f}" if isinstance(auroc, float)
                     else "final model tested")  # fmt: skip
    lines.append(f"report: {'written' if p['report'] else 'not yet'}")
    return lines
