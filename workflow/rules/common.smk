# Config validation, input functions and predicates: paths only. Config
# checking is bionas.pipeline.config, the run hooks are hooks.smk, and every
# command's flags come from bionas.pipeline.flags.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from bionas.data.genome import is_plain_gzip
from bionas.errors import InputError
from bionas.io import NAME_REGEX
from bionas.pipeline import flags
from bionas.pipeline.environment import put_entry_point_on_path
from bionas.search.fidelity import ladder_from_config
from bionas.pipeline.config import (
    architecture_digest,
    check_run,
    load_schema,
    type_overrides,
    validate_config,
)

_CONFIG_SOURCE = ", ".join(str(f) for f in workflow.configfiles) or "config"
if workflow.config_settings.config:
    # Snakemake reads nested --config values (search={...}) as strings: say where
    # the value may have come from.
    _CONFIG_SOURCE += " with --config " + " ".join(
        sorted(workflow.config_settings.config)
    )
    type_overrides(config, workflow.config_settings.config)
try:
    config.update(
        validate_config(
            config,
            source=_CONFIG_SOURCE,
            # beside this file, also when the workflow is used as a module
            schema=load_schema(
                Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml"
            ),
        )
    )
    check_run(config, _CONFIG_SOURCE)
except InputError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None


# Jobs call the `bionas` entry point of the environment they run in; see
# bionas.pipeline.environment for when Snakemake's own bin folder is put on PATH.
put_entry_point_on_path()
DATASETS = list(config["datasets"])
SPACE = config["search"]["space"]
STEPS = config["search"]["steps"]
CHILDREN = config["search"]["children_per_step"]
# successive halving (search.fidelity): the epochs and the number of children of every rung
LADDER = ladder_from_config(config["search"], _CONFIG_SOURCE)
# A child's training job is started training.attempts times to train, and once more to
# record a child whose every attempt was ended from outside (cancelled, preempted,
# killed) as failed (bionas.search.guard); by the main Snakemake process only: the
# Snakemake inside a cluster job (--mode remote) must not restart it within that job's
# allocation, which has the first attempt's time and memory; the retry is a new cluster
# job with the next attempt's resources (bionas.pipeline.flags.child_resource).
CHILD_RETRIES = config["training"]["attempts"] if workflow.is_main_process else 0


def training_resource(name, key):
    """The training rules' resource ``name`` on an attempt: the config's training.``key``
    scaled by bionas.pipeline.flags.child_resource. Snakemake itself lowers a retry's value
    to what the run allows (--resources); the first attempt is checked against that by
    check_resources (TRAINING_FIRST_ATTEMPT)."""

    def of_attempt(wildcards, attempt):
        return flags.child_resource(config["training"], key, attempt)

    return of_attempt


#: the training rules' resources on their first attempt (check_resources)
TRAINING_FIRST_ATTEMPT = {
    name: flags.child_resource(config["training"], key, 1)
    for name, key in (("mem_mb", "mem_mb"), ("runtime", "runtime"), ("gpu", "gpus"))
}


# A dataset is one of the config's names, taken literally; a run is any name the
# config's schema allows (bionas.io.NAME_REGEX: one path component, no "..").
wildcard_constraints:
    dataset="|".join(re.escape(name) for name in DATASETS),
    run=NAME_REGEX,
    step=r"\d{3}",
    child=r"\d{2}",
    replicate=r"\d+",
    candidate=r"\d+",
    rung=r"[1-9]",
    slot=r"\d{2}",


# ---------------------------------------------------------------- data


def dataset(wildcards):
    """The config entry of the dataset named by the wildcards."""
    return config["datasets"][wildcards.dataset]


def is_simulated(name):
    """True when the dataset is the synthetic demo made by `bionas simulate`."""
    return "simulate" in config["datasets"][name]


