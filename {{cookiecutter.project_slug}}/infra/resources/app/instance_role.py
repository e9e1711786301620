"""The app instances' identity: a role with least-privilege inline policies and its profile.

No `*` action anywhere. `Resource: "*"` only where AWS offers no resource-level permission:
ecr:GetAuthorizationToken and the Session Manager channel actions.
"""

from __future__ import annotations

import contextlib

from infra import tags
from infra.aws import unless_gone
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.shared.addresses import (
    APP_POLICY,
    DB_INSTANCE,
    INSTANCE_PROFILE,
    INSTANCE_ROLE,
    SECRET_POLICY,
)
from infra.resources.shared.boundary import ECR_PULL_ACTIONS, SESSION_MANAGER_ACTIONS
from infra.resources.shared.iam import Role, canonical, require_ours, role_permissions
from infra.resources.shared.names import log_group_name
from infra.resources.shared.permissions import allow

EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def app_policy(ctx: Context) -> dict:
    aws, settings = ctx.aws, ctx.settings
    log_group = aws.arn("logs", f"log-group:{log_group_name(ctx)}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SessionManager",
                "Effect": "Allow",
                "Action": SESSION_MANAGER_ACTIONS,
                "Resource": "*",
            },
            {
                "Sid": "EcrLogin",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken"],
                "Resource": "*",
            },
            {
                "Sid": "EcrPullThisRepository",
                "Effect": "Allow",
                "Action": ECR_PULL_ACTIONS,
                "Resource": aws.arn("ecr", f"repository/{settings.name('app')}"),
            },
            {
                "Sid": "FindThisDatabase",
                "Effect": "Allow",
                "Action": ["rds:DescribeDBInstances"],
                "Resource": aws.arn("rds", f"db:{settings.name('db')}"),
            },
            {
                "Sid": "WriteThisLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group, f"{log_group}:log-stream:*"],
            },
        ],
    }


def secret_policy(secret_arn: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadThisDatabaseSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": secret_arn,
            }
        ],
    }


class RolePolicy(Resource):
    def __init__(self, role: str, depends_on: tuple[str, ...] = ()):
        self.role = role
        self.address = APP_POLICY if role == "app" else SECRET_POLICY
        self.depends_on = (INSTANCE_ROLE, *depends_on)

    def _names(self, ctx) -> tuple[str, str]:
        return ctx.settings.name("app-role"), ctx.settings.name(self.role)

    def read(self, ctx: Context) -> dict | None:
        if ctx.actual(INSTANCE_ROLE) is None:
            return None
        role, name = self._names(ctx)
        try:
            document = ctx.aws.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        except ctx.aws.iam.exceptions.NoSuchEntityException:
            return None
        return {"id": f"{role}:{name}", "policy": canonical(document)}

    def desired(self, ctx: Context) -> dict | None:
        if self.role == "app":
            return {"policy": canonical(app_policy(ctx))}
        secret_arn = ctx.attr(DB_INSTANCE, "secret_arn")
        return {
            "policy": UNKNOWN if secret_arn is UNKNOWN else canonical(secret_policy(secret_arn))
        }

    def create(self, ctx: Context, desired: dict) -> None:
        role, name = self._names(ctx)
        ctx.aws.iam.put_role_policy(
            RoleName=role, PolicyName=name, PolicyDocument=desired["policy"]
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        self.create(ctx, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        role, name = self._names(ctx)
        with contextlib.suppress(ctx.aws.iam.exceptions.NoSuchEntityException):
            ctx.aws.iam.delete_role_policy(RoleName=role, PolicyName=name)


class InstanceProfile(Resource):
    address = INSTANCE_PROFILE
    depends_on = (INSTANCE_ROLE,)

    def read(self, ctx: Context) -> dict | None:
        name = ctx.settings.name("app-profile")
        try:
            profile = ctx.aws.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        except ctx.aws.iam.exceptions.NoSuchEntityException:
            return None
        listed = profile.get(
            "Tags", []
        )  # GetInstanceProfile returns them (moto lacks the list call)
        return {
            "id": name,
            "name": name,
            "arn": profile["Arn"],
            "roles": tuple(sorted(role["RoleName"] for role in profile["Roles"])),
            "tags": require_ours(ctx, "instance profile", name, listed),
        }

    def desired(self, ctx: Context) -> dict | None:
        return {
            "name": ctx.settings.name("app-profile"),
            "roles": (ctx.settings.name("app-role"),),
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.iam.create_instance_profile(
            InstanceProfileName=desired["name"], Tags=tags.as_list(desired["tags"])
        )
        self._attach(ctx, desired["name"], (), desired["roles"])

    def _attach(self, ctx, name, present, wanted):
        for role in set(present) - set(wanted):
            ctx.aws.iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
        for role in set(wanted) - set(present):
            ctx.aws.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        self._attach(ctx, actual["name"], actual["roles"], desired["roles"])
        if actual["tags"] != desired["tags"]:
            ctx.aws.iam.tag_instance_profile(
                InstanceProfileName=actual["name"], Tags=tags.as_list(desired["tags"])
            )

    def delete(self, ctx: Context, actual: dict) -> None:
        self._attach(ctx, actual["name"], actual["roles"], ())
        unless_gone(lambda: ctx.aws.iam.delete_instance_profile(InstanceProfileName=actual["name"]))


def resources() -> list[Resource]:
    role = Role(
        INSTANCE_ROLE,
        lambda ctx: ctx.settings.name("app-role"),
        lambda _ctx: EC2_TRUST,
        "App instances of the stack",
        bounded=True,
    )
    return [role, RolePolicy("app"), RolePolicy("db-secret", (DB_INSTANCE,)), InstanceProfile()]


def deploy_permissions(ctx: Context) -> list[dict]:
    role = ctx.settings.name("app-role")
    return [
        *role_permissions(ctx, role),
        allow(
            [
                "iam:AddRoleToInstanceProfile",
                "iam:CreateInstanceProfile",
                "iam:DeleteInstanceProfile",
                "iam:GetInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:TagInstanceProfile",
            ],
            ctx.aws.arn(
                "iam", f"instance-profile/{ctx.settings.name('app-profile')}", region=False
            ),
        ),
        # AddRoleToInstanceProfile also needs iam:PassRole on the role, a request without
        # iam:PassedToService (IAM API Reference, AddRoleToInstanceProfile): IfExists.
        allow(
            ["iam:PassRole"],
            ctx.aws.arn("iam", f"role/{role}", region=False),
            {"StringEqualsIfExists": {"iam:PassedToService": "ec2.amazonaws.com"}},
        ),
    ]
