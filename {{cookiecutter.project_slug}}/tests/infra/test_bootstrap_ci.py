"""`python -m infra bootstrap-ci`: GitHub's OIDC provider and the stack's deploy role."""

from __future__ import annotations

import contextlib
import dataclasses
import json

import pytest
from helpers import REPO, SWITCHES_ON, VALUES_SET, remaining
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends

from infra import aws
from infra.aws import Aws
from infra.engine import Context
from infra.resources.ci.deploy_policy import (
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_LIMIT,
    split,
    stack_deploy_policy,
)
from infra.resources.shared.iam import canonical
from infra.validation import StackSettings, validate

PROVIDER_URL = "token.actions.githubusercontent.com"
# The IAM service prefix of each boto3 service the deploy tool calls.
IAM_PREFIX = {"elbv2": "elasticloadbalancing"}
# IAM actions named unlike their API operation.
IAM_ACTION = {
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "s3:PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:HeadBucket": "s3:ListBucket",
    # Budgets authorizes every call by one of two actions.
    **{
        f"budgets:{operation}": "budgets:ModifyBudget"
        for operation in (
            "CreateBudget",
            "UpdateBudget",
            "DeleteBudget",
            "CreateNotification",
            "DeleteNotification",
            "UpdateSubscriber",
        )
    },
    **{
        f"budgets:{operation}": "budgets:ViewBudget"
        for operation in (
            "DescribeBudget",
            "DescribeNotificationsForBudget",
            "DescribeSubscribersForNotification",
        )
    },
}
# Looked for while its option is off although the policy has no room to allow it: the tool
# takes AWS's refusal for "none there" (infra/resources/observability/budget.py).
LOOKED_FOR_WITHOUT_RIGHTS = {"budgets:ViewBudget"}
NAT_WRITES = {
    "ec2:AllocateAddress",
    "ec2:CreateNatGateway",
    "ec2:DeleteNatGateway",
    "ec2:ReleaseAddress",
}


def providers(aws_client) -> list[str]:
    listed = aws_client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
    return [p["Arn"] for p in listed if p["Arn"].endswith(f"oidc-provider/{PROVIDER_URL}")]


def deploy_role(aws_client, project) -> dict:
    return aws_client("iam").get_role(RoleName=project.settings.name("deploy-role"))["Role"]


def deploy_documents(aws_client, project) -> list[dict]:
    """The managed policies attached to the deploy role, as IAM returns them."""
    iam = aws_client("iam")
    attached = iam.list_attached_role_policies(RoleName=project.settings.name("deploy-role"))
    documents = []
    for item in attached["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=item["PolicyArn"])["Policy"]
        version = iam.get_policy_version(
            PolicyArn=item["PolicyArn"], VersionId=policy["DefaultVersionId"]
        )
        documents.append(version["PolicyVersion"]["Document"])
    return documents


def deploy_policy(aws_client, project) -> dict:
    """Every statement of the deploy role, from all its managed policies."""
    documents = deploy_documents(aws_client, project)
    return {"Statement": [s for document in documents for s in document["Statement"]]}


def statements(policy: dict) -> list[dict]:
    return [
        {
            **statement,
            "Action": [statement["Action"]]
            if isinstance(statement["Action"], str)
            else statement["Action"],
        }
        for statement in policy["Statement"]
    ]


@pytest.fixture
def bootstrapped(moto, infra, aws_client):
    result = infra("bootstrap-ci", "--github-repo", REPO)
    assert result.code == 0, result.err
    return result


def test_creates_the_provider_and_a_role_only_the_stack_environment_can_assume(
    bootstrapped, project, aws_client
):
    settings = project.settings
    (provider,) = providers(aws_client)
    described = aws_client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    assert described["ClientIDList"] == ["sts.amazonaws.com"]
    role = deploy_role(aws_client, project)
    assert role["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsEnvironmentOfThisStack",
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": (
                            f"repo:{REPO}:environment:{settings.stack_name}"
                        ),
                    }
                },
            }
        ],
    }
    role_tags = {t["Key"]: t["Value"] for t in role["Tags"]}
    assert role_tags == {
        "Project": settings.project_slug,
        "Stack": settings.stack_name,
        "ManagedBy": "three-tier-flask",
        "Purpose": "github-actions-deploy",
    }
    out = bootstrapped.out
    assert f"AWS_DEPLOY_ROLE_ARN = {role['Arn']}" in out
    assert f"AWS_REGION          = {settings.aws_region}" in out
    assert f"https://github.com/{REPO}/settings/variables/actions" in out
    assert f'gh variable set AWS_DEPLOY_ROLE_ARN --repo {REPO} --body "{role["Arn"]}"' in out


@pytest.fixture
def add_client_id(moto):
    """moto lacks AddClientIDToOpenIDConnectProvider: carry it out on moto's model."""

    def answer(_service: str, operation: str, params: dict) -> dict | None:
        if operation != "AddClientIDToOpenIDConnectProvider":
            return None
        backend = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
        provider = backend.get_open_id_connect_provider(params["OpenIDConnectProviderArn"])
        provider.client_id_list.append(params["ClientID"])
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    aws.call_observers.append(answer)
    yield
    aws.call_observers.remove(answer)


