"""`python -m infra bootstrap-ci`: the role GitHub Actions deploys this stack with.

Run once per stack with admin credentials. It creates GitHub's OIDC identity provider in
the account (when missing) and the role `<project>-<stack>-deploy-role`, which only the
repository's GitHub environment named after the stack can assume, through short-lived
OIDC credentials: no stored keys. Its permissions cover what plan, apply, destroy and
outputs of this one stack call, pushing to the stack's image repository, and watching the
instance refresh; nothing else.

Least privilege, the way AWS allows it: no `*` action and no service wildcard. Resources
are named by ARN where their names are known in advance (IAM, ECR, RDS, load balancer,
Auto Scaling group, log group, alarms, topic, lock); EC2 ids are not, so EC2 changes are
allowed only with the stack's Project and Stack tags on the request (creates) or on the
resource (everything after). `Resource: "*"` is left only for calls AWS does not scope.

`destroy` never deletes this role, since it is what runs destroy in CI: remove it with
`python -m infra bootstrap-ci --remove` after the stack is gone. The OIDC provider is
shared by every stack and repository of the account and is kept.
"""

from __future__ import annotations

import hashlib
import json
import re

from infra import tags
from infra.aws import DeployError, is_not_found
from infra.engine import Context, Resource
from infra.iam import canonical, delete_role
from infra.lock import parameter_name
from infra.logs import group_name

PROVIDER = "aws_iam_openid_connect_provider.github"
DEPLOY_ROLE = "aws_iam_role.deploy"
DEPLOY_POLICY = "aws_iam_role_policy.deploy"

GITHUB_ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
# AWS no longer checks these for GitHub (it trusts GitHub's CA), but the API still takes them.
GITHUB_THUMBPRINTS = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
]
# The extra tag that tells this role from the stack's own resources: destroy keeps it.
PURPOSE_TAG = {"Purpose": "github-actions-deploy"}
# Inline policies of one role may hold 10,240 characters in all (whitespace not counted).
INLINE_POLICY_LIMIT = 10240

# owner: letters, digits and single hyphens, at most 39; name: letters, digits, . _ -
GITHUB_REPO = re.compile(
    r"(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38})/(?P<name>[A-Za-z0-9._-]{1,100})"
)


def check_github_repo(value: str) -> str:
    match = GITHUB_REPO.fullmatch(value or "")
    if match is None or match.group("name") in (".", ".."):
        raise DeployError(
            f"--github-repo {value!r} is not a GitHub repository: give it as OWNER/NAME, "
            "for example --github-repo octo-org/visit-counter."
        )
    return value


def role_name(ctx: Context) -> str:
    return ctx.settings.name("deploy-role")


def provider_arn(ctx: Context) -> str:
    return f"arn:{ctx.aws.partition}:iam::{ctx.aws.account_id}:oidc-provider/{GITHUB_ISSUER}"


def subject(repository: str, stack: str) -> str:
    """The `sub` claim of a job that runs in the repository's environment named `stack`."""
    return f"repo:{repository}:environment:{stack}"


def trust_policy(ctx: Context, repository: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsEnvironmentOfThisStack",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn(ctx)},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_ISSUER}:aud": AUDIENCE,
                        f"{GITHUB_ISSUER}:sub": subject(repository, ctx.settings.stack_name),
                    }
                },
            }
        ],
    }


