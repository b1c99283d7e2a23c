# Two commands do all set-up on a fresh machine with Python 3.11+ and make:
#   make demo   create .venv, install, run the bundled default job and print its report
#   make test   the same environment, then lint, type check and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench bench-quick clean readme-sample

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cosigner-ha run

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check cosigner_ha tests benchmarks
	$(BIN)/ruff format --check cosigner_ha tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# one worker a core (pytest-xdist): the suite's runs are separate processes and loopback services on
# ephemeral ports, and each test that counts processes counts its own children or its own directory's
pytest: $(STAMP)
	$(BIN)/pytest -n auto

# the README's sample report, from the real run of the bundled default (tests/test_readme_sample.py checks it)
readme-sample: $(STAMP)
	$(BIN)/python -m tests.readme_sample

# the reference commit of the cluster benchmark's side-by-side timing (the wave-1 code, issue 16)
BENCH_AGAINST ?= 7843ec3

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done
	$(BIN)/python benchmarks/bench_cluster.py --against $(BENCH_AGAINST)
	$(BIN)/python benchmarks/bench_cluster.py --memory --day

# under a minute on an idle machine: ten busy-desk minutes, this tree against $(BENCH_AGAINST)
bench-quick: $(STAMP)
	$(BIN)/python benchmarks/bench_cluster.py --against $(BENCH_AGAINST) --quick --runs 2

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
