# Two commands for a newcomer: `make demo` runs the main job, `make test` runs the tests.
# Each creates .venv and installs what it needs first (Python 3.11+ only).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint fuzz bench clean

demo: $(STAMP)
	$(BIN)/vfl demo

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check crypto protocols vfl benchmarks tests
	$(BIN)/ruff format --check crypto protocols vfl benchmarks tests
	$(BIN)/mypy

# A longer property-based fuzzing run of every decoder and every protocol role
# (hypothesis "long" profile: ~170k role cases, ~13 min on 2 cores); coverage-guided
# fuzzing with atheris: see fuzz/README.md (pip install '.[fuzz]').
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest tests/protocols/test_fuzz_roles.py tests/crypto/test_serialization.py tests/crypto/test_encoding.py tests/vfl/test_codec.py tests/vfl/test_framing.py tests/vfl/test_runner.py tests/protocols/test_hetero_lr_hostile.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks paillier --key-lengths 1024 2048 3072
	$(BIN)/python -m benchmarks psi
	$(BIN)/python -m benchmarks psi --method kkrt --output benchmarks/results/psi_kkrt.json
	$(BIN)/python -m benchmarks hetero_lr

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench,dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
