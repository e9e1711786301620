"""The permissions boundary of the stack's roles: the most any of them may ever do.

`bootstrap-ci` creates it as the managed policy `<project>-<stack>-boundary`; from then on
the stack's roles (the instances' and the flow logs') carry it, and the CI deploy role may
create those roles, or change their policies, only with it attached. So even a deploy role
misused from a workflow cannot give a role of the stack more than this, nor give itself
anything through one (IAM User Guide, "Permissions boundaries for IAM entities").
"""

from __future__ import annotations

from infra.engine import Context
from infra.resources.shared.names import log_group_name

# What the AWS documentation lists as the minimum for Session Manager on an instance.
SESSION_MANAGER_ACTIONS = [
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]
ECR_PULL_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
]
LOG_WRITE_ACTIONS = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]


def boundary_name(ctx: Context) -> str:
    return ctx.settings.name("boundary")


def boundary_arn(ctx: Context) -> str:
    return ctx.aws.arn("iam", f"policy/{boundary_name(ctx)}", region=False)


def boundary_exists(ctx: Context) -> bool:
    """Whether bootstrap-ci has made it; without it (a stack deployed by an administrator
    alone) the roles carry no boundary."""

    def read() -> bool:
        iam = ctx.aws.iam
        try:
            iam.get_policy(PolicyArn=boundary_arn(ctx))
        except iam.exceptions.NoSuchEntityException:
            return False
        return True

    return ctx.cached("boundary_exists", read)


def db_instance_arn(ctx: Context) -> str:
    return ctx.aws.arn("rds", f"db:{ctx.settings.name('db')}")


def boundary_policy(ctx: Context) -> dict:
    aws, settings = ctx.aws, ctx.settings
    log_groups = aws.arn("logs", f"log-group:{log_group_name(ctx, '*')}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SessionManagerAndRegistryLogin",
                "Effect": "Allow",
                "Action": [*SESSION_MANAGER_ACTIONS, "ecr:GetAuthorizationToken"],
                "Resource": "*",
            },
            {
                "Sid": "PullTheStacksImages",
                "Effect": "Allow",
                "Action": ECR_PULL_ACTIONS,
                "Resource": aws.arn("ecr", f"repository/{settings.name('app')}"),
            },
            {
                "Sid": "FindTheStacksDatabase",
                "Effect": "Allow",
                "Action": ["rds:DescribeDBInstances"],
                "Resource": db_instance_arn(ctx),
            },
            {
                "Sid": "WriteTheStacksLogs",
                "Effect": "Allow",
                "Action": LOG_WRITE_ACTIONS,
                "Resource": [log_groups, f"{log_groups}:log-stream:*"],
            },
            {
                # RDS tags the secret it keeps the password in with the instance's ARN.
                "Sid": "ReadTheStacksDatabaseSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": aws.arn("secretsmanager", "secret:rds!db-*"),
                "Condition": {
                    "StringEquals": {
                        "aws:ResourceTag/aws:rds:primaryDBInstanceArn": db_instance_arn(ctx)
                    }
                },
            },
        ],
    }
