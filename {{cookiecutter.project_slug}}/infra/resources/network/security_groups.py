"""Layered security groups: internet -> load balancer -> app -> database, by group, never by IP.

The groups and their rules are separate resources because the rules of the load balancer
and app groups point at each other: all three groups exist before any rule is written.
"""

from __future__ import annotations

import functools

from infra import tags
from infra.aws import delete_when_free, once_visible
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.shared.addresses import VPC, group_address, rules_address
from infra.resources.shared.ec2 import (
    ec2_tags,
    find_tagged,
    normalized_rules,
    stack_listing,
    update_ec2_tags,
)
from infra.resources.shared.names import HTTP_PORT, HTTPS_PORT, POSTGRES_PORT
from infra.resources.shared.permissions import ec2_changes, ec2_creates, reads

TIERS = ("alb", "app", "db")
DESCRIPTIONS = {
    "alb": "Load balancer: HTTP from the internet, to the app instances only",
    "app": "App instances: the app port from the load balancer only",
    "db": "Database: PostgreSQL from the app instances only",
}


def desired_rules(ctx: Context, tier: str) -> dict[str, tuple[str, ...]]:
    """Each tier's ingress and egress, as strings comparable with `normalized_rules`."""
    port = ctx.settings.app_port
    group = {name: ctx.attr(group_address(name), "id") for name in TIERS}
    # With HTTPS, port 80 stays open for the redirect to 443.
    public_ports = (HTTP_PORT, HTTPS_PORT) if ctx.settings.https else (HTTP_PORT,)
    rules = {
        "alb": {
            "ingress": [
                f"tcp {public} {cidr}" for public in public_ports for cidr in ("0.0.0.0/0", "::/0")
            ],
            "egress": [f"tcp {port} {group['app']}"],
        },
        # 443 anywhere: AWS APIs and ECR, through the internet gateway or, with nat_gateway, NAT.
        "app": {
            "ingress": [f"tcp {port} {group['alb']}"],
            "egress": [f"tcp {HTTPS_PORT} 0.0.0.0/0", f"tcp {POSTGRES_PORT} {group['db']}"],
        },
        "db": {"ingress": [f"tcp {POSTGRES_PORT} {group['app']}"], "egress": []},
    }[tier]
    return {
        direction: UNKNOWN if any(str(UNKNOWN) in rule for rule in items) else tuple(sorted(items))
        for direction, items in rules.items()
    }


def permission(rule: str) -> dict:
    protocol, port, source = rule.split(" ")
    low, _, high = port.partition("-")
    item: dict = {"IpProtocol": "-1" if protocol == "all" else protocol}
    if protocol != "all":
        item.update(FromPort=int(low), ToPort=int(high or low))
    if source.startswith("sg-"):
        item["UserIdGroupPairs"] = [{"GroupId": source}]
    elif source.startswith("pl-"):
        item["PrefixListIds"] = [{"PrefixListId": source}]
    elif ":" in source:
        item["Ipv6Ranges"] = [{"CidrIpv6": source}]
    else:
        item["IpRanges"] = [{"CidrIp": source}]
    return item


