#!/usr/bin/env bash
# What the test suite needs beyond the package itself: headless Chromium (the
# report's browser test) and SLURM with munge (the single-node cluster test).
# Idempotent: returns at once when both are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "setup-test: installing chromium with apt-get (about 30 s)" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "setup-test: chromium is missing and cannot be installed here; the browser" >&2
        echo "setup-test: test of the report is skipped (install Debian's 'chromium')." >&2
    fi
fi
bash scripts/setup-slurm.sh
