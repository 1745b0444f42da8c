"""`bionas status` and the progress files: from hand-made run folders, a finished tiny run
and a tiny run while it runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from test_report import RUN
from workflow_helpers import ROOT, finished_tiny_run, snakemake_command

from bionas.search.progress import leaderboard, run_progress, status_lines

HISTORY = """\
conv1\tpool\tval_loss\tknowledge\tval_auroc\treplicate\treward\tstep\tchild\tid\tstatus\tcached
conv_a\tnone\t0.30\t0.5\t0.90\t0\t-0.80\t1\t0\tA\tok\tfalse
conv_b\tmax4\t0.20\t0.4\t0.95\t0\t-0.60\t1\t1\tB\tok\tfalse
conv_c\tnone\tNA\tNA\tNA\t0\t-10\t1\t2\tC\tfailed\tfalse
"""


def _child(step: Path, child: int, **record) -> None:
    folder = step / f"child_{child:02d}"
    folder.mkdir(parents=True)
    (folder / "train.json").write_text(json.dumps(record))


def _run_in_step_two(tmp_path: Path) -> Path:
    """A search of 3 steps: step 1 done (3 children, one failed), step 2 with 1 of 3 trained."""
    run = tmp_path / "results/ds/run"
    (run / "controller/step_000").mkdir(parents=True)
    one, two = run / "search/step_001", run / "search/step_002"
    for step in (one, two):
        step.mkdir(parents=True)
        (step / "proposals.json").write_text(json.dumps([{}, {}, {}]))
    _child(one, 0, status="ok", seconds=10.0, cached=False, epochs=3)
    _child(one, 1, status="ok", seconds=20.0, cached=False, epochs=3)
    _child(one, 2, status="failed", seconds=1.0, cached=False, epochs=1)
    _child(two, 0, status="ok", seconds=0.1, cached=True, epochs=3)
    # successive halving: child 1 continued from 3 to 8 epochs
    rung = one / "rung_1"
    (rung / "slot_00").mkdir(parents=True)
    (rung / "promoted.json").write_text(json.dumps({"step": 1, "rung": 1, "epochs": 8, "promoted": [
        {"slot": 0, "child": 1, "from": "child_01", "reward": -0.6}]}))  # fmt: skip
    (rung / "slot_00" / "train.json").write_text(json.dumps({"status": "ok", "epochs": 8, "seconds": 5.0}))
    (two / "child_01").mkdir()  # training: no train.json yet
    (one / "history.tsv").write_text(HISTORY)
    start = time.time() - 100
    os.utime(run / "controller/step_000", (start, start))
    os.utime(one / "history.tsv", (start + 40, start + 40))
    return run


def test_progress_of_a_run_in_its_second_step(tmp_path):
    run = _run_in_step_two(tmp_path)
    p = run_progress(run, steps_total=3)
    assert (p["steps_done"], p["steps_total"]) == (1, 3)
    assert p["current_step"] == {"step": 2, "done": 1, "proposed": 3}
    assert (p["children_proposed"], p["children_trained"], p["children_failed"]) == (6, 3, 1)
    # the continued rung's 5 s count towards its child's training time
    assert p["children_cached"] == 1 and p["mean_child_seconds"] == pytest.approx(36 / 3, abs=0.01)
    assert p["child_epochs"] == 3 + 3 + 1 + 5  # the cache hit trained none
    assert p["mean_step_seconds"] == pytest.approx(40, abs=0.5)
    assert p["seconds_left"] == pytest.approx(80, abs=1)
    assert p["best"] == {"step": 1, "child": 1, "reward": -0.6, "layers": "conv_b -> max4"}
    assert p["final"] is None and p["report"] is False
    text = "\n".join(status_lines(run, p))
    assert "search: 1 of 3 steps done" in text and "step 2: 1 of 3 children trained" in text
    assert "3 trained, 1 failed, 1 from the cache, of 6 proposed; 12 child-epochs" in text
    assert "search time left 1 min 20 s" in text
    # the total is remembered from an earlier progress.json
    (run / "search/progress.json").write_text(json.dumps(p))
    assert run_progress(run)["steps_total"] == 3


def test_a_damaged_child_record_counts_as_not_there_yet(tmp_path):
    run = _run_in_step_two(tmp_path)
    (run / "search/step_002/child_01/train.json").write_text('{"status": "ok", "sec')
    p = run_progress(run, steps_total=3)
    assert p["current_step"]["done"] == 1 and p["children_trained"] == 3


def test_leaderboard_orders_by_reward_and_leaves_failed_children_out():
    history = pd.read_csv(pd.io.common.StringIO(HISTORY), sep="\t")
    board = leaderboard(history)
    assert board["rank"].tolist() == [1, 2]
    assert board["child"].tolist() == [1, 0]
    assert board["layers"].tolist() == ["conv_b -> max4", "conv_a -> none"]
    assert leaderboard(history.iloc[:0]).empty


def test_status_command_and_bad_folders(tmp_path, cli):
    run = _run_in_step_two(tmp_path)
    status, out, err = cli("status", run)
    assert status == 0, err
    assert "search: 1 of ? steps done" in out and "best so far: reward -0.6000" in out
    status, out, _ = cli("status", run, "--json")
    assert json.loads(out)["current_step"]["step"] == 2
    status, _, err = cli("status", tmp_path / "missing")
    assert status == 2 and "missing" in err and "no such run folder" in err
    (tmp_path / "empty").mkdir()
    status, _, err = cli("status", tmp_path / "empty")
    assert status == 2 and "not a run folder" in err


# ---------------------------------------------------------------------------
# tiny runs


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    return finished_tiny_run(tmp_path_factory)


@pytest.mark.workflow
def test_status_of_a_finished_tiny_run(finished, cli):
    run = finished / RUN
    status, out, err = cli("status", run)
    assert status == 0, err
    assert "search: 2 of 2 steps done" in out and "4 trained" in out
    assert "search time left none" in out and "report: written" in out
    assert "final model tested: test AUROC" in out
    # update-controller wrote the progress files after each step
    progress = json.loads((run / "search/progress.json").read_text())
    assert progress["steps_done"] == 2 and progress["steps_total"] == 2
    board = pd.read_csv(run / "search/leaderboard.tsv", sep="\t")
    history = pd.read_csv(run / "search/step_002/history.tsv", sep="\t")
    assert board.loc[0, "reward"] == pytest.approx(history["reward"].max())


@pytest.mark.workflow
def test_status_while_a_tiny_run_runs(finished, tmp_path):
    """Step 2 and everything after it is redone; status is polled while it runs."""
    work = tmp_path / "run"
    shutil.copytree(finished, work, symlinks=True)
    shutil.rmtree(work / "results/tiny/cache", ignore_errors=True)  # train, not from the cache
    shutil.rmtree(work / RUN / "search/step_002")
    shutil.rmtree(work / RUN / "controller/step_002")
    cmd, env = snakemake_command(work, "--cores", "1")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    seen = []
    try:
        while proc.poll() is None:
            p = run_progress(work / RUN)
            if p["current_step"] is not None:
                seen.append((p["current_step"]["step"], p["current_step"]["done"]))
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr = proc.communicate()[1]
    assert proc.returncode == 0, stderr[-3000:]
    # while it ran, status saw step 2 in progress (before its controller update)
    assert any(step == 2 for step, _ in seen), seen
    done = run_progress(work / RUN)
    assert done["steps_done"] == 2 and done["current_step"] is None


@pytest.mark.workflow
def test_update_controller_takes_turns_on_the_run_leaderboard(finished, tmp_path):
    """The leaderboard and progress.json, which every update of a run writes, are written
    under their locks: an update waits while another process holds them, then writes.
    An update of step 1 rerun by hand leaves step 2's leaderboard as it is."""
    import sys

    from bionas.io import lock_file

    work = tmp_path / "run"
    shutil.copytree(finished, work, symlinks=True)
    search = work / RUN / "search"
    board = (search / "leaderboard.tsv").read_bytes()
    (search / "progress.json").unlink()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom bionas.io import output_locks\n"
         "with output_locks([sys.argv[1]]):\n    print('held', flush=True)\n    time.sleep(3)\n",
         str(search / "leaderboard.tsv")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline() == "held\n"
    start = time.monotonic()
    step = search / "step_001"
    proc = subprocess.run(
        [sys.executable, "-m", "bionas", "update-controller",
         "--space", str(ROOT / ".test/tiny/model_space.yaml"),
         "--state", str(work / RUN / "controller/step_000"),
         "--metrics", *sorted(str(p) for p in step.glob("child_*/metrics.json")),
         "--out", str(tmp_path / "state"), "--history-out", str(step / "history.tsv")],
        capture_output=True, text=True,
    )  # fmt: skip
    waited = time.monotonic() - start
    holder.wait()
    assert proc.returncode == 0, proc.stderr
    assert waited > 1.0, waited  # it waited for the holder
    assert (search / "leaderboard.tsv").read_bytes() == board  # step 2's board stands
    assert json.loads((search / "progress.json").read_text())["steps_done"] == 2
    assert not lock_file(search / "leaderboard.tsv").exists()