def test_an_existing_provider_is_reused_not_duplicated(
    moto, calls, add_client_id, infra, aws_client
):
    """Someone else's provider, for another audience: ours is added, nothing else changes."""
    iam = aws_client("iam")
    arn = iam.create_open_id_connect_provider(
        Url=f"https://{PROVIDER_URL}",
        ClientIDList=["some-other-audience"],
        ThumbprintList=["a" * 40],
    )["OpenIDConnectProviderArn"]
    assert infra("bootstrap-ci", "--github-repo", REPO).code == 0
    assert providers(aws_client) == [arn]
    assert sorted(
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"]
    ) == [
        "some-other-audience",
        "sts.amazonaws.com",
    ]
    assert ("iam", "CreateOpenIDConnectProvider") not in calls.mutating
    assert ("iam", "AddClientIDToOpenIDConnectProvider") in calls.mutating
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == []
    # Another stack of the account reuses the same provider too.
    assert infra("bootstrap-ci", "--github-repo", REPO, "--stack", "prod").code == 0
    assert providers(aws_client) == [arn]


def test_second_run_changes_nothing(bootstrapped, infra, calls):
    calls.clear()
    again = infra("bootstrap-ci", "--github-repo", REPO)
    assert again.code == 0, again.err
    assert calls.mutating == []
    assert "No changes" in again.out
    assert "AWS_DEPLOY_ROLE_ARN = arn:aws:iam::" in again.out


def test_another_repository_only_updates_the_trust_policy(
    bootstrapped, project, infra, calls, aws_client
):
    calls.clear()
    result = infra("bootstrap-ci", "--github-repo", "someone/fork")
    assert result.code == 0, result.err
    assert calls.mutating == [("iam", "UpdateAssumeRolePolicy")]
    (statement,) = deploy_role(aws_client, project)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        f"repo:someone/fork:environment:{project.settings.stack_name}"
    )


@pytest.mark.parametrize(
    "repository", ["visit-counter", "a/b/c", "-owner/name", "owner/..", "own er/name", ""]
)
def test_an_invalid_repository_is_one_line_and_exit_1(moto, infra, calls, repository):
    result = infra("bootstrap-ci", f"--github-repo={repository}")
    assert result.code == 1
    assert result.err.strip().count("\n") == 0
    assert result.err.startswith("Error: --github-repo")
    assert "OWNER/NAME" in result.err
    assert calls.all == []


def test_no_wildcard_action_and_pass_role_is_scoped(bootstrapped, project, aws_client):
    settings = project.settings
    policy = deploy_policy(aws_client, project)
    actions = [action for s in statements(policy) for action in s["Action"]]
    assert actions
    assert [action for action in actions if "*" in action] == []
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    pass_roles = {
        s["Resource"].split(":role/")[1]: s
        for s in statements(policy)
        if "iam:PassRole" in s["Action"]
    }
    assert sorted(pass_roles) == sorted(
        [settings.name("app-role"), settings.name("flow-logs-role")]
    )
    # AddRoleToInstanceProfile passes the app role with no service named: IfExists.
    for role, service, test in (
        ("app-role", "ec2", "StringEqualsIfExists"),
        ("flow-logs-role", "vpc-flow-logs", "StringEquals"),
    ):
        statement = pass_roles[settings.name(role)]
        assert statement["Action"] == ["iam:PassRole"]
        assert statement["Condition"] == {test: {"iam:PassedToService": f"{service}.amazonaws.com"}}
    # Resource "*" only for reads AWS cannot scope, or with the stack's tags as a condition.
    for statement in statements(policy):
        if statement["Resource"] != "*":
            continue
        condition = statement.get("Condition", {}).get("StringEquals", {})
        if condition:
            assert condition == {
                "aws:ResourceTag/Project": settings.project_slug,
                "aws:ResourceTag/Stack": settings.stack_name,
            }
        else:
            assert all(
                action.split(":")[1].startswith(("Describe", "List", "Get"))
                for action in statement["Action"]
            ), statement
    # The deploy role cannot touch itself or other roles: IAM writes name the instance role.
    for statement in statements(policy):
        if any(a.startswith("iam:") and a != "iam:GetRole" for a in statement["Action"]):
            resources = statement["Resource"]
            resources = [resources] if isinstance(resources, str) else resources
            assert all(settings.name("deploy-role") not in r for r in resources), statement
    for document in deploy_documents(aws_client, project):
        assert len(json.dumps(document, separators=(",", ":"))) <= MANAGED_POLICY_LIMIT


