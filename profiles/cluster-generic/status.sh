#!/usr/bin/env bash
# Print the state of one SGE job as snakemake-executor-plugin-cluster-generic
# expects it: "running", "success" or "failed".
#
#   status.sh JOBID
#
# A job that qstat lists is running (or failed, in an error state such as Eqw).
# A job that has left qstat is looked up in the accounting (qacct): it
# succeeded when both `failed` and `exit_status` are 0. qacct may lag behind
# qstat by a few seconds, so an unknown job counts as running for
# SGE_ACCT_GRACE seconds [120]; after that, or without qacct at all, it counts
# as finished and Snakemake decides from the job's outputs (missing ones fail it).
# PBS and LSF versions are at the end of this file.
set -uo pipefail

(( $# == 1 )) || { echo "usage: $0 JOBID" >&2; exit 2; }
jobid="$1"

state="$(qstat 2>/dev/null | awk -v id="$jobid" '$1 == id {print $5; exit}')"
if [[ -n "$state" ]]; then
    # Error states (E, e.g. Eqw) never run on their own.
    if [[ "$state" == *E* ]]; then echo failed; else echo running; fi
    exit 0
fi

if command -v qacct >/dev/null 2>&1; then
    if acct="$(qacct -j "$jobid" 2>/dev/null)" && [[ -n "$acct" ]]; then
        failed="$(awk '$1 == "failed" {print $2}' <<<"$acct" | tail -n 1)"
        exit_status="$(awk '$1 == "exit_status" {print $2}' <<<"$acct" | tail -n 1)"
        if [[ "$failed" == 0 && "$exit_status" == 0 ]]; then echo success; else echo failed; fi
        rm -f ".snakemake/sge-status/$jobid"
        exit 0
    fi
    # Not in the accounting yet: remember when we first missed it.
    mkdir -p .snakemake/sge-status
    marker=".snakemake/sge-status/$jobid"
    [[ -f "$marker" ]] || date +%s >"$marker"
    if (( $(date +%s) - $(cat "$marker") < ${SGE_ACCT_GRACE:-120} )); then
        echo running
        exit 0
    fi
    echo "status.sh: job $jobid left qstat but qacct does not know it; judging it by its outputs" >&2
    rm -f "$marker"
fi
echo success

# ---- PBS Pro / OpenPBS (qstat -x lists finished jobs; Torque: qstat -f, state C):
# info="$(qstat -x -f "$jobid" 2>/dev/null)"
# state="$(awk '$1 == "job_state" {print $3}' <<<"$info")"
# code="$(awk '$1 == "Exit_status" || $1 == "exit_status" {print $3}' <<<"$info")"
# case "$state" in
#     F|C) if [[ "$code" == 0 ]]; then echo success; else echo failed; fi ;;
#     "") echo success ;;      # purged from the server: judge by outputs
#     *) echo running ;;
# esac
#
# ---- LSF:
# case "$(bjobs -noheader -o stat "$jobid" 2>/dev/null)" in
#     DONE) echo success ;;
#     EXIT) echo failed ;;
#     ""|*"not found"*) echo success ;;    # cleaned from mbatchd: judge by outputs
#     *) echo running ;;                   # PEND RUN PSUSP USUSP SSUSP WAIT UNKWN
# esac
