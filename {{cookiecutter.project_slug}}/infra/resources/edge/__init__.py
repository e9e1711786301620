"""The edge tier: the internet-facing load balancer with its listeners and target group,
its access log bucket, and with a domain the certificate and DNS records."""

from __future__ import annotations

from infra.engine import Context, Resource
from infra.resources.edge import access_logs, certificate, dns, load_balancer


def resources(ctx: Context) -> list[Resource]:
    return [
        *access_logs.resources(),
        *certificate.resources(),
        *load_balancer.resources(ctx),
        *dns.resources(),
    ]


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        *access_logs.deploy_permissions(ctx),
        *certificate.deploy_permissions(ctx),
        *load_balancer.deploy_permissions(ctx),
    ]
