"""The network tier: VPC, public and private subnets, internet gateway, route tables."""

from __future__ import annotations

import time

from infra import tags
from infra.aws import (
    DeployError,
    error_code,
    error_message,
    is_dependency_violation,
    once_visible,
)
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.shared.addresses import DEFAULT_SG, IGW, VPC
from infra.resources.shared.ec2 import (
    ec2_tags,
    find_tagged,
    normalized_rules,
    update_ec2_tags,
)
from infra.resources.shared.permissions import allow, ec2, ec2_changes, ec2_creates, reads

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


# How long destroy keeps asking AWS to delete the VPC (or detach its gateway) while something
# still holds it. The network interfaces of a deleted load balancer or database can take
# more than 20 minutes to go; asking again costs nothing.
FREE_WAIT_SECONDS = 20 * 60
FIRST_DELAY_SECONDS = 5.0
LONGEST_DELAY_SECONDS = 30.0
# How often, while waiting, to list what still holds the VPC (and say so when it changes).
HOLDERS_EVERY_SECONDS = 120.0
# Amazon GuardDuty User Guide, "Using shared VPC with automated security agents": with
# Runtime Monitoring's automated agent configuration on, GuardDuty creates an interface VPC
# endpoint (service com.amazonaws.<region>.guardduty-data, "Prerequisite - Creating an Amazon
# VPC endpoint") and a security group in each VPC, and "adds a GuardDutyManaged tag and sets
# it to true" on them. "Using Infrastructure as Code (IaC) with GuardDuty automated security
# agents": GuardDuty deletes them only when Runtime Monitoring is turned off, so an IaC tool's
# VPC delete fails; "Disabling, uninstalling, and cleaning up resources in Runtime
# Monitoring": turning off only the automated agent configuration leaves the endpoint, to be
# deleted by hand. Nothing removes them while destroy waits, so it stops waiting at once.
GUARDDUTY_TAG = "GuardDutyManaged"
GUARDDUTY_SERVICE_SUFFIX = ".guardduty-data"
GUARDDUTY_ADVICE = (
    "a GuardDuty-managed endpoint (guardduty-data) holds the VPC, and GuardDuty keeps it while "
    "Runtime Monitoring is on: turn off GuardDuty Runtime Monitoring's automated agent "
    "configuration for this account and region (or GuardDuty makes the endpoint again), delete "
    "the endpoint and then its security group (both tagged GuardDutyManaged=true) in the VPC "
    "console, then run `python -m infra destroy` again"
)
RELEASED_LATE = {"amazon-elb", "amazon-rds"}


def delete_once_free(
    ctx: Context, address: str, resource_id: str, doing: str, vpc_id: str, call
) -> None:
    """`call()` again and again while AWS refuses it with DependencyViolation (for at most
    FREE_WAIT_SECONDS), printing Terraform's "Still destroying..." lines; then a one-line
    DeployError that names what still holds the VPC and what to do.

    Time waited is the larger of the clock and the sleeps asked for, so a test's instant
    `ctx.sleep` runs the whole wait in no time."""
    started = time.monotonic()
    slept = 0.0
    delay = FIRST_DELAY_SECONDS
    last_report = 0.0
    next_look = 0.0
    said = ""
    while True:
        try:
            call()
            return
        except Exception as error:  # noqa: BLE001 - only a dependency is waited out
            if not is_dependency_violation(error):
                raise
            refusal = error
        waited = max(time.monotonic() - started, slept)
        if waited >= next_look or waited >= FREE_WAIT_SECONDS:
            holders = vpc_holders(ctx, vpc_id)
            next_look = waited + HOLDERS_EVERY_SECONDS
            if holders["guardduty"] or waited >= FREE_WAIT_SECONDS:
                raise DeployError(gave_up(address, doing, waited, refusal, holders))
            listed = "; ".join(holders["lines"])
            if listed and listed != said:
                ctx.out(f"{address}: waiting for AWS to release what holds {vpc_id}: {listed}")
                said = listed
        if waited - last_report >= ctx.progress_seconds:
            ctx.out(
                f"{address}: Still destroying... [id={resource_id}, {duration(waited)} elapsed]"
            )
            last_report = waited
        ctx.sleep(delay)
        slept += delay
        delay = min(delay * 2, LONGEST_DELAY_SECONDS)


def duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def _tagged_guardduty(item: dict) -> bool:
    return tags.from_list(item.get("Tags")).get(GUARDDUTY_TAG, "").lower() == "true"


def vpc_holders(ctx: Context, vpc_id: str) -> dict:
    """What is still in the VPC, each as a short phrase (`lines`), and whether GuardDuty's
    endpoint is among them (`guardduty`); `late`: only interfaces of load balancers and
    databases, which AWS releases by itself some minutes after deleting them."""
    ec2 = ctx.aws.ec2
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    lines: list[str] = []
    guardduty = False
    endpoints = [
        endpoint
        for endpoint in ec2.describe_vpc_endpoints(Filters=in_vpc).get("VpcEndpoints", [])
        if endpoint.get("State", "").lower() != "deleted"
    ]
    for endpoint in endpoints:
        service = endpoint.get("ServiceName", "")
        managed = _tagged_guardduty(endpoint) or service.endswith(GUARDDUTY_SERVICE_SUFFIX)
        guardduty = guardduty or managed
        lines.append(
            f"VPC endpoint {endpoint['VpcEndpointId']} ({service}"
            + (", GuardDuty-managed" if managed else "")
            + f", {endpoint.get('State', 'unknown').lower()})"
        )
    interfaces = ec2.describe_network_interfaces(Filters=in_vpc).get("NetworkInterfaces", [])
    for interface in interfaces:
        details = [
            repr(interface.get("Description") or ""),
            f"requester {interface.get('RequesterId') or 'this account'}",
            f"type {interface.get('InterfaceType') or 'interface'}",
        ]
        groups = [
            f"{group['GroupId']} ({group.get('GroupName', '')})"
            for group in interface.get("Groups", [])
        ]
        if groups:
            details.append("security groups " + ", ".join(groups))
        lines.append(f"network interface {interface['NetworkInterfaceId']} ({'; '.join(details)})")
    for group in ec2.describe_security_groups(Filters=in_vpc).get("SecurityGroups", []):
        if group.get("GroupName") == "default":
            continue  # AWS deletes it with the VPC
        managed = _tagged_guardduty(group)
        guardduty = guardduty or managed
        lines.append(
            f"security group {group['GroupId']} ({group.get('GroupName', '')}"
            + (", GuardDuty-managed" if managed else "")
            + ")"
        )
    for subnet in ec2.describe_subnets(Filters=in_vpc).get("Subnets", []):
        lines.append(f"subnet {subnet['SubnetId']} ({subnet.get('CidrBlock', '')})")
    late = bool(interfaces) and len(lines) == len(interfaces)
    late = late and all(i.get("RequesterId") in RELEASED_LATE for i in interfaces)
    return {"lines": lines, "guardduty": guardduty, "late": late}


def gave_up(address: str, doing: str, waited: float, refusal: Exception, holders: dict) -> str:
    refused = f"{error_code(refusal)}: {error_message(refusal)}".rstrip(". ")
    line = f"{address}: AWS still refuses to {doing} after {duration(waited)} ({refused})"
    if holders["lines"]:
        line += "; still in the VPC: " + "; ".join(holders["lines"])
    if holders["guardduty"]:
        advice = GUARDDUTY_ADVICE
    elif holders["late"]:
        advice = (
            "AWS has not released the network interfaces of the deleted load balancer or "
            "database yet: run `python -m infra destroy` again in a few minutes"
        )
    elif holders["lines"]:
        advice = (
            "they are not the stack's: delete them (or what made them) in the VPC console, "
            "then run `python -m infra destroy` again"
        )
    else:
        advice = (
            "nothing listed holds it any more: run `python -m infra destroy` again in a few minutes"
        )
    return f"{line}. {advice[0].upper()}{advice[1:]}."


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
