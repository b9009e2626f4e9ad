# Everything is a Mapping: set-up, build and test. The README's two commands are `make book` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: book test setup js chromium clean

## book: create .venv, install everything from the project's files, build the HTML book (every notebook executed)
book: setup js
	$(BIN)/jupyter-book build . --all --warningiserror --keep-going
	@echo "The book is in _build/html/index.html"

## test: metalib's unit tests, nbval over every notebook, every built page in headless Chromium
test: setup chromium
	$(BIN)/python -m pytest tests book --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

## js: the widget manager and require.js from the npm registry, served from the build (no CDN)
js:
	bash tools/fetch_js.sh

## chromium: Debian's chromium for the browser test, installed when missing
chromium:
	bash tools/ensure_chromium.sh

clean:
	rm -rf _build book/_static/vendor js/node_modules
