"""Route tables: the public one (default route to the internet gateway) and the private
ones (local only, or a default route to a NAT gateway; see nat.py)."""

from __future__ import annotations

import functools

from infra import tags
from infra.aws import once_visible
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.shared.addresses import (
    IGW,
    PRIVATE_RT,
    PUBLIC_RT,
    VPC,
    gateway_address,
    subnet_address,
    zone_route_table_address,
)
from infra.resources.shared.ec2 import ec2_tags, find_tagged, update_ec2_tags
from infra.resources.shared.permissions import ec2_changes, ec2_creates, reads


def route_destination(route: dict) -> str:
    return route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock") or ""


def route_target(route: dict) -> str:
    return (
        route.get("GatewayId") or route.get("NatGatewayId") or route.get("NetworkInterfaceId") or ""
    )


class RouteTable(Resource):
    """Its subnets, and a default route (0.0.0.0/0) to `gateway` when it has one: the
    internet gateway (public), a NAT gateway (private, nat.py), or none (local only)."""

    def __init__(
        self,
        address: str,
        role: str,
        subnets: list[str],
        gateway: str | None = None,
        wanted: bool = True,
        after: tuple[str, ...] = (),
    ):
        self.address = address
        self.role = role
        self.subnets = subnets
        self.gateway = gateway
        self.wanted = wanted
        self.depends_on = (VPC, *subnets, *((gateway,) if gateway else ()), *after)

    def read(self, ctx: Context) -> dict | None:
        name = ctx.settings.name(self.role)
        table = find_tagged(
            ctx, ctx.aws.ec2.describe_route_tables, "RouteTables", "route table", name
        )
        if table is None:
            return None
        routes = tuple(
            sorted(
                f"{route_destination(route)} -> {route_target(route)}"
                for route in table.get("Routes", [])
                if route.get("GatewayId") != "local"
            )
        )
        associations = subnet_associations(table)
        return {
            "id": table["RouteTableId"],
            "vpc_id": table["VpcId"],
            "routes": routes,
            "subnet_ids": tuple(sorted(associations)),
            "_associations": associations,
            "tags": ec2_tags(table, ctx, name),
        }

    def desired(self, ctx: Context) -> dict | None:
        if not self.wanted:
            return None
        routes: tuple = ()
        if self.gateway:
            routes = (f"0.0.0.0/0 -> {ctx.attr(self.gateway, 'id')}",)
        subnet_ids = [ctx.attr(address, "id") for address in self.subnets]
        return {
            "vpc_id": ctx.attr(VPC, "id"),
            "routes": routes,
            "subnet_ids": UNKNOWN if UNKNOWN in subnet_ids else tuple(sorted(subnet_ids)),
            "tags": tags.stack_tags(ctx.settings, ctx.settings.name(self.role)),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        table_id = ctx.aws.ec2.create_route_table(
            VpcId=desired["vpc_id"],
            TagSpecifications=tags.ec2_tag_specification("route-table", desired["tags"]),
        )["RouteTable"]["RouteTableId"]
        self._converge(
            ctx,
            {"id": table_id, "routes": (), "_associations": {}, "tags": desired["tags"]},
            desired,
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        self._converge(ctx, actual, desired)

    def _converge(self, ctx, actual, desired):
        ec2, table_id = ctx.aws.ec2, actual["id"]
        for route in set(actual["routes"]) - set(desired["routes"]):
            destination = route.split(" -> ")[0]
            key = "DestinationIpv6CidrBlock" if ":" in destination else "DestinationCidrBlock"
            ec2.delete_route(RouteTableId=table_id, **{key: destination})
        for route in set(desired["routes"]) - set(actual["routes"]):
            destination, gateway = route.split(" -> ")
            target = "NatGatewayId" if gateway.startswith("nat-") else "GatewayId"
            once_visible(
                functools.partial(
                    ec2.create_route,
                    RouteTableId=table_id,
                    DestinationCidrBlock=destination,
                    **{target: gateway},
                ),
                ctx.sleep,
                f"{self.address}: add the route {route} to {table_id}",
            )
        for subnet_id, association in actual["_associations"].items():
            if subnet_id not in desired["subnet_ids"]:
                ec2.disassociate_route_table(AssociationId=association)
        for subnet_id in desired["subnet_ids"]:
            if subnet_id not in actual["_associations"]:
                associate(ctx, table_id, subnet_id)
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, table_id, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        # Read again: a subnet may have moved to another table since the plan read this one.
        tables = ctx.aws.ec2.describe_route_tables(RouteTableIds=[actual["id"]])["RouteTables"]
        for association in subnet_associations(tables[0] if tables else {}).values():
            ctx.aws.ec2.disassociate_route_table(AssociationId=association)
        ctx.aws.ec2.delete_route_table(RouteTableId=actual["id"])


def subnet_associations(table: dict) -> dict[str, str]:
    """Subnet id -> association id."""
    return {
        a["SubnetId"]: a["RouteTableAssociationId"]
        for a in table.get("Associations", [])
        if a.get("SubnetId")
    }


def associate(ctx: Context, table_id: str, subnet_id: str) -> None:
    """A subnet has one route table: one moving from another table leaves that one first
    (AWS refuses a second association; moto silently keeps the first)."""
    ec2 = ctx.aws.ec2
    current = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
    )["RouteTables"]
    for table in current:
        association = subnet_associations(table).get(subnet_id)
        if association:
            ec2.disassociate_route_table(AssociationId=association)
    once_visible(
        lambda: ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id),
        ctx.sleep,
        f"associate {subnet_id} with {table_id}",
    )


def private_route_tables(ctx: Context, count: int) -> list[Resource]:
    """One table per other zone (per_az, or left from it), then the first zone's table,
    which holds every private subnet but with per_az. `count`: NAT indexes in the stack.

    The first table also waits for the others: a private subnet moving between them is
    taken by the table that wants it after the one that lets go of it has been settled.
    """
    settings = ctx.settings
    # With per_az, every zone but the first has a table of its own: indexes 1 to zones - 1.
    zones = settings.az_count if settings.nat_gateway == "per_az" else 1
    per_zone: list[Resource] = [
        RouteTable(
            zone_route_table_address(index),
            f"private-rt-{index + 1}",
            [subnet_address("private", index)],
            gateway_address(index),
            wanted=index < zones,
        )
        for index in range(1, max(zones, count))
    ]
    first_zone_only = settings.nat_gateway == "per_az"
    subnets = [
        subnet_address("private", index)
        for index in range(1 if first_zone_only else settings.az_count)
    ]
    gateway = gateway_address(0) if settings.nat_gateway_count else None
    leftover = (gateway_address(0),) if count and gateway is None else ()
    after = (*leftover, *(table.address for table in per_zone))
    first = RouteTable(PRIVATE_RT, "private-rt", subnets, gateway, after=after)
    return [*per_zone, first]


def public_route_table(ctx: Context) -> RouteTable:
    public = [subnet_address("public", index) for index in range(ctx.settings.az_count)]
    return RouteTable(PUBLIC_RT, "public-rt", public, IGW)


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        reads("ec2:DescribeRouteTables"),
        *ec2_creates(
            ctx, {"ec2:CreateRouteTable": "route-table"}, {"ec2:CreateRouteTable": ["vpc"]}
        ),
        ec2_changes(
            ctx,
            [
                "ec2:AssociateRouteTable",
                "ec2:CreateRoute",
                "ec2:DeleteRoute",
                "ec2:DeleteRouteTable",
                "ec2:DisassociateRouteTable",
            ],
        ),
    ]
