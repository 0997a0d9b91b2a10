# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test serve worker clean bench

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: install
	$(BIN)/gongai demo --out demo-output

test: install
	$(BIN)/python -m pytest -q

serve: install
	$(BIN)/gongai serve

worker: install
	$(BIN)/gongai worker

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo-output .pytest_cache
