"""The network tier: VPC, subnets, the private subnets' network ACL, internet gateway, route
tables, NAT, security groups and flow logs. `resources(ctx)` lists them; each module holds
one part."""

from __future__ import annotations

from infra.engine import Context, Resource
from infra.resources.network import (
    flow_logs,
    nat,
    network_acl,
    routes,
    security_groups,
    subnets,
    vpc,
)


def resources(ctx: Context) -> list[Resource]:
    nat_count = nat.nat_indexes(ctx)
    return [
        *vpc.resources(),
        *subnets.resources(ctx),
        *network_acl.resources(),
        routes.public_route_table(ctx),
        *nat.resources(ctx, nat_count),
        *routes.private_route_tables(ctx, nat_count),
        *security_groups.resources(),
        *flow_logs.resources(),
    ]


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        *vpc.deploy_permissions(ctx),
        *subnets.deploy_permissions(ctx),
        *network_acl.deploy_permissions(ctx),
        *routes.deploy_permissions(ctx),
        *nat.deploy_permissions(ctx),
        *security_groups.deploy_permissions(ctx),
        *flow_logs.deploy_permissions(ctx),
    ]