# EC2 ids are unknown before apply: creates must carry the stack's tags, and every later
# change needs them on the resource.
EC2_CREATE_ACTIONS = [
    "ec2:CreateFlowLogs",
    "ec2:CreateInternetGateway",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSubnet",
    "ec2:CreateVpc",
]
EC2_CHANGE_ACTIONS = [
    "ec2:AssociateRouteTable",
    "ec2:AttachInternetGateway",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateFlowLogs",
    "ec2:CreateLaunchTemplateVersion",
    "ec2:CreateRoute",
    "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSubnet",
    "ec2:CreateTags",
    "ec2:DeleteFlowLogs",
    "ec2:DeleteInternetGateway",
    "ec2:DeleteLaunchTemplate",
    "ec2:DeleteRoute",
    "ec2:DeleteRouteTable",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteSubnet",
    "ec2:DeleteVpc",
    "ec2:DetachInternetGateway",
    "ec2:DisassociateRouteTable",
    "ec2:ModifyLaunchTemplate",
    "ec2:ModifySubnetAttribute",
    "ec2:ModifyVpcAttribute",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
]
# Only with nat_gateway on. CreateNatGateway also acts on the stack's subnet and Elastic IP,
# which carry its tags. Turning the option off deletes with these rights: apply that change
# before running bootstrap-ci again.
NAT_CREATE_ACTIONS = ["ec2:AllocateAddress", "ec2:CreateNatGateway"]
NAT_CHANGE_ACTIONS = ["ec2:CreateNatGateway", "ec2:DeleteNatGateway", "ec2:ReleaseAddress"]
# Reads AWS does not scope to resources (NAT gateways and Elastic IPs: plan looks for ones
# left from nat_gateway even while it is off; ACM certificates and their tags: plan looks
# for one left from when domain_name was set).
UNSCOPED_READS = [
    "acm:ListCertificates",
    "acm:ListTagsForCertificate",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeInstanceRefreshes",
    "cloudwatch:DescribeAlarms",
    "ec2:DescribeAddresses",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeFlowLogs",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeNatGateways",
    "ec2:DescribeRegions",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcs",
    "ecr:GetAuthorizationToken",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroups",
    "iam:ListOpenIDConnectProviders",
    "logs:DescribeLogGroups",
    "rds:DescribeDBParameterGroups",
    "rds:DescribeOrderableDBInstanceOptions",
]


def _tag_condition(ctx: Context, kind: str) -> dict:
    """`aws:RequestTag/...` (creates) or `aws:ResourceTag/...` (changes) of this stack."""
    return {
        "StringEquals": {
            f"aws:{kind}/Project": ctx.settings.project_slug,
            f"aws:{kind}/Stack": ctx.settings.stack_name,
        }
    }


