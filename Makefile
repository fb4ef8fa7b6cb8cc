# loancrm — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_CUSTOMERS ?= 5000
DEMO_PASSWORD ?= Demo@2026
HOST ?= 127.0.0.1
PORT ?= 8000
export LOANCRM_DATA_DIR ?= $(CURDIR)/var
export LOANCRM_PUBLIC_URL ?= http://$(HOST):$(PORT)
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/loancrm

.PHONY: install system-deps demo serve test test-sqlite test-postgres lint bench clean

# Virtualenv with the app and everything its tests need; re-runs only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Debian packages for browser tests and Chinese PDF fonts (one apt-get update, only when missing).
system-deps:
	@missing=""; for p in chromium fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 poppler-utils; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  echo "Installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: install
	$(BIN)/loancrm migrate --no-input -v 0
	$(BIN)/loancrm demo-data --customers $(DEMO_CUSTOMERS) --password '$(DEMO_PASSWORD)'
	@echo ""
	@echo "打开 http://$(HOST):$(PORT)/ ，用上面的演示账户登录（密码 $(DEMO_PASSWORD)）。按 Ctrl+C 停止。"
	$(BIN)/loancrm serve --host $(HOST) --port $(PORT)

serve: install
	$(BIN)/loancrm serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# SQLite always; PostgreSQL too when CI=true (required there) or when a local server answers.
test: install system-deps lint test-sqlite
	@if [ "$$CI" = "true" ] || pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
	  $(MAKE) --no-print-directory test-postgres; \
	else echo "PostgreSQL not reachable on 127.0.0.1:5432: PostgreSQL pass not run (CI runs it)."; fi

test-sqlite:
	@echo "== tests on SQLite =="
	env -u DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-postgres:
	@echo "== tests on PostgreSQL =="
	DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest $(PYTEST_ARGS)

bench: install
	@for b in bench/*_bench.py; do echo "== $$b =="; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
