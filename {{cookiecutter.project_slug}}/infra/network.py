"""The network tier: VPC, public and private subnets, internet gateway, route tables."""

from __future__ import annotations

from infra import tags
from infra.aws import DeployError, is_dependency_violation, retry
from infra.engine import UNKNOWN, Context, Resource

VPC = "aws_vpc.main"
DEFAULT_SG = "aws_default_security_group.default"
IGW = "aws_internet_gateway.main"
PUBLIC_RT = "aws_route_table.public"
PRIVATE_RT = "aws_route_table.private"

REPLACE_NETWORK = (
    "Everything in the stack sits in it, the database included: change it back in "
    "stack.toml, or run `python -m infra destroy` and then apply to rebuild the stack."
)


def subnet_address(tier: str, index: int) -> str:
    return f"aws_subnet.{tier}[{index}]"


def only_one(items: list, kind: str, name: str) -> dict | None:
    """At most one resource may carry a stack's tags and name; a second one is a leftover."""
    if len(items) > 1:
        raise DeployError(
            f"Found {len(items)} {kind}s tagged as {name}: delete the extra ones "
            "in the AWS console, then run the command again."
        )
    return items[0] if items else None


def ec2_tags(item: dict, ctx: Context, name: str) -> dict:
    return tags.ours(tags.from_list(item.get("Tags")), tags.stack_tags(ctx.settings, name))


def update_ec2_tags(ctx: Context, resource_id: str, desired: dict) -> None:
    ctx.aws.ec2.create_tags(Resources=[resource_id], Tags=tags.as_list(desired["tags"]))


def delete_when_free(ctx: Context, call) -> None:
    """Deleting retries while AWS still detaches things (ENIs of a just-deleted load balancer)."""
    retry(call, is_dependency_violation, ctx.sleep, attempts=12, first_delay=5.0)


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
        subnets = ctx.aws.ec2.describe_subnets(Filters=tags.ec2_filters(ctx.settings))["Subnets"]
        return {tags.from_list(s.get("Tags")).get("Name", ""): s for s in subnets}

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


class Vpc(Resource):
    address = VPC
    immutable = ("cidr_block",)
    replace_blocked = REPLACE_NETWORK

    def read(self, ctx):
        name = ctx.settings.name("vpc")
        found = only_one(
            ctx.aws.ec2.describe_vpcs(Filters=tags.ec2_filters(ctx.settings, name))["Vpcs"],
            "VPC",
            name,
        )
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

    def desired(self, ctx):
        return {
            "cidr_block": ctx.settings.vpc_cidr,
            "enable_dns_support": True,
            "enable_dns_hostnames": True,
            "tags": tags.stack_tags(ctx.settings, ctx.settings.name("vpc")),
        }

    def create(self, ctx, desired):
        ec2 = ctx.aws.ec2
        vpc_id = ec2.create_vpc(
            CidrBlock=desired["cidr_block"],
            TagSpecifications=tags.ec2_tag_specification("vpc", desired["tags"]),
        )["Vpc"]["VpcId"]
        ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id])
        self._set_dns(ctx, vpc_id, desired)

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

    def update(self, ctx, actual, desired, changes):
        self._set_dns(ctx, actual["id"], desired, actual)
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, actual["id"], desired)

    def delete(self, ctx, actual):
        delete_when_free(ctx, lambda: ctx.aws.ec2.delete_vpc(VpcId=actual["id"]))


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
    """The VPC's default group, emptied so nothing that lands in it by mistake is reachable."""

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

    def read(self, ctx):
        group = self._group(ctx)
        if group is None:
            return None
        name = ctx.settings.name("default-sg")
        return {
            "id": group["GroupId"],
            "ingress": normalized_rules(group.get("IpPermissions", [])),
            "egress": normalized_rules(group.get("IpPermissionsEgress", [])),
            "tags": ec2_tags(group, ctx, name),
        }

    def desired(self, ctx):
        return {
            "ingress": (),
            "egress": (),
            "tags": tags.stack_tags(ctx.settings, ctx.settings.name("default-sg")),
        }

    def create(self, ctx, desired):
        group = self._group(ctx)
        if group is None:
            raise DeployError("The VPC has no default security group yet: run apply again.")
        # Tagged first: a CI role may change only what carries the stack's tags.
        update_ec2_tags(ctx, group["GroupId"], desired)
        revoke_all(ctx, group)

    def update(self, ctx, actual, desired, changes):
        self.create(ctx, desired)

    def delete(self, ctx, actual):
        """AWS deletes it with the VPC."""


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

    def read(self, ctx):
        name = self._name(ctx)
        found = ctx.aws.ec2.describe_subnets(Filters=tags.ec2_filters(ctx.settings, name))[
            "Subnets"
        ]
        subnet = only_one(found, "subnet", name)
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

    def desired(self, ctx):
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

    def create(self, ctx, desired):
        ctx.aws.ec2.create_subnet(
            VpcId=desired["vpc_id"],
            CidrBlock=desired["cidr_block"],
            AvailabilityZone=desired["availability_zone"],
            TagSpecifications=tags.ec2_tag_specification("subnet", desired["tags"]),
        )

    def update(self, ctx, actual, desired, changes):
        if actual["map_public_ip_on_launch"] != desired["map_public_ip_on_launch"]:
            ctx.aws.ec2.modify_subnet_attribute(
                SubnetId=actual["id"],
                MapPublicIpOnLaunch={"Value": desired["map_public_ip_on_launch"]},
            )
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, actual["id"], desired)

    def delete(self, ctx, actual):
        delete_when_free(ctx, lambda: ctx.aws.ec2.delete_subnet(SubnetId=actual["id"]))


