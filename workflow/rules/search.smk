# The search, unrolled over controller steps (no checkpoints): step s proposes
# from the controller state of step s - in_flight (s-1 with in_flight 1), told
# the proposals of the steps in between, trains its children in parallel,
# scores them, and updates the state of step s-1 into that of step s.


rule init_controller:
    input:
        space=SPACE,
    output:
        state=directory("results/{dataset}/{run}/controller/step_000"),
    log:
        "logs/init_controller/{dataset}/{run}.log",
    benchmark:
        "benchmarks/init_controller/{dataset}/{run}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        controller=config["search"]["controller"],
        seed=config["seed"],
        settings=flags.controller_flags(config["search"]),
    shell:
        "bionas init-controller --space {input.space:q} --controller {params.controller}"
        " --seed {params.seed} {params.settings} --out {output.state} 2> {log}"


rule propose_architectures:
    input:
        space=SPACE,
        state=get_proposal_state,
        pending=get_pending_proposals,
    output:
        proposals="results/{dataset}/{run}/search/step_{step}/proposals.json",
    log:
        "logs/propose_architectures/{dataset}/{run}/step_{step}.log",
    benchmark:
        "benchmarks/propose_architectures/{dataset}/{run}/step_{step}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        n=config["search"]["children_per_step"],
        step=lambda wc: int(wc.step),
        pending=lambda wc, input: (
            f"--pending {' '.join(input.pending)}" if input.pending else ""
        ),
        in_flight=config["search"]["in_flight"],
    shell:
        "bionas propose --space {input.space:q} --state {input.state} --n {params.n}"
        " --step {params.step} {params.pending} --out {output.proposals} 2> {log}"


rule train_child:
    input:
        space=SPACE,
        proposals=rules.propose_architectures.output.proposals,
        train="results/{dataset}/data/train.npz",
        val="results/{dataset}/data/val.npz",
    output:
        result="results/{dataset}/{run}/search/step_{step}/child_{child}/train.json",
    log:
        "logs/train_child/{dataset}/{run}/step_{step}/child_{child}.log",
    benchmark:
        "benchmarks/train_child/{dataset}/{run}/step_{step}/child_{child}.tsv"
    retries: CHILD_RETRIES
    threads: config["training"]["threads"]
    resources:
        mem_mb=training_resource("mem_mb", "mem_mb"),
        runtime=training_resource("runtime", "runtime"),
        gpu=training_resource("gpu", "gpus"),
        child_attempt=lambda wildcards, attempt: attempt,
    params:
        index=lambda wc: int(wc.child),
        outdir=lambda wc, output: str(Path(output.result).parent),
        cache="results/{dataset}/cache/children",
        args=flags.training_flags(
            config["training"],
            config["search"]["fail_fatal"],
            config["search"]["fidelity"],
        ),
        attempts=config["training"]["attempts"],
    # The job's limits and the attempt come from the attempt's own resources: Snakemake
    # evaluates params once, with the first attempt's, on a local retry.
    shell:
        "bionas train-child --space {input.space:q} --architecture {input.proposals}"
        " --index {params.index} --train {input.train} --val {input.val}"
        " --out-dir {params.outdir} --cache-dir {params.cache} {params.args}"
        " --threads {threads} --job-seconds $(({resources.runtime} * 60))"
        " --job-memory-mb {resources.mem_mb} --attempt {resources.child_attempt}"
        " --attempts {params.attempts} 2> {log}"


rule score_child:
    input:
        space=SPACE,
        result=rules.train_child.output.result,
        priors="results/{dataset}/priors.meme",
    output:
        metrics="results/{dataset}/{run}/search/step_{step}/child_{child}/metrics.json",
    log:
        "logs/score_child/{dataset}/{run}/step_{step}/child_{child}.log",
    benchmark:
        "benchmarks/score_child/{dataset}/{run}/step_{step}/child_{child}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        args=flags.scoring_flags(config["search"]),
    shell:
        "bionas score-child --space {input.space:q} --train-result {input.result}"
        " --priors {input.priors} {params.args} --out {output.metrics} 2> {log}"


