#!/usr/bin/env bash
# A real single-node SLURM cluster on this host, without systemd: munged,
# slurmctld and slurmd run in the background and their PIDs are kept in the
# state directory, so that `stop` ends exactly those processes.
#
#   scripts/slurm-local.sh start  [--state-dir DIR]   start, wait until the node is idle
#   scripts/slurm-local.sh status [--state-dir DIR]   exit 0 when all daemons run
#   scripts/slurm-local.sh stop   [--state-dir DIR]   cancel jobs, stop the daemons
#
# The node is this host with its CPU count (nproc) and a little less memory
# than `free -m` reports; one partition, `local`, is the default. Memory and
# CPUs are scheduled (select/cons_tres, CR_Core_Memory) and a job step above
# its memory is killed (jobacct_gather/linux, OverMemoryKill); there is no accounting
# database, so job states come from squeue (MinJobAge keeps finished jobs
# visible for 10 minutes). slurm.conf must be /etc/slurm/slurm.conf because
# the srun that runs inside a job does not read SLURM_CONF; a slurm.conf that
# was there before is kept in the state directory and put back by `stop`.
#
# Needs root (munged runs as the munge user, slurmd must start job steps)
# and the Debian packages slurmctld slurmd slurm-client munge
# (scripts/setup-slurm.sh installs them).
set -euo pipefail

PATH="/usr/sbin:/sbin:$PATH"
STATE_DIR="${BIONAS_SLURM_STATE_DIR:-/tmp/bionas-slurm}"
CONF=/etc/slurm/slurm.conf
MARKER="# Written by bionas scripts/slurm-local.sh; restored on stop."
PARTITION=local
START_TIMEOUT="${BIONAS_SLURM_START_TIMEOUT:-60}"
MUNGE_SOCKET_DIR=/run/munge

usage() {
    echo "usage: $0 start|stop|status [--state-dir DIR]" >&2
    exit 2
}

die() {
    echo "slurm-local: $*" >&2
    exit 1
}

say() {
    echo "slurm-local: $*" >&2
}