class InternetGateway(Resource):
    address = IGW
    depends_on = (VPC,)

    def read(self, ctx):
        name = ctx.settings.name("igw")
        found = ctx.aws.ec2.describe_internet_gateways(
            Filters=tags.ec2_filters(ctx.settings, name)
        )["InternetGateways"]
        gateway = only_one(found, "internet gateway", name)
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

    def desired(self, ctx):
        return {
            "vpc_id": ctx.attr(VPC, "id"),
            "tags": tags.stack_tags(ctx.settings, ctx.settings.name("igw")),
        }

    def create(self, ctx, desired):
        gateway_id = ctx.aws.ec2.create_internet_gateway(
            TagSpecifications=tags.ec2_tag_specification("internet-gateway", desired["tags"])
        )["InternetGateway"]["InternetGatewayId"]
        ctx.aws.ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=desired["vpc_id"])

    def update(self, ctx, actual, desired, changes):
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

    def delete(self, ctx, actual):
        if actual["vpc_id"]:
            delete_when_free(
                ctx,
                lambda: ctx.aws.ec2.detach_internet_gateway(
                    InternetGatewayId=actual["id"], VpcId=actual["vpc_id"]
                ),
            )
        ctx.aws.ec2.delete_internet_gateway(InternetGatewayId=actual["id"])


def route_destination(route: dict) -> str:
    return route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock") or ""


def route_target(route: dict) -> str:
    return (
        route.get("GatewayId") or route.get("NatGatewayId") or route.get("NetworkInterfaceId") or ""
    )


class RouteTable(Resource):
    """Its subnets, and a default route (0.0.0.0/0) to `gateway` when it has one: the
    internet gateway (public), a NAT gateway (private, infra/nat.py), or none (local only)."""

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

    def read(self, ctx):
        name = ctx.settings.name(self.role)
        found = ctx.aws.ec2.describe_route_tables(Filters=tags.ec2_filters(ctx.settings, name))[
            "RouteTables"
        ]
        table = only_one(found, "route table", name)
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

    def desired(self, ctx):
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

    def create(self, ctx, desired):
        table_id = ctx.aws.ec2.create_route_table(
            VpcId=desired["vpc_id"],
            TagSpecifications=tags.ec2_tag_specification("route-table", desired["tags"]),
        )["RouteTable"]["RouteTableId"]
        self._converge(
            ctx,
            {"id": table_id, "routes": (), "_associations": {}, "tags": desired["tags"]},
            desired,
        )

    def update(self, ctx, actual, desired, changes):
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
            ec2.create_route(
                RouteTableId=table_id, DestinationCidrBlock=destination, **{target: gateway}
            )
        for subnet_id, association in actual["_associations"].items():
            if subnet_id not in desired["subnet_ids"]:
                ec2.disassociate_route_table(AssociationId=association)
        for subnet_id in desired["subnet_ids"]:
            if subnet_id not in actual["_associations"]:
                associate(ctx, table_id, subnet_id)
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, table_id, desired)

    def delete(self, ctx, actual):
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
    ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)


def resources(ctx: Context) -> list[Resource]:
    settings = ctx.settings
    existing = existing_subnets(ctx)
    items: list[Resource] = [Vpc(), DefaultSecurityGroup(), InternetGateway()]
    for tier in ("public", "private"):
        count = settings.az_count
        while settings.name(f"{tier}-{count + 1}") in existing:
            count += 1  # subnets left from a config with more zones: planned for deletion
        items += [Subnet(tier, index, index < settings.az_count) for index in range(count)]
    public = [subnet_address("public", index) for index in range(settings.az_count)]
    items.append(RouteTable(PUBLIC_RT, "public-rt", public, IGW))
    return items  # the private route tables come with the NAT gateways (infra/nat.py)
