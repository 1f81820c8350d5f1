# Two commands: `make run` sets up and starts the app; `make test` sets up and runs the checks.
# Re-running either is fast when nothing changed: installs are keyed on stamp files.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
ADDRESS ?= 127.0.0.1
TORCH_VERSION := 2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test setup setup-dev index check lint eval bench browser clean

run: setup index
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.address $(ADDRESS)

test: setup-dev browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, on its own: installing sentence-transformers first pulls a multi-GB CUDA build.
$(VENV)/.stamp-torch: | $(BIN)/python
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	touch $@

$(VENV)/.stamp-install: pyproject.toml $(VENV)/.stamp-torch
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml $(VENV)/.stamp-install
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.stamp-install
setup-dev: $(VENV)/.stamp-dev

# Builds the index, or refreshes only what changed; a no-op when the corpus is unchanged.
index: setup
	$(BIN)/assistant index

check: setup
	$(BIN)/assistant corpus check

lint: setup-dev
	$(BIN)/ruff check .

eval: setup index
	$(BIN)/assistant eval

bench: setup index
	$(BIN)/assistant bench

# The end-to-end tests drive Debian's Chromium; install it once if it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  >/dev/null || echo "warning: could not install chromium; browser tests will be skipped"; }

clean:
	rm -rf index/CURRENT index/builds .pytest_cache .ruff_cache
