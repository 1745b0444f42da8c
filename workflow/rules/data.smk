# Data stage: genome + peaks -> windows -> one-hot tensors; JASPAR -> priors.


rule simulate_demo:
    output:
        genome="results/{dataset}/input/genome.fa",
        fai="results/{dataset}/input/genome.fa.fai",
        peaks="results/{dataset}/input/peaks.narrowPeak",
        truth="results/{dataset}/input/truth.tsv",
    log:
        "logs/simulate_demo/{dataset}.log",
    benchmark:
        "benchmarks/simulate_demo/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        args=lambda wc: flags.simulate_flags(dataset(wc)["simulate"]),
        outdir=lambda wc, output: str(Path(output.genome).parent),
    shell:
        "bionas simulate --out-dir {params.outdir} {params.args} 2> {log}"


rule decompress_genome:
    input:
        genome=lambda wc: dataset(wc)["genome"],
    output:
        genome="results/{dataset}/genome/genome.fa",
    log:
        "logs/decompress_genome/{dataset}.log",
    benchmark:
        "benchmarks/decompress_genome/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    shell:
        "bionas decompress-genome --genome {input.genome:q} --out {output.genome} 2> {log}"


rule prepare_intervals:
    input:
        genome=get_genome,
        peaks=lambda wc: list(get_peaks(wc).values()),
        blacklist=lambda wc: (
            [dataset(wc)["blacklist"]] if "blacklist" in dataset(wc) else []
        ),
    output:
        windows="results/{dataset}/data/windows.tsv",
        summary="results/{dataset}/data/summary.tsv",
    log:
        "logs/prepare_intervals/{dataset}.log",
    benchmark:
        "benchmarks/prepare_intervals/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        peaks=lambda wc, input: flags.peaks_flag(get_peaks(wc), input.peaks),
        split=lambda wc: flags.split_flags(dataset(wc)["split"]),
        window=lambda wc: dataset(wc)["window"],
        method=lambda wc: dataset(wc)["negatives"]["method"],
        ratio=lambda wc: dataset(wc)["negatives"]["ratio"],
        seed=config["seed"],
        filters=lambda wc, input: flags.as_flags(
            {
                "blacklist": (input.blacklist or [None])[0],
                "chromosomes": dataset(wc)["chromosomes"],
                "max_peaks": dataset(wc).get("max_peaks"),
                "chrom_names": dataset(wc)["chrom_names"],
            }
        ),
    shell:
        "bionas prepare --genome {input.genome:q} --peaks {params.peaks} {params.filters}"
        " --window {params.window} --negatives {params.method}"
        " --negative-ratio {params.ratio} {params.split} --seed {params.seed}"
        " --out {output.windows} --summary {output.summary} 2> {log}"


rule encode_sequences:
    input:
        genome=get_genome,
        windows=rules.prepare_intervals.output.windows,
    output:
        train="results/{dataset}/data/train.npz",
        val="results/{dataset}/data/val.npz",
        test="results/{dataset}/data/test.npz",
    log:
        "logs/encode_sequences/{dataset}.log",
    benchmark:
        "benchmarks/encode_sequences/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        outdir=lambda wc, output: str(Path(output.train).parent),
        revcomp=lambda wc: "--revcomp-train" if dataset(wc)["revcomp_train"] else "",
    shell:
        "bionas encode --genome {input.genome:q} --windows {input.windows}"
        " --out-dir {params.outdir} {params.revcomp} 2> {log}"


rule fetch_priors:
    input:
        meme=get_priors_input,
    output:
        meme="results/{dataset}/priors.meme",
    log:
        "logs/fetch_priors/{dataset}.log",
    benchmark:
        "benchmarks/fetch_priors/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        args=lambda wc, input: flags.priors_flags(
            dataset(wc)["priors"], (input.meme or [None])[0]
        ),
    shell:
        "bionas priors {params.args} --out {output.meme} 2> {log}"
