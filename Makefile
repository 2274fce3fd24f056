# The two commands of the README: `make demo` and `make test`. Both build or refresh .venv
# from pyproject.toml first, so a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.chime-tap-installed
DEMO_OUT ?= build/demo

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# setuptools warns, for every editable install, that a folder named like the package may
	# shadow it: here that folder is the package's own source, so the banner says nothing.
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/chime-tap demo --out $(DEMO_OUT)

# One worker per core plus one (pytest-xdist), a test module per worker: module fixtures run
# once. Modules are handed out in the order tests/conftest.py sets (the slow ones first), not
# pytest-xdist's own. The extra worker uses the CPU the others leave while they wait on the real
# proxies, clients and servers their tests start (2 cores: 7 min 37 s of tests, not 8 min 57 s).
PYTEST_WORKERS ?= $(shell python3 -c "import os; print((os.cpu_count() or 1) + 1)")
PYTEST_PARALLEL ?= -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The 25 slowest tests are listed at the end, to keep the suite inside its 10 minutes.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations=25 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf build .venv
