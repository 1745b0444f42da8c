"""``bionas update-controller``: controller state + a step's metrics -> new state and history.

Reads each child's ``metrics.json`` (with successive halving, also those
of every later rung, and takes each child's result at the highest rung it
reached), learns from the ``(layers, reward)`` pairs in child order (``(layers, (-val_loss, -K))`` for a controller with two
objectives, ``search.objective: pareto``), writes the new state to ``--out`` (the input state is
never changed) and ``--history-out`` = the rows of ``--history-in`` followed by
this step's rows in child order.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bionas.errors import InputError
from bionas.records.history import (
    append_rows,
    empty_history,
    metrics_row,
    read_history,
    write_history,
)
from bionas.records.metrics import read_metrics
from bionas.records.space import load_space
from bionas.search.fidelity import best_rung
from bionas.search.strategies import load_controller

log = logging.getLogger(__name__)

#: seconds an update waits for another update of the run to finish writing its leaderboard
LOCK_WAIT = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="model-space YAML")
    parser.add_argument("--state", required=True, help="controller state directory (read only)")
    parser.add_argument("--metrics", required=True, nargs="+",
                        help="metrics.json of each child of the step (and of each slot of its later rungs)")
    parser.add_argument("--out", required=True, help="directory for the new state")
    parser.add_argument("--history-out", required=True, help="history TSV to write")
    parser.add_argument("--history-in", help="history TSV of the earlier steps")
    parser.add_argument("--steps", type=int, metavar="N",
                        help="the search's number of steps, for the time left in progress.json")


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    if Path(args.out).resolve() == Path(args.state).resolve():
        raise InputError("--out must be a new directory, not the input state", args.out)
    controller, state = load_controller(args.state, space)
    metrics = [read_metrics(p, space) for p in args.metrics]
    steps = {m["step"] for m in metrics}
    if len(steps) > 1:
        raise InputError(
            f"the metrics files come from different steps ({', '.join(map(str, sorted(steps)))}); "
            "pass the children of one step",
            args.metrics[0],
        )
    seen: dict[tuple[int, int], str] = {}
    for path, m in zip(args.metrics, metrics, strict=True):
        if (m["child"], m["rung"]) in seen:
            where = f" at rung {m['rung']}" if m["rung"] else ""
            raise InputError(
                f"child {m['child']}{where} is also in {seen[m['child'], m['rung']]}", path, key="child"
            )
        seen[m["child"], m["rung"]] = path
    metrics = best_rung(metrics, args.metrics[0])  # successive halving: each child's last rung
    step = next(iter(steps))
    if step != state.step + 1:
        log.warning("learning from step %d with a state after %d update(s) (expected step %d)",
                    step, state.step, state.step + 1)
    history = read_history(args.history_in, space) if args.history_in else empty_history(space)
    new_state = controller.update(state, [(m["layers"], _value(controller, m)) for m in metrics])
    history = append_rows(history, [metrics_row(space, m) for m in metrics], space)
    controller.save_state(new_state, args.out)
    write_history(args.history_out, history)
    _write_progress(Path(args.history_out), history, args.steps)
    failed = sum(m["status"] == "failed" for m in metrics)
    rewards = [m["reward"] for m in metrics]
    log.info(
        "step %d: learnt from %d child(ren) (%d failed), rewards %.4g..%.4g; state -> %s, "
        "history (%d rows) -> %s",
        step, len(metrics), failed, min(rewards), max(rewards), args.out,
        len(history), args.history_out,
    )
    return 0


def _value(controller, metrics: dict):
    """What the controller learns from a child: its reward, or with two objectives
    ``(-val_loss, -K)`` (``(val_auroc, -K)`` for the auroc reward), None when it failed."""
    if controller.n_objectives == 1:
        return metrics["reward"]
    from bionas.search.pareto import objectives

    return objectives(metrics, metrics.get("reward_kind") or "loss")


def _write_progress(history_out: Path, history, steps: int | None) -> None:
    """``search/leaderboard.tsv`` and ``search/progress.json`` of the run beside the history
    (``<run>/search/step_NNN/history.tsv``); nothing for a history written elsewhere.

    Every update of the run writes the two files, each atomically, under their locks
    (waited for: the updates of one run take turns). The leaderboard is of the latest
    step: an update of an earlier step, rerun by hand, leaves a later step's board as it is.
    """
    from bionas.io import output_locks, write_json, write_text
    from bionas.search.progress import leaderboard, run_progress

    search = history_out.parent.parent
    step = history_out.parent.name.removeprefix("step_")
    if not (step.isdigit() and search.name == "search"):
        return
    board, progress = search / "leaderboard.tsv", search / "progress.json"
    with output_locks([board, progress], wait=LOCK_WAIT):
        later = [
            p for p in search.glob("step_*/history.tsv")
            if p.parent.name.removeprefix("step_").isdigit()
            and int(p.parent.name.removeprefix("step_")) > int(step)
        ]  # fmt: skip
        if not later:
            table = leaderboard(history)
            write_text(board, table.to_csv(sep="\t", index=False, lineterminator="\n"))
        write_json(progress, run_progress(search.parent, steps))
