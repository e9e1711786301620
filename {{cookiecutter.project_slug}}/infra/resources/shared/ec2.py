"""EC2 helpers every tier uses: finding the stack's resources by tag, tagging, deleting
what AWS still holds for a moment, and security group rules as comparable strings."""

from __future__ import annotations

from infra import tags
from infra.aws import DeployError
from infra.engine import Context


def only_one(items: list, kind: str, name: str) -> dict | None:
    """At most one resource may carry a stack's tags and name; a second one is a leftover."""
    if len(items) > 1:
        raise DeployError(
            f"Found {len(items)} {kind}s tagged as {name}: delete the extra ones "
            "in the AWS console, then run the command again."
        )
    return items[0] if items else None


def stack_listing(ctx: Context, describe, key: str) -> list[dict]:
    """Everything of one kind that carries the stack's tags: one call for all the siblings
    of a plan (`describe` is an EC2 describe call, `key` the list in its answer)."""
    return ctx.listing(key, lambda: describe(Filters=tags.ec2_filters(ctx.settings))[key])


def name_tag(item: dict) -> str:
    return tags.from_list(item.get("Tags")).get("Name", "")


def find_tagged(ctx: Context, describe, key: str, kind: str, name: str) -> dict | None:
    """The one resource of the stack named `name` (its Name tag), or None; `kind` names it
    in the error about a second one."""
    found = [item for item in stack_listing(ctx, describe, key) if name_tag(item) == name]
    return only_one(found, kind, name)


def ec2_tags(item: dict, ctx: Context, name: str) -> dict:
    return tags.ours(tags.from_list(item.get("Tags")), tags.stack_tags(ctx.settings, name))


def update_ec2_tags(ctx: Context, resource_id: str, desired: dict) -> None:
    ctx.aws.ec2.create_tags(Resources=[resource_id], Tags=tags.as_list(desired["tags"]))


def normalized_rules(permissions: list[dict]) -> tuple[str, ...]:
    """Security group rules as sorted readable strings: `tcp 80 0.0.0.0/0`, `tcp 5432 sg-1`."""
    rules = []
    for permission in permissions:
        protocol = permission.get("IpProtocol", "-1")
        low, high = permission.get("FromPort"), permission.get("ToPort")
        ports = "all" if protocol == "-1" else (f"{low}" if low == high else f"{low}-{high}")
        protocol = "all" if protocol == "-1" else protocol
        sources = (
            [pair["GroupId"] for pair in permission.get("UserIdGroupPairs", [])]
            + [item["CidrIp"] for item in permission.get("IpRanges", [])]
            + [item["CidrIpv6"] for item in permission.get("Ipv6Ranges", [])]
            + [item["PrefixListId"] for item in permission.get("PrefixListIds", [])]
        )
        rules.extend(f"{protocol} {ports} {source}" for source in sources)
    return tuple(sorted(rules))


def require_two_zones(zones: list[str], what: str) -> None:
    """AWS needs two zones for a load balancer and a DB subnet group; moto accepts one."""
    if len(set(zones)) < 2:
        raise DeployError(
            f"The {what} needs subnets in at least two availability zones, got "
            f"{', '.join(sorted(set(zones))) or 'none'}: list two zones in stack.toml."
        )
