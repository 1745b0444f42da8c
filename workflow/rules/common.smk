# Config validation, input functions and predicates. No workflow logic lives
# here beyond picking paths: every stage is a `bionas <subcommand>`.
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from bionas.config import load_schema, type_overrides, validate_config
from bionas.errors import InputError

_CONFIG_SOURCE = ", ".join(str(f) for f in workflow.configfiles) or "config"
if workflow.config_settings.config:
    # Snakemake reads nested --config values (search={...}) as strings: say where
    # the value may have come from.
    _CONFIG_SOURCE += " with --config " + " ".join(sorted(workflow.config_settings.config))
    type_overrides(config, workflow.config_settings.config)
try:
    config.update(
        validate_config(
            config,
            source=_CONFIG_SOURCE,
            schema=load_schema(Path(workflow.basedir) / "schemas" / "config.schema.yaml"),
        )
    )
except InputError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None

# A run killed with SIGKILL leaves Snakemake's locks behind; clear them when
# every earlier run of this workflow in this directory is dead, so the same
# command resumes (bionas/locks.py). A live run is never touched.
_RUN_RECORD = None
if workflow.is_main_process:
    from bionas.locks import clear_stale_locks, register_run, release_run

    if clear_stale_locks(".snakemake"):
        logger.warning("bionas: removed the locks of a killed earlier run; resuming")
    _RUN_RECORD = register_run(".snakemake")


# Local runs: one warm worker runs the TensorFlow jobs (bionas/worker.py); it
# ends with this Snakemake process even when that is killed.
_WORKER = None


onstart:
    global _WORKER
    if config["training"]["warm_worker"] and workflow.local_exec and sys.platform == "linux":
        import os

        from bionas import worker

        _WORKER = worker.start("logs/worker.log")
        os.environ[worker.ENV] = _WORKER[1]


def _end_run():
    if _WORKER is not None:
        from bionas import worker

        worker.stop(*_WORKER)
    if _RUN_RECORD is not None:
        release_run(_RUN_RECORD)


onsuccess:
    _end_run()


onerror:
    _end_run()


# The CLI of the Python that runs Snakemake, so jobs use the same installation.
BIONAS = f"{shlex.quote(sys.executable)} -m bionas"
DATASETS = list(config["datasets"])


wildcard_constraints:
    dataset="|".join(DATASETS),


def dataset(wildcards):
    """The config entry of the dataset named by the wildcards."""
    return config["datasets"][wildcards.dataset]


def is_simulated(name):
    """True when the dataset is the synthetic demo made by `bionas simulate`."""
    return "simulate" in config["datasets"][name]


def get_genome(wildcards):
    """Genome FASTA of a dataset: the simulated one or the user's file."""
    if is_simulated(wildcards.dataset):
        return f"results/{wildcards.dataset}/input/genome.fa"
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


def peaks_arg(wildcards, input):
    """`TASK=PATH ...` for `bionas prepare --peaks`."""
    tasks = list(get_peaks(wildcards))
    return " ".join(shlex.quote(f"{t}={p}") for t, p in zip(tasks, input.peaks))


def split_args(wildcards):
    """Chromosome split flags for `bionas prepare`."""
    split = dataset(wildcards)["split"]
    args = []
    for part in ("train", "val", "test"):
        if split.get(part):
            args.append(f"--{part}-chroms " + " ".join(shlex.quote(c) for c in split[part]))
    return " ".join(args)


def simulate_args(wildcards):
    """Flags for `bionas simulate` from the dataset's `simulate` block."""
    sim = dataset(wildcards)["simulate"]
    args = [
        f"--seed {sim['seed']}",
        f"--chromosomes {sim['chromosomes']}",
        f"--chrom-length {sim['chrom_length']}",
        f"--gc {sim['gc']}",
    ]
    if "sites" in sim:
        args.append(f"--sites {sim['sites']}")
    if "motifs" in sim:
        args.append("--motifs " + " ".join(shlex.quote(m) for m in sim["motifs"]))
    return " ".join(args)


def priors_args(wildcards, input):
    """Flags for `bionas priors`: JASPAR queries or the user's MEME file."""
    priors = dataset(wildcards)["priors"]
    if "meme" in priors:
        return f"--meme {shlex.quote(input.meme[0])}"
    queries = " ".join(shlex.quote(q) for q in priors["jaspar"])
    return f"--jaspar {queries} --release {priors['release']}"


