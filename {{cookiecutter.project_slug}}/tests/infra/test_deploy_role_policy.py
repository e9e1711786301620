"""Proof, offline, that the deploy role can run the deploy and cannot escalate.

The role is the one `bootstrap-ci` creates on moto, read back from IAM (its inline and
managed policies and its permissions boundary), and evaluated by principalmapper's local
policy simulation (`iam_evaluation.py`). The requests are the ones AWS makes for each call
the deploy tool makes, with their resource ARNs and condition keys (`iam_requests.py`):

- every request of plan, apply with every option on, an update, outputs and destroy must
  be allowed, on the resource the call names and with the request's tags;
- every row of ESCALATIONS, ways to get more than the stack's share, must be denied.
"""

from __future__ import annotations

import contextlib
import json

import boto3
import pytest
from helpers import HOSTED_ZONE_ID, REPO, SWITCHES_ON, VALUES_SET, Project, create_hosted_zone
from iam_evaluation import allowed, role_node
from iam_requests import Recorder, RequestMapper, UnmappedOperation, region_keys

from devtools.emulated_aws import emulated_aws
from infra import aws

# What the full-option run must reach, or the options did not take effect.
OPTION_CALLS = {
    ("acm", "RequestCertificate"),
    ("autoscaling", "StartInstanceRefresh"),
    ("budgets", "CreateBudget"),
    ("ec2", "CreateFlowLogs"),
    ("ec2", "CreateNatGateway"),
    ("route53", "ChangeResourceRecordSets"),
    ("s3", "PutBucketPolicy"),
    ("sns", "Subscribe"),
}


def turn_every_option_on(project: Project) -> None:
    for option in SWITCHES_ON:
        with contextlib.suppress(KeyError):  # an option this project does not have
            project.set(option, "true")
    for option, value in VALUES_SET.items():
        project.set(option, value)


@pytest.mark.exhaustive
def test_every_call_of_plan_apply_update_outputs_and_destroy_is_allowed(
    project, infra, instance_refreshes, budgets_api, hosted_zone, acm_validates, aws_client
):
    assert infra("bootstrap-ci", "--github-repo", REPO).code == 0
    turn_every_option_on(project)
    # Some statements follow the options: bootstrap-ci again, as the user would.
    assert infra("bootstrap-ci", "--github-repo", REPO).code == 0
    settings = project.settings
    # First in the list: it sees the calls the fixtures above answer in place of moto.
    recorder = Recorder(RequestMapper(settings.aws_region, tags_of=budgets_api))
    aws.call_observers.insert(0, recorder)
    try:
        for command in (
            ("apply", "--auto-approve"),
            ("apply", "--auto-approve", "--image-tag", "v2"),
            ("plan",),
            ("outputs", "--json"),
            ("destroy", "--auto-approve"),
        ):
            result = infra(*command)
            assert result.code == 0, f"{' '.join(command)}: {result.err}"
    finally:
        aws.call_observers.remove(recorder)
    assert set(recorder.calls) >= OPTION_CALLS

    node = role_node(aws_client("iam"), settings.name("deploy-role"))
    requests = set(recorder.requests)
    denied = sorted(
        (r for r in requests if not allowed(node, r.action, r.resource, r.context_dict())),
        key=str,
    )
    problems = []
    if recorder.unmapped:
        problems.append(
            "Calls with no rule in tests/infra/iam_requests.py (add one, with its AWS page):\n  "
            + "\n  ".join(sorted(recorder.unmapped))
        )
    if recorder.errors:
        problems.append(
            "Calls whose requests could not be worked out:\n  " + "\n  ".join(recorder.errors)
        )
    if denied:
        problems.append(
            f"{len(denied)} of {len(requests)} requests are denied to the deploy role:\n  "
            + "\n  ".join(map(str, denied))
        )
    assert not problems, "\n\n".join(problems)


def test_a_call_with_no_rule_fails_naming_it():
    mapper = RequestMapper("eu-west-1", account="123456789012")
    with pytest.raises(UnmappedOperation, match="ec2:TerminateInstances"):
        mapper.requests("ec2", "TerminateInstances", {"InstanceIds": ["i-0123"]})
    recorder = Recorder(mapper)
    assert recorder("ec2", "TerminateInstances", {"InstanceIds": ["i-0123"]}) is None
    assert recorder.unmapped == {"ec2:TerminateInstances"}


