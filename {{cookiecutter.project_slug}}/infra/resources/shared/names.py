"""Names and numbers that more than one tier refers to.

Most AWS names are `settings.name(role)`, `<project>-<stack>-<role>`; the ones here are
also needed outside the module that creates them (in IAM policies, the load balancer's
attributes, the boot script), so they are spelled out once.
"""

from __future__ import annotations

from infra.aws import DeployError
from infra.engine import Context

POSTGRES_PORT = 5432
HTTP_PORT = 80
HTTPS_PORT = 443

ACCESS_LOG_PREFIX = "alb"
BUCKET_NAME_LIMIT = 63  # S3's rule for every bucket name; moto does not enforce it
FLOW_LOGS_PURPOSE = "vpc-flow-logs"


def log_group_name(ctx: Context, purpose: str = "app") -> str:
    """`/<project>/<stack>/<purpose>`: the app's log group, or the flow logs' one."""
    return f"/{ctx.settings.project_slug}/{ctx.settings.stack_name}/{purpose}"


def flow_logs_role_name(ctx: Context) -> str:
    return ctx.settings.name("flow-logs-role")


def deploy_role_name(ctx: Context) -> str:
    return ctx.settings.name("deploy-role")


def access_log_bucket_name(ctx: Context) -> str:
    name = f"{ctx.settings.name('alb-logs')}-{ctx.aws.account_id}"
    if len(name) > BUCKET_NAME_LIMIT:
        raise DeployError(
            f"The access log bucket name {name!r} is {len(name)} characters; S3 allows "
            f"{BUCKET_NAME_LIMIT}: shorten project_slug or stack_name in stack.toml."
        )
    return name
