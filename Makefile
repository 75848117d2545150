# navstream: `make up` runs the whole system, `make test` runs every test.
# Both create the virtualenv and install the project on first use.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install up test bench soak compose-check clean

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

bench: install
	$(VENV)/bin/navstream bench

soak: install
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

compose-check:
	REDIS_PASSWORD=check docker-compose -f compose.yaml config -q

clean:
	rm -rf $(VENV) logs var test-artifacts .pytest_cache
