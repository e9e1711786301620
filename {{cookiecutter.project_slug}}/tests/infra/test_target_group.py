"""The target group's deregistration delay (`deregistration_delay_seconds`).

AWS keeps a deregistering target draining for 300 s unless told otherwise, so every step of
an instance refresh and every scale-in would wait five minutes. The tool sets the target
group attribute `deregistration_delay.timeout_seconds` from the setting (30 s by default,
gunicorn's request timeout), reads it with DescribeTargetGroupAttributes and changes it in
place with ModifyTargetGroupAttributes.

AWS accepts 0 to 3600 (Elastic Load Balancing API Reference, TargetGroupAttribute); moto
5.2 refuses 3600 itself (it checks `range(0, 3600)`), so the top of the range is proven on
the validator, not by an apply.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from helpers import PROJECT_ROOT

from infra.validation import StackSettings

(DEFAULT,) = (
    field.default
    for field in dataclasses.fields(StackSettings)
    if field.name == "deregistration_delay_seconds"
)
ATTRIBUTE = "deregistration_delay.timeout_seconds"


def target_group_delay(aws_client, settings) -> str:
    elbv2 = aws_client("elbv2")
    (group,) = elbv2.describe_target_groups(Names=[settings.name("tg")])["TargetGroups"]
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])
    return {a["Key"]: a["Value"] for a in attributes["Attributes"]}[ATTRIBUTE]


def test_the_default_lets_every_request_gunicorn_allows_finish():
    config = (PROJECT_ROOT / "gunicorn.conf.py").read_text(encoding="utf-8")
    request_timeout = int(re.search(r'"GUNICORN_TIMEOUT", "(\d+)"', config).group(1))
    graceful_timeout = int(re.search(r"^graceful_timeout = (\d+)$", config, re.M).group(1))
    assert max(request_timeout, graceful_timeout) <= DEFAULT < 300


def test_a_stack_toml_without_the_line_gets_the_default(project):
    """Projects generated before the setting existed drain for 30 s too, not AWS's 300."""
    project.unset("deregistration_delay_seconds")
    assert project.settings.deregistration_delay_seconds == DEFAULT


def test_apply_sets_the_delay_and_the_next_plan_is_clean(deployed, project, aws_client, infra):
    delay = project.settings.deregistration_delay_seconds
    assert f"+ deregistration_delay_seconds = {delay}" in deployed.out
    assert target_group_delay(aws_client, project.settings) == str(delay)
    plan = infra("plan")
    assert plan.code == 0, plan.out
    assert "No changes." in plan.out


def test_changed_delay_is_one_in_place_update_and_converges(
    deployed, project, infra, calls, aws_client
):
    old = project.settings.deregistration_delay_seconds
    new = 10 if old != 10 else 20
    project.set("deregistration_delay_seconds", str(new))
    calls.clear()
    plan = infra("plan")
    assert plan.code == 2, plan.out + plan.err
    assert plan.plan_summary == "Plan: 0 to add, 1 to change, 0 to destroy."
    assert "~ aws_lb_target_group.app" in plan.out
    assert f"~ deregistration_delay_seconds = {old} -> {new}" in plan.out
    assert calls.mutating == []

    calls.clear()
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in result.out
    # Besides the apply lock's SSM parameter, the one call is the attribute's.
    changed = [call for call in calls.mutating if call[0] != "ssm"]
    assert changed == [("elbv2", "ModifyTargetGroupAttributes")]
    assert target_group_delay(aws_client, project.settings) == str(new)
    again = infra("plan")
    assert again.code == 0, again.out
    assert "No changes." in again.out


def test_a_target_group_left_at_awss_300_seconds_is_brought_back(
    deployed, project, infra, aws_client
):
    """A target group made before the setting, or changed in the console, drains for 300 s."""
    elbv2 = aws_client("elbv2")
    (group,) = elbv2.describe_target_groups(Names=[project.settings.name("tg")])["TargetGroups"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=group["TargetGroupArn"], Attributes=[{"Key": ATTRIBUTE, "Value": "300"}]
    )
    delay = project.settings.deregistration_delay_seconds
    plan = infra("plan")
    assert plan.code == 2
    assert f"~ deregistration_delay_seconds = 300 -> {delay}" in plan.out
    assert infra("apply", "--auto-approve").code == 0
    assert target_group_delay(aws_client, project.settings) == str(delay)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-1", "must be between 0 and 3600"),
        ("3601", "must be between 0 and 3600"),
        ('"abc"', "must be a whole number"),
        ("2.5", "must be a whole number"),
        ("true", "must be a whole number"),
    ],
)
def test_validate_refuses_a_delay_aws_would_refuse_in_one_line(
    moto, project, infra, calls, value, reason
):
    project.set("deregistration_delay_seconds", value)
    result = infra("validate")
    assert result.code == 1
    problems = [line for line in result.err.splitlines() if line.startswith("  ")]
    assert len(problems) == 1, result.err
    assert problems[0].startswith("  deregistration_delay_seconds = ")
    assert reason in problems[0]
    assert "(for example: 30)" in problems[0]
    assert "Traceback" not in result.err
    assert calls.all == []


@pytest.mark.parametrize("value", ["0", "3600"])
def test_both_ends_of_awss_range_are_accepted(project, value):
    project.set("deregistration_delay_seconds", value)
    assert project.settings.deregistration_delay_seconds == int(value)
