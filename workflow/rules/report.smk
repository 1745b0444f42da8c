# Interpretation and the report: the final model's first-layer filters against
# a motif collection (with a randomly initialised model as negative control),
# then one self-contained HTML page per run.
import re

import yaml


report: "../report/workflow.rst"


# Helpers are lambdas: `snakemake --lint` flags a rule file that also defines
# functions, and these are this file's own.

# What `snakemake` builds for the report of one dataset: the interpreted filters and the page.
get_report_targets = lambda name: [
    f"results/{name}/{config['run']}/interpret/matches.tsv",
    f"results/{name}/{config['run']}/report/index.html",
] + (
    [f"results/{name}/{config['run']}/attribute/summary.json"]
    if config["interpret"]["modisco"]
    else []
)

# The attribution summary when `interpret.modisco` is on, or nothing.
get_report_attribute = lambda wc: (
    expand(rules.attribute_final.output.summary, dataset=wc.dataset, run=wc.run)
    if config["interpret"]["modisco"]
    else []
)

# `interpret.collection` as an input: the MEME file, or nothing for a JASPAR release.
get_collection_input = lambda wc: (
    []
    if re.fullmatch(r"JASPAR\d{4}", config["interpret"]["collection"])
    else [config["interpret"]["collection"]]
)

# history.tsv of the search's last step, or nothing when the search was skipped.
get_report_history = lambda wc: (
    []
    if is_search_skipped()
    else expand(
        rules.update_controller.output.history,
        dataset=wc.dataset,
        run=wc.run,
        step=f"{STEPS:03d}",
    )
)

# Controller states of steps 0..S, or nothing when the search was skipped.
get_report_controllers = lambda wc: (
    []
    if is_search_skipped()
    else expand(rules.init_controller.output.state, dataset=wc.dataset, run=wc.run)
    + expand(
        rules.update_controller.output.state,
        dataset=wc.dataset,
        run=wc.run,
        step=[f"{s:03d}" for s in range(1, STEPS + 1)],
    )
)

# The planted-motif table of a simulated dataset, or nothing.
get_report_truth = lambda wc: (
    expand(rules.simulate_demo.output.truth, dataset=wc.dataset)
    if is_simulated(wc.dataset)
    else []
)


rule motif_families:
    input:
        collection=get_collection_input,
    output:
        families="results/motifs/families.tsv",
    log:
        "logs/motif_families.log",
    benchmark:
        "benchmarks/motif_families.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        collection=lambda wc, input: (
            input.collection[0]
            if input.collection
            else config["interpret"]["collection"]
        ),
        # the setting again as a plain value: Snakemake records no param that reads the
        # input, so a new interpret.collection would not rerun this rule
        collection_setting=config["interpret"]["collection"],
        tax_group=config["interpret"]["tax_group"],
        cache_dir=config["interpret"]["cache_dir"],
    shell:
        "bionas motif-families --collection {params.collection:q}"
        " --tax-group {params.tax_group:q} --cache-dir {params.cache_dir:q}"
        " --threads {threads} --out {output.families} > {log} 2>&1"


rule interpret_filters:
    input:
        space=SPACE,
        model=rules.evaluate_final.output.model,
        architecture=rules.evaluate_final.output.architecture,
        test=rules.encode_sequences.output.test,
        priors=rules.fetch_priors.output.meme,
        collection=get_collection_input,
        families=rules.motif_families.output.families,
        replicates=get_final_replicates,
    output:
        matches=report(
            "results/{dataset}/{run}/interpret/matches.tsv",
            caption="../report/matches.rst",
            category="Motifs",
            labels={"dataset": "{dataset}", "run": "{run}", "table": "matches"},
        ),
        control=report(
            "results/{dataset}/{run}/interpret/control_matches.tsv",
            caption="../report/control_matches.rst",
            category="Motifs",
            labels={
                "dataset": "{dataset}",
                "run": "{run}",
                "table": "negative control",
            },
        ),
        filters=report(
            "results/{dataset}/{run}/interpret/filters.tsv",
            caption="../report/filters.rst",
            category="Motifs",
            labels={"dataset": "{dataset}", "run": "{run}", "table": "filters"},
        ),
        recovery=report(
            "results/{dataset}/{run}/interpret/recovery.tsv",
            caption="../report/recovery.rst",
            category="Motifs",
            labels={"dataset": "{dataset}", "run": "{run}", "table": "prior recovery"},
        ),
        agreement=report(
            "results/{dataset}/{run}/interpret/replicates.tsv",
            caption="../report/replicates.rst",
            category="Motifs",
            labels={
                "dataset": "{dataset}",
                "run": "{run}",
                "table": "replicate agreement",
            },
        ),
        found=report(
            "results/{dataset}/{run}/interpret/found_not_given.tsv",
            caption="../report/found_not_given.rst",
            category="Motifs",
            labels={
                "dataset": "{dataset}",
                "run": "{run}",
                "table": "found, not given",
            },
        ),
        meme="results/{dataset}/{run}/interpret/filters.meme",
        softmax="results/{dataset}/{run}/interpret/filters_softmax.meme",
        targets="results/{dataset}/{run}/interpret/best_targets.meme",
        summary="results/{dataset}/{run}/interpret/summary.json",
    log:
        "logs/interpret_filters/{dataset}/{run}.log",
    benchmark:
        "benchmarks/interpret_filters/{dataset}/{run}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        outdir=lambda wc, output: str(Path(output.summary).parent),
        collection=lambda wc, input: (
            input.collection[0]
            if input.collection
            else config["interpret"]["collection"]
        ),
        # the setting again as a plain value: Snakemake records no param that reads the
        # input, so a new interpret.collection would not rerun this rule
        collection_setting=config["interpret"]["collection"],
        tax_group=config["interpret"]["tax_group"],
        temperature=config["search"]["temperature"],
        activation_threshold=config["interpret"]["activation_threshold"],
        q_threshold=config["interpret"]["q_threshold"],
        cache_dir=config["interpret"]["cache_dir"],
        seed=config["seed"],
    shell:
        "bionas compare-motifs --space {input.space:q} --model {input.model}"
        " --architecture {input.architecture} --test {input.test} --priors {input.priors}"
        " --families {input.families} --replicates {input.replicates}"
        " --collection {params.collection:q} --tax-group {params.tax_group:q}"
        " --temperature {params.temperature} --activation-threshold {params.activation_threshold}"
        " --q-threshold {params.q_threshold} --control-seed {params.seed}"
        " --cache-dir {params.cache_dir:q} --threads {threads}"
        " --out-dir {params.outdir} > {log} 2>&1"


