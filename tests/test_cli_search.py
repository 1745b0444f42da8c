"""The search stages end to end through the CLI: init, propose, update, replay."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from bionas.cli import main
from bionas.records.history import read_history
from bionas.records.space import load_space
from bionas.search.replay import read_table

SPACE_OBJ = {
    "layers": [
        {"name": "conv", "options": [
            {"name": "conv_k4", "type": "conv1d", "filters": 4, "kernel_size": 4},
            {"name": "conv_k8", "type": "conv1d", "filters": 4, "kernel_size": 8},
        ]},
        {"name": "pool", "options": [
            {"name": "none", "type": "identity"},
            {"name": "max2", "type": "maxpool1d", "size": 2},
        ]},
        {"name": "reduce", "options": [
            {"name": "gmax", "type": "global_max_pool"},
            {"name": "flatten", "type": "flatten"},
        ]},
    ]
}


@pytest.fixture()
def space_path(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE_OBJ))
    return path


def fake_score(proposal: dict, status: str = "ok", cached: bool = False) -> dict:
    """What ``bionas score-child`` writes, with a loss that prefers conv_k8 and gmax."""
    layers = proposal["layers"]
    loss = 0.6 - 0.1 * (layers[0] == "conv_k8") - 0.05 * (layers[2] == "gmax")
    out = {
        "status": status, "layers": layers, "id": proposal["id"], "step": proposal["step"],
        "child": proposal["child"], "val_loss": loss, "val_auroc": 0.9 - loss / 2, "val_auprc": 0.5,
        "knowledge": 0.3, "reward": -(loss + 0.3), "epochs": 3, "seconds": 0.5, "cached": cached,
    }
    if status == "failed":
        out.update(val_loss=None, val_auroc=None, val_auprc=None, knowledge=None, reward=-5.0)
    return out


def digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("controller", ["rl", "random", "grid"])
def test_search_loop(tmp_path, space_path, controller):
    sp = str(space_path)
    state = tmp_path / "controller" / "step_000"
    extra = ["--lstm-units", "8", "--learning-rate", "0.05"] if controller == "rl" else []
    assert main(["init-controller", "--space", sp, "--controller", controller, "--seed", "5",
                 "--out", str(state), *extra]) == 0
    assert json.loads((state / "state.json").read_text())["controller"] == controller
    history_in: list[str] = []
    for step in (1, 2, 3):
        proposals = tmp_path / f"step_{step}" / "proposals.json"
        argv = ["propose", "--space", sp, "--state", str(state), "--n", "2", "--step", str(step),
                "--out", str(proposals)]
        assert main(argv) == 0
        records = json.loads(proposals.read_text())
        assert [r["child"] for r in records] == [0, 1] and all(r["step"] == step for r in records)
        first = proposals.read_text()
        assert main(argv) == 0 and proposals.read_text() == first  # rerun: identical
        metrics = []
        # children listed out of order; child 1 of step 2 fails
        for rec in reversed(records):
            status = "failed" if (step, rec["child"]) == (2, 1) else "ok"
            path = tmp_path / f"step_{step}" / f"child_{rec['child']}" / "metrics.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(fake_score(rec, status)))
            metrics.append(str(path))
        new_state = tmp_path / "controller" / f"step_{step:03d}"
        history = tmp_path / f"step_{step}" / "history.tsv"
        before = digest(state)
        assert main(["update-controller", "--space", sp, "--state", str(state), "--metrics", *metrics,
                     "--out", str(new_state), "--history-out", str(history), *history_in]) == 0
        assert digest(state) == before  # the input state is never modified
        h = read_history(history, load_space(space_path))
        assert len(h) == 2 * step
        assert h["child"].tolist()[-2:] == [0, 1] and h["step"].tolist()[-2:] == [step] * 2
        history_in = ["--history-in", str(history)]
        state = new_state
    assert json.loads((state / "state.json").read_text())["step"] == 3
    assert h.loc[3, "status"] == "failed" and h.loc[3, "reward"] == -5.0
    # the history is a replay table (the failed child included, with its penalty; a repeat of
    # an earlier child is marked cached by the order of the children and left out)
    assert h["cached"].tolist() == h["id"].duplicated().tolist()
    table = read_table(history, load_space(space_path))
    assert sum(len(r.val_loss) for r in table.rows.values()) == int((~h["cached"]).sum())
    assert any(r.failed.any() for r in table.rows.values()) == (not h.loc[3, "cached"])


def test_replay_accepts_a_full_grid_history(tmp_path, space_path, capsys):
    sp = str(space_path)
    state = tmp_path / "s0"
    assert main(["init-controller", "--space", sp, "--controller", "grid", "--out", str(state)]) == 0
    proposals = tmp_path / "p.json"
    assert main(["propose", "--space", sp, "--state", str(state), "--n", "8", "--step", "1",
                 "--out", str(proposals)]) == 0
    metrics = []
    for rec in json.loads(proposals.read_text()):
        path = tmp_path / f"m{rec['child']}.json"
        path.write_text(json.dumps(fake_score(rec)))
        metrics.append(str(path))
    history = tmp_path / "history.tsv"
    assert main(["update-controller", "--space", sp, "--state", str(state), "--metrics", *metrics,
                 "--out", str(tmp_path / "s1"), "--history-out", str(history)]) == 0
    capsys.readouterr()
    assert main(["replay", "--space", sp, "--table", str(history), "--controller", "rl",
                 "--budget", "20", "--lambda", "0.5", "--repeats", "2", "--json",
                 "--lstm-units", "8"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["space_size"] == 8 and len(obj["repeats"]) == 2
    for rep in obj["repeats"]:
        assert 1 <= rep["final"]["rank_reward"] <= 8


def test_errors_exit_2_with_the_file_named(tmp_path, space_path, capsys):
    sp = str(space_path)
    state = tmp_path / "s0"
    assert main(["init-controller", "--space", sp, "--controller", "random", "--out", str(state)]) == 0
    # a state written for another space
    other = tmp_path / "other.yaml"
    obj = json.loads(json.dumps(SPACE_OBJ))
    obj["layers"][1]["options"].append({"name": "avg2", "type": "avgpool1d", "size": 2})
    other.write_text(yaml.safe_dump(obj))
    capsys.readouterr()
    assert main(["propose", "--space", str(other), "--state", str(state), "--n", "2", "--step", "1",
                 "--out", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert "state.json" in err and "another model space" in err and "delete" in err
    # a broken metrics file
    bad = tmp_path / "m.json"
    bad.write_text('{"status": "ok"')
    assert main(["update-controller", "--space", sp, "--state", str(state), "--metrics", str(bad),
                 "--out", str(tmp_path / "s1"), "--history-out", str(tmp_path / "h.tsv")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "delete it and rerun" in err
    assert not (tmp_path / "s1").exists() and not (tmp_path / "h.tsv").exists()
    # layers not in the space
    rec = {"layers": ["conv_k4", "none", "gavg"], "id": "x", "step": 1, "child": 0}
    bad.write_text(json.dumps(fake_score(rec)))
    assert main(["update-controller", "--space", sp, "--state", str(state), "--metrics", str(bad),
                 "--out", str(tmp_path / "s1"), "--history-out", str(tmp_path / "h.tsv")]) == 2
    assert "no option 'gavg'" in capsys.readouterr().err
    # writing the new state over the input state
    assert main(["update-controller", "--space", sp, "--state", str(state), "--metrics", str(bad),
                 "--out", str(state), "--history-out", str(tmp_path / "h.tsv")]) == 2
    assert "is both the output --out and --state" in capsys.readouterr().err
    # the rl settings belong to the rl controller
    assert main(["init-controller", "--space", sp, "--controller", "grid", "--out", str(tmp_path / "g"),
                 "--learning-rate", "0.1"]) == 2
    assert "no setting" in capsys.readouterr().err
    # grid asked for more than the space holds
    assert main(["init-controller", "--space", sp, "--controller", "grid", "--out", str(tmp_path / "g")]) == 0
    assert main(["propose", "--space", sp, "--state", str(tmp_path / "g"), "--n", "9", "--step", "1",
                 "--out", str(tmp_path / "p.json")]) == 2
    assert "8 architecture(s) left of the 8" in capsys.readouterr().err


def test_metrics_of_two_children_with_one_index_are_rejected(tmp_path, space_path, capsys):
    sp = str(space_path)
    state = tmp_path / "s0"
    assert main(["init-controller", "--space", sp, "--controller", "random", "--out", str(state)]) == 0
    rec = {"layers": ["conv_k4", "none", "gmax"], "step": 1, "child": 0}
    rec["id"] = load_space(space_path).architecture_id(rec["layers"])
    paths = []
    for i, step in enumerate((1, 1)):
        p = tmp_path / f"m{i}.json"
        p.write_text(json.dumps(fake_score({**rec, "step": step})))
        paths.append(str(p))
    capsys.readouterr()
    assert main(["update-controller", "--space", sp, "--state", str(state), "--metrics", *paths,
                 "--out", str(tmp_path / "s1"), "--history-out", str(tmp_path / "h.tsv")]) == 2
    assert "child 0 is also in" in capsys.readouterr().err
    Path(paths[1]).write_text(json.dumps(fake_score({**rec, "step": 2, "child": 1})))
    assert main(["update-controller", "--space", sp, "--state", str(state), "--metrics", *paths,
                 "--out", str(tmp_path / "s1"), "--history-out", str(tmp_path / "h.tsv")]) == 2
    assert "different steps" in capsys.readouterr().err