def test_the_evaluator_reads_inline_and_managed_policies_and_the_boundary(moto, aws_client):
    iam = aws_client("iam")

    def allow(actions: list[str], resource: str, condition: dict | None = None) -> str:
        statement = {"Effect": "Allow", "Action": actions, "Resource": resource}
        if condition:
            statement["Condition"] = condition
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    boundary = iam.create_policy(
        PolicyName="boundary", PolicyDocument=allow(["s3:GetObject", "s3:PutObject"], "*")
    )["Policy"]["Arn"]
    managed = iam.create_policy(
        PolicyName="managed", PolicyDocument=allow(["s3:PutObject"], "arn:aws:s3:::b/*")
    )["Policy"]["Arn"]
    trust = {"Version": "2012-10-17", "Statement": []}
    iam.create_role(
        RoleName="r", AssumeRolePolicyDocument=json.dumps(trust), PermissionsBoundary=boundary
    )
    iam.attach_role_policy(RoleName="r", PolicyArn=managed)
    tagged = {"StringEquals": {"aws:ResourceTag/Project": "p"}}
    iam.put_role_policy(
        RoleName="r",
        PolicyName="inline",
        PolicyDocument=allow(["s3:GetObject", "s3:DeleteObject"], "arn:aws:s3:::b/*", tagged),
    )
    node = role_node(iam, "r")
    assert allowed(node, "s3:GetObject", "arn:aws:s3:::b/k", {"aws:ResourceTag/Project": "p"})
    assert not allowed(node, "s3:GetObject", "arn:aws:s3:::b/k", {"aws:ResourceTag/Project": "q"})
    assert not allowed(node, "s3:GetObject", "arn:aws:s3:::c/k", {"aws:ResourceTag/Project": "p"})
    assert allowed(node, "s3:PutObject", "arn:aws:s3:::b/k", {})  # the managed policy
    # Allowed by the inline policy, outside the boundary.
    assert not allowed(
        node, "s3:DeleteObject", "arn:aws:s3:::b/k", {"aws:ResourceTag/Project": "p"}
    )


# ---------------------------------------------------------------------------------------
# Escalations: (description, action, resource ARN, request context), each denied.
# Written against the target design: bootstrap-ci makes the managed policy
# <slug>-<stack>-boundary; the deploy role creates, changes and passes only the stack's
# roles (app-role, flow-logs-role), only with that boundary; it cannot touch the boundary,
# its own role (but iam:GetRole), or anything not tagged or named as the stack's.
# Placeholders: {slug} {stack} {prefix} (= <slug>-<stack>) {account} {region}
# {boundary} (the boundary's ARN) {zone} (the hosted zone id).

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
APP_ROLE = "arn:aws:iam::{account}:role/{prefix}-app-role"
DEPLOY_ROLE = "arn:aws:iam::{account}:role/{prefix}-deploy-role"
EC2 = "arn:aws:ec2:{region}:{account}"
STACK_TAGS = {"Project": "{slug}", "Stack": "{stack}", "ManagedBy": "three-tier-flask"}
FOREIGN_TAGS = {"Project": "other-project", "Stack": "prod", "ManagedBy": "three-tier-flask"}
ADDS_STACK_TAGS = {
    **{f"aws:RequestTag/{key}": value for key, value in STACK_TAGS.items()},
    "aws:TagKeys": sorted(STACK_TAGS),
}


def tagged(tags: dict, *aliases: str) -> dict:
    """The resource-tag keys of a resource with `tags` (aws: and the service's spelling)."""
    return {
        f"{prefix}/{key}": value
        for prefix in ("aws:ResourceTag", *aliases)
        for key, value in tags.items()
    }


STACK_ROLE = tagged(STACK_TAGS, "iam:ResourceTag")
BOUNDED = {"iam:PermissionsBoundary": "{boundary}"}
FOREIGN_EC2 = tagged(FOREIGN_TAGS, "ec2:ResourceTag")
OUR_TEMPLATE = {"ec2:LaunchTemplate": EC2 + ":launch-template/lt-0123456789abcdef0"}
OTHER_DB = "arn:aws:rds:{region}:{account}:db:other-project-prod-db"
# The secret RDS keeps another database's master password in (rds!db-<uuid>-<suffix>).
OTHER_DB_CREDENTIALS = (
    "arn:aws:secretsmanager:{region}:{account}:secret:"
    "rds!db-1a2b3c4d-aaaa-bbbb-cccc-0123456789ab-Xy12Zw"
)
OTHER_DB_CREDENTIALS_TAGS = tagged(
    {"aws:rds:primaryDBInstanceArn": OTHER_DB}, "secretsmanager:ResourceTag"
)

