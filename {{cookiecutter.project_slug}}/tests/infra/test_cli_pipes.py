"""`python -m infra outputs --json | head -1`: when the reader of the output goes away, a
read-only command ends quietly, without a traceback and without saying that the stack may
be half changed. The deploy tool runs in a process of its own, its stdout a real pipe whose
reading end is closed, on moto in that process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devtools import processes

# Deploys first when asked (output thrown away), then runs the command on the closed pipe.
RUN_ON_MOTO = """
import contextlib, os, sys
from devtools.emulated_aws import emulated_aws
from infra import cli

deploy_first, command = sys.argv[1] == "deploy", sys.argv[2:]
with emulated_aws():
    if deploy_first:
        with open(os.devnull, "w") as nowhere, contextlib.redirect_stdout(nowhere):
            assert cli.main(["apply", "--auto-approve"]) == 0
    sys.exit(cli.main(command))
"""


def run_into_closed_pipe(*command: str, deploy_first: bool) -> subprocess.CompletedProcess:
    reading, writing = os.pipe()
    os.close(reading)  # nobody will read: the first write fails with EPIPE
    try:
        return subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", RUN_ON_MOTO, "deploy" if deploy_first else "-", *command],
            cwd=processes.PROJECT_ROOT,
            stdout=writing,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        os.close(writing)


@pytest.mark.parametrize(
    ("command", "deploy_first"),
    [(("outputs", "--json"), True), (("outputs",), True), (("plan",), False)],
    ids=["outputs --json", "outputs", "plan"],
)
def test_a_read_only_command_ends_quietly_when_its_reader_goes_away(command, deploy_first):
    result = run_into_closed_pipe(*command, deploy_first=deploy_first)
    assert result.stderr == ""
    assert result.returncode == 1
