"""Fixtures of the deploy tool's tests: AWS is moto, in this process, with dummy credentials.

pytest loads them for every test in this folder. Nothing here can reach
real AWS: the credentials are fake, AWS_ENDPOINT_URL and profiles are removed, and moto
intercepts every call.
"""

from __future__ import annotations

import contextlib
import datetime
import io
from collections.abc import Iterator

import boto3
import model_checks
import pytest
from helpers import HOSTED_ZONE_ID, Calls, Project, Result, create_hosted_zone
from moto.autoscaling import models as autoscaling_models

from devtools.emulated_aws import emulated_aws
from infra import aws


@pytest.fixture(autouse=True)
def model_constraints() -> Iterator[list[str]]:
    """moto stricter than AWS's client: every botocore call is checked against its service
    model's enums, lengths, patterns, ranges and list sizes (model_checks.py), which botocore
    does not check and moto rarely does. A violation raises an AssertionError at the call,
    which fails the test, and is also kept: this fixture fails the test at teardown if any
    call made since the last test's teardown broke a rule, in case the code under test caught
    the error. A test that breaks a rule on purpose clears this list.

    The check wraps `BaseClient._convert_to_request_dict`, so it covers every client: the
    deploy tool's and the tests' own (`infra.aws.call_observers` sees only the deploy tool's).
    It is installed once for the process, not per test, so the calls of module-scoped
    fixtures (applied_stack) are checked too, unless one is set up before the process's
    first test; their violations are reported by the next test. The walk of each input
    shape is built once and skips subtrees with no rules: about 5 microseconds a call.
    """
    model_checks.install()
    yield model_checks.VIOLATIONS
    found = model_checks.take_violations()
    assert not found, "AWS calls that break their service model's rules:\n" + "\n".join(found)


@pytest.fixture(scope="session", autouse=True)
def botocore_files_read_once() -> None:
    """Every `python -m infra` command opens a boto3 Session, and each Session's loader reads
    botocore's data files again: parsing the endpoints file alone takes about 0.4 s of CPU,
    and a test process runs hundreds of commands. The files are read-only package data, so
    here the loaders share one cache, as the clients of one Session already do; a command
    run as a process of its own still reads them once, as before.

    The cache is kept per search path and extras list, so a loader that looks in other
    folders (boto3 adds its own) never gets another's files."""
    from botocore import loaders

    shared: dict[tuple, dict] = {}

    def cache(loader: loaders.Loader) -> dict:
        key = (tuple(loader.search_paths), tuple(loader.extras_types))
        return shared.setdefault(key, {})

    # Loader.__init__ assigns `self._cache = {}`: the setter drops that private dict.
    loaders.Loader._cache = property(cache, lambda _loader, _private: None)


@pytest.fixture(scope="session", autouse=True)
def moto_reset_builds_nothing_it_drops() -> None:
    """moto resets its state when a mock starts and ends: it rebuilds every region's backend
    in place (an EC2 backend loads some 1,300 public images, each with a volume and a
    snapshot: about 0.1 s of CPU) and then drops them all, so the next test builds the ones
    it uses anew. Here only the backends with a reset of their own (S3 closes its objects'
    temporary files, Batch stops its jobs) are still reset; the others are dropped as they
    are. Nothing reaches a dropped backend: moto finds them through its backend dicts."""
    from moto.core.base_backend import AccountSpecificBackend, BaseBackend

    def reset(account: AccountSpecificBackend) -> None:
        for backend in account.values():
            if type(backend).reset is not BaseBackend.reset:
                backend.reset()

    AccountSpecificBackend.reset = reset


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
def requests():
    """Every AWS call with its parameters, as (operation, params)."""
    seen: list[tuple[str, dict]] = []

    def observer(_service: str, operation: str, params: dict) -> None:
        seen.append((operation, params))

    aws.call_observers.append(observer)
    yield seen
    aws.call_observers.remove(observer)


def take_desired_template(params: dict) -> None:
    """What AWS does when a refresh with a DesiredConfiguration succeeds: the group's launch
    template becomes the desired one. Done in moto's backend, not by an API call the
    tests would count."""
    from moto.autoscaling.models import autoscaling_backends

    template = params.get("DesiredConfiguration", {}).get("LaunchTemplate")
    if not template:
        return
    for regions in autoscaling_backends.values():
        for backend in regions.values():
            group = backend.autoscaling_groups.get(params["AutoScalingGroupName"])
            if group is not None:
                group.launch_template_version = template["Version"]
                group.provided_launch_template_version = template["Version"]