# Successive halving (search.fidelity): rung r of a step has a fixed number of slots; the
# rule that promotes to rung r ranks the members of rung r-1, and slot j continues the
# j-th of them from its saved state.


rule promote_children:
    input:
        space=SPACE,
        metrics=get_rung_candidates,
    output:
        promoted="results/{dataset}/{run}/search/step_{step}/rung_{rung}/promoted.json",
    log:
        "logs/promote_children/{dataset}/{run}/step_{step}/rung_{rung}.log",
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        n=lambda wc: LADDER.counts[int(wc.rung)],
        epochs=lambda wc: LADDER.epochs[int(wc.rung)],
    shell:
        "bionas promote --space {input.space:q} --metrics {input.metrics} --rung {wildcards.rung}"
        " --n {params.n} --epochs {params.epochs} --out {output.promoted} 2> {log}"


rule continue_child:
    input:
        promoted=rules.promote_children.output.promoted,
        previous=get_rung_results,
        train="results/{dataset}/data/train.npz",
        val="results/{dataset}/data/val.npz",
    output:
        result="results/{dataset}/{run}/search/step_{step}/rung_{rung}/slot_{slot}/train.json",
    log:
        "logs/continue_child/{dataset}/{run}/step_{step}/rung_{rung}/slot_{slot}.log",
    benchmark:
        "benchmarks/continue_child/{dataset}/{run}/step_{step}/rung_{rung}/slot_{slot}.tsv"
    retries: CHILD_RETRIES
    threads: config["training"]["threads"]
    resources:
        mem_mb=training_resource("mem_mb", "mem_mb"),
        runtime=training_resource("runtime", "runtime"),
        gpu=training_resource("gpu", "gpus"),
        child_attempt=lambda wildcards, attempt: attempt,
    params:
        slot=lambda wc: int(wc.slot),
        outdir=lambda wc, output: str(Path(output.result).parent),
        args=lambda wc: flags.training_flags(
            config["training"],
            config["search"]["fail_fatal"],
            config["search"]["fidelity"],
            rung=int(wc.rung),
        ),
        attempts=config["training"]["attempts"],
    # The job's limits and the attempt come from the attempt's own resources: Snakemake
    # evaluates params once, with the first attempt's, on a local retry.
    shell:
        "bionas continue-child --promoted {input.promoted} --slot {params.slot}"
        " --train {input.train} --val {input.val} --out-dir {params.outdir} {params.args}"
        " --threads {threads} --job-seconds $(({resources.runtime} * 60))"
        " --job-memory-mb {resources.mem_mb} --attempt {resources.child_attempt}"
        " --attempts {params.attempts} 2> {log}"


use rule score_child as score_continued_child with:
    input:
        space=SPACE,
        result=rules.continue_child.output.result,
        priors="results/{dataset}/priors.meme",
    output:
        metrics="results/{dataset}/{run}/search/step_{step}/rung_{rung}/slot_{slot}/metrics.json",
    log:
        "logs/score_child/{dataset}/{run}/step_{step}/rung_{rung}/slot_{slot}.log",
    benchmark:
        "benchmarks/score_child/{dataset}/{run}/step_{step}/rung_{rung}/slot_{slot}.tsv"


rule update_controller:
    input:
        space=SPACE,
        state=get_previous_state,
        metrics=get_step_metrics,
        history=get_previous_history,
    output:
        state=directory("results/{dataset}/{run}/controller/step_{step}"),
        history="results/{dataset}/{run}/search/step_{step}/history.tsv",
    log:
        "logs/update_controller/{dataset}/{run}/step_{step}.log",
    benchmark:
        "benchmarks/update_controller/{dataset}/{run}/step_{step}.tsv"
    wildcard_constraints:
        step=r"(?!000)\d{3}",
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        history_in=lambda wc, input: (
            f"--history-in {input.history[0]}" if input.history else ""
        ),
        steps=config["search"]["steps"],
    shell:
        "bionas update-controller --space {input.space:q} --state {input.state}"
        " --metrics {input.metrics} {params.history_in} --out {output.state}"
        " --history-out {output.history} --steps {params.steps} 2> {log}"
