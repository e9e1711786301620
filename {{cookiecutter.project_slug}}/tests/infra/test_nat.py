"""The NAT option (nat_gateway): the app instances in the private subnets, behind NAT gateways.

Real-AWS rules moto does not enforce, and how the code handles them:
- A NAT gateway takes minutes to become available and to go (moto: at once). apply waits
  until it is available before it routes to it; destroy waits until it is deleted before it
  releases its Elastic IP, which AWS refuses (AuthFailure) while the gateway still holds it
  and moto does not; the release also retries while AWS says so. `aws_like_nat_gateways`
  below makes moto behave like AWS here.
- AWS lists deleted NAT gateways (state deleted) for about an hour, moto for good: reads skip
  them, so plans stay clean and a gateway turned on again is a new one.
- moto ignores tag filters when it lists NAT gateways: reads check the tags themselves.
- A subnet has one route table: AWS refuses to associate it with a second one, moto silently
  keeps the first. A private subnet moving between tables (single <-> per_az) leaves its
  old table first.
- An account has 5 Elastic IPs per region unless it asks for more (moto: no limit): running
  out is one line that says what to do.
"""

from __future__ import annotations

import botocore.exceptions
import pytest
from helpers import EPHEMERAL_PORT, admits, remaining, stack_acl, subnet_ids
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2.models.nat_gateways import NatGatewayBackend

from infra import aws
from infra.resources.network.network_acl import NAT_RULE_NUMBERS

PRESENT = ["pending", "available", "deleting"]


@pytest.fixture
def operations():
    """Every AWS call, in order, as (operation, params)."""
    seen: list[tuple[str, dict]] = []

    def observer(_service: str, operation: str, params: dict) -> None:
        seen.append((operation, params))

    aws.call_observers.insert(0, observer)  # before any that answers in AWS's place
    yield seen
    aws.call_observers.remove(observer)


def present_gateways(ec2) -> list[dict]:
    found = ec2.describe_nat_gateways(Filter=[{"Name": "state", "Values": PRESENT}])
    return sorted(found["NatGateways"], key=lambda g: name_of(g))


def name_of(item: dict) -> str:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}.get("Name", "")


def default_route(ec2, subnet_id: str) -> str | None:
    """Where the subnet's 0.0.0.0/0 goes: a NAT gateway or internet gateway id, or None."""
    (table,) = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
    )["RouteTables"]
    for route in table["Routes"]:
        if route.get("DestinationCidrBlock") == "0.0.0.0/0":
            return route.get("NatGatewayId") or route.get("GatewayId")
    return None