def test_policy_allows_every_call_of_plan_apply_outputs_and_destroy(
    bootstrapped,
    project,
    infra,
    calls,
    instance_refreshes,
    budgets_api,
    hosted_zone,
    acm_validates,
    aws_client,
):
    for option in SWITCHES_ON:
        with contextlib.suppress(KeyError):  # an option this project does not have
            project.set(option, "true")
    for option, value in VALUES_SET.items():
        project.set(option, value)
    # Some statements follow the options: bootstrap-ci again, as the user would.
    assert infra("bootstrap-ci", "--github-repo", REPO).code == 0
    calls.clear()
    assert infra("apply", "--auto-approve").code == 0
    assert infra("apply", "--auto-approve", "--image-tag", "v2").code == 0
    assert infra("plan").code == 0
    assert infra("outputs", "--json").code == 0
    assert infra("destroy", "--auto-approve").code == 0
    allowed = {a for s in statements(deploy_policy(aws_client, project)) for a in s["Action"]}
    made = {
        IAM_ACTION.get(action, action)
        for action in (
            f"{IAM_PREFIX.get(service, service)}:{operation}"
            for service, operation in calls.all
            if service != "sts"  # GetCallerIdentity needs no permission
        )
    }
    assert made, "no calls recorded"
    assert sorted(made - allowed) == []
    assert "autoscaling:DescribeInstanceRefreshes" in allowed  # deploy.yml polls it
    assert "budgets:ModifyBudget" in made  # the valued options took effect
    assert {"acm:RequestCertificate", "route53:ChangeResourceRecordSets"} <= made
    assert made >= NAT_WRITES


def test_without_nat_gateways_the_policy_only_lets_plan_look_for_leftover_ones(
    bootstrapped, project, infra, calls, aws_client
):
    calls.clear()
    assert infra("plan").code == 2
    allowed = {a for s in statements(deploy_policy(aws_client, project)) for a in s["Action"]}
    made = {
        IAM_ACTION.get(action, action)
        for action in (f"{IAM_PREFIX.get(s, s)}:{operation}" for s, operation in calls.all)
    }
    assert {"ec2:DescribeNatGateways", "ec2:DescribeAddresses"} <= made & allowed
    assert allowed & NAT_WRITES == set()


def test_destroy_keeps_the_deploy_role_and_remove_deletes_it(
    bootstrapped, project, infra, aws_client, instance_refreshes
):
    settings = project.settings
    assert infra("apply", "--auto-approve").code == 0
    destroyed = infra("destroy", "--auto-approve")
    assert destroyed.code == 0, destroyed.err
    assert "python -m infra bootstrap-ci --remove" in destroyed.out
    left = [item for item in remaining(aws_client, settings) if ":snapshot:" not in item]
    # The deploy role, by name and through the tagging API when it lists IAM roles, and
    # the account's shared OIDC provider.
    assert {item.split("/")[-1] for item in left} <= {
        settings.name("deploy-role"),
        PROVIDER_URL,
    }
    assert settings.name("deploy-role") in left

    removed = infra("bootstrap-ci", "--remove")
    assert removed.code == 0, removed.err
    assert "OIDC provider" in removed.out
    left = [item for item in remaining(aws_client, settings) if ":snapshot:" not in item]
    assert [item for item in left if not item.endswith(PROVIDER_URL)] == []
    assert len(providers(aws_client)) == 1
    again = infra("bootstrap-ci", "--remove")
    assert again.code == 0
    assert "Nothing to remove" in again.out


def longest_valid_slug(settings: StackSettings) -> StackSettings:
    """The settings with the longest project_slug the rules accept for their stack name."""
    for length in range(63, 0, -1):
        longest = dataclasses.replace(settings, project_slug="a" * length)
        raw = {field.name: getattr(longest, field.name) for field in dataclasses.fields(longest)}
        if validate(raw)[0] is not None:
            return longest
    raise AssertionError("no project_slug is accepted")


@pytest.mark.parametrize("stack", ["dev", "production"])
def test_policy_of_the_longest_valid_names_with_every_option_fits_the_roles_policies(
    moto, project, stack
):
    """IAM allows 6,144 characters per managed policy and 10 managed policies per role;
    names and options are the variable part. The longest names are those NAME_LIMITS lets
    through (the load balancer's 32 characters bind first), with the longest hosted zone id."""
    settings = dataclasses.replace(
        project.settings,
        stack_name=stack,
        **dict.fromkeys(SWITCHES_ON, True),
        monthly_budget_usd=25,
        alarm_email="you@example.com",
        domain_name="app.example.com",
        hosted_zone_id="Z" + "9" * 31,
        nat_gateway="per_az",
    )
    longest = longest_valid_slug(settings)
    assert len(longest.name("alb")) == 32
    ctx = Context(longest, Aws(longest.aws_region))
    documents = split(stack_deploy_policy(ctx))
    assert len(documents) <= MANAGED_POLICIES_PER_ROLE
    assert all(len(document) <= MANAGED_POLICY_LIMIT for document in documents)
    merged = [s for document in documents for s in json.loads(document)["Statement"]]
    assert merged == json.loads(canonical(stack_deploy_policy(ctx)))["Statement"]
