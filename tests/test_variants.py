"""Each named variant, baked and proven: its linters and its own tests, which run the app
on a real PostgreSQL and deploy the stack to moto and back to nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import bake_ok
from variants import VARIANTS

# The template's environment holds every package of the generated project's uv.lock at the
# same version, so the baked project's Makefile reuses it instead of installing a second copy:
# its `uv sync --frozen --inexact` (inexact for any VENV= but .venv) finds all of it in place.
TEMPLATE_VENV = Path(sys.prefix)
# A guard against a hang, not a time limit: the defaults variant takes about 340 s on a quiet
# machine and went past 600 s on a busy one. The suite's time is measured in BENCHMARKS.md.
MAKE_TIMEOUT_SECONDS = 1200


def make(project: Path, *targets: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        ["make", "--no-print-directory", *targets, f"VENV={TEMPLATE_VENV}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=MAKE_TIMEOUT_SECONDS,
        check=False,
    )


# Where each variant has a machine of its own (the template's GitHub CI sets
# FULL_VARIANT_SUITES), every variant runs `make test-all`: its whole suite, the exhaustive
# tests too. Where the four share two cores (`make test`, .ci/run), they run `make test`
# (without the exhaustive tests): `defaults` its whole suite, the others the tests their
# answers change: the app, their own stack.toml applied and destroyed, and plan, apply,
# destroy, NAT, validation, costs and the deploy role on their region, CIDRs, zones and
# names. The rest set their own settings, the same in every variant.
ANSWER_DEPENDENT = (
    "tests/app",
    "tests/infra/test_generated_stack.py",
    "tests/infra/test_apply.py",
    "tests/infra/test_plan.py",
    "tests/infra/test_destroy.py",
    "tests/infra/test_nat.py",
    "tests/infra/test_validate.py",
    "tests/infra/test_costs.py",
    "tests/infra/test_bootstrap_ci.py",
)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_passes_its_linters_and_its_own_tests(cookies, name):
    project = bake_ok(cookies, **VARIANTS[name]).project_path
    if os.environ.get("FULL_VARIANT_SUITES"):
        result = make(project, "lint", "test-all")
    elif name == "defaults":
        result = make(project, "lint", "test")
    else:
        result = make(project, "lint", "test", f"PYTEST_ARGS={' '.join(ANSWER_DEPENDENT)}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert " passed" in result.stdout
