"""The whole stack: which resources exist (the engine orders them from their `depends_on`),
and what the CI deploy role needs for them."""

from __future__ import annotations

from infra.engine import Context, Resource
from infra.resources import app, database, edge, network, observability
from infra.resources.network.nat import NatGateway
from infra.resources.network.subnets import Subnet
from infra.resources.shared.addresses import (
    AUTOSCALING_GROUP,
    LAUNCH_TEMPLATE,
    LOAD_BALANCER,
    NAT_ACL_RULES,
    PRIVATE_RT,
    PUBLIC_RT,
    SUBNET_GROUP,
)


def resources(ctx: Context) -> list[Resource]:
    items = [
        *network.resources(ctx),
        *app.resources(ctx),
        *database.resources(ctx),
        *edge.resources(ctx),
        *observability.resources(),
    ]
    _wait_for_users_of_leftover_subnets(items)
    _keep_nat_routes_until_the_instances_leave(items)
    _keep_nat_acl_rules_while_instances_use_them(items)
    return items


def deploy_permissions(ctx: Context) -> list[dict]:
    """The IAM statements the tiers' calls need, for the CI deploy role (bootstrap-ci)."""
    return [
        *network.deploy_permissions(ctx),
        *app.deploy_permissions(ctx),
        *database.deploy_permissions(ctx),
        *edge.deploy_permissions(ctx),
        *observability.deploy_permissions(ctx),
    ]


def _wait_for_users_of_leftover_subnets(items: list[Resource]) -> None:
    """A subnet no longer wanted is deleted only after everything using it has let go."""
    leftovers = [item.address for item in items if isinstance(item, Subnet) and not item.wanted]
    if not leftovers:
        return
    users = (PUBLIC_RT, PRIVATE_RT, SUBNET_GROUP, LOAD_BALANCER, AUTOSCALING_GROUP)
    for item in items:
        if item.address in users:
            item.depends_on = (*item.depends_on, *leftovers)


def _keep_nat_routes_until_the_instances_leave(items: list[Resource]) -> None:
    """nat_gateway turned off: the private routes to the NAT gateways (and so the gateways)
    go only after the app instances have moved back to the public subnets."""
    group = next(item for item in items if item.address == AUTOSCALING_GROUP)
    leftovers = [item for item in items if isinstance(item, NatGateway) and not item.wanted]
    if not leftovers or PRIVATE_RT in group.depends_on:
        return  # the instances stay behind a NAT gateway: no route waits for them
    for item in items:
        if item.address == PRIVATE_RT:
            item.depends_on = (*item.depends_on, AUTOSCALING_GROUP)


def _keep_nat_acl_rules_while_instances_use_them(items: list[Resource]) -> None:
    """The private ACL's NAT rules (network_acl.py) are the instances' way out as much as the
    NAT routes: the group depends on them whatever nat_gateway is, so that switching it on
    adds them before the group moves into the private subnets, and switching it off deletes
    them only once the group's update (and the instance refresh it waits for) is done. A
    launch template version without public IPs waits for them too, as for the routes."""
    for item in items:
        behind_nat = item.address == LAUNCH_TEMPLATE and PRIVATE_RT in item.depends_on
        if item.address == AUTOSCALING_GROUP or behind_nat:
            item.depends_on = (*item.depends_on, NAT_ACL_RULES)