(( $# >= 1 )) || usage
action="$1"
shift
while (( $# )); do
    case "$1" in
        --state-dir) (( $# >= 2 )) || usage; STATE_DIR="$2"; shift 2 ;;
        --state-dir=*) STATE_DIR="${1#*=}"; shift ;;
        *) usage ;;
    esac
done
STATE_DIR="$(realpath -m "$STATE_DIR")"

# ------------------------------------------------------------------ helpers

# PID recorded for daemon $1, empty when none.
recorded_pid() {
    local file="$STATE_DIR/$1.pid"
    if [[ -f "$file" ]]; then cat "$file"; fi
}

# True when PID $2 is alive and is the program $1 (guards against PID reuse).
is_daemon() {
    local name="$1" pid="$2"
    [[ -n "$pid" && -r "/proc/$pid/comm" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] || return 1
    # A zombie has exited already; only its parent's reaping is left.
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}

# True when the daemon $1 that this script recorded is running.
running() {
    is_daemon "$1" "$(recorded_pid "$1")"
}

# Start "$@" in the background in its own session, its output to $1.out;
# record its PID in $1.pid. setsid execs without forking here (a background
# job is never a process group leader), so $! is the daemon itself.
launch() {
    local name="$1"
    shift
    setsid "$@" </dev/null >"$STATE_DIR/$name.out" 2>&1 &
    local pid=$!
    echo "$pid" >"$STATE_DIR/$name.pid"
    # Until the exec chain (setsid, setpriv) reaches the daemon, its name differs.
    for _ in $(seq 50); do
        if is_daemon "$name" "$pid" || ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.05
    done
    return 0
}

# Stop the recorded daemon $1: TERM, wait up to 15 s, then KILL.
stop_daemon() {
    local name="$1" pid
    pid="$(recorded_pid "$name")"
    if is_daemon "$name" "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 150); do
            is_daemon "$name" "$pid" || break
            sleep 0.1
        done
        if is_daemon "$name" "$pid"; then
            say "$name (PID $pid) ignored TERM for 15 s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                is_daemon "$name" "$pid" || break
                sleep 0.1
            done
        fi
        say "stopped $name (PID $pid)"
    fi
    rm -f "$STATE_DIR/$name.pid"
}

munge_works() {
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

show_logs() {
    local file
    for file in munged.out slurmctld.out slurmctld.log slurmd.out slurmd.log; do
        if [[ -s "$STATE_DIR/$file" ]]; then
            echo "----- last lines of $STATE_DIR/$file" >&2
            tail -n 25 "$STATE_DIR/$file" >&2
        fi
    done
}

node_state() {
    sinfo --noheader --node="$NODE" --format=%t 2>/dev/null | head -n 1 | tr -d '*~#!%$@^-'
}

restore_conf() {
    if [[ -f "$STATE_DIR/slurm.conf.orig" ]]; then
        mv -f "$STATE_DIR/slurm.conf.orig" "$CONF"
        say "restored the previous $CONF"
    elif [[ -f "$CONF" ]] && head -n 1 "$CONF" | grep -qxF "$MARKER"; then
        rm -f "$CONF"
    fi
}

write_conf() {
    local cpus mem_total real_memory
    cpus="$(nproc)"
    mem_total="$(free -m | awk '/^Mem:/ {print $2}')"
    # Leave the OS and the daemons some room: 5 % or at least 256 MB.
    real_memory=$(( mem_total - (mem_total / 20 > 256 ? mem_total / 20 : 256) ))
    mkdir -p "$(dirname "$CONF")"
    if [[ -f "$CONF" ]] && ! head -n 1 "$CONF" | grep -qxF "$MARKER" \
        && [[ ! -f "$STATE_DIR/slurm.conf.orig" ]]; then
        cp -p "$CONF" "$STATE_DIR/slurm.conf.orig"
        say "kept the previous $CONF as $STATE_DIR/slurm.conf.orig"
    fi
    cat >"$CONF" <<EOF
$MARKER
# State, logs and PIDs: $STATE_DIR
ClusterName=bionas-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
# No cgroups or systemd needed: processes are tracked through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobContainerType=job_container/none
# Schedule CPUs and memory, so that jobs on the node share it as asked.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SchedulerType=sched/backfill
# No accounting database: job states come from squeue, which lists a finished
# job for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
# Memory limits are enforced without cgroups: slurmd samples each job step's
# processes every second and kills a step above its --mem (state OUT_OF_MEMORY,
# "exceeded memory limit" in the job's log).
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/slurmctld.daemon.pid
SlurmdPidFile=$STATE_DIR/slurmd.daemon.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_memory State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    chmod 0644 "$CONF"
}

start_munge() {
    if running munged; then
        return
    fi
    if munge_works; then
        say "using the munged that is already running"
        rm -f "$STATE_DIR/munged.pid"
        return
    fi
    id munge >/dev/null 2>&1 || die "there is no 'munge' user; install munge (scripts/setup-slurm.sh)"
    local key=/etc/munge/munge.key
    if [[ ! -s "$key" ]]; then
        mkdir -p /etc/munge
        chown munge:munge /etc/munge
        chmod 0700 /etc/munge
        dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
        say "created the munge key $key"
    fi
    chown munge:munge "$key"
    chmod 0400 "$key"
    install -d -o munge -g munge -m 0755 "$MUNGE_SOCKET_DIR"
    install -d -o munge -g munge -m 0700 /var/lib/munge "$STATE_DIR/munge"
    launch munged setpriv --reuid=munge --regid=munge --init-groups \
        munged --foreground --key-file="$key" --pid-file="$STATE_DIR/munge/munged.pid"
    for _ in $(seq 100); do
        munge_works && return
        running munged || break
        sleep 0.1
    done
    show_logs
    stop_daemon munged
    die "munged did not start (logs above)"
}

# ------------------------------------------------------------------ actions

NODE="$(hostname -s)"

do_status() {
    local ok=0 name pid
    for name in munged slurmctld slurmd; do
        pid="$(recorded_pid "$name")"
        if is_daemon "$name" "$pid"; then
            echo "$name: running (PID $pid)"
        elif [[ "$name" == munged ]] && munge_works; then
            echo "$name: running (not started by this script)"
        else
            echo "$name: stopped"
            ok=1
        fi
    done
    if (( ok == 0 )); then
        echo "node $NODE: $(node_state)"
    fi
    return "$ok"
}

do_start() {
    [[ "$(id -u)" == 0 ]] || die "needs root (munged runs as 'munge', slurmd starts jobs as their user)"
    local bin
    for bin in munged munge unmunge slurmctld slurmd sinfo sbatch srun squeue scontrol setpriv; do
        command -v "$bin" >/dev/null 2>&1 \
            || die "'$bin' is missing; run scripts/setup-slurm.sh (Debian: slurmctld slurmd slurm-client munge)"
    done
    # Readable by all: the munge user needs its subdirectory.
    if [[ ! -d "$STATE_DIR" ]]; then
        mkdir -p "$STATE_DIR"
        chmod 0755 "$STATE_DIR"
    fi

    if running slurmctld && running slurmd; then
        say "already running (state in $STATE_DIR)"
        do_status
        return
    fi
    local other pid
    for bin in slurmctld slurmd; do
        if ! running "$bin"; then
            other=""
            for pid in $(pgrep -x "$bin" || true); do
                is_daemon "$bin" "$pid" && other+="$pid "
            done
            [[ -z "$other" ]] || die "a $bin not started by this script is running (PID ${other% }); stop it first"
        fi
    done

    local t0
    t0="$EPOCHREALTIME"
    mkdir -p "$STATE_DIR/ctld" "$STATE_DIR/spool"
    start_munge
    write_conf
    # -D keeps them in the foreground of their session; their log files are
    # the *.log that slurm.conf names, *.out holds what comes before those open.
    if ! running slurmctld; then
        : >"$STATE_DIR/slurmctld.log"
        launch slurmctld slurmctld -D -c
    fi
    if ! running slurmd; then
        : >"$STATE_DIR/slurmd.log"
        launch slurmd slurmd -D -N "$NODE"
    fi

    local deadline state="" out
    deadline=$(( $(date +%s) + START_TIMEOUT ))
    while (( $(date +%s) < deadline )); do
        if ! running slurmctld || ! running slurmd; then
            break
        fi
        state="$(node_state)"
        if [[ "$state" == idle || "$state" == mix || "$state" == alloc ]]; then
            # One tiny job proves that authentication and job launch work.
            if ! out="$(timeout 30 srun --nodes=1 --ntasks=1 --mem=16 --time=1 \
                    --job-name=slurm-local-check true 2>&1)"; then
                say "the node is $state but a test job failed: $out"
                break
            fi
            say "node $NODE is $state after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s;" \
                "partition '$PARTITION', $(nproc) CPUs; state in $STATE_DIR"
            return
        fi
        sleep 0.2
    done
    if running slurmctld && running slurmd; then
        say "the node did not become idle within $START_TIMEOUT s (state: '${state:-unknown}')"
    else
        say "a daemon exited during start-up"
    fi
    show_logs
    do_stop >/dev/null 2>&1 || true
    die "start failed (logs above); the daemons that had started were stopped"
}

do_stop() {
    local name
    for name in munged slurmctld slurmd; do
        if running "$name" && [[ "$(id -u)" != 0 ]]; then
            die "needs root to stop $name (PID $(recorded_pid "$name"))"
        fi
    done
    if running slurmctld; then
        # Jobs of this cluster only: end them before their daemons go.
        local jobs
        jobs="$(squeue --noheader --format=%i 2>/dev/null || true)"
        if [[ -n "$jobs" ]]; then
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            for _ in $(seq 50); do
                [[ -z "$(squeue --noheader --states=RUNNING,COMPLETING,PENDING --format=%i 2>/dev/null)" ]] && break
                sleep 0.2
            done
        fi
    fi
    stop_daemon slurmd
    stop_daemon slurmctld
    stop_daemon munged
    restore_conf
}

case "$action" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    *) usage ;;
esac
