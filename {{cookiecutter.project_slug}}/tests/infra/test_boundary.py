"""The permissions boundary of the stack's roles (infra/resources/shared/boundary.py).

IAM User Guide, "Permissions boundaries for IAM entities": a role may do only what both its
own policies and its boundary allow. bootstrap-ci makes the boundary; the stack's roles
carry it, so a policy put on them, by a misused deploy role for instance, reaches no
further. Evaluated with principalmapper's local simulation (tests/infra/iam_evaluation.py).
"""

from __future__ import annotations

import json

import pytest
from helpers import REPO
from iam_evaluation import allowed, role_node

from infra.aws import Aws
from infra.engine import Context
from infra.resources.app.instance_role import app_policy, secret_policy
from infra.resources.network.flow_logs import delivery_policy


def boundary_of(iam, name: str) -> str | None:
    role = iam.get_role(RoleName=name)["Role"]
    return (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")


def requests_of(policy: dict) -> list[tuple[str, str]]:
    """Every (action, resource) a role policy allows, as plain requests."""
    pairs = []
    for statement in policy["Statement"]:
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in [resources] if isinstance(resources, str) else resources:
                pairs.append((action, resource.replace("*", "example")))
    return pairs


@pytest.fixture
def stack_with_flow_logs(moto, project, infra, instance_refreshes):
    project.set("vpc_flow_logs", "true")
    return project


def test_roles_made_after_bootstrap_carry_the_boundary_and_it_covers_their_policies(
    stack_with_flow_logs, infra, aws_client
):
    project = stack_with_flow_logs
    assert infra("bootstrap-ci", "--github-repo", REPO).code == 0
    assert infra("apply", "--auto-approve").code == 0
    settings, iam = project.settings, aws_client("iam")
    account = aws_client("sts").get_caller_identity()["Account"]
    boundary = f"arn:aws:iam::{account}:policy/{settings.name('boundary')}"
    for role in ("app-role", "flow-logs-role"):
        assert boundary_of(iam, settings.name(role)) == boundary
    ctx = Context(settings, Aws(settings.aws_region))
    secret = iam.get_role_policy(
        RoleName=settings.name("app-role"), PolicyName=settings.name("db-secret")
    )["PolicyDocument"]
    secret_arn = secret["Statement"][0]["Resource"]
    db_arn = ctx.aws.arn("rds", f"db:{settings.name('db')}")
    app = role_node(iam, settings.name("app-role"))
    for action, resource in requests_of(app_policy(ctx)) + requests_of(secret_policy(secret_arn)):
        tags = {"aws:ResourceTag/aws:rds:primaryDBInstanceArn": db_arn}
        assert allowed(app, action, resource, tags if "secretsmanager" in action else {}), (
            action,
            resource,
        )
    flow_logs = role_node(iam, settings.name("flow-logs-role"))
    for action, resource in requests_of(delivery_policy(ctx)):
        assert allowed(flow_logs, action, resource, {}), (action, resource)


def test_a_policy_put_on_a_stack_role_reaches_no_further_than_the_boundary(
    moto, project, infra, instance_refreshes, aws_client
):
    assert infra("bootstrap-ci", "--github-repo", REPO).code == 0
    assert infra("apply", "--auto-approve").code == 0
    settings, iam = project.settings, aws_client("iam")
    name = settings.name("app-role")
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(
        RoleName=name, PolicyName="escalation", PolicyDocument=json.dumps(everything)
    )
    app = role_node(iam, name)
    account = aws_client("sts").get_caller_identity()["Account"]
    for action, resource, context in (
        ("iam:CreateUser", f"arn:aws:iam::{account}:user/intruder", {}),
        ("iam:CreateAccessKey", f"arn:aws:iam::{account}:user/admin", {}),
        ("s3:GetObject", "arn:aws:s3:::another-bucket/secrets.txt", {}),
        (
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:{settings.aws_region}:{account}:secret:rds!db-other",
            {
                "aws:ResourceTag/aws:rds:primaryDBInstanceArn": (
                    f"arn:aws:rds:{settings.aws_region}:{account}:db:another-database"
                )
            },
        ),
        ("ec2:TerminateInstances", f"arn:aws:ec2:{settings.aws_region}:{account}:instance/i-1", {}),
    ):
        assert not allowed(app, action, resource, context), action


def test_bootstrap_puts_the_boundary_on_roles_an_earlier_apply_made(
    moto, project, infra, instance_refreshes, aws_client
):
    """A stack an administrator deployed before bootstrap-ci: its roles have no boundary,
    and the deploy role may not add one; bootstrap-ci (with admin rights) does."""
    assert infra("apply", "--auto-approve").code == 0
    settings, iam = project.settings, aws_client("iam")
    assert boundary_of(iam, settings.name("app-role")) is None
    result = infra("bootstrap-ci", "--github-repo", REPO)
    assert result.code == 0, result.err
    assert settings.name("boundary") in boundary_of(iam, settings.name("app-role"))
    plan = infra("plan")
    assert plan.code == 0, plan.out


def test_remove_keeps_the_boundary_while_the_stack_uses_it(
    moto, project, infra, instance_refreshes
):
    assert infra("bootstrap-ci", "--github-repo", REPO).code == 0
    assert infra("apply", "--auto-approve").code == 0
    removed = infra("bootstrap-ci", "--remove")
    assert removed.code == 1
    assert "run `python -m infra destroy` first" in removed.err
    assert "Traceback" not in removed.err