ESCALATIONS = [
    (
        "CreateRole of the app role without a boundary",
        "iam:CreateRole",
        APP_ROLE,
        ADDS_STACK_TAGS,
    ),
    (
        "CreateRole of the app role with AdministratorAccess as its boundary",
        "iam:CreateRole",
        APP_ROLE,
        {**ADDS_STACK_TAGS, "iam:PermissionsBoundary": ADMIN},
    ),
    (
        "CreateRole of a role outside the stack's names, with the stack's boundary",
        "iam:CreateRole",
        "arn:aws:iam::{account}:role/{prefix}-admin",
        {**ADDS_STACK_TAGS, **BOUNDED},
    ),
    (
        "PutRolePolicy on a stack role whose boundary is absent",
        "iam:PutRolePolicy",
        APP_ROLE,
        STACK_ROLE,
    ),
    (
        "AttachRolePolicy of AdministratorAccess to the bounded app role",
        "iam:AttachRolePolicy",
        APP_ROLE,
        {**STACK_ROLE, **BOUNDED, "iam:PolicyARN": ADMIN},
    ),
    (
        "DeleteRolePermissionsBoundary of the app role",
        "iam:DeleteRolePermissionsBoundary",
        APP_ROLE,
        {**STACK_ROLE, **BOUNDED},
    ),
    (
        "PutRolePermissionsBoundary of the app role to AdministratorAccess",
        "iam:PutRolePermissionsBoundary",
        APP_ROLE,
        {**STACK_ROLE, "iam:PermissionsBoundary": ADMIN},
    ),
    (
        "UpdateAssumeRolePolicy of the app role",
        "iam:UpdateAssumeRolePolicy",
        APP_ROLE,
        {**STACK_ROLE, **BOUNDED},
    ),
    (
        "PutRolePolicy on the deploy role itself",
        "iam:PutRolePolicy",
        DEPLOY_ROLE,
        tagged({**STACK_TAGS, "Purpose": "github-actions-deploy"}, "iam:ResourceTag"),
    ),
    (
        "AttachRolePolicy of AdministratorAccess to the deploy role",
        "iam:AttachRolePolicy",
        DEPLOY_ROLE,
        {
            **tagged({**STACK_TAGS, "Purpose": "github-actions-deploy"}, "iam:ResourceTag"),
            "iam:PolicyARN": ADMIN,
        },
    ),
    (
        "CreatePolicyVersion of the stack's boundary",
        "iam:CreatePolicyVersion",
        "{boundary}",
        {},
    ),
    ("DeletePolicy of the stack's boundary", "iam:DeletePolicy", "{boundary}", {}),
    (
        "CreateUser, even tagged and bounded like the stack",
        "iam:CreateUser",
        "arn:aws:iam::{account}:user/{prefix}-user",
        {**ADDS_STACK_TAGS, **BOUNDED},
    ),
    (
        "CreateAccessKey for a user",
        "iam:CreateAccessKey",
        "arn:aws:iam::{account}:user/admin",
        {},
    ),
    (
        "PassRole of a foreign admin role to EC2",
        "iam:PassRole",
        "arn:aws:iam::{account}:role/admin",
        {"iam:PassedToService": "ec2.amazonaws.com"},
    ),
    (
        "PassRole of the app role to Lambda",
        "iam:PassRole",
        APP_ROLE,
        {**STACK_ROLE, "iam:PassedToService": "lambda.amazonaws.com"},
    ),
    (
        "CreateTags with the stack's tags on a foreign VPC",
        "ec2:CreateTags",
        EC2 + ":vpc/vpc-0f0e0d0c0b0a09080",
        {**ADDS_STACK_TAGS, **FOREIGN_EC2},
    ),
    (
        "RunInstances from the stack's template into a foreign subnet",
        "ec2:RunInstances",
        EC2 + ":subnet/subnet-0f0e0d0c0b0a09080",
        {**OUR_TEMPLATE, "ec2:IsLaunchTemplateResource": "false", **FOREIGN_EC2},
    ),
    (
        "RunInstances from the stack's template with a foreign security group",
        "ec2:RunInstances",
        EC2 + ":security-group/sg-0f0e0d0c0b0a09080",
        {**OUR_TEMPLATE, "ec2:IsLaunchTemplateResource": "true", **FOREIGN_EC2},
    ),
    (
        "RunInstances from another stack's launch template",
        "ec2:RunInstances",
        EC2 + ":launch-template/lt-0f0e0d0c0b0a09080",
        {"ec2:LaunchTemplate": EC2 + ":launch-template/lt-0f0e0d0c0b0a09080", **FOREIGN_EC2},
    ),
    (
        "GetSecretValue of another database's RDS-managed secret",
        "secretsmanager:GetSecretValue",
        OTHER_DB_CREDENTIALS,
        OTHER_DB_CREDENTIALS_TAGS,
    ),
    (
        "DeleteSecret of another database's RDS-managed secret",
        "secretsmanager:DeleteSecret",
        OTHER_DB_CREDENTIALS,
        OTHER_DB_CREDENTIALS_TAGS,
    ),
    (
        "DeleteDBInstance of another database",
        "rds:DeleteDBInstance",
        OTHER_DB,
        tagged(FOREIGN_TAGS, "rds:db-tag"),
    ),
    (
        "PutBucketPolicy on another bucket",
        "s3:PutBucketPolicy",
        "arn:aws:s3:::other-project-prod-data",
        {},
    ),
    (
        "DeleteBucket of another bucket",
        "s3:DeleteBucket",
        "arn:aws:s3:::other-project-prod-data",
        {},
    ),
    (
        "DeleteCertificate of a certificate without the stack's tags",
        "acm:DeleteCertificate",
        "arn:aws:acm:{region}:{account}:certificate/1a2b3c4d-aaaa-bbbb-cccc-0123456789ab",
        tagged(FOREIGN_TAGS),
    ),
    (
        "ChangeResourceRecordSets of a record outside the stack's domain",
        "route53:ChangeResourceRecordSets",
        "arn:aws:route53:::hostedzone/{zone}",
        {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["www.example.com"],
            "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
            "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
        },
    ),
    (
        "DeleteAlarms of project <slug>-<stack>'s alarm (stack prod)",
        "cloudwatch:DeleteAlarms",
        "arn:aws:cloudwatch:{region}:{account}:alarm:{prefix}-prod-db-cpu",
        tagged({"Project": "{prefix}", "Stack": "prod", "ManagedBy": "three-tier-flask"}),
    ),
]


