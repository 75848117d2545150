# navstream: `make up` runs the whole system, `make test` runs every test.
# Both create the virtualenv on first use and install exactly what requirements*.lock pins.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check --no-input
LOG    := $(VENV)/install.log
RUNTIME_STAMP := $(VENV)/.runtime-installed
TEST_STAMP    := $(VENV)/.test-installed
SECRETS ?= secrets
# The dashboard's plotly.js: the official partial bundle with the traces it draws (bar, pie,
# scatter), 1.2 MB instead of Dash's full 4.8 MB. Fetched with npm at install time, not
# committed; the version is the plotly.js of requirements.lock's plotly (tests/unit check it)
# and the sha256 is the npm tarball's. Without npm the dashboard serves Dash's full bundle.
PLOTLY_JS_VERSION := 4.1.1
PLOTLY_JS_SHA256  := ea907f854b6cec4f6a2fa71540ec019a21ed2c61e6a109ddd5c072103a96eed0
PLOTLY_BUNDLE     := services/dashboard/vendor/plotly-basic.min.js

.PHONY: install install-test plotly-bundle up test lint bench soak lock secrets compose-check wheel clean distclean

# pip's own output (and this machine's index warnings) go to $(LOG); on failure its tail is shown.
define pip_quiet
	@$(PIP) install $(1) >>$(LOG) 2>&1 || { echo "navstream: pip failed; the last lines of $(LOG):"; tail -n 25 $(LOG); exit 1; }
endef

$(PY):
	@echo "navstream: creating the virtualenv in $(VENV)"
	@$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.lock pyproject.toml | $(PY)
	@echo "navstream: installing dependencies, about a minute... (details: $(LOG))"
	@: > $(LOG)
	$(call pip_quiet,--require-hashes --no-deps -r requirements.lock)
	$(call pip_quiet,--no-deps -e .)
	@touch $@

$(TEST_STAMP): requirements-test.lock $(RUNTIME_STAMP)
	@echo "navstream: installing the test tools (pytest, playwright, ...)"
	$(call pip_quiet,--require-hashes --no-deps -r requirements-test.lock)
	@touch $@

# npm checks the tarball against the registry's integrity; sha256sum checks it is the one pinned here.
$(PLOTLY_BUNDLE): Makefile
	@if ! command -v npm >/dev/null; then \
	    echo "navstream: npm not found: the dashboard will serve Dash's full plotly.js (slower first chart);" \
	         "install Node.js/npm (apt-get install nodejs npm) and run 'make plotly-bundle'"; exit 0; fi; \
	echo "navstream: fetching plotly.js-basic-dist-min@$(PLOTLY_JS_VERSION) with npm (the dashboard's plotly.js)"; \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent plotly.js-basic-dist-min@$(PLOTLY_JS_VERSION) >/dev/null) && \
	echo "$(PLOTLY_JS_SHA256)  $$tmp/plotly.js-basic-dist-min-$(PLOTLY_JS_VERSION).tgz" | sha256sum --check --quiet && \
	tar -xzf "$$tmp/plotly.js-basic-dist-min-$(PLOTLY_JS_VERSION).tgz" -C "$$tmp" package/plotly-basic.min.js && \
	mkdir -p $(@D) && cp "$$tmp/package/plotly-basic.min.js" $@.part && mv $@.part $@ || \
	{ echo "navstream: could not install $@ (npm pack or the sha256 check failed; see above)"; exit 1; }

plotly-bundle: $(PLOTLY_BUNDLE)

install: $(RUNTIME_STAMP) $(PLOTLY_BUNDLE)
install-test: $(TEST_STAMP) $(PLOTLY_BUNDLE)

up: install
	@$(VENV)/bin/navstream up

test: install-test
	$(PY) -m pytest -q -p no:cacheprovider

# ruff (rules and every exemption explained in pyproject.toml), then mypy over services/ and shared/;
# both pinned in requirements-test.lock (pyproject's `lint` extra).
lint: install-test
	$(VENV)/bin/ruff check services shared benchmarks tests
	$(VENV)/bin/mypy

bench: install-test
	$(VENV)/bin/navstream bench

soak: install-test
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

# Re-resolve the locks after a change of pyproject.toml's dependencies (needs PyPI).
lock: | $(PY)
	$(call pip_quiet,uv)
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --no-header --quiet -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --extra lint --universal --python-version 3.11 --generate-hashes --no-header --quiet -o requirements-test.lock

# Once, before `docker compose up`: a random Redis password and empty Binance key files in
# $(SECRETS)/ (mounted as compose secrets), and a .env with the demo's profile and mode.
# Never overwrites: the Redis volume keeps the password it was started with.
secrets:
	@mkdir -p $(SECRETS) && chmod 700 $(SECRETS)
	@test -s $(SECRETS)/redis_password || { $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32), end='')" > $(SECRETS)/redis_password; echo "navstream: wrote a random Redis password to $(SECRETS)/redis_password"; }
	@for f in binance_api_key binance_api_secret binance_sub1_api_key binance_sub1_api_secret; do test -e $(SECRETS)/$$f || : > $(SECRETS)/$$f; done
	@chmod 644 $(SECRETS)/*   # read by the containers' non-root users; the folder itself is 700
	@test -e .env || { printf 'COMPOSE_PROFILES=sim\nMODE=sim\nDASH_PUBLISH_PORT=8050\n' > .env; echo "navstream: wrote .env (COMPOSE_PROFILES=sim, MODE=sim, DASH_PUBLISH_PORT=8050)"; }
	@echo "navstream: secrets in $(SECRETS)/ (put Binance keys in binance_api_key / binance_api_secret for MODE=live); next: docker compose up -d"

compose-check:
	docker-compose -f compose.yaml config -q

wheel: install
	$(call pip_quiet,build)
	$(PY) -m build --wheel --outdir dist . >>$(LOG) 2>&1 && ls dist/*.whl

# Keeps the data: var/ (the embedded Redis: seq, peak NAV, history) and logs/ (state files).
clean:
	rm -rf $(VENV) test-artifacts .pytest_cache build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@echo "navstream: kept var/ (the fund's record var/navstream.sqlite3, Redis data: seq, peak NAV, history) and logs/ (state files); 'make distclean' removes all but the record"

# The fund's record (var/navstream.sqlite3, the ledger's default DATABASE_URL) and its exports are
# kept unless RECORD=delete: it is the system of record, not a cache.
distclean: clean
	@if [ "$(RECORD)" != delete ] && ls var/navstream.sqlite3* var/export >/dev/null 2>&1; then \
	    find var -mindepth 1 -maxdepth 1 ! -name 'navstream.sqlite3*' ! -name export -exec rm -rf {} +; \
	    echo "navstream: KEPT var/navstream.sqlite3 (the fund's record: history, flows, units, strikes) and var/export; 'make distclean RECORD=delete' removes them too"; \
	else rm -rf var; fi
	rm -rf logs
	@echo "navstream: removed the embedded Redis data in var/ (seq, peak NAV, stream history) and logs/ (state files); $(SECRETS)/ and .env are kept"
