# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.installed-test-stamp

.PHONY: install assets demo test serve worker clean bench

install: $(STAMP)

# the runtime (what demo, serve and worker need)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

# the web pages' third-party assets (htmx, bpmn-js viewer, Swagger UI, Noto Sans SC) from the npm registry,
# pinned by assets/package-lock.json, copied into api/static/vendor/ (gitignored); bpmn-moddle stays in
# assets/node_modules for the modeller round-trip test
ASSETS := api/static/vendor/.built
assets: $(ASSETS)

$(ASSETS): assets/package.json assets/package-lock.json assets/build.sh
	assets/build.sh

# plus the test tools (pytest, pytest-bdd, schemathesis, psycopg …)
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

demo: install assets
	$(BIN)/gongai demo --out demo-output

test: $(TEST_STAMP) assets
	$(BIN)/python -m pytest -q

# `make serve PORT=8080 HOST=0.0.0.0` to listen elsewhere
PORT ?= 8000
HOST ?= 127.0.0.1
serve: install assets
	$(BIN)/gongai serve --host $(HOST) --port $(PORT)

worker: install
	$(BIN)/gongai worker

bench: $(TEST_STAMP)
	$(BIN)/python -m bench engine

clean:
	rm -rf $(VENV) demo-output .pytest_cache assets/node_modules api/static/vendor test-artifacts
