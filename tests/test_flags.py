"""Config blocks -> command flags: every flag string parses, with the commands' own
parsers, back into the values the config holds."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import shlex
from pathlib import Path

import pytest

from bionas.commands.registry import _load
from bionas.pipeline import flags
from bionas.pipeline.config import validate_config
from bionas.records.train_result import TrainSettings

ROOT = Path(__file__).resolve().parent.parent

CONFIG = validate_config(
    {
        "datasets": {
            "lab": {
                "genome": "g.fa",
                "peaks": {"CTCF": "ctcf.bed"},
                "priors": {"jaspar": ["CTCF", "MA0138.3"]},
                "split": {"val": ["chr2"], "test": ["chr3", "chr 4"]},
            }
        },
        "training": {"epochs": 7, "learning_rate": 0.002, "seed": 3},
        "search": {"lambda": 1.5, "both_strands": False, "rl": {"learning_rate": 0.01}},
        "final": {"epochs": 40, "patience": 9},
    }
)


def parse(command: str, line: str, required: str = "") -> argparse.Namespace:
    """``line`` (+ the command's other required flags) through ``bionas <command>``'s parser."""
    parser = argparse.ArgumentParser()
    _load(command).add_arguments(parser)
    return parser.parse_args(shlex.split(f"{required} {line}"))


CHILD = "--space s --architecture a --train t --val v --out-dir o"


def test_as_flags_quotes_and_handles_bools_lists_and_none():
    out = flags.as_flags({"a_b": "x y", "on": True, "off": False, "none": None, "xs": ["p", "q r"]})
    assert shlex.split(out) == ["--a-b", "x y", "--on", "--xs", "p", "q r"]


def test_training_flags_carry_every_train_setting_in_the_config():
    args = parse("train_child", flags.training_flags(CONFIG["training"], fail_fatal=True), CHILD)
    for f in dataclasses.fields(TrainSettings):
        expected = 1 if f.name == "threads" else CONFIG["training"][f.name]  # threads: the job's
        assert getattr(args, f.name) == expected, f.name
    assert args.fail_fatal
    assert not parse("train_child", flags.training_flags(CONFIG["training"]), CHILD).fail_fatal


def test_a_new_train_setting_needs_no_change_to_the_flags():
    training = {**CONFIG["training"], "not_a_setting": 5}
    assert "not-a-setting" not in flags.training_flags(training)
    assert "--mem-mb" not in flags.training_flags(CONFIG["training"])


def test_final_training_flags_shift_the_seed_and_take_final_epochs():
    args = parse(
        "train_child", flags.final_training_flags(CONFIG["training"], CONFIG["final"], 2), CHILD
    )
    assert (args.epochs, args.patience) == (40, 9)
    assert args.seed == 3 + 1000 + 2
    assert args.max_seconds == CONFIG["training"]["max_seconds"] * 3
    assert args.learning_rate == 0.002


def test_scoring_flags():
    required = "--space s --train-result t --priors p --out o"
    args = parse("score_child", flags.scoring_flags(CONFIG["search"]), required)
    assert args.lam == 1.5 and args.one_strand
    assert args.temperature == CONFIG["search"]["temperature"]
    assert args.failure_reward == CONFIG["search"]["failure_reward"]
    both = copy.deepcopy(CONFIG["search"])
    both["both_strands"] = True
    assert not parse("score_child", flags.scoring_flags(both), required).one_strand


def test_controller_flags_only_for_the_chosen_controller():
    required = "--space s --out o --controller rl"
    args = parse("init_controller", flags.controller_flags({**CONFIG["search"], "controller": "rl"}), required)
    assert args.learning_rate == 0.01
    assert flags.controller_flags({**CONFIG["search"], "controller": "random"}) == ""


def test_split_priors_and_peaks_flags():
    ds = CONFIG["datasets"]["lab"]
    line = flags.split_flags(ds["split"]) + " --peaks " + flags.peaks_flag(["CTCF"], ["a b.bed"])
    args = parse("prepare", line, "--genome g --window 200 --out o --summary s")
    assert args.test_chroms == ["chr3", "chr 4"] and args.val_chroms == ["chr2"]
    assert args.train_chroms is None
    assert args.peaks == ["CTCF=a b.bed"]
    args = parse("priors", flags.priors_flags(ds["priors"]), "--out o")
    assert args.jaspar == ["CTCF", "MA0138.3"] and args.release == ds["priors"]["release"]
    assert shlex.split(flags.priors_flags({"meme": "x"}, "my file.meme")) == ["--meme", "my file.meme"]


@pytest.mark.parametrize(
    "final, expected",
    [
        (
            {"select": "best_reward", "top_k": 2, "lambda": 1.5},
            ["--mode", "best_reward", "--top-k", "2", "--history", "h", "--lambda", "1.5",
             "--reward", "loss"],
        ),
        ({"select": "controller", "top_k": 1}, ["--mode", "controller", "--state", "h"]),
        ({"architecture": "a.json"}, ["--mode", "given", "--architecture", "a.json"]),
    ],
)
def test_selection_flags(final, expected):
    assert shlex.split(flags.selection_flags(final, "h")) == expected


def test_selection_flags_parse_back_with_the_final_lambda():
    final = {**CONFIG["final"], "lambda": 0.5}
    args = parse("select_architecture", flags.selection_flags(final, "h.tsv", "auroc"),
                 "--space s --out o")
    assert (args.lam, args.reward, args.history) == (0.5, "auroc", "h.tsv")
    scoring = parse("score_child", flags.scoring_flags(CONFIG["search"], 0.5),
                    "--space s --train-result t --priors p --out o")
    assert scoring.lam == 0.5


def test_a_pareto_search_gives_its_controller_two_objectives():
    search = {**CONFIG["search"], "controller": "nsga2", "objective": "pareto"}
    args = parse("init_controller", flags.controller_flags(search), "--space s --out o --controller nsga2")
    assert args.objectives == 2 and args.population == CONFIG["search"]["nsga2"]["population"]
    args = parse("init_controller", flags.controller_flags({**search, "objective": "reward"}),
                 "--space s --out o --controller nsga2")
    assert args.objectives is None


def test_controller_flags_of_every_strategy_parse_back():
    required = "--space s --out o --controller tpe"
    search = {**CONFIG["search"], "controller": "tpe"}
    args = parse("init_controller", flags.controller_flags(search), required)
    assert args.multivariate is True and args.n_startup == CONFIG["search"]["tpe"]["n_startup"]
    search["tpe"] = {**search["tpe"], "multivariate": False}
    assert parse("init_controller", flags.controller_flags(search), required).multivariate is False
    search = {**CONFIG["search"], "controller": "evolution"}
    args = parse("init_controller", flags.controller_flags(search), required)
    assert (args.population, args.tournament, args.mutations) == (15, 3, 2)
    search = {**CONFIG["search"], "controller": "gp", "gp": {"warp": "standardize", "n_startup": 3}}
    args = parse("init_controller", flags.controller_flags(search), "--space s --out o --controller gp")
    assert (args.warp, args.n_startup, args.candidates) == ("standardize", 3, None)


def test_predict_flags_parse_back():
    required = "--model m --genome g --out o"
    args = parse("predict", flags.predict_flags({"tile": "chr1:0-300", "step": 50}, ["a b"]), required)
    assert (args.tile, args.step, args.tasks, args.regions) == ("chr1:0-300", 50, ["a b"], None)
    args = parse("predict", flags.predict_flags({"regions": "r 1.bed", "step": 50}, ["t"]), required)
    assert (args.regions, args.tile) == ("r 1.bed", None)