@pytest.fixture
def instance_refreshes(moto) -> Iterator[list[dict]]:
    """moto lacks instance refreshes: record each StartInstanceRefresh's parameters and
    answer it as AWS answers a refresh that succeeds: the group takes the desired launch
    template, and DescribeInstanceRefreshes lists the refreshes, newest first, as Successful.
    (moto's instances stay as they are.)"""
    started: list[dict] = []
    times: list[datetime.datetime] = []

    def answer(_service: str, operation: str, params: dict) -> dict | None:
        if operation == "DescribeInstanceRefreshes":
            refreshes = [
                {
                    "InstanceRefreshId": f"refresh-{number}",
                    "AutoScalingGroupName": params.get("AutoScalingGroupName"),
                    "Status": "Successful",
                    "StartTime": times[number - 1],
                }
                for number in range(len(started), 0, -1)
                if f"refresh-{number}" in params.get("InstanceRefreshIds", [f"refresh-{number}"])
            ]
            return {
                "InstanceRefreshes": refreshes[: params.get("MaxRecords", 50)],
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }
        if operation != "StartInstanceRefresh":
            return None
        started.append(params)
        times.append(datetime.datetime.now(datetime.UTC))
        take_desired_template(params)
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In a parallel run (`make test`: pytest-xdist, `--dist loadgroup`), the tests that share
    a module's applied_stack run on one worker, so each module applies its stack once."""
    for item in items:
        if "applied_stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(f"applied_stack:{item.module.__name__}"))


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


@pytest.fixture
def budgets_api(moto) -> Iterator[dict[str, list[dict]]]:
    """moto 5.2 keeps budgets and notifications but lacks UpdateBudget, UpdateSubscriber,
    DescribeSubscribersForNotification and budget tags (it drops CreateBudget's
    ResourceTags): carry those out on moto's model. Yields the tags by budget ARN."""
    from botocore.exceptions import ClientError
    from moto.budgets.models import budgets_backends
    from moto.core.utils import unix_time

    tags_by_arn: dict[str, list[dict]] = {}
    ok = {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def arn_of(account: str, name: str) -> str:
        return f"arn:aws:budgets::{account}:budget/{name}"

    def stored(operation: str, account: str, name: str):
        found = budgets_backends[account]["aws"].budgets[account].get(name)
        if found is None:
            error = {"Code": "NotFoundException", "Message": f"budget {name} does not exist"}
            raise ClientError({"Error": error}, operation)
        return found

    def by_arn(operation: str, arn: str):
        account, name = arn.split(":")[4], arn.split(":budget/", 1)[1]
        stored(operation, account, name)
        return tags_by_arn.setdefault(arn, [])

    def notification(operation: str, params: dict):
        budget = stored(operation, params["AccountId"], params["BudgetName"])
        found = [n for n in budget.notifications if n.details == params["Notification"]]
        if not found:
            error = {"Code": "NotFoundException", "Message": "no such notification"}
            raise ClientError({"Error": error}, operation)
        return found[0]

    def answer(service: str, operation: str, params: dict) -> dict | None:
        if service != "budgets":
            return None
        if operation == "CreateBudget":
            arn = arn_of(params["AccountId"], params["Budget"]["BudgetName"])
            tags_by_arn.setdefault(arn, list(params.get("ResourceTags", [])))
            return None  # moto creates the budget and its notifications
        if operation == "DeleteBudget":
            tags_by_arn.pop(arn_of(params["AccountId"], params["BudgetName"]), None)
            return None
        if operation == "ListTagsForResource":
            return {"ResourceTags": list(by_arn(operation, params["ResourceARN"])), **ok}
        if operation == "TagResource":
            listed = by_arn(operation, params["ResourceARN"])
            new = {tag["Key"]: tag for tag in params["ResourceTags"]}
            listed[:] = [tag for tag in listed if tag["Key"] not in new] + list(new.values())
            return ok
        if operation == "UpdateBudget":
            budget = stored(operation, params["AccountId"], params["NewBudget"]["BudgetName"])
            kept = {"TimePeriod": budget.budget["TimePeriod"], "LastUpdatedTime": unix_time()}
            budget.budget = {**params["NewBudget"], **kept}
            return ok
        if operation == "DescribeSubscribersForNotification":
            return {"Subscribers": list(notification(operation, params).subscribers), **ok}
        if operation == "UpdateSubscriber":
            found = notification(operation, params)
            found.subscribers = [
                params["NewSubscriber"] if subscriber == params["OldSubscriber"] else subscriber
                for subscriber in found.subscribers
            ]
            return ok
        return None

    aws.call_observers.append(answer)
    yield tags_by_arn
    aws.call_observers.remove(answer)


@pytest.fixture
def hosted_zone(moto) -> str:
    """The user's public Route 53 zone example.com."""
    return create_hosted_zone("example.com", HOSTED_ZONE_ID)


@pytest.fixture
def acm_validates(moto, monkeypatch):
    """moto issues a requested certificate MOTO_ACM_VALIDATION_WAIT (60) seconds after the
    request. `acm_validates(True)` (the default): at once; False: not within a test."""
    from moto import settings as moto_settings

    def set_to(issues: bool) -> None:
        monkeypatch.setattr(moto_settings, "ACM_VALIDATION_WAIT", 0 if issues else 86400)

    set_to(True)
    return set_to
