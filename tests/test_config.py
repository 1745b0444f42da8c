"""Config validation: defaults filled at every depth, clear errors for bad keys."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from bionas.errors import InputError
from bionas.pipeline.config import load_config, type_overrides, validate_config

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = {
    "datasets": {
        "lab": {
            "genome": "g.fa",
            "peaks": {"CTCF": "ctcf.bed"},
            "priors": {"jaspar": ["CTCF"]},
            "split": {"val": ["chr2"], "test": ["chr3"]},
        }
    }
}


def test_default_config_is_valid_and_is_the_demo():
    config = load_config(ROOT / "config" / "config.yaml")
    assert "simulate" in config["datasets"]["demo"]
    assert config["datasets"]["demo"]["window"] == 200


def test_defaults_are_filled_inside_datasets():
    config = validate_config(MINIMAL)
    ds = config["datasets"]["lab"]
    assert config["run"] == "default"
    assert config["seed"] == 1
    assert ds["window"] == 200
    assert ds["negatives"] == {"method": "shuffle", "ratio": 1.0}
    assert ds["priors"]["release"] == "JASPAR2024"
    assert ds["split"]["train"] == []
    assert ds["revcomp_train"] is False
    assert "window" not in MINIMAL["datasets"]["lab"], "input must not be modified"


def _bad(mutate):
    config = copy.deepcopy(MINIMAL)
    mutate(config)
    with pytest.raises(InputError) as err:
        validate_config(config, source="my.yaml")
    return str(err.value)


def test_misspelt_key_names_the_key_and_suggests():
    msg = _bad(lambda c: c["datasets"]["lab"].update(windw=300))
    assert "my.yaml" in msg and "datasets.lab" in msg
    assert "windw" in msg and "did you mean 'window'" in msg


def test_out_of_range_number():
    msg = _bad(lambda c: c["datasets"]["lab"].update(window=5))
    assert "[datasets.lab.window]" in msg and "minimum" in msg


def test_wrong_type():
    msg = _bad(lambda c: c["datasets"]["lab"].update(negatives={"ratio": "lots"}))
    assert "datasets.lab.negatives.ratio" in msg


def test_unknown_negative_method():
    msg = _bad(lambda c: c["datasets"]["lab"].update(negatives={"method": "magic"}))
    assert "datasets.lab.negatives.method" in msg and "shuffle" in msg


def test_priors_need_exactly_one_source():
    msg = _bad(lambda c: c["datasets"]["lab"].update(priors={"jaspar": ["CTCF"], "meme": "x"}))
    assert "jaspar" in msg and "meme" in msg


def test_genome_required_without_simulate():
    msg = _bad(lambda c: c["datasets"]["lab"].pop("genome"))
    assert "datasets.lab.genome" in msg


def test_simulate_excludes_genome():
    msg = _bad(lambda c: c["datasets"]["lab"].update(simulate={}))
    assert "simulate" in msg


def test_chromosome_in_two_splits():
    msg = _bad(lambda c: c["datasets"]["lab"]["split"].update(test=["chr2"]))
    assert "chr2" in msg and "val" in msg and "test" in msg


def test_top_level_typo():
    msg = _bad(lambda c: c.update(seeed=3))
    assert "seeed" in msg and "did you mean 'seed'" in msg


def test_bad_yaml_names_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("datasets:\n  lab: [unclosed\n")
    with pytest.raises(InputError) as err:
        load_config(path)
    assert str(path) in str(err.value) and ":" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_not_a_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(InputError, match="mapping"):
        load_config(path)


def test_nested_command_line_values_are_typed_as_in_a_config_file():
    """`snakemake --config search='{lambda: 1.0}'` gives strings; they are typed again."""
    from snakemake.cli import parse_config

    overrides = parse_config([
        "search={lambda: 1.0, steps: 3, rl: {elite_weight: 0}}",
        "training={warm_worker: false}",
        'final={architecture: "runs/a: b.json"}',
        "run=lam1",
    ])  # fmt: skip
    assert overrides["search"]["lambda"] == "1.0"  # what Snakemake hands the workflow
    config = copy.deepcopy(MINIMAL)
    config["search"] = {"lambda": 2.0, "controller": "rl"}
    for key, value in overrides.items():  # Snakemake's merge of --config into the config
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    type_overrides(config, overrides)
    assert config["search"] == {
        "lambda": 1.0, "steps": 3, "rl": {"elite_weight": 0}, "controller": "rl"
    }  # fmt: skip
    assert config["training"] == {"warm_worker": False}
    assert config["final"] == {"architecture": "runs/a: b.json"}  # a string stays one
    assert config["run"] == "lam1"
    checked = validate_config(config)
    assert checked["search"]["lambda"] == 1.0 and checked["training"]["warm_worker"] is False


def test_final_lambda_defaults_to_the_search_lambda_and_can_differ():
    config = validate_config({**MINIMAL, "search": {"lambda": 2.5}})
    assert config["final"]["lambda"] == 2.5
    config = validate_config({**MINIMAL, "search": {"lambda": 2.5}, "final": {"lambda": 0}})
    assert config["final"]["lambda"] == 0
    msg = _bad(lambda c: c.update(final={"lambda": float("nan")}))
    assert "final.lambda" in msg


def _run_problem(search=None, final=None):
    from bionas.pipeline.config import check_run

    config = validate_config({**MINIMAL, "search": search or {}, "final": final or {}})
    with pytest.raises(InputError) as err:
        check_run(config, "my.yaml")
    return str(err.value)


@pytest.mark.parametrize("controller", ["rl", "evolution", "gp"])
def test_a_pareto_search_needs_a_controller_with_two_objectives(controller):
    msg = _run_problem({"objective": "pareto", "controller": controller})
    assert "[search.objective]" in msg and controller in msg and "nsga2" in msg


def test_a_pareto_search_chooses_by_final_lambda_not_by_the_controller():
    msg = _run_problem({"objective": "pareto", "controller": "nsga2"}, {"select": "controller"})
    assert "[final.select]" in msg and "best_reward" in msg


@pytest.mark.parametrize("controller", ["tpe", "nsga2", "random", "grid"])
def test_a_pareto_search_with_a_fitting_controller_passes(controller):
    from bionas.pipeline.config import check_run

    search = {"objective": "pareto", "controller": controller, "steps": 2, "children_per_step": 2}
    check_run(validate_config({**MINIMAL, "search": search}), "my.yaml")


def test_gp_settings_are_checked_by_the_schema():
    msg = _bad(lambda c: c.update(search={"gp": {"warp": "log"}}))
    assert "search.gp.warp" in msg
    msg = _bad(lambda c: c.update(search={"gp": {"n_startup": -1}}))
    assert "search.gp.n_startup" in msg
    msg = _bad(lambda c: c.update(search={"gp": {"objectives": 2}}))
    assert "search.gp" in msg and "objectives" in msg


def test_nsga2_settings_are_checked_by_the_schema():
    msg = _bad(lambda c: c.update(search={"nsga2": {"population": 1}}))
    assert "search.nsga2.population" in msg
    msg = _bad(lambda c: c.update(search={"nsga2": {"mutation": 1.5}}))
    assert "search.nsga2.mutation" in msg


@pytest.mark.parametrize(
    "where, key",
    [
        (lambda c: c.update(training={"learning_rate": float("nan")}), "training.learning_rate"),
        (lambda c: c["datasets"]["lab"].update(negatives={"ratio": float("inf")}), "datasets.lab.negatives.ratio"),
        (lambda c: c.update(search={"failure_reward": float("-inf")}), "search.failure_reward"),
    ],
)
def test_non_finite_numbers_are_refused_anywhere(where, key):
    msg = _bad(where)
    assert f"[{key}]" in msg and "finite" in msg


#: Names that would leave results/ or make odd paths, with a word of the reason given.
UNSAFE_NAMES = [
    ("..", "starts with '.'"), (".", "starts with '.'"), (".hidden", "starts with '.'"),
    ("../elsewhere", "path separator"), ("a/b", "path separator"), ("a\\b", "path separator"),
    ("a..b", "holds '..'"), ("", "is empty"), ("-rf", "starts with '-'"),
    ("my run", "whitespace"), ("tab\there", "whitespace"), ("lab\n", "whitespace"),
    ("nul\x00", "control character"), ("bell\x07", "control character"),
    ("caf\u00e9", "holds '\u00e9'"), ("a:b", "holds ':'"), ("a*", "holds '*'"),
    ("x" * 101, "101 characters long"),
]  # fmt: skip


def _rename_dataset(config, name):
    config["datasets"] = {name: config["datasets"]["lab"]}


@pytest.mark.parametrize("name, reason", UNSAFE_NAMES)
def test_dataset_run_and_task_names_must_be_one_safe_path_component(name, reason):
    msg = _bad(lambda c: _rename_dataset(c, name))
    assert msg.startswith("my.yaml [datasets]: dataset name") and reason in msg, msg
    assert "results/<dataset>/" in msg and "must not hold '..'" in msg
    msg = _bad(lambda c: c.update(run=name))
    assert msg.startswith("my.yaml [run]: run name") and reason in msg, msg
    msg = _bad(lambda c: c["datasets"]["lab"].update(peaks={name: "p.bed"}))
    assert msg.startswith("my.yaml [datasets.lab.peaks]: task name") and reason in msg, msg
    assert "\n" not in msg  # one line, the name shown escaped


@pytest.mark.parametrize("name", ["lab", "K562_CTCF", "rep-1.v2", "_x", "0", "x" * 100])
def test_safe_names_pass_everywhere(name):
    config = copy.deepcopy(MINIMAL)
    _rename_dataset(config, name)
    config["run"] = name
    config["datasets"][name]["peaks"] = {name: "p.bed"}
    assert validate_config(config)["run"] == name


def test_a_name_that_yaml_reads_as_a_number_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(MINIMAL).replace("lab:", "2024:"))
    with pytest.raises(InputError, match="not a string but int 2024 \\(quote it") as info:
        load_config(path)
    assert info.value.key == "datasets"


def test_names_that_differ_only_in_case_are_refused():
    msg = _bad(lambda c: c["datasets"].update(LAB=copy.deepcopy(c["datasets"]["lab"])))
    assert "[datasets]" in msg and "'lab' and 'LAB' differ only in case" in msg
    msg = _bad(lambda c: c["datasets"]["lab"]["peaks"].update(ctcf="other.bed"))
    assert "[datasets.lab.peaks]" in msg and "'CTCF' and 'ctcf'" in msg


def test_the_schema_and_the_workflow_use_the_names_rule_of_the_code():
    """The schema's patterns, the Snakefile's wildcard constraint and name_problem agree."""
    import re

    from bionas.io import NAME_REGEX, name_problem

    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    patterns = [
        schema["properties"]["run"]["pattern"],
        schema["properties"]["datasets"]["propertyNames"]["pattern"],
        schema["$defs"]["dataset"]["properties"]["peaks"]["propertyNames"]["pattern"],
    ]
    assert patterns == [f"^{NAME_REGEX}$"] * 3
    common = (ROOT / "workflow/rules/common.smk").read_text()
    assert "run=NAME_REGEX," in common and "re.escape(name) for name in DATASETS" in common
    for name, _ in [*UNSAFE_NAMES, ("lab", ""), ("a.b-c_1", ""), ("x" * 100, "")]:
        if not name.endswith("\n"):  # JSON Schema's '$' lets a final newline through in Python
            assert (re.search(patterns[0], name) is None) == (name_problem(name) is not None), name


@pytest.mark.parametrize(
    ("fidelity", "key", "fragment"),
    [
        ({"epochs": [5], "keep": 0.5}, "search.fidelity.epochs", ""),
        ({"epochs": [5, 3], "keep": 0.5}, "search.fidelity.epochs", "increase"),
        ({"epochs": [3, 10], "keep": 1.5}, "search.fidelity.keep", ""),
        ({"epochs": [3, 10], "keep": [5]}, "search.fidelity.keep", "rung 0 has 4"),
        ({"epochs": [3, 10, 20], "keep": [2]}, "search.fidelity.keep", "needs 2"),
        ({"epochs": [3, 10]}, "search.fidelity", "keep"),
        ({"epochs": [3, 10], "keep": 0.5, "eta": 3}, "search.fidelity", "eta"),
    ],
)
def test_a_bad_fidelity_ladder_is_refused_naming_the_key(fidelity, key, fragment):
    search = {"children_per_step": 4, "fidelity": fidelity}
    try:
        msg = _run_problem(search)
    except Exception as err:  # the schema refuses it first
        msg = str(err)
    assert key in msg and fragment in msg, msg


def test_a_fidelity_ladder_passes_and_is_off_by_default():
    from bionas.pipeline.config import check_run

    assert validate_config(MINIMAL)["search"]["fidelity"] is None
    search = {"children_per_step": 4, "fidelity": {"epochs": [3, 10, 30], "keep": 0.5}}
    check_run(validate_config({**MINIMAL, "search": search}), "my.yaml")
