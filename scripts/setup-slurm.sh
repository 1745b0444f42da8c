#!/usr/bin/env bash
# Install the SLURM daemons, client and munge (Debian/Ubuntu packages) when
# missing, so that scripts/slurm-local.sh can start a single-node cluster on
# this host for the tests marked `slurm`.
# Idempotent: when everything is installed it returns at once. Never prompts.
#
#   bash scripts/setup-slurm.sh
#
# Installing needs apt-get and root (or password-less sudo). Where that is not
# possible it says so and exits 0, and the SLURM tests are skipped; when the
# CI variable is set it exits 1 instead, as the tests would fail there.
set -euo pipefail

BINARIES=(slurmctld slurmd sinfo squeue sbatch srun scancel munged mungekey)
PACKAGES=(slurmctld slurmd slurm-client munge)

missing_binaries() {
    local bin
    for bin in "${BINARIES[@]}"; do
        # The daemons live in /usr/sbin, which is not on every user's PATH.
        if ! command -v "$bin" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$bin" ]]; then
            echo "$bin"
        fi
    done
}

missing="$(missing_binaries | tr '\n' ' ')"
if [[ -z "$missing" ]]; then
    exit 0
fi
echo "setup-slurm: missing ${missing% }" >&2

if [[ "$(id -u)" == 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    as_root=(none)
fi
if [[ "${as_root[0]:-}" == none ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-slurm: cannot install them here (needs apt-get and root or password-less sudo)." >&2
    echo "setup-slurm: on Debian/Ubuntu: sudo apt-get install ${PACKAGES[*]}" >&2
    echo "setup-slurm: elsewhere install SLURM and munge with your package manager." >&2
    if [[ -n "${CI:-}" ]]; then
        exit 1
    fi
    echo "setup-slurm: the tests marked 'slurm' will be skipped." >&2
    exit 0
fi

echo "setup-slurm: installing ${PACKAGES[*]} with apt-get" >&2
# The packages' maintainer scripts try to start services; on machines without
# systemd (containers, CI) that must neither hang nor fail the install, and the
# tests start their own daemons anyway.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod +x "$policy"
    made_policy=1
fi
cleanup() {
    if (( made_policy )); then "${as_root[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT

apt_env=(env DEBIAN_FRONTEND=noninteractive)
apt_opts=(-y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
          -o DPkg::Lock::Timeout=120)
"${as_root[@]}" "${apt_env[@]}" timeout 300 apt-get update -qq >/dev/null
"${as_root[@]}" "${apt_env[@]}" timeout 600 \
    apt-get install "${apt_opts[@]}" --no-install-recommends "${PACKAGES[@]}" >/dev/null

missing="$(missing_binaries | tr '\n' ' ')"
if [[ -n "$missing" ]]; then
    echo "setup-slurm: still missing after the install: ${missing% }" >&2
    exit 1
fi
echo "setup-slurm: installed slurm $(dpkg-query -W -f '${Version}' slurm-client 2>/dev/null)" >&2
