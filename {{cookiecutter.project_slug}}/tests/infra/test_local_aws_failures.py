"""`make deploy-local` and `make destroy-local` (devtools/local_aws.py) on a real moto_server:
whatever goes wrong, the advice is local, there is no traceback, and no emulator is left
running that the command started."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psutil
import pytest
from helpers import Project

from devtools import processes

# local_aws's own main(), for a project whose stack.toml and .local-aws/ are in the test's
# folder, so the test neither uses nor stops an emulator the developer runs.
RUN_LOCAL_AWS = """
import sys
from pathlib import Path
from devtools import local_aws

root = Path(sys.argv[1])
local_aws.PROJECT_ROOT = root
local_aws.STATE_DIR = root / ".local-aws"
local_aws.STATE_FILE = local_aws.STATE_DIR / "server.json"
local_aws.LOG_FILE = local_aws.STATE_DIR / "server.log"
local_aws.LOCAL_CONFIG = local_aws.STATE_DIR / "stack.toml"
sys.exit(local_aws.main(sys.argv[2:]))
"""


def local_aws(project: Project, command: str) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", RUN_LOCAL_AWS, str(project.path.parent), command],
        cwd=processes.PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def emulator(project: Project) -> dict:
    return json.loads((project.path.parent / ".local-aws" / "server.json").read_text())


def assert_stopped(server: dict) -> None:
    deadline = time.monotonic() + 10
    while psutil.pid_exists(server["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(server["pid"]), "moto_server still runs"
    with pytest.raises(OSError):
        processes.http_get(f"http://127.0.0.1:{server['port']}/moto-api/", timeout=2)


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)


def test_destroy_local_under_deletion_protection_gives_local_advice_and_stops_it(project):
    project.set("db_deletion_protection", "true")
    code, _, err = finished(local_aws(project, "deploy"))
    assert code == 0, err
    server = emulator(project)

    code, out, err = finished(local_aws(project, "destroy"))
    assert code == 1
    assert "Traceback" not in err
    # The database check refuses before anything is deleted, and says what to run here.
    assert "deletion protection on, so nothing was destroyed" in err
    assert "run `make deploy-local`, then destroy again" in err
    assert "python -m infra apply" not in out + err
    assert "Local AWS stopped" in out
    assert_stopped(server)


@pytest.mark.parametrize("region", ["eu-north-9", "us-east-3"])
def test_deploy_local_with_a_region_aws_does_not_have_starts_nothing(project, region):
    project.set("aws_region", f'"{region}"')
    code, out, err = finished(local_aws(project, "deploy"))
    assert code == 1
    assert "Traceback" not in err
    assert f"stack.toml: aws_region = '{region}': is not an AWS region" in err
    assert "Nothing was started" in out
    assert not (project.path.parent / ".local-aws" / "server.json").exists()


def test_deploy_local_stopped_by_sigterm_stops_the_emulator_it_started(project):
    deploy = local_aws(project, "deploy")
    state = project.path.parent / ".local-aws" / "server.json"
    deadline = time.monotonic() + 60
    while not state.exists() and deploy.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state.exists(), deploy.communicate()
    server = emulator(project)

    deploy.send_signal(signal.SIGTERM)
    code, out, err = finished(deploy)
    assert code == 130
    assert "Traceback" not in err
    assert "Local AWS stopped" in out
    assert_stopped(server)