def fill(value, names: dict):
    """The row with its placeholders replaced."""
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [fill(item, names) for item in value]
    return {fill(key, names): fill(item, names) for key, item in value.items()}


@pytest.fixture(scope="module")
def deploy_role(tmp_path_factory):
    """The deploy role as bootstrap-ci creates it with every option on, and the names the
    rows use. The emulator is gone once this returns: the role is plain data."""
    with emulated_aws():
        project = Project(tmp_path_factory.mktemp("deploy-role"))
        create_hosted_zone("example.com", HOSTED_ZONE_ID)
        turn_every_option_on(project)
        assert project.run("bootstrap-ci", "--github-repo", REPO).code == 0
        settings = project.settings
        account = boto3.client("sts").get_caller_identity()["Account"]
        node = role_node(boto3.client("iam"), settings.name("deploy-role"))
    prefix = f"{settings.project_slug}-{settings.stack_name}"
    names = {
        "slug": settings.project_slug,
        "stack": settings.stack_name,
        "prefix": prefix,
        "account": account,
        "region": settings.aws_region,
        "boundary": f"arn:aws:iam::{account}:policy/{prefix}-boundary",
        "zone": HOSTED_ZONE_ID,
    }
    return node, names


def test_the_escalation_table_is_long_enough():
    assert len(ESCALATIONS) >= 15
    assert len({row[0] for row in ESCALATIONS}) == len(ESCALATIONS)


@pytest.mark.parametrize(
    ("description", "action", "resource", "context"),
    ESCALATIONS,
    ids=[row[0] for row in ESCALATIONS],
)
def test_escalation_is_denied(deploy_role, description, action, resource, context):
    node, names = deploy_role
    resource = fill(resource, names)
    context = {**region_keys(action.split(":")[0], names["region"], action), **fill(context, names)}
    assert not allowed(node, action, resource, context), (
        f"allowed: {description}: {action} on {resource} with {context}"
    )
