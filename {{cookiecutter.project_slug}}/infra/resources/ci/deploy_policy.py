"""The deploy role's permissions: what plan, apply, destroy and outputs of this stack call."""

from __future__ import annotations

import hashlib
import json

from infra.engine import Context
from infra.lock import parameter_name
from infra.resources.shared.addresses import ALARM_ROLES
from infra.resources.shared.boundary import boundary_arn
from infra.resources.shared.names import deploy_role_name, log_group_name

# Inline policies of one role may hold 10,240 characters in all (whitespace not counted).
# A managed policy holds 6,144 characters (whitespace not counted); a role takes 10 of them
# unless the account's quota was raised (IAM User Guide, "IAM and AWS STS quotas").
MANAGED_POLICY_LIMIT = 6144
MANAGED_POLICIES_PER_ROLE = 10


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


SERVICE_LINKED_ROLE_SERVICES = [
    "autoscaling.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "rds.amazonaws.com",
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


def stack_deploy_policy(ctx: Context) -> dict:
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
    log_groups = arn("logs", f"log-group:{log_group_name(ctx, '*')}")
    topic = arn("sns", name("alarms"))
    instance_role = arn("iam", f"role/{name('app-role')}", "")
    flow_logs_role = arn("iam", f"role/{name('flow-logs-role')}", "")
    bucket = f"arn:{partition}:s3:::{name('alb-logs')}-{account}"
    nat = settings.nat_gateway != "none"
    creates = [*EC2_CREATE_ACTIONS, *(NAT_CREATE_ACTIONS if nat else [])]
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement("ReadWhatAwsDoesNotScope", UNSCOPED_READS, "*"),
            _statement(
                "CreateNetworkAndTemplateWithStackTags",
                creates,
                ec2,
                _tag_condition(ctx, "RequestTag"),
            ),
            # Tags only as part of those creates (EC2 User Guide, "Grant permission to tag
            # resources during creation"): tagging someone else's VPC or group with the
            # stack's tags would hand it to the statements scoped by the stack's tags.
            _statement(
                "TagOnlyWhatTheStackCreates",
                ["ec2:CreateTags"],
                ec2,
                {
                    "StringEquals": {
                        **_tag_condition(ctx, "RequestTag")["StringEquals"],
                        # RunInstances: the instances' disks and ENIs, from the template.
                        "ec2:CreateAction": [
                            *(action.split(":")[1] for action in creates),
                            "RunInstances",
                        ],
                    }
                },
            ),
            # The VPC's default security group is AWS's, made with the VPC, and cannot be
            # tagged on creation: the deploy role may take rules off security groups, never
            # add or tag them (FSBP EC2.2 wants the default group empty).
            _statement(
                "EmptyTheDefaultSecurityGroup",
                ["ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"],
                arn("ec2", "security-group/*"),
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
                [arn("ec2", f"{kind}/*") for kind in ("instance", "network-interface", "volume")]
                + [f"arn:{partition}:ec2:{region}::image/*"],
                {"ArnLike": {"ec2:LaunchTemplate": arn("ec2", "launch-template/*")}},
            ),
            # ...into the stack's subnets, with the stack's security groups only.
            _statement(
                "LaunchIntoTheStacksSubnetsAndGroups",
                ["ec2:RunInstances"],
                [arn("ec2", "subnet/*"), arn("ec2", "security-group/*")],
                _tag_condition(ctx, "ResourceTag"),
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
            # The stack's roles only with the boundary bootstrap-ci made: nothing the deploy
            # role does through them reaches beyond it. No trust policy changes at all.
            _statement(
                "StackRolesOnlyWithTheBoundary",
                [
                    "iam:CreateRole",
                    "iam:DeleteRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:PutRolePolicy",
                ],
                [instance_role, flow_logs_role],
                {"StringEquals": {"iam:PermissionsBoundary": boundary_arn(ctx)}},
            ),
            _statement(
                "ReadTagAndDeleteTheStackRoles",
                [
                    "iam:DeleteRole",
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListInstanceProfilesForRole",
                    "iam:ListRolePolicies",
                    "iam:TagRole",
                ],
                [instance_role, flow_logs_role],
            ),
            _statement(
                "TheInstanceProfile",
                [
                    "iam:AddRoleToInstanceProfile",
                    "iam:CreateInstanceProfile",
                    "iam:DeleteInstanceProfile",
                    "iam:GetInstanceProfile",
                    "iam:RemoveRoleFromInstanceProfile",
                    "iam:TagInstanceProfile",
                ],
                arn("iam", f"instance-profile/{name('app-profile')}", ""),
            ),
            # Whether the boundary exists; nothing else may touch it.
            _statement("FindTheBoundary", ["iam:GetPolicy"], boundary_arn(ctx)),
            # AddRoleToInstanceProfile also needs iam:PassRole on the role, a request without
            # iam:PassedToService (IAM API Reference, AddRoleToInstanceProfile): IfExists.
            _statement(
                "PassOnlyTheInstanceRoleToEc2",
                ["iam:PassRole"],
                instance_role,
                {"StringEqualsIfExists": {"iam:PassedToService": "ec2.amazonaws.com"}},
            ),
            # In an account that has never had a load balancer, an Auto Scaling group or an
            # RDS instance, the first create makes the service's service-linked role, with
            # the caller's rights (each service's guide, "Using service-linked roles").
            _statement(
                "ServiceLinkedRolesOfTheStacksServices",
                ["iam:CreateServiceLinkedRole"],
                arn("iam", "role/aws-service-role/*", ""),
                {"StringEquals": {"iam:AWSServiceName": SERVICE_LINKED_ROLE_SERVICES}},
            ),
            # CreateDBInstance with ManageMasterUserPassword describes the secret's KMS key,
            # here the aws/secretsmanager key (RDS User Guide, "Permissions required for
            # Secrets Manager integration").
            _statement(
                "DescribeTheSecretsManagerKey",
                ["kms:DescribeKey"],
                arn("kms", "key/*"),
                {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/aws/secretsmanager"}},
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
            # RDS keeps the master password in a secret it creates (rds!db-...) for the caller
            # and tags with the instance's ARN: only this database's secret, through RDS.
            _statement(
                "ThisDatabasesPasswordSecret",
                [
                    "secretsmanager:CreateSecret",
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:RotateSecret",
                    "secretsmanager:TagResource",
                ],
                arn("secretsmanager", "secret:rds!db-*"),
                {
                    "Bool": {"aws:ViaAWSService": "true"},
                    "StringEqualsIfExists": {
                        f"aws:{kind}/aws:rds:primaryDBInstanceArn": arn("rds", f"db:{name('db')}")
                        for kind in ("RequestTag", "ResourceTag")
                    },
                },
            ),
            # destroy says whether this role is kept; it reads nothing else of IAM's.
            _statement(
                "ReadItself", ["iam:GetRole"], arn("iam", f"role/{deploy_role_name(ctx)}", "")
            ),
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
                # Each alarm by name: `<project>-<stack>-*` would also match the alarms of a
                # project named `<project>-<stack>`.
                [
                    *(arn("cloudwatch", f"alarm:{name(role)}") for role in ALARM_ROLES),
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
    again (the budget resource then takes "not allowed to look" for "no budget").
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
    bootstrap-ci again.
    """
    settings, aws = ctx.settings, ctx.aws
    if not settings.https:
        return []
    certificates = f"arn:{aws.partition}:acm:{aws.region}:{aws.account_id}:certificate/*"
    statements = [
        # RequestCertificate has no resource type: "*", with the stack's tags on the request.
        _statement(
            "RequestTheCertificateWithStackTags",
            ["acm:RequestCertificate"],
            "*",
            _tag_condition(ctx, "RequestTag"),
        ),
        # Tags given with the request need AddTagsToCertificate too; on an existing
        # certificate only one of the stack's (ACM has no condition key telling the two apart).
        _statement(
            "TagTheStacksCertificate",
            ["acm:AddTagsToCertificate"],
            certificates,
            {
                **_tag_condition(ctx, "RequestTag"),
                "StringEqualsIfExists": _tag_condition(ctx, "ResourceTag")["StringEquals"],
            },
        ),
        _statement(
            "TheStacksCertificate",
            ["acm:DeleteCertificate", "acm:DescribeCertificate"],
            certificates,
            _tag_condition(ctx, "ResourceTag"),
        ),
    ]
    if settings.hosted_zone_id:
        route53 = f"arn:{aws.partition}:route53:::"
        zone = f"{route53}hostedzone/{settings.hosted_zone_id}"
        domain = settings.domain_name.lower().rstrip(".")
        statements += [
            _statement(
                "ReadTheHostedZone",
                ["route53:GetChange", "route53:GetHostedZone", "route53:ListResourceRecordSets"],
                [zone, f"{route53}change/*"],
            ),
            # Only the domain's own record and its certificate's validation records
            # (Route 53 Developer Guide, "fine-grained access control" condition keys).
            _statement(
                "ChangeOnlyTheStacksRecords",
                ["route53:ChangeResourceRecordSets"],
                zone,
                {
                    "ForAllValues:StringLike": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                            domain,
                            f"_*.{domain}",
                        ]
                    }
                },
            ),
        ]
    return statements


def split(policy: dict) -> list[str]:
    """The policy as canonical documents of at most MANAGED_POLICY_LIMIT characters each,
    its statements in order."""
    documents: list[list[dict]] = [[]]
    for statement in policy["Statement"]:
        candidate = [*documents[-1], statement]
        if documents[-1] and len(_document(candidate)) > MANAGED_POLICY_LIMIT:
            documents.append([statement])
        else:
            documents[-1] = candidate
    return [_document(statements) for statements in documents]


def _document(statements: list[dict]) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": statements}, sort_keys=True, separators=(",", ":")
    )


def digest(document: str) -> str:
    """Plans show a policy by its hash: the whole JSON would fill the screen."""
    return hashlib.sha256(document.encode()).hexdigest()[:12]


def action_count(document: str) -> int:
    statements = json.loads(document)["Statement"]
    return sum(len(s["Action"]) if isinstance(s["Action"], list) else 1 for s in statements)
