"""A release that cannot take the site down: a broken image is rolled back by Auto Scaling,
and apply fails naming what stopped it.

AWS rules (Amazon EC2 Auto Scaling User Guide, "Undo changes with a manual or auto rollback",
https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html, and the
API Reference's StartInstanceRefresh and RefreshPreferences): a rollback needs a
DesiredConfiguration and a group on a numbered launch template version, never `$Default` or
`$Latest`; with AutoRollback, a refresh that fails or sees an alarm of its
AlarmSpecification in ALARM is undone, ending as RollbackSuccessful (or RollbackFailed);
SkipMatching leaves instances already on the desired configuration alone. The group takes the
DesiredConfiguration only "once the instance refresh succeeds" (StartInstanceRefresh), so after
any other outcome it still names its previous version; and a launch that names no version
gets the launch template's default (EC2 API Reference, ModifyLaunchTemplate, DefaultVersion):
so a release that did not take puts the default back on the version the group runs.

moto has no instance refresh. Its two calls are answered by a botocore Stubber, which checks
each request against the exact parameters expected and both against the service model; the
rest of the stack is moto's.
"""

from __future__ import annotations

import base64
import datetime

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from infra import aws
from infra.resources.app.instances import deployed_image_tag

GOOD_TAG, BROKEN_TAG = "v1", "v2-broken"
NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
STUBBED = ("StartInstanceRefresh", "DescribeInstanceRefreshes")


@pytest.fixture
def refresh_api(moto, project):
    """A Stubber-backed Auto Scaling client that answers the refresh calls in place of moto."""
    client = boto3.client("autoscaling", region_name=project.settings.aws_region)
    stubber = Stubber(client)

    def answer(_service: str, operation: str, params: dict) -> dict | None:
        if operation not in STUBBED:
            return None
        method = {"StartInstanceRefresh": "start_instance_refresh"}.get(
            operation, "describe_instance_refreshes"
        )
        return getattr(client, method)(**params)

    aws.call_observers.insert(0, answer)
    with stubber:
        yield stubber
    aws.call_observers.remove(answer)


def refresh(status: str, **details) -> dict:
    return {
        "InstanceRefreshes": [
            {
                "InstanceRefreshId": "refresh-broken",
                "AutoScalingGroupName": "group",
                "Status": status,
                "StartTime": NOW,
                **details,
            }
        ]
    }


def default_version(aws_client, settings) -> tuple[int, str]:
    """The launch template's default version number and the image tag it runs."""
    (version,) = aws_client("ec2").describe_launch_template_versions(
        LaunchTemplateName=settings.name("lt"), Versions=["$Default"]
    )["LaunchTemplateVersions"]
    user_data = base64.b64decode(version["LaunchTemplateData"]["UserData"]).decode()
    return version["VersionNumber"], deployed_image_tag(user_data)


def group_template(aws_client, settings) -> dict:
    return aws_client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[settings.name("asg")]
    )["AutoScalingGroups"][0]["LaunchTemplate"]


@pytest.fixture
def released(moto, instances_keep_their_version, project, infra, instance_refreshes, aws_client):
    """The stack applied with a good image, instances running launch template version 1
    (and, as on AWS, still saying so when the template's default moves on)."""
    result = infra("apply", "--auto-approve", "--image-tag", GOOD_TAG)
    assert result.code == 0, result.err
    template = group_template(aws_client, project.settings)
    # A numbered version, so that Auto Scaling can roll back to it.
    assert template["Version"] == "1"
    return template


def expect_release(stubber, settings, template_id: str, *statuses: dict) -> None:
    stubber.add_response(
        "start_instance_refresh",
        {"InstanceRefreshId": "refresh-broken"},
        {
            "AutoScalingGroupName": settings.name("asg"),
            "Strategy": "Rolling",
            "DesiredConfiguration": {
                "LaunchTemplate": {"LaunchTemplateId": template_id, "Version": "2"}
            },
            "Preferences": {
                "MinHealthyPercentage": 100,
                "MaxHealthyPercentage": 200,
                "InstanceWarmup": 120,
                "SkipMatching": True,
                "AutoRollback": True,
                "AlarmSpecification": {
                    "Alarms": sorted(
                        settings.name(role) for role in ("target-5xx", "unhealthy-hosts")
                    )
                },
            },
        },
    )
    for status in statuses:
        stubber.add_response(
            "describe_instance_refreshes",
            status,
            {
                "AutoScalingGroupName": settings.name("asg"),
                "InstanceRefreshIds": ["refresh-broken"],
            },
        )