def app_network(aws_client, settings) -> dict:
    """Where the group launches the app instances, and whether they get a public IP."""
    group = aws_client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[settings.name("asg")]
    )["AutoScalingGroups"][0]
    template = aws_client("ec2").describe_launch_template_versions(
        LaunchTemplateName=settings.name("lt"), Versions=["$Default"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    return {
        "subnets": sorted(group["VPCZoneIdentifier"].split(",")),
        "public_ip": template["NetworkInterfaces"][0].get("AssociatePublicIpAddress"),
    }


def app_instances(aws_client, settings) -> list[dict]:
    ec2 = aws_client("ec2")
    return [
        instance
        for reservation in ec2.describe_instances(
            Filters=[
                {"Name": "tag:Name", "Values": [settings.name("app")]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )["Reservations"]
        for instance in reservation["Instances"]
    ]


def assert_gateways_route_the_private_subnets(aws_client, settings) -> list[dict]:
    ec2 = aws_client("ec2")
    public = subnet_ids(ec2, settings, "public")
    private = subnet_ids(ec2, settings, "private")
    gateways = present_gateways(ec2)
    count = 1 if settings.nat_gateway == "single" else settings.az_count
    assert [name_of(g) for g in gateways] == [settings.name(f"nat-{i + 1}") for i in range(count)]
    assert [g["SubnetId"] for g in gateways] == public[:count]
    assert {g["State"] for g in gateways} == {"available"}
    addresses = {
        a["AllocationId"]: a
        for a in ec2.describe_addresses(
            Filters=[{"Name": "tag:Stack", "Values": [settings.stack_name]}]
        )["Addresses"]
    }
    for index, gateway in enumerate(gateways):
        gateway_tags = {t["Key"]: t["Value"] for t in gateway["Tags"]}
        assert gateway_tags == {
            "Project": settings.project_slug,
            "Stack": settings.stack_name,
            "ManagedBy": "three-tier-flask",
            "Name": settings.name(f"nat-{index + 1}"),
        }
        address = addresses.pop(gateway["NatGatewayAddresses"][0]["AllocationId"])
        assert address["Domain"] == "vpc"
        assert name_of(address) == settings.name(f"nat-eip-{index + 1}")
    assert addresses == {}  # one Elastic IP per gateway, none spare
    expected = [gateways[i if settings.nat_gateway == "per_az" else 0] for i in range(len(private))]
    assert [default_route(ec2, s) for s in private] == [g["NatGatewayId"] for g in expected]
    igw = ec2.describe_internet_gateways(
        Filters=[{"Name": "tag:Name", "Values": [settings.name("igw")]}]
    )["InternetGateways"][0]["InternetGatewayId"]
    assert {default_route(ec2, s) for s in public} == {igw}
    assert app_network(aws_client, settings) == {"subnets": sorted(private), "public_ip": False}
    return gateways


def assert_no_nat_layout(aws_client, settings) -> None:
    """Today's stack: instances in the public subnets with public IPs, private local-only."""
    ec2 = aws_client("ec2")
    private = subnet_ids(ec2, settings, "private")
    assert present_gateways(ec2) == []
    assert ec2.describe_addresses()["Addresses"] == []
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "tag:Stack", "Values": [settings.stack_name]}]
    )["RouteTables"]
    assert sorted(name_of(t) for t in tables) == [
        settings.name("private-rt"),
        settings.name("public-rt"),
    ]
    assert [default_route(ec2, s) for s in private] == [None] * len(private)
    public = sorted(subnet_ids(ec2, settings, "public"))
    assert app_network(aws_client, settings) == {"subnets": public, "public_ip": True}


@pytest.mark.parametrize("mode", ["single", "per_az"])
def test_apply_builds_the_gateways_and_routes_plan_is_clean_destroy_leaves_nothing(
    moto, instance_refreshes, project, infra, aws_client, operations, mode
):
    project.set("nat_gateway", f'"{mode}"')
    settings = project.settings
    applied = infra("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    gateways = assert_gateways_route_the_private_subnets(aws_client, settings)
    instances = app_instances(aws_client, settings)
    private = subnet_ids(aws_client("ec2"), settings, "private")
    assert instances and all(i["SubnetId"] in private for i in instances)
    assert not any(i.get("PublicIpAddress") for i in instances)
    assert infra("plan").code == 0
    shown = infra("outputs", "--json")
    assert f'"nat_gateway_ids": [\n    "{gateways[0]["NatGatewayId"]}"' in shown.out

    ec2 = aws_client("ec2")
    routing = {
        subnet_id: default_route(ec2, subnet_id)
        for subnet_id in subnet_ids(ec2, settings, "private")
    }
    tables = {
        table["RouteTableId"]: routing[association["SubnetId"]]
        for table in ec2.describe_route_tables()["RouteTables"]
        for association in table["Associations"]
        if association.get("SubnetId") in routing
    }
    operations.clear()
    destroyed = infra("destroy", "--auto-approve")
    assert destroyed.code == 0, destroyed.err
    left = [item for item in remaining(aws_client, settings) if ":snapshot:" not in item]
    assert left == [], "\n".join(left)
    assert present_gateways(ec2) == []
    assert ec2.describe_addresses()["Addresses"] == []

    # The routes to a gateway go first, then the gateway, then its address.
    def when(operation: str, key: str, value: str) -> int:
        (index,) = [i for i, (n, p) in enumerate(operations) if n == operation and p[key] == value]
        return index

    for gateway in gateways:
        gateway_id = gateway["NatGatewayId"]
        deleted = when("DeleteNatGateway", "NatGatewayId", gateway_id)
        routes = [
            when("DeleteRouteTable", "RouteTableId", t)
            for t, g in tables.items()
            if g == gateway_id
        ]
        assert routes and max(routes) < deleted
        allocation = gateway["NatGatewayAddresses"][0]["AllocationId"]
        assert when("ReleaseAddress", "AllocationId", allocation) > deleted


@pytest.mark.exhaustive
def test_switching_between_none_single_and_per_az_keeps_every_plan_clean(
    moto, instance_refreshes, project, infra, aws_client, operations
):
    """Three zones, so per_az has two zone route tables to add and take away."""
    # Whatever network this project was generated with: three zones the region picks.
    project.set("vpc_cidr", '"10.0.0.0/16"')
    project.set("availability_zones", "[]")
    project.set("public_subnet_cidrs", '["10.0.1.0/24", "10.0.4.0/24", "10.0.7.0/24"]')
    project.set("private_subnet_cidrs", '["10.0.2.0/24", "10.0.3.0/24", "10.0.8.0/24"]')
    assert infra("apply", "--auto-approve").code == 0
    assert_no_nat_layout(aws_client, project.settings)
    assert "nat_gateway_ids" not in infra("outputs", "--json").out

    first_gateway = None
    for mode, moves in (("single", True), ("per_az", False), ("single", False), ("none", True)):
        project.set("nat_gateway", f'"{mode}"')
        refreshes = len(instance_refreshes)
        operations.clear()
        applied = infra("apply", "--auto-approve")
        assert applied.code == 0, f"{mode}: {applied.err}"
        assert infra("plan").code == 0, f"plan after switching to {mode}"
        names = [name for name, _ in operations]
        if moves:
            # One instance refresh, once the group launches into its new subnets.
            assert len(instance_refreshes) == refreshes + 1, mode
            moved = next(
                index
                for index, (name, params) in enumerate(operations)
                if name == "UpdateAutoScalingGroup" and "VPCZoneIdentifier" in params
            )
            assert names.index("StartInstanceRefresh") > moved
        else:
            assert len(instance_refreshes) == refreshes, f"{mode}: no instance moves"
        if mode == "none":
            assert_no_nat_layout(aws_client, project.settings)
            continue
        gateways = assert_gateways_route_the_private_subnets(aws_client, project.settings)
        # The first gateway stays through single <-> per_az: one is added or removed per zone.
        first_gateway = first_gateway or gateways[0]["NatGatewayId"]
        assert gateways[0]["NatGatewayId"] == first_gateway
    # Back to none: the routes to the gateways, these, and the ACL's NAT rules went after
    # the instances moved.
    assert names.index("DeleteRoute") > moved
    assert names.index("DeleteNatGateway") > moved
    assert names.index("DeleteNetworkAclEntry") > moved


def nat_entry_calls(operations: list[tuple[str, dict]], operation: str) -> list[int]:
    """Where, among the calls, `operation` set or removed one of the ACL's NAT rules."""
    return [
        index
        for index, (name, params) in enumerate(operations)
        if name == operation and params["RuleNumber"] in NAT_RULE_NUMBERS
    ]


def base_entry_calls(operations: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Calls that changed the ACL's own rules, outside the NAT rules' numbers."""
    return [
        (name, params)
        for name, params in operations
        if "NetworkAclEntry" in name and params["RuleNumber"] not in NAT_RULE_NUMBERS
    ]


def test_the_acl_lets_the_instances_out_before_they_move_in_and_until_they_have_moved_out(
    moto, instance_refreshes, project, infra, aws_client, operations
):
    """The private subnets' NAT rules live and die with the NAT gateways, not with the ACL.

    Amazon VPC User Guide, "NAT gateways": instances in a private subnet "can connect to
    services outside your VPC" through one; "Control subnet traffic with network access
    control lists": an ACL is stateless, so the HTTPS call out and its answers in each need a
    rule, evaluated lowest number first, the rest denied. Without those rules an instance in
    a private subnet has a route out but no way out: it cannot pull its image or read the
    secret at boot, and once running, Docker's awslogs driver, in its default blocking mode,
    cannot reach CloudWatch Logs and may block the app's writes to stdout. So, checked on the
    ACL as AWS lists it at each moment (not on the order of calls alone):
    - switching NAT on, the rules are there when the launch template's version without
      public IPs is made and when the group moves into the private subnets;
    - switching it off, they are there while the instance refresh moves the instances out
      (every poll of it, the last one included) and go only afterwards, as the NAT routes
      and gateways do; the allow on the answers' ports goes before the denies guarding it.
    """
    settings = project.settings
    internet = "198.51.100.20"
    watched = ("CreateLaunchTemplateVersion", "UpdateAutoScalingGroup", "DescribeInstanceRefreshes")
    way_out: list[tuple[str, bool]] = []
    polls = {"left": 0}

    def look(_service: str, operation: str, params: dict) -> dict | None:
        if operation == "UpdateAutoScalingGroup" and "VPCZoneIdentifier" not in params:
            return None
        if operation in watched:
            acl = stack_acl(aws_client("ec2"), settings)
            way_out.append(
                (
                    operation,
                    admits(acl, egress=True, address=internet, port=443)
                    and admits(acl, egress=False, address=internet, port=EPHEMERAL_PORT),
                )
            )
        if operation == "StartInstanceRefresh":
            polls["left"] = 2  # the refresh takes three polls, as a real one takes minutes
        polled = operation == "DescribeInstanceRefreshes" and params.get("InstanceRefreshIds")
        if polled and polls["left"]:
            polls["left"] -= 1
            refresh = {
                "InstanceRefreshId": params["InstanceRefreshIds"][0],
                "AutoScalingGroupName": params["AutoScalingGroupName"],
                "Status": "InProgress",
            }
            return {"InstanceRefreshes": [refresh], "ResponseMetadata": {"HTTPStatusCode": 200}}
        return None

    assert infra("apply", "--auto-approve").code == 0
    aws.call_observers.insert(1, look)  # after `operations`, before instance_refreshes answers
    try:
        project.set("nat_gateway", '"single"')
        operations.clear()
        on = infra("apply", "--auto-approve")
        assert on.code == 0, on.err
        assert infra("plan").code == 0
        names = [name for name, _ in operations]
        moments = {operation for operation, _is_open in way_out}
        assert {"CreateLaunchTemplateVersion", "UpdateAutoScalingGroup"} <= moments
        assert all(is_open for _operation, is_open in way_out)
        assert base_entry_calls(operations) == []
        created = nat_entry_calls(operations, "CreateNetworkAclEntry")
        assert len(created) == 4
        assert max(created) < names.index("CreateLaunchTemplateVersion")
        numbers = [
            operations[i][1]["RuleNumber"] for i in created if not operations[i][1]["Egress"]
        ]
        assert numbers == [300, 301, 310]  # the denies before the allow they guard

        project.set("nat_gateway", '"none"')
        way_out.clear()
        operations.clear()
        off = infra("apply", "--auto-approve")
        assert off.code == 0, off.err
        assert infra("plan").code == 0
    finally:
        aws.call_observers.remove(look)
    polled = [is_open for operation, is_open in way_out if operation == "DescribeInstanceRefreshes"]
    assert ("UpdateAutoScalingGroup", True) in way_out
    assert len(polled) == 3 and all(polled)
    names = [name for name, _ in operations]
    last_poll = len(names) - 1 - names[::-1].index("DescribeInstanceRefreshes")
    deleted = nat_entry_calls(operations, "DeleteNetworkAclEntry")
    assert len(deleted) == 4
    assert min(deleted) > last_poll
    numbers = [operations[i][1]["RuleNumber"] for i in deleted if not operations[i][1]["Egress"]]
    assert numbers == [310, 301, 300]
    assert base_entry_calls(operations) == []  # the ACL's own rules are left alone
    acl = stack_acl(aws_client("ec2"), settings)
    assert not admits(acl, egress=True, address=internet, port=443)
    assert not admits(acl, egress=False, address=internet, port=EPHEMERAL_PORT)


@pytest.fixture
def aws_like_nat_gateways(moto, monkeypatch):
    """NAT gateways that take a few polls to come and go, and Elastic IPs AWS will not
    release while a gateway holds them (moto: all at once). Yields the polls counted."""
    backend = ec2_backends[DEFAULT_ACCOUNT_ID]
    polls = {"creating": 0, "deleting": 0, "refused_releases": 0}
    original_create = NatGatewayBackend.create_nat_gateway

    def create(self, *args, **kwargs):
        gateway = original_create(self, *args, **kwargs)
        gateway.state = "pending"
        return gateway

    def delete(self, nat_gateway_id):
        gateway = self.nat_gateways[nat_gateway_id]
        gateway.state = "deleting"
        return gateway

    def gateways():
        return [g for region in backend.values() for g in region.nat_gateways.values()]

    def observer(_service: str, operation: str, params: dict) -> None:
        if operation == "DescribeNatGateways" and params.get("NatGatewayIds"):
            for gateway in gateways():
                if gateway.id not in params["NatGatewayIds"]:
                    continue
                if gateway.state in ("pending", "deleting"):
                    kind = "creating" if gateway.state == "pending" else "deleting"
                    polls[kind] += 1
                    if polls[kind] % 3 == 0:  # done at every third poll
                        gateway.state = "available" if kind == "creating" else "deleted"
        if operation == "ReleaseAddress":
            holders = [
                g
                for g in gateways()
                if g.state != "deleted"
                and g.address_set[0].get("allocationId") == params["AllocationId"]
            ]
            if holders:
                polls["refused_releases"] += 1
                error = {"Code": "AuthFailure", "Message": "You do not have permission"}
                raise botocore.exceptions.ClientError({"Error": error}, operation)

    monkeypatch.setattr(NatGatewayBackend, "create_nat_gateway", create)
    monkeypatch.setattr(NatGatewayBackend, "delete_nat_gateway", delete)
    aws.call_observers.append(observer)
    yield polls
    aws.call_observers.remove(observer)


def test_gateways_are_waited_for_before_routes_point_at_them_and_addresses_go(
    aws_like_nat_gateways, instance_refreshes, project, infra, aws_client, operations
):
    project.set("nat_gateway", '"single"')
    applied = infra("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert aws_like_nat_gateways["creating"] == 3
    names = [name for name, _ in operations]
    routed = next(
        index
        for index, (name, params) in enumerate(operations)
        if name == "CreateRoute" and params.get("NatGatewayId")
    )
    last_poll = max(
        index
        for index, (name, params) in enumerate(operations)
        if name == "DescribeNatGateways" and params.get("NatGatewayIds")
    )
    assert routed > last_poll
    assert infra("plan").code == 0

    # A release AWS refuses once more, as if the gateway lingered: retried, not an error.
    project.set("nat_gateway", '"none"')
    refused = {"left": 1}

    def linger(_service: str, operation: str, _params: dict) -> None:
        if operation == "ReleaseAddress" and refused["left"]:
            refused["left"] -= 1
            error = {"Code": "AuthFailure", "Message": "You do not have permission"}
            raise botocore.exceptions.ClientError({"Error": error}, operation)

    aws.call_observers.append(linger)
    try:
        operations.clear()
        switched = infra("apply", "--auto-approve")
    finally:
        aws.call_observers.remove(linger)
    assert switched.code == 0, switched.err
    assert aws_like_nat_gateways["deleting"] == 3
    assert refused["left"] == 0
    names = [name for name, _ in operations]
    assert names.index("ReleaseAddress") > names.index("DeleteNatGateway")
    assert_no_nat_layout(aws_client, project.settings)
    assert infra("plan").code == 0


def test_no_elastic_ip_left_in_the_region_is_one_line_with_the_fix(
    moto, project, infra, inject_failure
):
    project.set("nat_gateway", '"per_az"')
    error = {"Code": "AddressLimitExceeded", "Message": "The maximum number of addresses"}
    inject_failure(
        "AllocateAddress", botocore.exceptions.ClientError({"Error": error}, "AllocateAddress")
    )
    result = infra("apply", "--auto-approve")
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert "no Elastic IP left" in line
    assert 'nat_gateway = "single"' in line
