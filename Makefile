# Everything a fresh machine needs: `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The newest supported Airflow line: `make install` / `make test` run on it.
AIRFLOW_NEWEST := 3.3.2
CONSTRAINTS := constraints/airflow-3.3.txt

.PHONY: install demo test lint typecheck unit bench soak matrix scaleout constraints clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,postgres]"
	touch $(STAMP)

install: $(STAMP)

# make demo CHANNEL=messenger / CHANNEL=whatsapp runs the same approval on Meta's other channels.
CHANNEL ?= instagram

demo: install
	$(PY) -m airflow_provider_instagram_hil.sandbox.demo --channel $(CHANNEL)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

# Test files run on TEST_WORKERS processes (pytest-xdist, one file per process at a time, so a module's
# Airflow stack starts once); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2

unit: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: lint typecheck unit

bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)

soak: install
	INSTAGRAM_HIL_SOAK=1 $(PY) -m pytest tests/reliability -m "not browser" $(PYTEST_ARGS)

# The older supported lines, each in its own reusable venv pinned by constraints/airflow-X.Y.txt, running
# the provider-discovery, plugin, Airflow-line and end-to-end tests (`make test` runs everything on the
# newest line). Add 3.3 to MATRIX_LINES to run the same subset on it in .venv-airflow-3.3.
MATRIX_LINES ?= 3.1 3.2
MATRIX_TESTS ?= tests/test_provider_info.py tests/ui/test_provider_metadata.py tests/plugins \
	tests/ui/test_api_server.py tests/compat tests/e2e

.venv-airflow-%/.installed-stamp: pyproject.toml constraints/airflow-%.txt
	rm -rf .venv-airflow-$*
	$(PYTHON) -m venv .venv-airflow-$*
	.venv-airflow-$*/bin/python -m pip install --quiet --upgrade "pip>=24"
	.venv-airflow-$*/bin/python -m pip install --quiet -c constraints/airflow-$*.txt -e ".[dev,postgres]"
	touch $@

matrix: $(foreach line,$(MATRIX_LINES),.venv-airflow-$(line)/.installed-stamp)
	@failed=""; for line in $(MATRIX_LINES); do \
		py=.venv-airflow-$$line/bin/python; \
		pinned=$$(sed -n 's/^apache-airflow==//p' constraints/airflow-$$line.txt); \
		installed=$$($$py -c 'from importlib.metadata import version; print(version("apache-airflow"))'); \
		echo "== Airflow $$line line: apache-airflow $$installed (pinned $$pinned)"; \
		if [ "$$installed" != "$$pinned" ]; then failed="$$failed $$line"; continue; fi; \
		start=$$(date +%s); \
		$$py -m pytest -n $(TEST_WORKERS) --dist loadfile $(MATRIX_TESTS) $(PYTEST_ARGS) || failed="$$failed $$line"; \
		echo "== Airflow $$line line: $$(( $$(date +%s) - start ))s"; \
	done; \
	if [ -n "$$failed" ]; then echo "matrix failed on Airflow:$$failed" >&2; exit 1; fi

# The multi-host deployment (tests/scaleout): network namespaces as hosts, CeleryExecutor on the local
# Redis, two workers, two triggerers, two webhook replicas, 300+ approvals, a replica of each killed.
# Needs root, `ip netns`, PostgreSQL and Redis; writes benchmarks/results/scaleout.json.
SCALEOUT_STAMP := $(VENV)/.scaleout-stamp

$(SCALEOUT_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,postgres,scaleout]"
	touch $(SCALEOUT_STAMP)

scaleout: $(SCALEOUT_STAMP)
	@start=$$(date +%s); \
	INSTAGRAM_HIL_SCALEOUT=1 $(PY) -m pytest tests/scaleout -s $(PYTEST_ARGS); code=$$?; \
	echo "== scale-out: $$(( $$(date +%s) - start ))s"; exit $$code

# Re-pin the newest line after changing dependencies (newest compatible releases). The older lines are
# re-pinned with the command in their file's header.
constraints:
	constraints/pin.sh $(AIRFLOW_NEWEST)

clean:
	rm -rf $(VENV) .venv-airflow-* .pytest_cache .mypy_cache .ruff_cache
