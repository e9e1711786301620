"""Each named variant, baked and proven: its linters and its own tests, which run the app
on a real PostgreSQL and deploy the stack to moto and back to nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import bake_ok
from variants import VARIANTS

# The template's environment holds every pin of the generated project, so the baked
# project's Makefile reuses it instead of installing a second copy.
TEMPLATE_VENV = Path(sys.prefix)


def make(project: Path, *targets: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        ["make", "--no-print-directory", *targets, f"VENV={TEMPLATE_VENV}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_passes_its_linters_and_its_own_tests(cookies, name):
    project = bake_ok(cookies, **VARIANTS[name]).project_path
    result = make(project, "lint", "test")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert " passed" in result.stdout
