"""One public and one private subnet per availability zone."""

from __future__ import annotations

import botocore.exceptions

from infra import tags
from infra.aws import DeployError, once_visible
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import DB_NETWORK_ACL, VPC, subnet_address
from infra.resources.shared.ec2 import (
    ec2_tags,
    find_tagged,
    name_tag,
    stack_listing,
    update_ec2_tags,
)
from infra.resources.shared.permissions import ec2_changes, ec2_creates, reads
from infra.resources.shared.vpc_holders import delete_once_free


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
        # The private ones are associated with the database's network ACL (network_acl.py).
        self.network_acl = DB_NETWORK_ACL if tier == "private" else None
        self.depends_on = (VPC, DB_NETWORK_ACL) if self.network_acl else (VPC,)

    def _name(self, ctx) -> str:
        return ctx.settings.name(f"{self.tier}-{self.index + 1}")

    def read(self, ctx: Context) -> dict | None:
        name = self._name(ctx)
        subnet = find_tagged(ctx, ctx.aws.ec2.describe_subnets, "Subnets", "subnet", name)
        if subnet is None:
            return None
        acl = (
            {"network_acl_id": stack_network_acl(ctx, subnet["SubnetId"])}
            if self.network_acl
            else {}
        )
        return {
            **acl,
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
        acl = {"network_acl_id": ctx.attr(self.network_acl, "id")} if self.network_acl else {}
        return {
            **acl,
            "vpc_id": ctx.attr(VPC, "id"),
            "cidr_block": cidrs[self.index],
            "availability_zone": zone_for(ctx, self.index),
            # Instances ask for their public IP in the launch template instead.
            "map_public_ip_on_launch": False,
            "tags": tags.stack_tags(ctx.settings, self._name(ctx)),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        subnet_id = ctx.aws.ec2.create_subnet(
            VpcId=desired["vpc_id"],
            CidrBlock=desired["cidr_block"],
            AvailabilityZone=desired["availability_zone"],
            TagSpecifications=tags.ec2_tag_specification("subnet", desired["tags"]),
        )["Subnet"]["SubnetId"]
        if desired.get("network_acl_id"):
            self._associate(ctx, subnet_id, desired["network_acl_id"])

    def _associate(self, ctx: Context, subnet_id: str, acl_id: str) -> None:
        """A subnet always has exactly one network ACL (the VPC's default one from its
        creation): its association moves to `acl_id`."""
        ec2 = ctx.aws.ec2

        def move() -> None:
            found = ec2.describe_network_acls(
                Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
            )["NetworkAcls"]
            associations = [
                association["NetworkAclAssociationId"]
                for acl in found
                for association in acl.get("Associations", [])
                if association.get("SubnetId") == subnet_id
            ]
            if not associations:  # a subnet made moments ago: AWS does not list it yet
                error = {"Code": "InvalidSubnetID.NotFound", "Message": f"{subnet_id} not listed"}
                raise botocore.exceptions.ClientError({"Error": error}, "DescribeNetworkAcls")
            ec2.replace_network_acl_association(AssociationId=associations[0], NetworkAclId=acl_id)

        once_visible(move, ctx.sleep, f"{self.address}: associate {subnet_id} with {acl_id}")

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if self.network_acl and actual.get("network_acl_id") != desired["network_acl_id"]:
            self._associate(ctx, actual["id"], desired["network_acl_id"])
        if actual["map_public_ip_on_launch"] != desired["map_public_ip_on_launch"]:
            ctx.aws.ec2.modify_subnet_attribute(
                SubnetId=actual["id"],
                MapPublicIpOnLaunch={"Value": desired["map_public_ip_on_launch"]},
            )
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, actual["id"], desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        # A deleted load balancer's or database's interfaces can hold it for many minutes,
        # a GuardDuty-managed endpoint for good (vpc_holders.py): the VPC's wait, per subnet.
        subnet_id = actual["id"]
        delete_once_free(
            ctx,
            self.address,
            subnet_id,
            f"delete {subnet_id}",
            actual["vpc_id"],
            lambda: ctx.aws.ec2.delete_subnet(SubnetId=subnet_id),
            subnet_id=subnet_id,
        )


def stack_network_acl(ctx: Context, subnet_id: str) -> str | None:
    """The stack's network ACL the subnet is associated with; None for any other (the VPC's
    default one). One listing of the stack's ACLs for every subnet of a plan."""
    for acl in stack_listing(ctx, ctx.aws.ec2.describe_network_acls, "NetworkAcls"):
        if any(a.get("SubnetId") == subnet_id for a in acl.get("Associations", [])):
            return acl["NetworkAclId"]
    return None


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
        # DescribeNetworkAcls and ReplaceNetworkAclAssociation: with the ACL's (network_acl.py).
        reads("ec2:DescribeAvailabilityZones", "ec2:DescribeSubnets"),
        *ec2_creates(ctx, {"ec2:CreateSubnet": "subnet"}, {"ec2:CreateSubnet": ["vpc"]}),
        ec2_changes(ctx, ["ec2:DeleteSubnet", "ec2:ModifySubnetAttribute"]),
    ]
