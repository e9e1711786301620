"""The network tier: VPC, public and private subnets, internet gateway, route tables."""

from __future__ import annotations

from infra import tags
from infra.aws import DeployError, once_visible
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.shared.addresses import DEFAULT_SG, IGW, VPC
from infra.resources.shared.ec2 import (
    ec2_tags,
    find_tagged,
    normalized_rules,
    update_ec2_tags,
)
from infra.resources.shared.permissions import allow, ec2, ec2_changes, ec2_creates, reads
from infra.resources.shared.vpc_holders import delete_once_free

REPLACE_NETWORK = (
    "Everything in the stack sits in it, the database included: change it back in "
    "stack.toml, or run `python -m infra destroy` and then apply to rebuild the stack."
)


class Vpc(Resource):
    address = VPC
    immutable = ("cidr_block",)
    replace_blocked = REPLACE_NETWORK

    def read(self, ctx: Context) -> dict | None:
        name = ctx.settings.name("vpc")
        found = find_tagged(ctx, ctx.aws.ec2.describe_vpcs, "Vpcs", "VPC", name)
        if found is None:
            return None
        vpc_id = found["VpcId"]
        attribute = ctx.aws.ec2.describe_vpc_attribute
        return {
            "id": vpc_id,
            "cidr_block": found["CidrBlock"],
            "enable_dns_support": attribute(VpcId=vpc_id, Attribute="enableDnsSupport")[
                "EnableDnsSupport"
            ]["Value"],
            "enable_dns_hostnames": attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")[
                "EnableDnsHostnames"
            ]["Value"],
            "tags": ec2_tags(found, ctx, name),
        }

    def desired(self, ctx: Context) -> dict | None:
        return {
            "cidr_block": ctx.settings.vpc_cidr,
            "enable_dns_support": True,
            "enable_dns_hostnames": True,
            "tags": tags.stack_tags(ctx.settings, ctx.settings.name("vpc")),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        ec2 = ctx.aws.ec2
        vpc_id = ec2.create_vpc(
            CidrBlock=desired["cidr_block"],
            TagSpecifications=tags.ec2_tag_specification("vpc", desired["tags"]),
        )["Vpc"]["VpcId"]

        def available() -> bool:
            # Not listed yet (empty, or InvalidVpcID.NotFound, which ctx.wait takes as not
            # done): the EC2 API is eventually consistent (aws.VISIBILITY_DELAYS).
            vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
            return bool(vpcs) and vpcs[0].get("State") == "available"

        ctx.wait(self.address, "creating", available, timeout_seconds=600)
        # ModifyVpcAttribute names the new VPC too.
        once_visible(
            lambda: self._set_dns(ctx, vpc_id, desired),
            ctx.sleep,
            f"{self.address}: set the DNS attributes of {vpc_id}",
        )

    def _set_dns(self, ctx, vpc_id, desired, actual=None):
        # AWS takes one attribute per call; DNS support must be on before DNS hostnames.
        for key, attribute in (
            ("enable_dns_support", "EnableDnsSupport"),
            ("enable_dns_hostnames", "EnableDnsHostnames"),
        ):
            if actual is None or actual[key] != desired[key]:
                ctx.aws.ec2.modify_vpc_attribute(
                    VpcId=vpc_id, **{attribute: {"Value": desired[key]}}
                )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        self._set_dns(ctx, actual["id"], desired, actual)
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, actual["id"], desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        vpc_id = actual["id"]
        delete_once_free(
            ctx,
            self.address,
            vpc_id,
            f"delete {vpc_id}",
            vpc_id,
            lambda: ctx.aws.ec2.delete_vpc(VpcId=vpc_id),
        )


def revoke_all(ctx: Context, group: dict) -> None:
    ec2 = ctx.aws.ec2
    if group.get("IpPermissions"):
        ec2.revoke_security_group_ingress(
            GroupId=group["GroupId"], IpPermissions=group["IpPermissions"]
        )
    if group.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(
            GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"]
        )


class DefaultSecurityGroup(Resource):
    """The VPC's default group, emptied so nothing that lands in it by mistake is reachable.

    It is AWS's, made with the VPC, so it is found through the VPC and left untagged: EC2
    tags a resource with the stack's tags only while creating it, and the CI deploy role may
    tag nothing else (resources/ci/deploy_policy.py)."""

    address = DEFAULT_SG
    depends_on = (VPC,)

    def _group(self, ctx) -> dict | None:
        vpc_id = ctx.attr(VPC, "id")
        if vpc_id is UNKNOWN:
            return None
        groups = ctx.aws.ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"]
        return groups[0] if groups else None

    def read(self, ctx: Context) -> dict | None:
        group = self._group(ctx)
        if group is None:
            return None
        return {
            "id": group["GroupId"],
            "ingress": normalized_rules(group.get("IpPermissions", [])),
            "egress": normalized_rules(group.get("IpPermissionsEgress", [])),
        }

    def desired(self, ctx: Context) -> dict | None:
        return {"ingress": (), "egress": ()}

    def create(self, ctx: Context, desired: dict) -> None:
        group = self._group(ctx)
        if group is None:
            raise DeployError("The VPC has no default security group yet: run apply again.")
        revoke_all(ctx, group)

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        self.create(ctx, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        """AWS deletes it with the VPC."""


class InternetGateway(Resource):
    address = IGW
    depends_on = (VPC,)

    def read(self, ctx: Context) -> dict | None:
        name = ctx.settings.name("igw")
        gateway = find_tagged(
            ctx,
            ctx.aws.ec2.describe_internet_gateways,
            "InternetGateways",
            "internet gateway",
            name,
        )
        if gateway is None:
            return None
        attached = [
            a["VpcId"]
            for a in gateway.get("Attachments", [])
            if a.get("State") in ("available", "attached")
        ]
        return {
            "id": gateway["InternetGatewayId"],
            "vpc_id": attached[0] if attached else None,
            "tags": ec2_tags(gateway, ctx, name),
        }

    def desired(self, ctx: Context) -> dict | None:
        return {
            "vpc_id": ctx.attr(VPC, "id"),
            "tags": tags.stack_tags(ctx.settings, ctx.settings.name("igw")),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        gateway_id = ctx.aws.ec2.create_internet_gateway(
            TagSpecifications=tags.ec2_tag_specification("internet-gateway", desired["tags"])
        )["InternetGateway"]["InternetGatewayId"]
        ctx.aws.ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=desired["vpc_id"])

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if actual["vpc_id"] != desired["vpc_id"]:
            if actual["vpc_id"]:
                ctx.aws.ec2.detach_internet_gateway(
                    InternetGatewayId=actual["id"], VpcId=actual["vpc_id"]
                )
            ctx.aws.ec2.attach_internet_gateway(
                InternetGatewayId=actual["id"], VpcId=desired["vpc_id"]
            )
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, actual["id"], desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        if actual["vpc_id"]:
            # AWS refuses while a public address is still mapped in the VPC (a load balancer
            # or NAT gateway being released): the same wait as the VPC's.
            delete_once_free(
                ctx,
                self.address,
                actual["id"],
                f"detach {actual['id']} from {actual['vpc_id']}",
                actual["vpc_id"],
                lambda: ctx.aws.ec2.detach_internet_gateway(
                    InternetGatewayId=actual["id"], VpcId=actual["vpc_id"]
                ),
            )
        ctx.aws.ec2.delete_internet_gateway(InternetGatewayId=actual["id"])


def resources() -> list[Resource]:
    return [Vpc(), DefaultSecurityGroup(), InternetGateway()]


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        reads("ec2:DescribeInternetGateways", "ec2:DescribeVpcAttribute", "ec2:DescribeVpcs"),
        # What holds a VPC that AWS will not delete (vpc_holders). Service Authorization
        # Reference, Amazon EC2: these Describe actions name no resource type, so "*".
        # (DescribeSecurityGroups and DescribeSubnets: security_groups.py and subnets.py.)
        reads("ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcEndpoints"),
        *ec2_creates(
            ctx,
            {"ec2:CreateVpc": "vpc", "ec2:CreateInternetGateway": "internet-gateway"},
            {"ec2:AttachInternetGateway": ["vpc"], "ec2:DetachInternetGateway": ["vpc"]},
        ),
        ec2_changes(
            ctx,
            [
                "ec2:AttachInternetGateway",
                "ec2:DeleteInternetGateway",
                "ec2:DeleteVpc",
                "ec2:DetachInternetGateway",
                "ec2:ModifyVpcAttribute",
            ],
        ),
        # The default group is AWS's, made with the VPC, and cannot be tagged on creation:
        # the deploy role may take rules off security groups, never add or tag them.
        allow(
            ["ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"],
            ec2(ctx, "security-group"),
        ),
    ]