rule attribute_final:
    input:
        model=rules.evaluate_final.output.model,
        test=rules.encode_sequences.output.test,
        priors=rules.fetch_priors.output.meme,
        collection=get_collection_input,
        families=rules.motif_families.output.families,
    output:
        patterns=report(
            "results/{dataset}/{run}/attribute/patterns.tsv",
            caption="../report/patterns.rst",
            category="Motifs",
            labels={
                "dataset": "{dataset}",
                "run": "{run}",
                "table": "TF-MoDISco patterns",
            },
        ),
        matches="results/{dataset}/{run}/attribute/pattern_matches.tsv",
        recovery="results/{dataset}/{run}/attribute/pattern_recovery.tsv",
        found="results/{dataset}/{run}/attribute/pattern_found.tsv",
        meme="results/{dataset}/{run}/attribute/patterns.meme",
        targets="results/{dataset}/{run}/attribute/best_targets.meme",
        cwms="results/{dataset}/{run}/attribute/pattern_cwms.npz",
        summary="results/{dataset}/{run}/attribute/summary.json",
    log:
        "logs/attribute_final/{dataset}/{run}.log",
    benchmark:
        "benchmarks/attribute_final/{dataset}/{run}.tsv"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        outdir=lambda wc, output: str(Path(output.summary).parent),
        collection=lambda wc, input: (
            input.collection[0]
            if input.collection
            else config["interpret"]["collection"]
        ),
        # the setting again as a plain value: Snakemake records no param that reads the
        # input, so a new interpret.collection would not rerun this rule
        collection_setting=config["interpret"]["collection"],
        tax_group=config["interpret"]["tax_group"],
        q_threshold=config["interpret"]["q_threshold"],
        max_seqlets=config["interpret"]["max_seqlets"],
        cache_dir=config["interpret"]["cache_dir"],
    shell:
        "bionas attribute --model {input.model} --test {input.test} --priors {input.priors}"
        " --collection {params.collection:q} --tax-group {params.tax_group:q}"
        " --families {input.families} --q-threshold {params.q_threshold}"
        " --max-seqlets {params.max_seqlets} --cache-dir {params.cache_dir:q}"
        " --threads {threads} --out-dir {params.outdir} > {log} 2>&1"


rule report:
    input:
        space=SPACE,
        architecture=rules.evaluate_final.output.architecture,
        summary=rules.evaluate_final.output.summary,
        metrics=rules.evaluate_final.output.metrics,
        predictions=rules.evaluate_final.output.predictions,
        model=rules.evaluate_final.output.model,
        interpret=rules.interpret_filters.output.summary,
        matches=rules.interpret_filters.output.matches,
        history=get_report_history,
        controllers=get_report_controllers,
        truth=get_report_truth,
        attribute=get_report_attribute,
    output:
        html=report(
            "results/{dataset}/{run}/report/index.html",
            caption="../report/index.rst",
            category="Report",
            labels={"dataset": "{dataset}", "run": "{run}", "page": "bionas report"},
        ),
        card="results/{dataset}/{run}/report/model_card.json",
    log:
        "logs/report/{dataset}/{run}.log",
    benchmark:
        "benchmarks/report/{dataset}/{run}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        args=lambda wc, input: flags.report_flags(
            input.history, input.controllers, input.truth, input.attribute
        ),
        config=lambda wc: yaml.safe_dump(dict(config), sort_keys=False),
        interpret=lambda wc, input: str(Path(input.interpret).parent),
    shell:
        "bionas report --dataset {wildcards.dataset} --run {wildcards.run}"
        " --space {input.space:q} --architecture {input.architecture}"
        " --summary {input.summary} --test-metrics {input.metrics}"
        " --predictions {input.predictions} --model {input.model}"
        " --interpret-dir {params.interpret} {params.args}"
        " --config-text {params.config:q} --benchmarks benchmarks"
        " --model-card {output.card} --out {output.html} > {log} 2>&1"
