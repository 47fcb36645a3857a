# Everything a fresh machine needs: `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck unit bench soak constraints clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,postgres]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m airflow_provider_instagram_hil.sandbox.demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck unit

bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)

soak: install
	INSTAGRAM_HIL_SOAK=1 $(PY) -m pytest tests/reliability -m "not browser" $(PYTEST_ARGS)

# Re-pin after changing dependencies: installs unpinned into a scratch venv and freezes it.
constraints:
	rm -rf /tmp/ighil-constraints-venv
	$(PYTHON) -m venv /tmp/ighil-constraints-venv
	/tmp/ighil-constraints-venv/bin/pip install --quiet --upgrade "pip>=24"
	/tmp/ighil-constraints-venv/bin/pip install --quiet "apache-airflow==3.3.2" -e ".[dev,postgres]"
	/tmp/ighil-constraints-venv/bin/pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
