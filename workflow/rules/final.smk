# The final model: pick the candidates (final.top_k architectures with the best
# rewards at final.lambda, recomputed from every child's recorded val_loss and K
# so a new final.lambda retrains no child; or the controller's most likely one),
# train each with several seeds,
# score every replicate as the search scored its children, keep the one with the
# highest reward, and test it on the test chromosomes.


rule select_architecture:
    input:
        space=SPACE,
        found=get_selection_input,
    output:
        candidates="results/{dataset}/{run}/final/candidates.json",
    log:
        "logs/select_architecture/{dataset}/{run}.log",
    benchmark:
        "benchmarks/select_architecture/{dataset}/{run}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        args=lambda wc, input: flags.selection_flags(
            config["final"], (input.found or [None])[0], config["search"]["reward"]
        ),
        given=given_architecture_digest,
        # the settings in args again, as a plain value: Snakemake records no param that
        # reads the input, so a new final.lambda or top_k would not rerun this rule
        choice=flags.selection_key(config),
    shell:
        "bionas select-architecture --space {input.space:q} {params.args}"
        " --out {output.candidates} > {log} 2>&1"


rule train_final:
    input:
        space=SPACE,
        candidates=rules.select_architecture.output.candidates,
        train="results/{dataset}/data/train.npz",
        val="results/{dataset}/data/val.npz",
    output:
        result="results/{dataset}/{run}/final/candidate_{candidate}/replicate_{replicate}/train.json",
    log:
        "logs/train_final/{dataset}/{run}/candidate_{candidate}/replicate_{replicate}.log",
    benchmark:
        "benchmarks/train_final/{dataset}/{run}/candidate_{candidate}/replicate_{replicate}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=config["training"]["mem_mb"],
        runtime=config["training"]["runtime"] * 3,
        gpu=config["training"]["gpus"],
    params:
        index=lambda wc: int(wc.candidate),
        outdir=lambda wc, output: str(Path(output.result).parent),
        cache="results/{dataset}/cache/children",
        args=lambda wc: flags.final_training_flags(
            config["training"], config["final"], int(wc.replicate)
        ),
    shell:
        "bionas train-child --space {input.space:q} --architecture {input.candidates}"
        " --index {params.index} --train {input.train} --val {input.val}"
        " --out-dir {params.outdir} --cache-dir {params.cache} {params.args}"
        " --threads {threads} 2> {log}"


rule score_final:
    input:
        space=SPACE,
        result=rules.train_final.output.result,
        priors="results/{dataset}/priors.meme",
    output:
        metrics="results/{dataset}/{run}/final/candidate_{candidate}/replicate_{replicate}/metrics.json",
    log:
        "logs/score_final/{dataset}/{run}/candidate_{candidate}/replicate_{replicate}.log",
    benchmark:
        "benchmarks/score_final/{dataset}/{run}/candidate_{candidate}/replicate_{replicate}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        args=flags.scoring_flags(config["search"], config["final"].get("lambda")),
    shell:
        "bionas score-child --space {input.space:q} --train-result {input.result}"
        " --priors {input.priors} {params.args} --out {output.metrics} 2> {log}"


rule evaluate_final:
    input:
        space=SPACE,
        results=get_final_replicates,
        metrics=get_final_metrics,
        test="results/{dataset}/data/test.npz",
    output:
        architecture="results/{dataset}/{run}/final/architecture.json",
        metrics="results/{dataset}/{run}/final/test_metrics.tsv",
        model="results/{dataset}/{run}/final/model.keras",
        predictions="results/{dataset}/{run}/final/test_predictions.npz",
        summary="results/{dataset}/{run}/final/summary.json",
    log:
        "logs/evaluate_final/{dataset}/{run}.log",
    benchmark:
        "benchmarks/evaluate_final/{dataset}/{run}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        choose=flags.evaluate_flags(config["final"]),
    shell:
        "bionas evaluate --space {input.space:q} --results {input.results}"
        " --metrics {input.metrics} --test {input.test} {params.choose}"
        " --out-architecture {output.architecture}"
        " --out-metrics {output.metrics} --out-model {output.model}"
        " --out-predictions {output.predictions} --out-summary {output.summary}"
        " --threads {threads} > {log} 2>&1"


rule export_final:
    input:
        model=rules.evaluate_final.output.model,
        test="results/{dataset}/data/test.npz",
    output:
        export=directory("results/{dataset}/{run}/final/export"),
    log:
        "logs/export_final/{dataset}/{run}.log",
    benchmark:
        "benchmarks/export_final/{dataset}/{run}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "bionas export --model {input.model} --test {input.test}"
        " --out-dir {output.export} --threads {threads} > {log} 2>&1"


rule predict_regions:
    input:
        model=rules.evaluate_final.output.model,
        genome=get_genome,
        regions=lambda wc: (
            [dataset(wc)["predict"]["regions"]]
            if "regions" in dataset(wc)["predict"]
            else []
        ),
    output:
        predictions="results/{dataset}/{run}/predict/predictions.tsv",
    log:
        "logs/predict_regions/{dataset}/{run}.log",
    benchmark:
        "benchmarks/predict_regions/{dataset}/{run}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        args=lambda wc: flags.predict_flags(dataset(wc)["predict"], get_peaks(wc)),
    shell:
        "bionas predict --model {input.model} --genome {input.genome:q} {params.args}"
        " --threads {threads} --out {output.predictions} 2> {log}"


rule predict_bigwig:
    input:
        predictions=rules.predict_regions.output.predictions,
        genome=get_genome,
    output:
        bigwig=directory("results/{dataset}/{run}/predict/bigwig"),
    log:
        "logs/predict_bigwig/{dataset}/{run}.log",
    benchmark:
        "benchmarks/predict_bigwig/{dataset}/{run}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        step=lambda wc: (
            f"--step {dataset(wc)['predict']['step']}"
            if "tile" in dataset(wc)["predict"]
            else ""
        ),
    shell:
        "bionas bigwig --predictions {input.predictions} --genome {input.genome:q}"
        " {params.step} --out-dir {output.bigwig} 2> {log}"
