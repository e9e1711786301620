"""Fixtures of the deploy tool's tests: AWS is moto, in this process, with dummy credentials.

Test modules load them with `pytest_plugins = ["infra_fixtures"]`. Nothing here can reach
real AWS: the credentials are fake, AWS_ENDPOINT_URL and profiles are removed, and moto
intercepts every call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.autoscaling import models as autoscaling_models

from devtools.emulated_aws import emulated_aws
from infra import aws, cli, stack_file
from infra.validation import OPTIONS, StackSettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def plan_summary(self) -> str:
        """The plan's "Plan: ..." or "No changes." line (the cost estimate comes after it)."""
        return next(
            line for line in self.out.splitlines() if line.startswith(("Plan:", "No changes."))
        )


class Project:
    """A copy of the project's stack.toml and a way to run `python -m infra` on it."""

    def __init__(self, directory: Path):
        self.path = directory / "stack.toml"
        shutil.copy(PROJECT_ROOT / "stack.toml", self.path)
        # Tests start from the base stack whatever options the project chose (deletion
        # protection would stop every destroy); test_infra_options.py turns each one on.
        for option in OPTIONS:
            self.set(option, "false")

    @property
    def settings(self) -> StackSettings:
        return stack_file.load(self.path)

    def set(self, key: str, value: str) -> None:
        """Rewrite one `key = value` line of stack.toml (value as TOML)."""
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            if line.split("=")[0].strip() == key:
                lines[index] = f"{key} = {value}"
                break
        else:
            raise KeyError(key)
        self.path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run(self, *args: str, capsys=None) -> Result:
        code = cli.main([*args, "--config", str(self.path)])
        if capsys is None:
            return Result(code, "", "")
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)


class Calls:
    """Every AWS API call made, as (service, operation)."""

    def __init__(self):
        self.all: list[tuple[str, str]] = []

    def __call__(self, service: str, operation: str, _params: dict) -> None:
        self.all.append((service, operation))

    @property
    def mutating(self) -> list[tuple[str, str]]:
        return [call for call in self.all if aws.is_mutating(call[1])]

    def clear(self) -> None:
        self.all.clear()


@pytest.fixture
def moto() -> Iterator[None]:
    with emulated_aws():
        yield


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def infra(project, capsys):
    """Runs `python -m infra ARGS` on the test's stack.toml; returns code, stdout, stderr."""

    def run(*args: str) -> Result:
        return project.run(*args, capsys=capsys)

    return run


@pytest.fixture
def calls() -> Iterator[Calls]:
    recorder = Calls()
    aws.call_observers.append(recorder)
    yield recorder
    aws.call_observers.remove(recorder)


@pytest.fixture
def instance_refreshes(moto) -> Iterator[list[dict]]:
    """moto lacks instance refreshes: record each StartInstanceRefresh's parameters and
    answer it; DescribeInstanceRefreshes lists them, newest first, as still in progress."""
    started: list[dict] = []
    times: list[datetime.datetime] = []

    def answer(_service: str, operation: str, params: dict) -> dict | None:
        if operation == "DescribeInstanceRefreshes":
            refreshes = [
                {
                    "InstanceRefreshId": f"refresh-{number}",
                    "AutoScalingGroupName": params.get("AutoScalingGroupName"),
                    "Status": "InProgress",
                    "StartTime": times[number - 1],
                }
                for number in range(len(started), 0, -1)
            ]
            return {
                "InstanceRefreshes": refreshes[: params.get("MaxRecords", 50)],
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }
        if operation != "StartInstanceRefresh":
            return None
        started.append(params)
        times.append(datetime.datetime.now(datetime.UTC))
        return {
            "InstanceRefreshId": f"refresh-{len(started)}",
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    aws.call_observers.append(answer)
    yield started
    aws.call_observers.remove(answer)


@pytest.fixture
def deployed(moto, instance_refreshes, infra) -> Result:
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    return result


@pytest.fixture(scope="module")
def applied_stack(tmp_path_factory) -> Iterator[tuple[Project, str]]:
    """One stack applied for a whole test module that only looks at it: (project, output)."""
    with emulated_aws():
        project = Project(tmp_path_factory.mktemp("stack"))
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = project.run("apply", "--auto-approve").code
        assert code == 0, output.getvalue()
        yield project, output.getvalue()


@pytest.fixture
def aws_client(project):
    """boto3 clients in the stack's region."""

    def make(service: str):
        return boto3.client(service, region_name=project.settings.aws_region)

    return make


@pytest.fixture
def inject_failure():
    """`inject_failure(operation, error, times=1)`: that AWS call raises `error`, `times` times."""
    installed: list[Calls] = []

    def install(operation: str, error: Exception, times: int = 1) -> dict:
        seen = {"count": 0}

        def observer(_service: str, name: str, _params: dict) -> None:
            if name == operation and seen["count"] < times:
                seen["count"] += 1
                raise error

        aws.call_observers.append(observer)
        installed.append(observer)
        return seen

    yield install
    for observer in installed:
        aws.call_observers.remove(observer)


@pytest.fixture
def instances_keep_their_version(monkeypatch) -> None:
    """Like AWS, each instance reports the launch template version it was launched with
    (moto reports the template's current default version for every instance)."""
    state = autoscaling_models.InstanceState
    original_init = state.__init__

    def init(self, *args, **kwargs) -> None:
        original_init(self, *args, **kwargs)
        template = getattr(self.auto_scaling_group, "ec2_launch_template", None)
        self.launched_version = None if template is None else template.default_version_number

    def launch_template(self) -> dict | None:
        template = self.auto_scaling_group.ec2_launch_template
        if template is None:
            return None
        return {
            "LaunchTemplateId": template.id,
            "LaunchTemplateName": template.name,
            "Version": str(getattr(self, "launched_version", template.default_version_number)),
        }

    monkeypatch.setattr(state, "__init__", init)
    monkeypatch.setattr(state, "launch_template", property(launch_template))