def test_a_broken_image_fired_alarm_is_rolled_back_and_apply_names_the_alarm(
    released, refresh_api, project, infra, aws_client
):
    settings = project.settings
    alarm = settings.name("target-5xx")
    aws_client("cloudwatch").set_alarm_state(
        AlarmName=alarm, StateValue="ALARM", StateReason="the broken image answers 500"
    )
    expect_release(
        refresh_api,
        settings,
        released["LaunchTemplateId"],
        refresh("InProgress"),
        refresh("RollbackInProgress"),
        refresh(
            "RollbackSuccessful",
            StatusReason="The instance refresh was rolled back.",
            RollbackDetails={"RollbackReason": f"CloudWatch alarm {alarm} is in ALARM state."},
        ),
    )
    result = infra("apply", "--auto-approve", "--image-tag", BROKEN_TAG)
    refresh_api.assert_no_pending_responses()
    assert result.code == 1
    assert "Traceback" not in result.err
    error = result.err.strip().splitlines()[-1]
    assert "was rolled back: the previous version runs again (RollbackSuccessful)" in error
    assert f"the alarm {alarm} went to ALARM" in error
    assert "deploy a new image tag" in error
    assert "The launch template is back on version 1, the one the group runs." in error
    # The group stays on the version that worked, and so does the template's default.
    assert group_template(aws_client, settings)["Version"] == "1"
    assert default_version(aws_client, settings) == (1, GOOD_TAG)


def test_a_group_still_on_default_is_rolled_back_to_the_version_it_ran(
    released, refresh_api, project, infra, aws_client
):
    """A stack from before releases were numbered keeps its group on $Default. Auto Scaling
    rolls back to the configuration last saved on the group, so the group is saved on the
    version its instances run before the refresh, never on the new one."""
    settings = project.settings
    aws_client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=settings.name("asg"),
        LaunchTemplate={"LaunchTemplateId": released["LaunchTemplateId"], "Version": "$Default"},
    )
    saved_at_start = []

    def group_version_at_start(_service: str, operation: str, _params: dict) -> None:
        if operation == "StartInstanceRefresh":
            saved_at_start.append(group_template(aws_client, settings)["Version"])

    aws.call_observers.insert(0, group_version_at_start)
    expect_release(
        refresh_api,
        settings,
        released["LaunchTemplateId"],
        refresh("RollbackSuccessful", StatusReason="The instance refresh was rolled back."),
    )
    try:
        result = infra("apply", "--auto-approve", "--image-tag", BROKEN_TAG)
    finally:
        aws.call_observers.remove(group_version_at_start)
    refresh_api.assert_no_pending_responses()
    assert result.code == 1
    assert saved_at_start == ["1"]
    assert group_template(aws_client, settings)["Version"] == "1"
    assert default_version(aws_client, settings) == (1, GOOD_TAG)


def test_new_instances_failing_their_health_check_are_rolled_back_and_apply_says_so(
    released, refresh_api, project, infra, aws_client
):
    settings = project.settings
    expect_release(
        refresh_api,
        settings,
        released["LaunchTemplateId"],
        refresh("InProgress"),
        refresh(
            "RollbackFailed",
            StatusReason="Instances failed to reach healthy state.",
        ),
    )
    result = infra("apply", "--auto-approve", "--image-tag", BROKEN_TAG)
    refresh_api.assert_no_pending_responses()
    assert result.code == 1
    error = result.err.strip().splitlines()[-1]
    assert "its rollback failed too" in error
    assert (
        f"the new instances did not pass the load balancer's health check "
        f"({settings.health_check_path})" in error
    )
    assert "AWS says: Instances failed to reach healthy state." in error
    assert default_version(aws_client, settings) == (1, GOOD_TAG)


@pytest.mark.parametrize("status", ["RollbackSuccessful", "Cancelled"])
def test_after_a_release_that_did_not_take_the_plan_still_shows_the_new_tag_to_do(
    status, released, refresh_api, project, infra, aws_client, monkeypatch
):
    """As Terraform after a failed apply: the plan compares with what runs, so the broken tag
    is still a change (exit 2) from the tag the group runs, not "No changes"."""
    settings = project.settings
    expect_release(refresh_api, settings, released["LaunchTemplateId"], refresh(status))
    assert infra("apply", "--auto-approve", "--image-tag", BROKEN_TAG).code == 1
    assert default_version(aws_client, settings) == (1, GOOD_TAG)

    again = infra("plan", "--image-tag", BROKEN_TAG)
    assert again.code == 2, again.out + again.err
    assert f'~ image_tag = "{GOOD_TAG}" -> "{BROKEN_TAG}"' in again.out
    # CI names the tag through IMAGE_TAG: the same plan.
    monkeypatch.setenv("IMAGE_TAG", BROKEN_TAG)
    assert infra("plan").code == 2
    # With no tag asked for, the tag running now is the good one: nothing to do.
    monkeypatch.delenv("IMAGE_TAG")
    plain = infra("plan")
    assert plain.code == 0, plain.out
    assert plain.plan_summary.startswith("No changes.")