def _statement(why: str, actions: list[str], resources, condition: dict | None = None) -> dict:
    """`why` names the statement here only: IAM's 10,240 characters leave no room for Sids."""
    statement = {"Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def deploy_policy(ctx: Context) -> dict:
    """What plan, apply, destroy and outputs of this stack call, and an image push."""
    aws, settings = ctx.aws, ctx.settings
    region, account, partition = aws.region, aws.account_id, aws.partition

    def arn(service: str, resource: str, where: str = region) -> str:
        return f"arn:{partition}:{service}:{where}:{account}:{resource}"

    name = settings.name
    # Any id of the created types: the statement's condition is the stack's request tags.
    ec2 = arn("ec2", "*/*")
    repository = arn("ecr", f"repository/{name('app')}")
    load_balancer = f"app/{name('alb')}/*"
    # The stack's log groups (app, VPC flow logs) and their streams: /<project>/<stack>/...
    log_groups = arn("logs", f"log-group:{group_name(ctx, '*')}")
    topic = arn("sns", name("alarms"))
    instance_role = arn("iam", f"role/{name('app-role')}", "")
    flow_logs_role = arn("iam", f"role/{name('flow-logs-role')}", "")
    bucket = f"arn:{partition}:s3:::{name('alb-logs')}-{account}"
    nat = settings.nat_gateway != "none"
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement("ReadWhatAwsDoesNotScope", UNSCOPED_READS, "*"),
            _statement(
                "CreateNetworkAndTemplateWithStackTags",
                [*EC2_CREATE_ACTIONS, "ec2:CreateTags", *(NAT_CREATE_ACTIONS if nat else [])],
                ec2,
                _tag_condition(ctx, "RequestTag"),
            ),
            _statement(
                "ChangeOnlyResourcesTaggedWithTheStack",
                [*EC2_CHANGE_ACTIONS, *(NAT_CHANGE_ACTIONS if nat else [])],
                "*",
                _tag_condition(ctx, "ResourceTag"),
            ),
            # The group checks RunInstances with the caller's rights when it is given a
            # launch template; instances, disks and ENIs are new, so the template is checked.
            _statement(
                "LaunchOnlyFromTheStackTemplate",
                ["ec2:RunInstances"],
                arn("ec2", "launch-template/*"),
                _tag_condition(ctx, "ResourceTag"),
            ),
            _statement(
                "LaunchResourcesOfTheTemplate",
                ["ec2:RunInstances"],
                [
                    arn("ec2", f"{kind}/*")
                    for kind in (
                        "instance",
                        "network-interface",
                        "security-group",
                        "subnet",
                        "volume",
                    )
                ]
                + [f"arn:{partition}:ec2:{region}::image/*"],
                {"ArnLike": {"ec2:LaunchTemplate": arn("ec2", "launch-template/*")}},
            ),
            _statement(
                "PublicAmiParameter",
                ["ssm:GetParameter"],
                f"arn:{partition}:ssm:{region}::parameter/aws/service/ami-amazon-linux-latest/*",
            ),
            _statement(
                "StackLock",
                [
                    "ssm:AddTagsToResource",
                    "ssm:DeleteParameter",
                    "ssm:GetParameter",
                    "ssm:PutParameter",
                ],
                arn("ssm", f"parameter{parameter_name(settings)}"),
            ),
            _statement(
                "InstanceRoleAndProfile",
                [
                    "iam:AddRoleToInstanceProfile",
                    "iam:CreateInstanceProfile",
                    "iam:CreateRole",
                    "iam:DeleteInstanceProfile",
                    "iam:DeleteRole",
                    "iam:DeleteRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:GetInstanceProfile",
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListInstanceProfilesForRole",
                    "iam:ListRolePolicies",
                    "iam:PutRolePolicy",
                    "iam:RemoveRoleFromInstanceProfile",
                    "iam:TagInstanceProfile",
                    "iam:TagRole",
                    "iam:UpdateAssumeRolePolicy",
                ],
                [
                    instance_role,
                    flow_logs_role,
                    arn("iam", f"instance-profile/{name('app-profile')}", ""),
                ],
            ),
            _statement(
                "PassOnlyTheInstanceRoleToEc2",
                ["iam:PassRole"],
                instance_role,
                {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            ),
            _statement(
                "PassOnlyTheFlowLogsRoleToFlowLogs",
                ["iam:PassRole"],
                flow_logs_role,
                {"StringEquals": {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"}},
            ),
            _statement(
                "LoadBalancerAccessLogsBucket",
                [
                    "s3:CreateBucket",
                    "s3:DeleteBucket",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                    "s3:GetBucketOwnershipControls",
                    "s3:GetBucketPolicy",
                    "s3:GetBucketPublicAccessBlock",
                    "s3:GetBucketTagging",
                    "s3:GetEncryptionConfiguration",
                    "s3:ListBucket",
                    "s3:ListBucketVersions",
                    "s3:PutBucketOwnershipControls",
                    "s3:PutBucketPolicy",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutBucketTagging",
                    "s3:PutEncryptionConfiguration",
                ],
                [bucket, f"{bucket}/*"],
            ),
            _statement(
                "ServiceLinkedRolesOfTheStackServices",
                ["iam:CreateServiceLinkedRole"],
                arn("iam", "role/aws-service-role/*", ""),
                {
                    "StringEquals": {
                        "iam:AWSServiceName": [
                            "autoscaling.amazonaws.com",
                            "elasticloadbalancing.amazonaws.com",
                            "rds.amazonaws.com",
                        ]
                    }
                },
            ),
            _statement(
                "ImageRepositoryAndPush",
                [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchDeleteImage",
                    "ecr:BatchGetImage",
                    "ecr:CompleteLayerUpload",
                    "ecr:CreateRepository",
                    "ecr:DeleteRepository",
                    "ecr:DescribeRepositories",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:InitiateLayerUpload",
                    "ecr:ListTagsForResource",
                    "ecr:PutImage",
                    "ecr:PutImageScanningConfiguration",
                    "ecr:PutImageTagMutability",
                    "ecr:TagResource",
                    "ecr:UploadLayerPart",
                ],
                repository,
            ),
            _statement(
                "LogGroup",
                [
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:ListTagsForResource",
                    "logs:PutRetentionPolicy",
                    "logs:TagResource",
                ],
                log_groups,
            ),
            _statement(
                "Database",
                [
                    "rds:AddTagsToResource",
                    "rds:CreateDBInstance",
                    "rds:CreateDBParameterGroup",
                    "rds:CreateDBSnapshot",
                    "rds:CreateDBSubnetGroup",
                    "rds:DeleteDBInstance",
                    "rds:DeleteDBParameterGroup",
                    "rds:DeleteDBSubnetGroup",
                    "rds:DescribeDBInstances",
                    "rds:DescribeDBParameters",
                    "rds:DescribeDBSubnetGroups",
                    "rds:ListTagsForResource",
                    "rds:ModifyDBInstance",
                    "rds:ModifyDBParameterGroup",
                    "rds:ModifyDBSubnetGroup",
                ],
                [
                    arn("rds", f"db:{name('db')}"),
                    arn("rds", f"subgrp:{name('db')}"),
                    arn("rds", f"pg:{name('db-postgres')}*"),
                    arn("rds", f"snapshot:{name('db-final-')}*"),
                    arn("rds", "og:default:postgres-*"),
                ],
            ),
            # RDS keeps the master password in a secret it creates (rds!db-...) for the caller.
            _statement(
                "DatabasePasswordSecret",
                [
                    "secretsmanager:CreateSecret",
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:RotateSecret",
                    "secretsmanager:TagResource",
                ],
                arn("secretsmanager", "secret:rds!*"),
            ),
            # destroy says whether this role is kept; it reads nothing else of IAM's.
            _statement("ReadItself", ["iam:GetRole"], arn("iam", f"role/{role_name(ctx)}", "")),
            _statement(
                "LoadBalancer",
                [
                    "elasticloadbalancing:AddTags",
                    "elasticloadbalancing:CreateListener",
                    "elasticloadbalancing:CreateLoadBalancer",
                    "elasticloadbalancing:CreateTargetGroup",
                    "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:DeleteLoadBalancer",
                    "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:SetSecurityGroups",
                    "elasticloadbalancing:SetSubnets",
                ],
                [
                    arn("elasticloadbalancing", f"loadbalancer/{load_balancer}"),
                    arn("elasticloadbalancing", f"listener/{load_balancer}"),
                    arn("elasticloadbalancing", f"targetgroup/{name('tg')}/*"),
                ],
            ),
            _statement(
                "AutoScalingGroup",
                [
                    "autoscaling:AttachLoadBalancerTargetGroups",
                    "autoscaling:CancelInstanceRefresh",
                    "autoscaling:CreateAutoScalingGroup",
                    "autoscaling:CreateOrUpdateTags",
                    "autoscaling:DeleteAutoScalingGroup",
                    "autoscaling:DetachLoadBalancerTargetGroups",
                    "autoscaling:StartInstanceRefresh",
                    "autoscaling:UpdateAutoScalingGroup",
                ],
                arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{name('asg')}"),
            ),
            _statement(
                "AlarmsTopic",
                [
                    "sns:CreateTopic",
                    "sns:DeleteTopic",
                    "sns:ListSubscriptionsByTopic",
                    "sns:ListTagsForResource",
                    "sns:Subscribe",
                    "sns:TagResource",
                    "sns:Unsubscribe",
                ],
                [topic, f"{topic}:*"],
            ),
            _statement(
                "AlarmsAndDashboard",
                [
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DeleteDashboards",
                    "cloudwatch:GetDashboard",
                    "cloudwatch:ListTagsForResource",
                    "cloudwatch:PutDashboard",
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:TagResource",
                ],
                [
                    arn("cloudwatch", f"alarm:{name('')}*"),
                    arn("cloudwatch", f"dashboard/{name('dashboard')}", ""),
                ],
            ),
            *_budget_statements(ctx),
            *_https_statements(ctx),
        ],
    }


def _budget_statements(ctx: Context) -> list[dict]:
    """The cost guard's budget, only while monthly_budget_usd is set.

    Budgets authorizes its calls by two actions: budgets:ViewBudget (Describe*) and
    budgets:ModifyBudget (Create/Update/Delete of budgets, notifications, subscribers);
    CreateBudget with ResourceTags also needs budgets:TagResource. Emptying the option
    deletes the budget with these rights: apply that change before running bootstrap-ci
    again (infra/budget.py then takes "not allowed to look" for "no budget").
    """
    if ctx.settings.monthly_budget_usd is None:
        return []
    budget = f"arn:{ctx.aws.partition}:budgets::{ctx.aws.account_id}:budget/"
    budget += ctx.settings.name("monthly")
    return [
        _statement(
            "MonthlyBudget",
            [
                "budgets:ListTagsForResource",
                "budgets:ModifyBudget",
                "budgets:TagResource",
                "budgets:ViewBudget",
            ],
            budget,
        )
    ]


def _https_statements(ctx: Context) -> list[dict]:
    """The certificate, and the records in the one hosted zone, while domain_name is set.

    Turning HTTPS off deletes them with these rights: apply that change before running
    bootstrap-ci again. Tag conditions on the ACM actions and record-name conditions on the
    zone would double these statements, and the inline policy is close to its size limit.
    """
    settings, aws = ctx.settings, ctx.aws
    if not settings.https:
        return []
    statements = [
        _statement(
            "Certificate",
            [
                "acm:AddTagsToCertificate",
                "acm:DeleteCertificate",
                "acm:DescribeCertificate",
                "acm:RequestCertificate",
            ],
            f"arn:{aws.partition}:acm:{aws.region}:{aws.account_id}:certificate/*",
        )
    ]
    if settings.hosted_zone_id:
        route53 = f"arn:{aws.partition}:route53:::"
        statements.append(
            _statement(
                "DomainRecordsInTheHostedZone",
                [
                    "route53:ChangeResourceRecordSets",
                    "route53:GetChange",
                    "route53:GetHostedZone",
                    "route53:ListResourceRecordSets",
                ],
                [f"{route53}hostedzone/{settings.hosted_zone_id}", f"{route53}change/*"],
            )
        )
    return statements


def digest(document: str) -> str:
    """Plans show a policy by its hash: the whole JSON would fill the screen."""
    return hashlib.sha256(document.encode()).hexdigest()[:12]


def action_count(document: str) -> int:
    statements = json.loads(document)["Statement"]
    return sum(len(s["Action"]) if isinstance(s["Action"], list) else 1 for s in statements)


def trusted_subjects(document: str) -> tuple[str, ...]:
    subjects = []
    for statement in json.loads(document).get("Statement", []):
        value = statement.get("Condition", {}).get("StringEquals", {}).get(f"{GITHUB_ISSUER}:sub")
        subjects += [value] if isinstance(value, str) else list(value or [])
    return tuple(subjects)


def role_tags(ctx: Context) -> dict:
    return {**tags.stack_tags(ctx.settings), **PURPOSE_TAG}


class GitHubProvider(Resource):
    """GitHub's OIDC identity provider: one per account, shared by every repository."""

    address = PROVIDER

    def read(self, ctx):
        iam, arn = ctx.aws.iam, provider_arn(ctx)
        listed = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        if arn not in [provider["Arn"] for provider in listed]:
            return None
        found = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        return {
            "id": arn,
            "arn": arn,
            "url": GITHUB_ISSUER,
            # Someone else's provider keeps its other audiences; ours is added if missing.
            "accepts_audience": AUDIENCE in found.get("ClientIDList", []),
        }

    def desired(self, ctx):
        return {"url": GITHUB_ISSUER, "accepts_audience": True}

    def create(self, ctx, desired):
        ctx.aws.iam.create_open_id_connect_provider(
            Url=f"https://{GITHUB_ISSUER}",
            ClientIDList=[AUDIENCE],
            ThumbprintList=GITHUB_THUMBPRINTS,
            Tags=tags.as_list(tags.stack_tags(ctx.settings)),
        )

    def update(self, ctx, actual, desired, changes):
        ctx.aws.iam.add_client_id_to_open_id_connect_provider(
            OpenIDConnectProviderArn=actual["arn"], ClientID=AUDIENCE
        )

    def delete(self, ctx, actual):
        """Kept: other stacks and repositories of the account may trust it."""


class DeployRole(Resource):
    address = DEPLOY_ROLE
    depends_on = (PROVIDER,)

    def __init__(self, repository: str | None):
        self.repository = repository

    def read(self, ctx):
        name = role_name(ctx)
        try:
            role = ctx.aws.iam.get_role(RoleName=name)["Role"]
        except ctx.aws.iam.exceptions.NoSuchEntityException:
            return None
        actual = tags.from_list(role.get("Tags"))
        if not tags.belongs(actual, ctx.settings):
            raise DeployError(
                f"An IAM role named {name} exists but is not tagged as part of this stack: "
                "delete or rename it, or pick another project_slug/stack_name."
            )
        document = canonical(role["AssumeRolePolicyDocument"])
        return {
            "id": name,
            "name": name,
            "arn": role["Arn"],
            "trusted_subjects": trusted_subjects(document),
            "assume_role_policy_sha256": digest(document),
            "_assume_role_policy": document,
            "tags": tags.ours(actual, role_tags(ctx)),
        }

    def desired(self, ctx):
        if self.repository is None:
            return None
        document = canonical(trust_policy(ctx, self.repository))
        return {
            "name": role_name(ctx),
            "trusted_subjects": trusted_subjects(document),
            "assume_role_policy_sha256": digest(document),
            "_assume_role_policy": document,
            "tags": role_tags(ctx),
        }

    def create(self, ctx, desired):
        ctx.aws.iam.create_role(
            RoleName=desired["name"],
            AssumeRolePolicyDocument=desired["_assume_role_policy"],
            Description=(
                f"GitHub Actions deploys stack {ctx.settings.stack_name} of "
                f"{ctx.settings.project_slug} (python -m infra bootstrap-ci)"
            ),
            Tags=tags.as_list(desired["tags"]),
        )

    def update(self, ctx, actual, desired, changes):
        if actual["_assume_role_policy"] != desired["_assume_role_policy"]:
            ctx.aws.iam.update_assume_role_policy(
                RoleName=actual["name"], PolicyDocument=desired["_assume_role_policy"]
            )
        if actual["tags"] != desired["tags"]:
            ctx.aws.iam.tag_role(RoleName=actual["name"], Tags=tags.as_list(desired["tags"]))

    def delete(self, ctx, actual):
        delete_role(ctx.aws.iam, actual["name"])


class DeployPolicy(Resource):
    address = DEPLOY_POLICY
    depends_on = (DEPLOY_ROLE,)

    def __init__(self, repository: str | None):
        self.repository = repository

    def read(self, ctx):
        if ctx.state.get(DEPLOY_ROLE) is None:
            return None
        try:
            document = ctx.aws.iam.get_role_policy(
                RoleName=role_name(ctx), PolicyName=role_name(ctx)
            )["PolicyDocument"]
        except ctx.aws.iam.exceptions.NoSuchEntityException:
            return None
        document = canonical(document)
        return {
            "id": f"{role_name(ctx)}:{role_name(ctx)}",
            "actions": action_count(document),
            "policy_sha256": digest(document),
            "_policy": document,
        }

    def desired(self, ctx):
        if self.repository is None:
            return None
        document = canonical(deploy_policy(ctx))
        if len(document) > INLINE_POLICY_LIMIT:
            raise DeployError(
                f"The deploy policy has {len(document)} characters; IAM allows "
                f"{INLINE_POLICY_LIMIT} inline: shorten project_slug or stack_name."
            )
        return {
            "actions": action_count(document),
            "policy_sha256": digest(document),
            "_policy": document,
        }

    def create(self, ctx, desired):
        ctx.aws.iam.put_role_policy(
            RoleName=role_name(ctx), PolicyName=role_name(ctx), PolicyDocument=desired["_policy"]
        )

    def update(self, ctx, actual, desired, changes):
        self.create(ctx, desired)

    def delete(self, ctx, actual):
        try:
            ctx.aws.iam.delete_role_policy(RoleName=role_name(ctx), PolicyName=role_name(ctx))
        except Exception as error:  # noqa: BLE001 - only a missing policy is fine here
            if not is_not_found(error):
                raise


def resources(repository: str | None) -> list[Resource]:
    """`repository` None: the role should not exist (`--remove`); the provider is kept."""
    if repository is None:
        return [DeployRole(None), DeployPolicy(None)]
    return [GitHubProvider(), DeployRole(repository), DeployPolicy(repository)]


def kept_after_destroy(ctx: Context) -> str | None:
    """What destroy tells about the deploy role, which it leaves in place on purpose."""
    try:
        ctx.aws.iam.get_role(RoleName=role_name(ctx))
    except Exception:  # noqa: BLE001 - missing or not readable: nothing to tell
        return None
    return (
        f"Kept the CI deploy role {role_name(ctx)}: GitHub Actions runs deploy and destroy "
        "with it. Remove it with `python -m infra bootstrap-ci --remove` (admin credentials)."
    )


def repository_variables(ctx: Context) -> dict[str, str]:
    arn = (ctx.state.get(DEPLOY_ROLE) or {}).get("arn", "")
    return {"AWS_DEPLOY_ROLE_ARN": arn, "AWS_REGION": ctx.aws.region}


def instructions(ctx: Context, repository: str) -> list[str]:
    variables = repository_variables(ctx)
    stack = ctx.settings.stack_name
    lines = [
        f"Deploy role: {variables['AWS_DEPLOY_ROLE_ARN']}",
        f"It can be assumed only by jobs of {repository} that run in its GitHub "
        f"environment {stack!r}.",
        "",
        f"Set these repository variables (https://github.com/{repository}/settings/"
        "variables/actions: Settings > Secrets and variables > Actions > Variables):",
    ]
    width = max(len(key) for key in variables)
    lines += [f"  {key.ljust(width)} = {value}" for key, value in variables.items()]
    lines += [
        "",
        "or with the GitHub CLI:",
        *(
            f"  gh variable set {key} --repo {repository} --body {json.dumps(value)}"
            for key, value in variables.items()
        ),
        "",
        f"Deploy and Destroy run in the environment {stack!r}; GitHub creates it on the "
        f"first run (Settings > Environments > {stack}: add required reviewers there if "
        "a person should approve each deploy).",
    ]
    return lines