class SecurityGroup(Resource):
    replace_blocked = "Change it back, or run `python -m infra destroy` and then apply."
    immutable = ("vpc_id",)

    def __init__(self, tier: str):
        self.tier = tier
        self.address = group_address(tier)
        self.depends_on = (VPC,)

    def read(self, ctx: Context) -> dict | None:
        name = ctx.settings.name(f"{self.tier}-sg")
        group = find_tagged(
            ctx, ctx.aws.ec2.describe_security_groups, "SecurityGroups", "security group", name
        )
        if group is None:
            return None
        return {
            "id": group["GroupId"],
            "name": group["GroupName"],
            "vpc_id": group["VpcId"],
            "tags": ec2_tags(group, ctx, name),
            "_group": group,
        }

    def desired(self, ctx: Context) -> dict | None:
        name = ctx.settings.name(f"{self.tier}-sg")
        return {
            "name": name,
            "vpc_id": ctx.attr(VPC, "id"),
            "tags": tags.stack_tags(ctx.settings, name),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.ec2.create_security_group(
            GroupName=desired["name"],
            Description=DESCRIPTIONS[self.tier],
            VpcId=desired["vpc_id"],
            TagSpecifications=tags.ec2_tag_specification("security-group", desired["tags"]),
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        update_ec2_tags(ctx, actual["id"], desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        delete_when_free(lambda: ctx.aws.ec2.delete_security_group(GroupId=actual["id"]), ctx.sleep)


def _described(ctx: Context, group_id: str) -> dict:
    """The group with its rules as they are now: from the plan's one listing of the stack's
    groups while the run has changed nothing, else described again."""
    ec2 = ctx.aws.ec2
    listed = stack_listing(ctx, ec2.describe_security_groups, "SecurityGroups")
    found = [group for group in listed if group["GroupId"] == group_id]
    return (
        found[0]
        if found
        else ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    )


class SecurityGroupRules(Resource):
    def __init__(self, tier: str):
        self.tier = tier
        self.address = rules_address(tier)
        self.depends_on = tuple(group_address(name) for name in TIERS)

    def read(self, ctx: Context) -> dict | None:
        group = ctx.actual(group_address(self.tier))
        if group is None:
            return None
        # Re-read: the group object from before may predate rules written in this run.
        current = _described(ctx, group["id"])
        if not current.get("IpPermissions") and not current.get("IpPermissionsEgress"):
            return None  # a group without rules has none of ours yet
        return {
            "id": current["GroupId"],
            "ingress": normalized_rules(current.get("IpPermissions", [])),
            "egress": normalized_rules(current.get("IpPermissionsEgress", [])),
        }

    def desired(self, ctx: Context) -> dict | None:
        return desired_rules(ctx, self.tier)

    def create(self, ctx: Context, desired: dict) -> None:
        group_id = ctx.attr(group_address(self.tier), "id")
        current = once_visible(
            lambda: ctx.aws.ec2.describe_security_groups(GroupIds=[group_id]),
            ctx.sleep,
            f"{self.address}: read {group_id}",
        )["SecurityGroups"][0]
        actual = {
            "id": group_id,
            "ingress": normalized_rules(current.get("IpPermissions", [])),
            "egress": normalized_rules(current.get("IpPermissionsEgress", [])),
        }
        self.update(ctx, actual, desired, [])

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        ec2, group_id = ctx.aws.ec2, actual["id"]
        for direction, authorize, revoke in (
            ("ingress", ec2.authorize_security_group_ingress, ec2.revoke_security_group_ingress),
            ("egress", ec2.authorize_security_group_egress, ec2.revoke_security_group_egress),
        ):
            wanted, present = set(desired[direction]), set(actual[direction])
            if wanted - present:
                # A rule naming another group made moments ago: InvalidGroup.NotFound for now.
                once_visible(
                    functools.partial(
                        authorize,
                        GroupId=group_id,
                        IpPermissions=[permission(rule) for rule in sorted(wanted - present)],
                    ),
                    ctx.sleep,
                    f"{self.address}: add the {direction} rules of {group_id}",
                )
            if present - wanted:
                revoke(
                    GroupId=group_id,
                    IpPermissions=[permission(rule) for rule in sorted(present - wanted)],
                )

    def delete(self, ctx: Context, actual: dict) -> None:
        # The groups refer to each other; AWS deletes none of them while a rule still does.
        self.update(ctx, actual, {"ingress": (), "egress": ()}, [])

    def resource_id(self, actual: dict) -> str:
        return f"{actual['id']} rules"


def resources() -> list[Resource]:
    return [SecurityGroup(tier) for tier in TIERS] + [SecurityGroupRules(tier) for tier in TIERS]


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        reads("ec2:DescribeSecurityGroups"),
        *ec2_creates(
            ctx, {"ec2:CreateSecurityGroup": "security-group"}, {"ec2:CreateSecurityGroup": ["vpc"]}
        ),
        ec2_changes(
            ctx,
            [
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
                "ec2:RevokeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupIngress",
            ],
        ),
    ]
