# The LMetric toolkit. `make demo` and `make test` each build their own virtual
# environment from the lock file (requirements.lock) and run.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test check paper-checks lock clean bench

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
	$(PY) -m benchmarks.bench_des
	$(PY) -m benchmarks.bench_executor
