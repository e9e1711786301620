"""IAM helpers and the one role resource of the stack: the instance role, the flow-logs role
and the CI deploy role are each a `Role` with its own name, trust policy and tags."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable

from infra import tags
from infra.aws import DeployError
from infra.engine import Change, Context, Resource
from infra.resources.shared.boundary import boundary_arn, boundary_exists
from infra.resources.shared.permissions import allow


def canonical(document) -> str:
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def delete_role(iam, name: str) -> None:
    """IAM deletes a role only once nothing is attached to it: detach everything first."""
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(
            InstanceProfileName=profile["InstanceProfileName"], RoleName=name
        )
    iam.delete_role(RoleName=name)


def new_policy_version(iam, arn: str, document: str) -> None:
    """IAM keeps five versions of a managed policy: the oldest spare one goes first."""
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    spare = sorted(
        (v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"]
    )
    if len(versions) >= 5:
        iam.delete_policy_version(PolicyArn=arn, VersionId=spare[0]["VersionId"])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)


def delete_managed_policy(iam, arn: str) -> None:
    """IAM deletes a managed policy only without its other versions."""
    for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=arn)


def require_ours(ctx: Context, kind: str, name: str, tag_list, wanted: dict | None = None) -> dict:
    """The role's or profile's managed tags (`wanted`'s keys, the stack's by default);
    refused when it does not carry the stack's tags: a same-named IAM resource of someone
    else's is never taken over."""
    actual = tags.from_list(tag_list)
    if not tags.belongs(actual, ctx.settings):
        raise DeployError(
            f"An IAM {kind} named {name} exists but is not tagged as part of this "
            "stack: delete or rename it, or pick another project_slug/stack_name."
        )
    return tags.ours(actual, wanted or tags.stack_tags(ctx.settings))


def _show_whole(document: str) -> dict:
    return {"assume_role_policy": document}


class Role(Resource):
    """An IAM role of the stack, with its trust policy and, if given, one inline policy named
    like the role (the two then change together).

    `name`, `trust`, `policy` and `role_tags` are functions of the context; `wanted` says
    whether the role should exist; a `bounded` role carries the stack's permissions boundary
    once bootstrap-ci has made it (shared/boundary.py). `show` turns the trust policy into
    what plans compare and print (the whole document by default); the document itself
    travels as `_assume_role_policy`. Trust policies are only ever set from the code.
    """

    def __init__(
        self,
        address: str,
        name: Callable[[Context], str],
        trust: Callable[[Context], dict],
        description: str | Callable[[Context], str],
        *,
        policy: Callable[[Context], dict] | None = None,
        role_tags: Callable[[Context], dict] = lambda ctx: tags.stack_tags(ctx.settings),
        wanted: Callable[[Context], bool] = lambda _ctx: True,
        show: Callable[[str], dict] = _show_whole,
        bounded: bool = False,
        depends_on: tuple[str, ...] = (),
    ):
        self.address = address
        self.name = name
        self.trust = trust
        self.description = description
        self.policy = policy
        self.role_tags = role_tags
        self.wanted = wanted
        self.show = show
        self.bounded = bounded
        self.depends_on = depends_on

    def read(self, ctx: Context) -> dict | None:
        iam, name = ctx.aws.iam, self.name(ctx)
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except iam.exceptions.NoSuchEntityException:
            return None
        owned = require_ours(ctx, "role", name, role.get("Tags", []), self.role_tags(ctx))
        document = canonical(role["AssumeRolePolicyDocument"])
        actual = {
            "id": name,
            "name": name,
            "arn": role["Arn"],
            **self.show(document),
            "_assume_role_policy": document,
            "tags": owned,
        }
        if self.bounded:
            boundary = role.get("PermissionsBoundary") or {}
            actual["permissions_boundary"] = boundary.get("PermissionsBoundaryArn")
        if self.policy is not None:
            try:
                found = iam.get_role_policy(RoleName=name, PolicyName=name)["PolicyDocument"]
                actual["policy"] = canonical(found)
            except iam.exceptions.NoSuchEntityException:
                actual["policy"] = None
        return actual

    def desired(self, ctx: Context) -> dict | None:
        if not self.wanted(ctx):
            return None
        document = canonical(self.trust(ctx))
        desired = {
            "name": self.name(ctx),
            **self.show(document),
            "_assume_role_policy": document,
            "tags": self.role_tags(ctx),
        }
        if self.bounded:
            desired["permissions_boundary"] = boundary_arn(ctx) if boundary_exists(ctx) else None
        if self.policy is not None:
            desired["policy"] = canonical(self.policy(ctx))
        return desired

    def create(self, ctx: Context, desired: dict) -> None:
        description = self.description
        boundary = desired.get("permissions_boundary")
        ctx.aws.iam.create_role(
            RoleName=desired["name"],
            AssumeRolePolicyDocument=desired["_assume_role_policy"],
            Description=description if isinstance(description, str) else description(ctx),
            Tags=tags.as_list(desired["tags"]),
            **({"PermissionsBoundary": boundary} if boundary else {}),
        )
        if self.policy is not None:
            self._put_policy(ctx, desired)

    def _put_policy(self, ctx: Context, desired: dict) -> None:
        ctx.aws.iam.put_role_policy(
            RoleName=desired["name"], PolicyName=desired["name"], PolicyDocument=desired["policy"]
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        iam = ctx.aws.iam
        boundary = desired.get("permissions_boundary")
        if boundary and actual.get("permissions_boundary") != boundary:
            # Before its policies change: bootstrap-ci puts it on existing roles, so only
            # an administrator's apply gets here; the deploy role may not.
            iam.put_role_permissions_boundary(RoleName=actual["name"], PermissionsBoundary=boundary)
        if actual["_assume_role_policy"] != desired["_assume_role_policy"]:
            iam.update_assume_role_policy(
                RoleName=actual["name"], PolicyDocument=desired["_assume_role_policy"]
            )
        if self.policy is not None and actual["policy"] != desired["policy"]:
            self._put_policy(ctx, desired)
        if actual["tags"] != desired["tags"]:
            iam.tag_role(RoleName=actual["name"], Tags=tags.as_list(desired["tags"]))

    def delete(self, ctx: Context, actual: dict) -> None:
        delete_role(ctx.aws.iam, actual["name"])


def role_permissions(ctx: Context, role_name: str) -> list[dict]:
    """What the deploy role may do to one of the stack's roles: write its policies only with
    the stack's boundary on it (iam:PermissionsBoundary), never change its trust policy or
    its boundary (IAM User Guide, "Permissions boundaries for IAM entities")."""
    role = ctx.aws.arn("iam", f"role/{role_name}", region=False)
    return [
        allow(
            ["iam:CreateRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePolicy"],
            role,
            {"StringEquals": {"iam:PermissionsBoundary": boundary_arn(ctx)}},
        ),
        allow(
            [
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:ListRolePolicies",
                "iam:TagRole",
            ],
            role,
        ),
        # Whether the boundary exists; nothing else may touch it.
        allow(["iam:GetPolicy"], boundary_arn(ctx)),
    ]
