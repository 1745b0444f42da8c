#!/usr/bin/env bash
# Cancel SGE jobs; snakemake-executor-plugin-cluster-generic calls this with
# job ids when Snakemake is interrupted (Ctrl-C).
#
#   cancel.sh JOBID [JOBID ...]
#
# PBS: qdel "$@"     LSF: bkill "$@"
set -euo pipefail
(( $# >= 1 )) || exit 0
qdel "$@"
