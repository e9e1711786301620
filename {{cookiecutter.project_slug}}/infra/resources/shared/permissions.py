"""How resource modules declare what the CI deploy role may do for them.

Each tier module ends with `deploy_permissions(ctx)`: the IAM statements its own calls need,
next to those calls. `resources/ci/deploy_policy.py` puts them together. EC2 ids are not
known before apply, so EC2 resources are created only with the stack's tags on the request,
tagged only while being created, and changed only while they carry the stack's tags.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.engine import Context


def allow(
    actions: Iterable[str], resources: str | list[str], condition: dict | None = None
) -> dict:
    statement = {"Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def reads(*actions: str) -> dict:
    """Describe and List calls AWS does not scope to a resource."""
    return allow(actions, "*")


def stack_tags(ctx: Context, kind: str) -> dict:
    """`aws:RequestTag/...` (on a create) or `aws:ResourceTag/...` of this stack, as values."""
    return {
        f"aws:{kind}/Project": ctx.settings.project_slug,
        f"aws:{kind}/Stack": ctx.settings.stack_name,
    }


def arn(ctx: Context, service: str, resource: str, region: bool = True) -> str:
    return ctx.aws.arn(service, resource, region=region)


def ec2(ctx: Context, resource_type: str) -> str:
    return arn(ctx, "ec2", f"{resource_type}/*")


def ec2_creates(ctx: Context, creates: dict[str, str], parents: dict[str, list[str]]) -> list[dict]:
    """`creates` maps a create action to the type it creates (`ec2:CreateSubnet`: `subnet`),
    `parents` a create action to the stack's resources it also acts on (`vpc`).

    The new resource only with the stack's tags on the request, and tagged only by the create
    itself (EC2 User Guide, "Grant permission to tag resources during creation"): a right to
    tag anything with the stack's tags would hand someone else's VPC to the statements below.
    """
    created = [ec2(ctx, kind) for kind in creates.values()]
    statements = [
        allow(creates, created, {"StringEquals": stack_tags(ctx, "RequestTag")}),
        allow(
            ["ec2:CreateTags"],
            created,
            {
                "StringEquals": {
                    **stack_tags(ctx, "RequestTag"),
                    "ec2:CreateAction": sorted(action.split(":")[1] for action in creates),
                }
            },
        ),
    ]
    for action, kinds in parents.items():
        statements.append(ec2_changes(ctx, [action], [ec2(ctx, kind) for kind in kinds]))
    return statements


def ec2_changes(ctx: Context, actions: list[str], resources: str | list[str] = "*") -> dict:
    """Changes to EC2 resources that carry the stack's tags."""
    return allow(actions, resources, {"StringEquals": stack_tags(ctx, "ResourceTag")})


def service_linked_role(ctx: Context, service: str) -> dict:
    """In an account that never used the service, its first create makes the service's
    service-linked role with the caller's rights (the service's guide, "Using service-linked
    roles")."""
    return allow(
        ["iam:CreateServiceLinkedRole"],
        arn(ctx, "iam", "role/aws-service-role/*", region=False),
        {"StringEquals": {"iam:AWSServiceName": service}},
    )
