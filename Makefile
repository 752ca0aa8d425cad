# Two targets do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CHROMIUM ?= /usr/bin/chromium
REDIS_SERVER ?= /usr/bin/redis-server
NGINX ?= /usr/sbin/nginx

.PHONY: run demo test bench drill chromium postgres redis nginx clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# llama-cpp-python builds from source. On x86-64 it is built without AMX: ggml's AMX weight
# repacking crashes (SIGSEGV in libggml-cpu) on the first decode of the bundled Q4_1 model on
# CPUs that have AMX; the AVX-512 kernels serve it. Built once per venv, never from pip's cache
# (a cached wheel may be an AMX build).
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS := $(if $(filter x86_64,$(shell uname -m)),-DCMAKE_C_FLAGS="$(NO_AMX)" -DCMAKE_CXX_FLAGS="$(NO_AMX)")
LLAMA_PIN := $(shell grep -E '^llama-cpp-python==' requirements.txt)
LLAMA_SOURCE := llama_cpp_python-$(lastword $(subst ==, ,$(LLAMA_PIN)))
LLAMA_SDIST := $(VENV)/sdist/$(LLAMA_SOURCE).tar.gz

# Its source is downloaded once per venv and kept: the build installs from it, and the tests
# take llama.cpp's own HF-to-GGUF converter from it.
$(LLAMA_SDIST): | $(PY)
	$(PIP) download --quiet --no-deps --no-binary :all: "$(LLAMA_PIN)" \
	  -d $(VENV)/sdist

# The pins are requirements.txt's; the project itself goes in editable (the `council` command).
# The source is order-only: a venv built before it was kept is not rebuilt for it.
$(VENV)/.runtime: requirements.txt pyproject.toml | $(PY) $(LLAMA_SDIST)
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(PIP) install --quiet --no-cache-dir --no-deps "$(LLAMA_SDIST)"
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

# llama.cpp's convert_hf_to_gguf.py with what it imports from its own tree (its `conversion`
# package and gguf-py), in $(VENV)/llama.cpp: tests/test_merge_llama_cpp.py converts a merged
# persona model with it, as a user would before loading it into llama.cpp.
$(VENV)/.converter: $(LLAMA_SDIST)
	rm -rf $(VENV)/llama.cpp && mkdir -p $(VENV)/llama.cpp
	tar -xzf $(LLAMA_SDIST) -C $(VENV)/llama.cpp --strip-components=3 \
	  $(addprefix $(LLAMA_SOURCE)/vendor/llama.cpp/,convert_hf_to_gguf.py conversion gguf-py)
	touch $@

# The browser tests drive Debian's chromium through Playwright (no browser download).
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; \
	fi

# The database tests also run on PostgreSQL: Debian's server binaries, started by the tests
# themselves in a private temp cluster (tests/postgres.py).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "Installing Debian's postgresql for the database tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql; fi; \
	fi

# The scale-out tests, the load benchmark's side-by-side run and the drill start their own
# Redis and nginx (tests/services.py, deploy/drill.sh) from Debian's packages.
redis:
	@if [ ! -x "$(REDIS_SERVER)" ]; then \
	  echo "Installing Debian's redis-server for the scale-out tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server; fi; \
	fi

nginx:
	@if [ ! -x "$(NGINX)" ]; then \
	  echo "Installing Debian's nginx for the scale-out tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nginx; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq nginx; fi; \
	fi

run: $(VENV)/.runtime
	$(VENV)/bin/council run

demo: $(VENV)/.runtime
	$(VENV)/bin/council demo

test: $(VENV)/.dev $(VENV)/.converter chromium postgres redis nginx
	$(PY) -m pytest

$(VENV)/.bench: requirements-bench.txt $(VENV)/.dev
	$(PIP) install --quiet -r requirements-bench.txt
	touch $@

bench: $(VENV)/.bench
	$(PY) -m bench.round_overhead
	$(PY) -m bench.router
	$(PY) -m bench.engine
	$(PY) -m bench.adapters
	$(PY) -m bench.merge
	$(PY) -m bench.eval

# The whole scale-out topology on this machine (deploy/drill.sh): Redis, PostgreSQL, two model
# servers (llama-cpp-python's, from requirements-dev.txt), two app processes, nginx on :5000;
# Ctrl-C stops it all.
drill: $(VENV)/.dev postgres redis nginx
	deploy/drill.sh

clean:
	rm -rf $(VENV) .pytest_cache test-output
