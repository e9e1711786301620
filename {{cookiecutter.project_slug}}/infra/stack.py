"""The whole stack: every resource, listed in an order where dependencies come first."""

from __future__ import annotations

from infra import (
    access_logs,
    alarms,
    budget,
    certificate,
    compute,
    database,
    dns,
    flow_logs,
    iam,
    load_balancer,
    nat,
    network,
    security_groups,
)
from infra.alarm_topic import AlarmEmailSubscription, AlarmTopic
from infra.dashboard import Dashboard
from infra.engine import Context, Resource
from infra.logs import LogGroup
from infra.registry import Repository


def resources(ctx: Context) -> list[Resource]:
    network_part = network.resources(ctx)
    identity = iam.resources()
    items = [
        *network_part,
        *nat.resources(ctx),
        *security_groups.resources(),
        *[resource for resource in identity if resource.address != iam.SECRET_POLICY],
        *flow_logs.resources(),
        Repository(),
        LogGroup(),
        *database.resources(ctx),
        *[resource for resource in identity if resource.address == iam.SECRET_POLICY],
        *access_logs.resources(),
        *certificate.resources(),
        *load_balancer.resources(ctx),
        *dns.resources(),
        *compute.resources(ctx),
        AlarmTopic(),
        AlarmEmailSubscription(),
        *budget.resources(),
        *alarms.resources(),
        Dashboard(),
    ]
    _wait_for_users_of_leftover_subnets(items)
    _keep_nat_routes_until_the_instances_leave(items)
    return items


def _wait_for_users_of_leftover_subnets(items: list[Resource]) -> None:
    """A subnet no longer wanted is deleted only after everything using it has let go."""
    leftovers = [
        item.address for item in items if isinstance(item, network.Subnet) and not item.wanted
    ]
    if not leftovers:
        return
    users = (
        network.PUBLIC_RT,
        network.PRIVATE_RT,
        database.SUBNET_GROUP,
        load_balancer.LOAD_BALANCER,
        compute.AUTOSCALING_GROUP,
    )
    for item in items:
        if item.address in users:
            item.depends_on = (*item.depends_on, *leftovers)


def _keep_nat_routes_until_the_instances_leave(items: list[Resource]) -> None:
    """nat_gateway turned off: the private routes to the NAT gateways (and so the gateways)
    go only after the app instances have moved back to the public subnets."""
    group = next(item for item in items if item.address == compute.AUTOSCALING_GROUP)
    leftovers = [item for item in items if isinstance(item, nat.NatGateway) and not item.wanted]
    if not leftovers or network.PRIVATE_RT in group.depends_on:
        return  # the instances stay behind a NAT gateway: no route waits for them
    for item in items:
        if item.address == network.PRIVATE_RT:
            item.depends_on = (*item.depends_on, compute.AUTOSCALING_GROUP)
