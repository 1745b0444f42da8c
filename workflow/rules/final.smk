# The final model: pick the architecture, train it with several seeds, keep the
# replicate with the lowest validation loss, and test it on the test chromosomes.


rule select_architecture:
    input:
        space=SPACE,
        found=get_selection_input,
    output:
        architecture="results/{dataset}/{run}/final/architecture.json",
    params:
        args=selection_args,
    log:
        "logs/select_architecture/{dataset}/{run}.log",
    benchmark:
        "benchmarks/select_architecture/{dataset}/{run}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    shell:
        "{BIONAS} select-architecture --space {input.space} {params.args}"
        " --out {output.architecture} > {log} 2>&1"


rule train_final:
    input:
        space=SPACE,
        architecture=rules.select_architecture.output.architecture,
        train="results/{dataset}/data/train.npz",
        val="results/{dataset}/data/val.npz",
    output:
        result="results/{dataset}/{run}/final/replicate_{replicate}/train.json",
    params:
        outdir=lambda wc, output: str(Path(output.result).parent),
        cache="results/{dataset}/cache/children",
        args=final_training_args,
    log:
        "logs/train_final/{dataset}/{run}/replicate_{replicate}.log",
    benchmark:
        "benchmarks/train_final/{dataset}/{run}/replicate_{replicate}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=config["training"]["mem_mb"],
        runtime=config["training"]["runtime"] * 3,
    shell:
        "{BIONAS} train-child --space {input.space} --architecture {input.architecture}"
        " --train {input.train} --val {input.val} --out-dir {params.outdir}"
        " --cache-dir {params.cache} {params.args} --threads {threads} 2> {log}"


rule evaluate_final:
    input:
        results=get_final_replicates,
        test="results/{dataset}/data/test.npz",
    output:
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
    shell:
        "{BIONAS} evaluate --results {input.results} --test {input.test}"
        " --out-metrics {output.metrics} --out-model {output.model}"
        " --out-predictions {output.predictions} --out-summary {output.summary}"
        " --threads {threads} > {log} 2>&1"
