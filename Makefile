# The template's own commands. `make help` lists them with one line each.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python

.DEFAULT_GOAL := help
.PHONY: help install lock test demo bench lint clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

# uv installs exactly what uv.lock pins, checking each file's hash. It is put in .venv by
# pip the first time, so nothing but Python 3.11+ and make is needed.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)

$(VENV)/.installed: pyproject.toml uv.lock
	@python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (python3 is " + sys.version.split()[0] + ")")'
	@test -x $(PYTHON) || { echo "Creating $(VENV) ..."; python3 -m venv $(VENV); }
	@test -x $(UV) || { echo "Getting uv $(UV_VERSION) into $(VENV) ..."; \
		$(PYTHON) -m pip install --disable-pip-version-check uv==$(UV_VERSION); }
	@echo "Installing what uv.lock pins into $(VENV) (uv reuses its cache after the first time) ..."
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.installed ## Create .venv with the template's locked tools (uv.lock)

lock: install ## Re-lock after editing a group: the generated project's uv.lock, then the template's
	$(PYTHON) scripts/lock.py
	$(UV) sync --frozen
	@touch $(VENV)/.installed

test: install ## Run the whole template test suite: bakes, hooks, and every variant's own tests
	$(PYTHON) -m pytest

demo: install ## Bake the default project and show it working, with no AWS account
	$(PYTHON) scripts/demo.py

bench: install ## Time a bake and the whole test suite (writes BENCHMARKS.md)
	$(PYTHON) scripts/bench.py

# `make lint` runs every check below; the git hooks (.pre-commit-config.yaml) run the same
# targets. The generated project's files hold Jinja tags: they are linted baked, by the tests
# (tests/test_variants.py runs each variant's own `make lint`).
LINTS := lint-python lint-shell lint-schemas lint-workflows lint-lock

.PHONY: $(LINTS)
lint: $(LINTS) ## Check the template's own Python, scripts, workflows and uv.lock

lint-python: install
	$(BIN)/ruff check --no-cache hooks tests scripts local_extensions.py
	$(BIN)/ruff format --no-cache --check hooks tests scripts local_extensions.py

lint-shell: install
	$(BIN)/shellcheck .ci/run

lint-schemas: install
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

lint-workflows: install
	$(BIN)/zizmor --offline --no-progress .github

lint-lock: install
	$(UV) lock --check --offline

clean: ## Remove the virtual environment and the demo's scratch folder
	rm -rf $(VENV) build
