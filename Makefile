# The two commands of the README:
#   make demo   set everything up, then run the workflow on the bundled demo
#   make test   set everything up, then run the linters and the whole test suite
# Both install what is missing first (a virtual environment in .venv and the
# bedtools binary) and reuse it on later calls.

VENV ?= .venv
CORES ?= 2
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup setup-test demo test lint bench clean

setup:
	@bash scripts/setup.sh

setup-test: setup
	@bash scripts/setup-test.sh

demo: setup
	snakemake --cores $(CORES)

lint: setup  # snakemake --lint runs inside pytest (tests/test_workflow_data.py)
	ruff check bionas tests bench
	lint-imports
	snakefmt --check workflow

test: setup-test lint
	pytest

bench: setup
	python bench/encode.py

clean:
	rm -rf results logs benchmarks .snakemake
