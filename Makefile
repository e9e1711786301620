# The template's own commands. `make help` lists them with one line each.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python

.DEFAULT_GOAL := help
.PHONY: help install test demo bench lint clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt {{cookiecutter.project_slug}}/requirements.txt {{cookiecutter.project_slug}}/requirements-dev.txt
	@python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (python3 is " + sys.version.split()[0] + ")")'
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed ## Create .venv with the template's pinned tools

test: install ## Run the whole template test suite: bakes, hooks, and every variant's own tests
	$(PYTHON) -m pytest

demo: install ## Bake the default project and show it working, with no AWS account
	$(PYTHON) scripts/demo.py

bench: install ## Time a bake and the whole test suite (writes BENCHMARKS.md)
	$(PYTHON) scripts/bench.py

lint: install ## Check the template's own Python
	$(BIN)/ruff check hooks tests scripts local_extensions.py
	$(BIN)/ruff format --check hooks tests scripts local_extensions.py

clean: ## Remove the virtual environment and the demo's scratch folder
	rm -rf $(VENV) build