def test_a_successful_release_moves_the_group_to_the_new_version(
    released, instance_refreshes, project, infra, aws_client
):
    result = infra("apply", "--auto-approve", "--image-tag", "v2")
    assert result.code == 0, result.err
    (started,) = instance_refreshes
    assert started["Preferences"]["AutoRollback"] is True
    assert started["DesiredConfiguration"]["LaunchTemplate"]["Version"] == "2"
    assert group_template(aws_client, project.settings)["Version"] == "2"
    assert default_version(aws_client, project.settings) == (2, "v2")
    assert infra("plan").code == 0


def test_a_release_rolled_back_after_its_apply_died_is_named_by_the_next_plan(
    released, refresh_api, project, infra, aws_client
):
    """The apply that started the refresh died while waiting (a cancelled CI job), so nothing
    put the default back when Auto Scaling rolled the release back: the next plan says so
    rather than offering to "roll" the instances onto that version, and the apply that tries
    it again leaves the default on the version the group runs."""
    settings = project.settings
    template_id = released["LaunchTemplateId"]
    expect_release(refresh_api, settings, template_id)

    def die_while_waiting(_service: str, operation: str, _params: dict) -> None:
        if operation == "DescribeInstanceRefreshes":
            raise RuntimeError("the CI job was cancelled")

    aws.call_observers.insert(0, die_while_waiting)
    try:
        assert infra("apply", "--auto-approve", "--image-tag", BROKEN_TAG).code == 1
    finally:
        aws.call_observers.remove(die_while_waiting)
    assert default_version(aws_client, settings) == (2, BROKEN_TAG)

    # DescribeInstanceRefreshes lists a refresh with its DesiredConfiguration (API Reference,
    # InstanceRefresh): how the plan knows the refresh that ended was to version 2.
    rolled_back = refresh(
        "RollbackSuccessful",
        StartTime=datetime.datetime.now(datetime.UTC),
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template_id, "Version": "2"}},
    )

    def latest_refresh(_service: str, operation: str, params: dict) -> dict | None:
        """Reads of the latest refresh (each plan's); the Stubber checks the release's calls."""
        if operation == "DescribeInstanceRefreshes" and params.get("MaxRecords") == 1:
            return {**rolled_back, "ResponseMetadata": {"HTTPStatusCode": 200}}
        return None

    aws.call_observers.insert(0, latest_refresh)
    try:
        plan = infra("plan", "--image-tag", BROKEN_TAG)
        assert plan.code == 2, plan.out + plan.err
        assert (
            "1 of 1 run version 1: the release of version 2 ended RollbackSuccessful with no "
            "apply left to see it; apply releases version 2 again" in plan.out
        )
        expect_release(refresh_api, settings, template_id, rolled_back)
        again = infra("apply", "--auto-approve", "--image-tag", BROKEN_TAG)
    finally:
        aws.call_observers.remove(latest_refresh)
    refresh_api.assert_no_pending_responses()
    assert again.code == 1
    assert "back on version 1, the one the group runs" in again.err
    assert default_version(aws_client, settings) == (1, GOOD_TAG)


def test_a_refused_put_back_is_told_after_why_the_release_stopped(
    released, refresh_api, project, infra, aws_client
):
    """A deploy role without ec2:ModifyLaunchTemplate for the put-back: the line still says why
    the release stopped, then that the default could not be put back."""
    settings = project.settings
    expect_release(
        refresh_api, settings, released["LaunchTemplateId"], refresh("RollbackSuccessful")
    )

    def refuse_the_put_back(_service: str, operation: str, params: dict) -> None:
        if operation == "ModifyLaunchTemplate" and params.get("DefaultVersion") == "1":
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": "not allowed"}},
                operation,
            )

    aws.call_observers.insert(0, refuse_the_put_back)
    try:
        result = infra("apply", "--auto-approve", "--image-tag", BROKEN_TAG)
    finally:
        aws.call_observers.remove(refuse_the_put_back)
    assert result.code == 1
    assert "Traceback" not in result.err
    error = result.err.strip().splitlines()[-1]
    assert "was rolled back: the previous version runs again (RollbackSuccessful)" in error
    assert "could not be put back on the version the group runs (UnauthorizedOperation)" in error
    assert default_version(aws_client, settings) == (2, BROKEN_TAG)
