# navstream: `make up` runs the whole system, `make test` runs every test.
# Both create the virtualenv and install the project on first use.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install up test lint bench soak compose-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

up: install
	$(VENV)/bin/navstream up

test: install
	$(PY) -m pytest -q -p no:cacheprovider

# ruff (rules and every exemption explained in pyproject.toml), then mypy over services/ and shared/.
LINT_STAMP := $(VENV)/.lint-stamp
$(LINT_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install --quiet -e ".[lint]"
	touch $(LINT_STAMP)

lint: $(LINT_STAMP)
	$(VENV)/bin/ruff check services shared benchmarks tests
	$(VENV)/bin/mypy

bench: install
	$(VENV)/bin/navstream bench

soak: install
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

compose-check:
	REDIS_PASSWORD=check docker-compose -f compose.yaml config -q

clean:
	rm -rf $(VENV) logs var test-artifacts .pytest_cache
