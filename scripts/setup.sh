#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment with bionas and
# its dependencies, and the bedtools binary pybedtools needs.
# Idempotent: a second call with nothing changed returns in well under a second.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.bionas-installed"

need_install=1
if [[ -f "$STAMP" && "$STAMP" -nt pyproject.toml && -x "$VENV/bin/python" ]]; then
    need_install=0
fi

if (( need_install )); then
    if ! "$PYTHON" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 13) else 1)'; then
        echo "setup: bionas needs Python 3.10-3.12; '$PYTHON' is $("$PYTHON" --version 2>&1)." >&2
        echo "setup: set PYTHON=/path/to/python3.11 and run again." >&2
        exit 1
    fi
    echo "setup: creating $VENV and installing bionas (about a minute the first time)" >&2
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[cpu,test]"
    touch "$STAMP"
fi

if ! command -v bedtools >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing bedtools with apt-get" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bedtools >/dev/null
    else
        echo "setup: the 'bedtools' binary is missing and cannot be installed here (not root or no apt)." >&2
        echo "setup: install it with conda: conda install -c conda-forge -c bioconda bedtools" >&2
        echo "setup: (or 'sudo apt-get install bedtools' on Debian/Ubuntu), then run again." >&2
        exit 1
    fi
fi