def get_data_targets(name):
    """Tensors and priors of one dataset."""
    return expand(
        "results/{dataset}/data/{split}.npz", dataset=name, split=["train", "val", "test"]
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
    return targets


# ---------------------------------------------------------------- search

SPACE = config["search"]["space"]
STEPS = config["search"]["steps"]
CHILDREN = config["search"]["children_per_step"]


def _check_search_config():
    """The model space must load for every dataset's window, and a grid must fit the budget."""
    from bionas.records.space import load_space

    try:
        for name, ds in config["datasets"].items():
            space = load_space(SPACE, window=ds["window"])
    except InputError as err:
        raise WorkflowError(f"invalid model space (search.space): {err}") from None
    budget = STEPS * CHILDREN
    if config["search"]["controller"] == "grid" and budget > space.size:
        raise WorkflowError(
            f"invalid configuration: {_CONFIG_SOURCE} [search]: the grid controller visits each "
            f"of the {space.size} architectures of {SPACE} once, but steps x children_per_step "
            f"asks for {budget}; lower search.steps or search.children_per_step"
        )


if "architecture" not in config["final"]:
    _check_search_config()


wildcard_constraints:
    run=r"[A-Za-z0-9_.-]+",
    step=r"\d{3}",
    child=r"\d{2}",
    replicate=r"\d+",
    candidate=r"\d+",


def step_dir(wildcards, step):
    """results/<dataset>/<run>/search/step_<step>."""
    return f"results/{wildcards.dataset}/{wildcards.run}/search/step_{step:03d}"


def get_previous_state(wildcards):
    """Controller state that step `wildcards.step` starts from (step s-1)."""
    step = int(wildcards.step)
    return f"results/{wildcards.dataset}/{wildcards.run}/controller/step_{step - 1:03d}"


def get_step_metrics(wildcards):
    """metrics.json of every child of step `wildcards.step`, in child order."""
    step = int(wildcards.step)
    return [f"{step_dir(wildcards, step)}/child_{k:02d}/metrics.json" for k in range(CHILDREN)]


def get_previous_history(wildcards):
    """history.tsv of step s-1 (nothing for the first step)."""
    step = int(wildcards.step)
    return [] if step <= 1 else [f"{step_dir(wildcards, step - 1)}/history.tsv"]


def controller_settings(wildcards):
    """Flags for `bionas init-controller` from `search.rl` (used by the rl controller only)."""
    if config["search"]["controller"] != "rl":
        return ""
    rl = config["search"]["rl"]
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in sorted(rl.items()))


def training_args(wildcards):
    """Training flags for `bionas train-child` from the `training` block."""
    t = config["training"]
    args = (
        f"--epochs {t['epochs']} --patience {t['patience']} --batch-size {t['batch_size']}"
        f" --learning-rate {t['learning_rate']} --max-seconds {t['max_seconds']}"
        f" --max-params {t['max_params']} --seed {t['seed']}"
    )
    if config["search"]["fail_fatal"]:
        args += " --fail-fatal"
    return args


def scoring_args(wildcards):
    """Knowledge and reward flags for `bionas score-child` from the `search` block."""
    s = config["search"]
    args = (
        f"--lambda {s['lambda']} --temperature {s['temperature']} --reward {s['reward']}"
        f" --lambda-reg {s['lambda_reg']} --failure-reward {s['failure_reward']}"
    )
    if not s["both_strands"]:
        args += " --one-strand"
    return args


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
    import hashlib

    path = Path(config["final"]["architecture"])
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise WorkflowError(
            f"invalid configuration: {_CONFIG_SOURCE} [final][architecture]: cannot read "
            f"{path} ({err.strerror or err}); give an architecture JSON, e.g. an earlier run's "
            "final/architecture.json"
        ) from None


def get_selection_input(wildcards):
    """What select_architecture reads: the search's last history/state (nothing for a
    given JSON: it is read through params, so that an earlier run's own
    final/architecture.json never becomes an input, and that run an output, of this one)."""
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


def _check_final_config():
    """final.top_k must be a choice the search can offer (a given architecture has no search)."""
    k, f = config["final"]["top_k"], config["final"]
    if "architecture" in f:
        given_architecture_digest(None)  # the file must be readable before any job runs
        return
    if k == 1:
        return
    if f["select"] == "controller":
        raise WorkflowError(
            f"invalid configuration: {_CONFIG_SOURCE} [final][top_k]: top_k {k} needs the "
            "search's best rewards to choose from, but final.select is controller, which names "
            "one architecture; set final.top_k: 1 or final.select: best_reward"
        )
    if k > STEPS * CHILDREN:
        raise WorkflowError(
            f"invalid configuration: {_CONFIG_SOURCE} [final][top_k]: top_k {k} is more than "
            f"the {STEPS * CHILDREN} children of the search (steps x children_per_step); "
            "lower final.top_k"
        )


_check_final_config()


def selection_args(wildcards, input):
    """Flags of `bionas select-architecture`."""
    if is_search_skipped():
        return f"--mode given --architecture {shlex.quote(config['final']['architecture'])}"
    if config["final"]["select"] == "controller":
        return f"--mode controller --state {input.found[0]}"
    return f"--mode best_reward --top-k {config['final']['top_k']} --history {input.found[0]}"


def final_training_args(wildcards):
    """Training flags of one final replicate: longer training, seed shifted by the replicate."""
    t, f = config["training"], config["final"]
    return (
        f"--epochs {f['epochs']} --patience {f['patience']} --batch-size {t['batch_size']}"
        f" --learning-rate {t['learning_rate']} --max-seconds {t['max_seconds'] * 3}"
        f" --max-params {t['max_params']} --seed {t['seed'] + 1000 + int(wildcards.replicate)}"
    )


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
    return [f"{final}/test_metrics.tsv", f"{final}/model.keras", f"{final}/summary.json"]


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
            value = getattr(r.resources[name], "value", r.resources[name])
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > limit:
                problems.append(f"rule {r.name} asks for {name}={value}, the run allows {limit}")
    if problems:
        raise WorkflowError(
            "resources no job can get: "
            + "; ".join(problems)
            + ". Lower them (config training.mem_mb, set-resources in the profile) "
            "or raise the limit (--resources)."
        )
