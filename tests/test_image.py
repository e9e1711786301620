"""The default project's Docker image, built and run for real: its `make image-test` (the
image against the embedded PostgreSQL: counting, health, 503 and recovery, HEALTHCHECK,
non-root, read-only root filesystem, graceful stop).

It needs a Docker engine: `.ci/run` starts one with ../shared/tools/docker-here where the
machine has none. Without one this test fails; it never skips.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import bake_ok

# The template's environment holds every pin of the generated project.
TEMPLATE_VENV = Path(sys.prefix)


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def test_the_default_projects_image_passes_its_image_test(cookies):
    assert engine_answers(), (
        "No Docker engine answers (DOCKER_HOST or /var/run/docker.sock): run the suite with "
        ".ci/run, which starts one with ../shared/tools/docker-here, or start Docker."
    )
    project = bake_ok(cookies).project_path
    result = subprocess.run(
        ["make", "--no-print-directory", "image-test", f"VENV={TEMPLATE_VENV}"],
        cwd=project,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert "image-test passed" in result.stdout
    assert result.stdout.count("ok: ") == 8