def get_genome(wildcards):
    """Genome FASTA of a dataset: the simulated one, the user's file, or its plain copy
    when the user's file is plain gzip (rule decompress_genome)."""
    if is_simulated(wildcards.dataset):
        return f"results/{wildcards.dataset}/input/genome.fa"
    if is_plain_gzip(dataset(wildcards)["genome"]):
        return f"results/{wildcards.dataset}/genome/genome.fa"
    return dataset(wildcards)["genome"]


def get_peaks(wildcards):
    """Peak files of a dataset as a task -> path dict."""
    if is_simulated(wildcards.dataset):
        return {"bound": f"results/{wildcards.dataset}/input/peaks.narrowPeak"}
    return dict(dataset(wildcards)["peaks"])


def get_priors_input(wildcards):
    """The user's MEME file when the priors come from one, else nothing."""
    priors = dataset(wildcards)["priors"]
    return [priors["meme"]] if "meme" in priors else []


def get_data_targets(name):
    """Tensors and priors of one dataset."""
    return expand(
        "results/{dataset}/data/{split}.npz",
        dataset=name,
        split=["train", "val", "test"],
    ) + [f"results/{name}/priors.meme", f"results/{name}/data/summary.tsv"]


def get_all_targets():
    """Everything `snakemake` builds by default."""
    targets = []
    for name in DATASETS:
        targets += get_data_targets(name)
        if not is_search_skipped():
            targets += get_search_targets(name)
        targets += get_final_targets(name)
        targets += get_report_targets(name)
        if "predict" in config["datasets"][name]:
            targets.append(f"results/{name}/{config['run']}/predict/predictions.tsv")
            if config["datasets"][name]["predict"].get("bigwig"):
                targets.append(f"results/{name}/{config['run']}/predict/bigwig")
    return targets


# ---------------------------------------------------------------- search


def step_dir(wildcards, step):
    """results/<dataset>/<run>/search/step_<step>."""
    return f"results/{wildcards.dataset}/{wildcards.run}/search/step_{step:03d}"


def get_previous_state(wildcards):
    """Controller state that step `wildcards.step` starts from (step s-1)."""
    step = int(wildcards.step)
    return f"results/{wildcards.dataset}/{wildcards.run}/controller/step_{step - 1:03d}"


def get_proposal_state(wildcards):
    """Controller state that step `wildcards.step` proposes from: step s - in_flight (or the
    first state)."""
    step = max(0, int(wildcards.step) - config["search"]["in_flight"])
    return f"results/{wildcards.dataset}/{wildcards.run}/controller/step_{step:03d}"


def get_pending_proposals(wildcards):
    """proposals.json of the steps in flight between that state and step s."""
    step = int(wildcards.step)
    first = max(1, step - config["search"]["in_flight"] + 1)
    return [f"{step_dir(wildcards, s)}/proposals.json" for s in range(first, step)]


def rung_members(wildcards, rung, name):
    """`name` in every member of rung `rung` of step `wildcards.step`: its children for rung
    0, the slots of a later rung of successive halving (search.fidelity)."""
    where = step_dir(wildcards, int(wildcards.step))
    if rung == 0:
        return [f"{where}/child_{k:02d}/{name}" for k in range(CHILDREN)]
    return [
        f"{where}/rung_{rung}/slot_{j:02d}/{name}" for j in range(LADDER.counts[rung])
    ]


def get_rung_candidates(wildcards):
    """metrics.json of every member of the rung before rung `wildcards.rung`."""
    return rung_members(wildcards, int(wildcards.rung) - 1, "metrics.json")


def get_rung_results(wildcards):
    """train.json of every member of the rung before rung `wildcards.rung` (a slot continues
    whichever of them promoted.json names)."""
    return rung_members(wildcards, int(wildcards.rung) - 1, "train.json")


def get_step_metrics(wildcards):
    """metrics.json of every child of step `wildcards.step`, in child order, then those of
    every slot of each later rung of successive halving."""
    rungs = LADDER.rungs if LADDER else 1
    return [m for r in range(rungs) for m in rung_members(wildcards, r, "metrics.json")]


