"""An apply that fails at any step is finished by the next one, with nothing duplicated."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from helpers import EXPECTED, count_stack

from infra import aws
from infra.resources import database

# Security groups: the three tiers and the VPC's default one, which is tagged too.


@pytest.mark.parametrize("operation", ["AuthorizeSecurityGroupEgress", "CreateListener"])
def test_failed_apply_is_finished_by_the_next_one(
    moto, project, infra, inject_failure, aws_client, operation
):
    inject_failure(operation, RuntimeError(f"injected failure in {operation}"))
    failed = infra("apply", "--auto-approve")
    assert failed.code == 1
    assert "run the same command again to resume" in failed.err
    resumed = infra("apply", "--auto-approve")
    assert resumed.code == 0, resumed.err
    counts = count_stack(aws_client, project.settings)
    assert counts["subnets"] == 2 * project.settings.az_count
    assert {key: counts[key] for key in EXPECTED} == EXPECTED
    assert infra("plan").code == 0


def test_interrupted_while_waiting_for_the_database(moto, project, infra, aws_client, monkeypatch):
    """The create call went out, then the run died: the next apply adopts the database."""
    original = database.DbInstance._wait_available

    def interrupted(self, ctx, verb):
        monkeypatch.setattr(database.DbInstance, "_wait_available", original)
        raise KeyboardInterrupt

    monkeypatch.setattr(database.DbInstance, "_wait_available", interrupted)
    assert infra("apply", "--auto-approve").code == 1
    assert infra("apply", "--auto-approve").code == 0
    assert count_stack(aws_client, project.settings)["databases"] == 1


def test_same_name_load_balancer_is_not_created_twice(deployed, project, infra, aws_client):
    """Real AWS returns the existing ALB for a repeated name; moto makes a second one."""
    project.set("health_check_path", '"/changed"')  # an apply with work to do
    assert infra("apply", "--auto-approve").code == 0
    found = aws_client("elbv2").describe_load_balancers(Names=[project.settings.name("alb")])
    assert len(found["LoadBalancers"]) == 1


def test_a_leftover_duplicate_is_reported_not_guessed(deployed, project, infra, aws_client):
    settings = project.settings
    ec2 = aws_client("ec2")
    tags = [
        {"Key": "Project", "Value": settings.project_slug},
        {"Key": "Stack", "Value": settings.stack_name},
        {"Key": "ManagedBy", "Value": "three-tier-flask"},
        {"Key": "Name", "Value": settings.name("vpc")},
    ]
    ec2.create_vpc(
        CidrBlock="10.200.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}]
    )
    result = infra("plan")
    assert result.code == 1
    assert result.err.strip().startswith("Error: Found 2 VPCs tagged as")
    assert "Traceback" not in result.err


def test_iam_propagation_delay_is_retried(moto, infra, inject_failure):
    """Real AWS rejects a new instance profile for ~10 s; moto never does."""
    error = ClientError(
        {
            "Error": {
                "Code": "ValidationError",
                "Message": "You must use a valid fully-formed launch template. Value "
                "(x) for parameter iamInstanceProfile.name is invalid. "
                "Invalid IAM Instance Profile name",
            }
        },
        "CreateAutoScalingGroup",
    )
    seen = inject_failure("CreateAutoScalingGroup", error, times=2)
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert seen["count"] == 2


def test_rollout_is_resumed_when_the_refresh_never_started(
    instances_keep_their_version, deployed, infra, instance_refreshes
):
    """The new launch template version was made, then StartInstanceRefresh failed: the
    next apply sees instances on the old version and starts the refresh, once."""
    failures = {"left": 1}

    def fail_once(_service: str, operation: str, _params: dict) -> None:
        if operation == "StartInstanceRefresh" and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("injected failure in StartInstanceRefresh")

    aws.call_observers.insert(0, fail_once)  # before the fixture that answers the call
    try:
        failed = infra("apply", "--auto-approve", "--image-tag", "v2")
        assert failed.code == 1
        assert failures["left"] == 0
        assert instance_refreshes == []

        plan = infra("plan", "--image-tag", "v2")
        assert plan.code == 2
        assert "run version 1; the template is at version 2: roll them" in plan.out

        resumed = infra("apply", "--auto-approve", "--image-tag", "v2")
        assert resumed.code == 0, resumed.err
        assert len(instance_refreshes) == 1
        assert "instance refresh refresh-1 started" in resumed.out
        assert infra("plan", "--image-tag", "v2").code == 0
        assert len(instance_refreshes) == 1
    finally:
        aws.call_observers.remove(fail_once)
