"""IAM helpers and the one role resource of the stack: the instance role, the flow-logs role
and the CI deploy role are each a `Role` with its own name, trust policy and tags."""

from __future__ import annotations

import json
import urllib.parse

from infra import tags
from infra.aws import DeployError
from infra.engine import Context


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


def require_ours(ctx: Context, kind: str, name: str, tag_list) -> dict:
    actual = tags.from_list(tag_list)
    if not tags.belongs(actual, ctx.settings):
        raise DeployError(
            f"An IAM {kind} named {name} exists but is not tagged as part of this "
            "stack: delete or rename it, or pick another project_slug/stack_name."
        )
    return tags.ours(actual, tags.stack_tags(ctx.settings))