def get_previous_history(wildcards):
    """history.tsv of step s-1 (nothing for the first step)."""
    step = int(wildcards.step)
    return [] if step <= 1 else [f"{step_dir(wildcards, step - 1)}/history.tsv"]


def get_search_targets(name):
    """The last step's history and controller state of one dataset's search."""
    last = f"results/{name}/{config['run']}"
    return [
        f"{last}/search/step_{STEPS:03d}/history.tsv",
        f"{last}/controller/step_{STEPS:03d}",
    ]


# ---------------------------------------------------------------- final model


def is_search_skipped():
    """True when the config names an architecture to train without searching."""
    return "architecture" in config["final"]


def given_architecture_digest(wildcards):
    """SHA-256 of final.architecture (a param: a changed file reruns select_architecture)."""
    if not is_search_skipped():
        return ""
    try:
        return architecture_digest(config["final"]["architecture"], _CONFIG_SOURCE)
    except InputError as err:
        raise WorkflowError(f"invalid configuration: {err}") from None


def get_selection_input(wildcards):
    """What select_architecture reads: the search's last history/state (nothing for a
    given JSON: it is read through params, so that an earlier run's own
    final/architecture.json never becomes an input, and that run an output, of this one).
    """
    if is_search_skipped():
        return []
    last = f"results/{wildcards.dataset}/{wildcards.run}"
    if config["final"]["select"] == "controller":
        return [f"{last}/controller/step_{STEPS:03d}"]
    return [f"{last}/search/step_{STEPS:03d}/history.tsv"]


def final_candidates():
    """How many architectures train_final trains: final.top_k when the best rewards choose."""
    if is_search_skipped() or config["final"]["select"] == "controller":
        return 1
    return config["final"]["top_k"]


def _final_models(wildcards, name):
    """`name` of every replicate of every candidate, candidate by candidate."""
    final = f"results/{wildcards.dataset}/{wildcards.run}/final"
    return [
        f"{final}/candidate_{c}/replicate_{r}/{name}"
        for c in range(final_candidates())
        for r in range(config["final"]["replicates"])
    ]


def get_final_replicates(wildcards):
    """train.json of every replicate of every final candidate."""
    return _final_models(wildcards, "train.json")


def get_final_metrics(wildcards):
    """metrics.json (K and reward) of every replicate of every final candidate."""
    return _final_models(wildcards, "metrics.json")


def get_final_targets(name):
    """The tested final model of one dataset."""
    final = f"results/{name}/{config['run']}/final"
    return [
        f"{final}/test_metrics.tsv",
        f"{final}/model.keras",
        f"{final}/summary.json",
    ] + ([f"{final}/export"] if config["final"]["export"] else [])


# ---------------------------------------------------------------- checks


def check_resources():
    """Stop before any job runs when a rule asks for more of a resource than the run allows
    (--resources or a profile's `resources:`): such a job could never be scheduled."""
    limits = {}
    for name, resource in workflow.global_resources.items():
        value = getattr(resource, "value", resource)
        if not name.startswith("_") and isinstance(value, (int, float)):
            limits[name] = value
    problems = []
    for r in workflow.rules:
        for name, limit in limits.items():
            if name not in r.resources:
                continue
            try:
                value = getattr(r.resources[name], "value", r.resources[name])
            except ValueError:  # a function of the attempt: training_resource
                value = TRAINING_FIRST_ATTEMPT.get(name)
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and value > limit
            ):
                problems.append(
                    f"rule {r.name} asks for {name}={value}, the run allows {limit}"
                )
    if problems:
        raise WorkflowError(
            "resources no job can get: "
            + "; ".join(problems)
            + ". Lower them (config training.mem_mb, set-resources in the profile) "
            "or raise the limit (--resources)."
        )
