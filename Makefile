# Two commands: `make run` serves the demo site, `make test` runs every test.
# Python 3.12 or newer: CPython 3.11.7 corrupted memory under gunicorn's threads (docs/PERFORMANCE.md).
# The first of these that is 3.12+ wins; pyenv's installed versions count too.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
            $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app crowdfund
STAMP  := $(VENV)/.installed-stamp
# Test processes (pytest-xdist); whole files go to one process, so module fixtures stay shared.
TEST_WORKERS ?= 2

.PHONY: run test install translations messages clean

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@echo "Serving http://127.0.0.1:5000  (demo logins are listed in README.md)"
	$(FLASK) serve --host 127.0.0.1 --port 5000

test: install
	$(BIN)/python scripts/run_tests.py -n $(TEST_WORKERS) --dist loadfile $(ARGS)

install: $(STAMP) translations

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed (python3.12 on PATH, or PYTHON=/path/to/python3.12)"; exit 1; }
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test]'
	touch $(STAMP)

# Compile the catalogs (.mo files are build output, not committed).
translations: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d crowdfund/translations >/dev/null 2>&1

# After changing UI text: extract, merge into both catalogs, then translate the new entries.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --omit-header --sort-output --width 120 \
	    -o crowdfund/translations/messages.pot .
	$(BIN)/pybabel update -i crowdfund/translations/messages.pot -d crowdfund/translations --no-fuzzy-matching --ignore-obsolete --width 120

clean:
	rm -rf $(VENV) instance .pytest_cache
