"""One public and one private subnet per availability zone."""

from __future__ import annotations

from infra import tags
from infra.aws import DeployError, delete_when_free
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import VPC, subnet_address
from infra.resources.shared.ec2 import (
    ec2_tags,
    find_tagged,
    name_tag,
    stack_listing,
    update_ec2_tags,
)
from infra.resources.shared.permissions import ec2_changes, ec2_creates, reads


def available_zones(ctx: Context) -> list[str]:
    def read() -> list[str]:
        zones = ctx.aws.ec2.describe_availability_zones(
            Filters=[
                {"Name": "state", "Values": ["available"]},
                {"Name": "zone-type", "Values": ["availability-zone"]},
            ]
        )["AvailabilityZones"]
        return sorted(zone["ZoneName"] for zone in zones)

    return ctx.cached("available_zones", read)


def existing_subnets(ctx: Context) -> dict[str, dict]:
    """The stack's subnets by Name tag, read once per run."""

    def read() -> dict[str, dict]:
        subnets = stack_listing(ctx, ctx.aws.ec2.describe_subnets, "Subnets")
        return {name_tag(subnet): subnet for subnet in subnets}

    return ctx.cached("existing_subnets", read)


def zone_for(ctx: Context, index: int) -> str:
    """The subnet pair's zone: configured, else where it already is, else the region's next."""
    settings = ctx.settings
    if settings.availability_zones:
        return settings.availability_zones[index]
    for tier in ("public", "private"):
        subnet = existing_subnets(ctx).get(settings.name(f"{tier}-{index + 1}"))
        if subnet is not None:
            return subnet["AvailabilityZone"]
    zones = available_zones(ctx)
    if len(zones) < settings.az_count:
        raise DeployError(
            f"{ctx.aws.region} has {len(zones)} available zones but the stack needs "
            f"{settings.az_count}: list fewer subnets in stack.toml."
        )
    return zones[index]


class Subnet(Resource):
    immutable = ("cidr_block", "availability_zone")
    replace_blocked = (
        "A subnet holds the load balancer, the instances or the database: change it "
        "back in stack.toml, or run `python -m infra destroy` and then apply."
    )

    def __init__(self, tier: str, index: int, wanted: bool):
        self.tier = tier
        self.index = index
        self.wanted = wanted
        self.address = subnet_address(tier, index)
        self.depends_on = (VPC,)

    def _name(self, ctx) -> str:
        return ctx.settings.name(f"{self.tier}-{self.index + 1}")

    def read(self, ctx: Context) -> dict | None:
        name = self._name(ctx)
        subnet = find_tagged(ctx, ctx.aws.ec2.describe_subnets, "Subnets", "subnet", name)
        if subnet is None:
            return None
        return {
            "id": subnet["SubnetId"],
            "vpc_id": subnet["VpcId"],
            "cidr_block": subnet["CidrBlock"],
            "availability_zone": subnet["AvailabilityZone"],
            "map_public_ip_on_launch": subnet["MapPublicIpOnLaunch"],
            "tags": ec2_tags(subnet, ctx, name),
        }

    def desired(self, ctx: Context) -> dict | None:
        if not self.wanted:
            return None
        cidrs = (
            ctx.settings.public_subnet_cidrs
            if self.tier == "public"
            else ctx.settings.private_subnet_cidrs
        )
        return {
            "vpc_id": ctx.attr(VPC, "id"),
            "cidr_block": cidrs[self.index],
            "availability_zone": zone_for(ctx, self.index),
            # Instances ask for their public IP in the launch template instead.
            "map_public_ip_on_launch": False,
            "tags": tags.stack_tags(ctx.settings, self._name(ctx)),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.ec2.create_subnet(
            VpcId=desired["vpc_id"],
            CidrBlock=desired["cidr_block"],
            AvailabilityZone=desired["availability_zone"],
            TagSpecifications=tags.ec2_tag_specification("subnet", desired["tags"]),
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if actual["map_public_ip_on_launch"] != desired["map_public_ip_on_launch"]:
            ctx.aws.ec2.modify_subnet_attribute(
                SubnetId=actual["id"],
                MapPublicIpOnLaunch={"Value": desired["map_public_ip_on_launch"]},
            )
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, actual["id"], desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        delete_when_free(lambda: ctx.aws.ec2.delete_subnet(SubnetId=actual["id"]), ctx.sleep)


def resources(ctx: Context) -> list[Resource]:
    """One public and one private subnet per zone, and any left from a config with more
    zones, planned for deletion."""
    settings = ctx.settings
    existing = existing_subnets(ctx)
    items: list[Resource] = []
    for tier in ("public", "private"):
        count = settings.az_count
        while settings.name(f"{tier}-{count + 1}") in existing:
            count += 1
        items += [Subnet(tier, index, index < settings.az_count) for index in range(count)]
    return items


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        reads("ec2:DescribeAvailabilityZones", "ec2:DescribeSubnets"),
        *ec2_creates(ctx, {"ec2:CreateSubnet": "subnet"}, {"ec2:CreateSubnet": ["vpc"]}),
        ec2_changes(ctx, ["ec2:DeleteSubnet", "ec2:ModifySubnetAttribute"]),
    ]
