# One command each for the demo, the tests and the checks. Every target
# installs what it needs first, so each works on a fresh clone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install demo test test-sqlite test-postgres browser postgres catalogs check-migrations

$(BIN)/theodoi: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/theodoi

install: $(BIN)/theodoi

## Run the demo: four linked nodes on loopback, the centre with the real documents.
demo: install
	$(BIN)/theodoi demo

## Install Debian's Chromium for the browser tests when it is missing.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

## Start the local PostgreSQL server when it is down.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; \
	  echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1

test-sqlite: install browser
	THEODOI_TEST_DATABASE=sqlite $(BIN)/pytest -p no:cacheprovider --durations=20

test-postgres: install browser postgres
	THEODOI_TEST_DATABASE=postgresql THEODOI_TEST_POSTGRES_URL=$(PG_URL) $(BIN)/pytest -p no:cacheprovider --durations=20

## The whole suite on SQLite and on PostgreSQL. The two runs go side by side
## (their databases, ports and temporary folders are separate) and each run's
## output is printed when it ends.
test: install browser postgres
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres
