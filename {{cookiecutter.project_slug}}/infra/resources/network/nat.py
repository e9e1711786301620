"""NAT gateways (option `nat_gateway`) and the private subnets' route tables.

`none` (the default): no NAT gateway; the app instances run in the public subnets with a
public IP each, and the one private route table has the VPC's local route only. `single`:
one NAT gateway, in the first public subnet. `per_az`: one in each public subnet, so an
outage of one zone leaves the others their way out. Either way each gateway has an Elastic
IP of its own, the app instances run in the private subnets with no public IP, and the
private route table sends 0.0.0.0/0 to the first gateway; with `per_az` the private subnets
of the other zones get a route table each (`private-rt-2`, ...) to their zone's gateway.

Real AWS, unlike moto: a NAT gateway takes minutes to become available and to go, so both
are waited for; its Elastic IP cannot be released until it is gone (AWS answers AuthFailure
meanwhile); a deleted or failed gateway stays listed for about an hour, so reads skip those;
an account has 5 Elastic IPs per region unless it asked for more.
"""

from __future__ import annotations

import re

from infra import tags
from infra.aws import DeployError, error_code, is_not_found, retry, unless_gone
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import IGW, eip_address, gateway_address, subnet_address
from infra.resources.shared.ec2 import (
    ec2_tags,
    find_tagged,
    only_one,
    stack_listing,
    update_ec2_tags,
)
from infra.resources.shared.permissions import ec2_changes, ec2_creates, reads

# A gateway in these states is still there; deleted and failed ones linger in describe.
PRESENT_STATES = ("pending", "available", "deleting")
# AWS answers releasing an Elastic IP that a NAT gateway being deleted still holds so.
EIP_STILL_HELD = ("AuthFailure", "InvalidIPAddress.InUse")
NAME_NUMBER = re.compile(r"-(?:nat|nat-eip|private-rt)-(\d+)$")


def present_gateways(ctx: Context, name: str | None = None) -> list[dict]:
    """The stack's NAT gateways still there, all or the one named `name`."""

    def read() -> list[dict]:
        return ctx.aws.ec2.describe_nat_gateways(
            Filter=[
                *tags.ec2_filters(ctx.settings),
                {"Name": "state", "Values": list(PRESENT_STATES)},
            ]
        )["NatGateways"]

    # moto ignores tag filters on NAT gateways: check the tags here too.
    wanted = tags.stack_tags(ctx.settings, name)
    return [
        gateway
        for gateway in ctx.listing("NatGateways", read)
        if tags.ours(tags.from_list(gateway.get("Tags")), wanted) == wanted
    ]


def nat_indexes(ctx: Context) -> int:
    """How many NAT indexes (gateways, Elastic IPs, zone route tables) the stack has: the
    wanted ones, and any left from a setting with more of them, planned for deletion."""

    def read() -> int:
        ec2 = ctx.aws.ec2
        items = [
            *present_gateways(ctx),
            *stack_listing(ctx, ec2.describe_addresses, "Addresses"),
            *stack_listing(ctx, ec2.describe_route_tables, "RouteTables"),
        ]
        numbers = [0]
        for item in items:
            match = NAME_NUMBER.search(tags.from_list(item.get("Tags")).get("Name", ""))
            if match:
                numbers.append(int(match.group(1)))
        return max(numbers)

    return max(ctx.settings.nat_gateway_count, ctx.cached("existing_nat_count", read))


class ElasticIp(Resource):
    """The public address of one NAT gateway."""

    def __init__(self, index: int, wanted: bool):
        self.index = index
        self.wanted = wanted
        self.address = eip_address(index)

    def _name(self, ctx) -> str:
        return ctx.settings.name(f"nat-eip-{self.index + 1}")

    def read(self, ctx: Context) -> dict | None:
        name = self._name(ctx)
        address = find_tagged(ctx, ctx.aws.ec2.describe_addresses, "Addresses", "Elastic IP", name)
        if address is None:
            return None
        return {
            "id": address["AllocationId"],
            "public_ip": address.get("PublicIp"),
            "domain": address.get("Domain"),
            "tags": ec2_tags(address, ctx, name),
        }

    def desired(self, ctx: Context) -> dict | None:
        if not self.wanted:
            return None
        return {"domain": "vpc", "tags": tags.stack_tags(ctx.settings, self._name(ctx))}

    def create(self, ctx: Context, desired: dict) -> None:
        try:
            ctx.aws.ec2.allocate_address(
                Domain="vpc",
                TagSpecifications=tags.ec2_tag_specification("elastic-ip", desired["tags"]),
            )
        except Exception as error:
            if error_code(error) != "AddressLimitExceeded":
                raise
            raise DeployError(
                f"{self.address}: the account has no Elastic IP left in {ctx.aws.region} "
                "(5 per region unless raised): release unused ones, ask for more in the "
                'Service Quotas console, or use nat_gateway = "single" in stack.toml.'
            ) from None

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        update_ec2_tags(ctx, actual["id"], desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        def release() -> None:
            unless_gone(lambda: ctx.aws.ec2.release_address(AllocationId=actual["id"]))

        try:
            retry(release, lambda e: error_code(e) in EIP_STILL_HELD, ctx.sleep, 10, 5.0)
        except Exception as error:
            if error_code(error) not in EIP_STILL_HELD:
                raise
            raise DeployError(
                f"{self.address}: AWS still holds {actual['public_ip']} for a NAT gateway "
                "being deleted: run the command again in a few minutes."
            ) from None


class NatGateway(Resource):
    """One NAT gateway, in the public subnet of its zone."""

    immutable = ("subnet_id", "allocation_id")
    replace_blocked = (
        'A NAT gateway keeps its subnet and Elastic IP for life: set nat_gateway = "none" '
        "in stack.toml and apply, then set it back and apply again."
    )

    def __init__(self, index: int, wanted: bool):
        self.index = index
        self.wanted = wanted
        self.address = gateway_address(index)
        self.depends_on = (IGW, subnet_address("public", index), eip_address(index))

    def _name(self, ctx) -> str:
        return ctx.settings.name(f"nat-{self.index + 1}")

    def read(self, ctx: Context) -> dict | None:
        name = self._name(ctx)
        found = present_gateways(ctx, name)
        # One still being deleted, from before, does not count next to a new one.
        found = [g for g in found if g["State"] != "deleting"] or found
        gateway = only_one(found, "NAT gateway", name)
        if gateway is None:
            return None
        addresses = gateway.get("NatGatewayAddresses") or [{}]
        return {
            "id": gateway["NatGatewayId"],
            "subnet_id": gateway["SubnetId"],
            "allocation_id": addresses[0].get("AllocationId"),
            "public_ip": addresses[0].get("PublicIp"),
            "state": gateway["State"],
            "tags": ec2_tags(gateway, ctx, name),
        }

    def desired(self, ctx: Context) -> dict | None:
        if not self.wanted:
            return None
        return {
            "subnet_id": ctx.attr(subnet_address("public", self.index), "id"),
            "allocation_id": ctx.attr(eip_address(self.index), "id"),
            "state": "available",
            "tags": tags.stack_tags(ctx.settings, self._name(ctx)),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        gateway_id = ctx.aws.ec2.create_nat_gateway(
            SubnetId=desired["subnet_id"],
            AllocationId=desired["allocation_id"],
            ConnectivityType="public",
            TagSpecifications=tags.ec2_tag_specification("natgateway", desired["tags"]),
        )["NatGateway"]["NatGatewayId"]
        self._wait_until_available(ctx, gateway_id)

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if actual["state"] == "deleting":
            raise DeployError(
                f"{self.address}: {actual['id']} is being deleted; run apply again once "
                "AWS has finished (a minute or two), and it gets a new one."
            )
        if actual["state"] == "pending":  # an earlier apply stopped while it was created
            self._wait_until_available(ctx, actual["id"])
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, actual["id"], desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        if actual["state"] != "deleting":
            unless_gone(lambda: ctx.aws.ec2.delete_nat_gateway(NatGatewayId=actual["id"]))
        # Its Elastic IP, subnet and the internet gateway are free only once it is gone.
        ctx.wait(
            self.address,
            "destroying",
            lambda: self._state(ctx, actual["id"]).get("State", "deleted") == "deleted",
            timeout_seconds=1800,
        )

    def _state(self, ctx, gateway_id: str) -> dict:
        """The gateway as described, or {} while AWS does not list it (just created, or gone)."""
        try:
            found = ctx.aws.ec2.describe_nat_gateways(NatGatewayIds=[gateway_id])["NatGateways"]
        except Exception as error:
            if not is_not_found(error):
                raise
            return {}
        return found[0] if found else {}

    def _wait_until_available(self, ctx, gateway_id: str) -> None:
        def available() -> bool:
            gateway = self._state(ctx, gateway_id)
            if gateway.get("State") in ("failed", "deleting", "deleted"):
                raise DeployError(
                    f"{self.address}: AWS could not create {gateway_id} "
                    f"({gateway.get('FailureCode')}: {gateway.get('FailureMessage')}); "
                    "fix that, then run apply again."
                )
            return gateway.get("State") == "available"

        ctx.wait(self.address, "creating", available, timeout_seconds=1800)


def resources(ctx: Context, count: int) -> list[Resource]:
    """Elastic IPs and NAT gateways: `count` of each (see `nat_indexes`)."""
    wanted = ctx.settings.nat_gateway_count
    items: list[Resource] = [ElasticIp(index, index < wanted) for index in range(count)]
    return [*items, *(NatGateway(index, index < wanted) for index in range(count))]


def outputs(ctx: Context) -> dict:
    """`nat_gateway_ids`, only while the stack has NAT gateways."""
    count = ctx.settings.nat_gateway_count
    if not count:
        return {}
    return {
        "nat_gateway_ids": [
            (ctx.actual(gateway_address(index)) or {}).get("id") for index in range(count)
        ]
    }


def deploy_permissions(ctx: Context) -> list[dict]:
    """Plan looks for NAT gateways and Elastic IPs left from nat_gateway even while it is off;
    the writes only with it on (turning it off deletes with them: apply that change before
    running bootstrap-ci again)."""
    statements = [reads("ec2:DescribeAddresses", "ec2:DescribeNatGateways")]
    if ctx.settings.nat_gateway == "none":
        return statements
    return [
        *statements,
        *ec2_creates(
            ctx,
            {"ec2:AllocateAddress": "elastic-ip", "ec2:CreateNatGateway": "natgateway"},
            {"ec2:CreateNatGateway": ["subnet", "elastic-ip"]},
        ),
        ec2_changes(ctx, ["ec2:DeleteNatGateway", "ec2:ReleaseAddress"]),
    ]
