# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: demo test bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.demo-installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e ".[all]"
	touch $@

$(VENV)/.test-installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e ".[test,all]"
	touch $@

demo: $(VENV)/.demo-installed
	$(PY) -m gradwise train

test: $(VENV)/.test-installed
	$(PY) -m pytest -n 2 tests

bench: $(VENV)/.test-installed
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
