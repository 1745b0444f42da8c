#!/usr/bin/env bash
# Submit one Snakemake job script to SGE (Son of Grid Engine, Univa/Altair GE)
# and print its job id, as snakemake-executor-plugin-cluster-generic expects:
#
#   submit.sh JOBSCRIPT
#
# The job's rule, threads and resources are read from the job script's
# "# properties = {...}" line. Site settings, as environment variables:
#   SGE_PE            parallel environment for jobs with threads > 1 [smp]
#   SGE_MEM_RESOURCE  memory resource, requested per slot [h_vmem]
#                     (h_vmem limits virtual memory: TensorFlow's is about 3x
#                     its resident memory; use mem_free or h_rss where h_vmem
#                     kills jobs that are well within their mem_mb)
#   SGE_QUEUE         queue (-q), empty for the default
#   SGE_EXTRA         further qsub flags, e.g. "-P myproject -l gpu=1"
#   CLUSTER_LOG_DIR   where the scheduler writes each job's output [logs/cluster]
# PBS and LSF versions of the qsub call are at the end of this file.
set -euo pipefail

(( $# >= 1 )) || { echo "usage: $0 JOBSCRIPT" >&2; exit 2; }
jobscript="${!#}"
log_dir="${CLUSTER_LOG_DIR:-logs/cluster}"

# NAME THREADS MEM_MB RUNTIME (minutes) from the properties line.
read -r name threads mem_mb runtime < <(
    python3 - "$jobscript" <<'EOF'
import json
import re
import sys

with open(sys.argv[1]) as handle:
    for line in handle:
        if line.startswith("# properties = "):
            props = json.loads(line[len("# properties = "):])
            break
    else:
        sys.exit(f"submit.sh: no '# properties = ' line in {sys.argv[1]}")
if props.get("type") == "group":
    label = f"group.{props['groupid']}"
else:
    label = ".".join([props["rule"], *map(str, props.get("wildcards", {}).values())])
# Job names: letters, digits, . _ - only, not starting with a digit, short.
name = "smk." + re.sub(r"[^A-Za-z0-9._-]+", "_", label)[:60]
res = props.get("resources", {})
threads = max(1, int(props.get("threads") or 1))
mem_mb = int(res.get("mem_mb") or 1000)
runtime = int(res.get("runtime") or 60)
print(name, threads, mem_mb, runtime)
EOF
)

mkdir -p "$log_dir"
walltime="$(printf '%02d:%02d:00' $(( runtime / 60 )) $(( runtime % 60 )))"
mem_per_slot=$(( (mem_mb + threads - 1) / threads ))

args=(-terse -cwd -V -S /bin/bash -r n -j y -N "$name"
      -o "$log_dir/\$JOB_NAME.\$JOB_ID.log"
      -l "h_rt=$walltime" -l "${SGE_MEM_RESOURCE:-h_vmem}=${mem_per_slot}M")
if (( threads > 1 )); then
    args+=(-pe "${SGE_PE:-smp}" "$threads")
fi
if [[ -n "${SGE_QUEUE:-}" ]]; then
    args+=(-q "$SGE_QUEUE")
fi
# shellcheck disable=SC2206  # SGE_EXTRA is a list of flags, split on purpose
extra=(${SGE_EXTRA:-})

# qsub -terse prints the job id alone ("123", or "123.1-10:1" for arrays).
qsub "${args[@]}" "${extra[@]}" "$jobscript" | head -n 1 | cut -d. -f1

# ---- PBS Pro / OpenPBS: replace the qsub call above with
# qsub -N "$name" -V -j oe -o "$log_dir/" -l "walltime=$walltime" \
#     -l "select=1:ncpus=$threads:mem=${mem_mb}mb" "$jobscript"
# (Torque: -l "nodes=1:ppn=$threads,mem=${mem_mb}mb" instead of select=...).
# qsub prints "123.server": the whole line is the job id.
#
# ---- LSF: replace the qsub call above with
# bsub -J "$name" -n "$threads" -R "span[hosts=1] rusage[mem=$mem_mb]" -M "$mem_mb" \
#     -W "$runtime" -o "$log_dir/$name.%J.log" < "$jobscript" \
#     | sed -n 's/^Job <\([0-9]*\)> is submitted.*/\1/p'
# (-M and rusage are in LSF_UNIT_FOR_LIMITS, MB on most sites; check `lsadmin showconf lim`).
