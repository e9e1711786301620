"""What the user got: the app's URL, the registry, the database endpoint and the ids."""

from __future__ import annotations

from infra.engine import Context
from infra.plan_output import show
from infra.resources.network import nat
from infra.resources.network.security_groups import TIERS
from infra.resources.observability.budget import THRESHOLDS_PERCENT
from infra.resources.observability.dashboard import console_url
from infra.resources.shared.addresses import (
    ALARM_TOPIC,
    APP_LOG_GROUP,
    AUTOSCALING_GROUP,
    BUDGET,
    CERTIFICATE,
    DASHBOARD,
    DB_INSTANCE,
    HTTPS_LISTENER,
    INSTANCE_ROLE,
    LAUNCH_TEMPLATE,
    LOAD_BALANCER,
    REPOSITORY,
    TARGET_GROUP,
    VPC,
    group_address,
    subnet_address,
)
from infra.resources.shared.route53 import fqdn, record_line


def collect(ctx: Context) -> dict:
    """Outputs from the state read so far (`ctx.state`); empty when nothing is deployed."""
    state = ctx.state

    def get(address: str, key: str):
        return (state.get(address) or {}).get(key)

    if not any(state.values()):
        return {}
    db_address, db_port = get(DB_INSTANCE, "address"), get(DB_INSTANCE, "port")
    count = ctx.settings.az_count
    return {
        "app_url": app_url(ctx, get),
        **https_outputs(ctx, get),
        "ecr_repository_uri": get(REPOSITORY, "uri"),
        "db_endpoint": f"{db_address}:{db_port}" if db_address else None,
        "db_secret_arn": get(DB_INSTANCE, "secret_arn"),
        "db_instance_identifier": get(DB_INSTANCE, "identifier"),
        "vpc_id": get(VPC, "id"),
        "public_subnet_ids": [get(subnet_address("public", i), "id") for i in range(count)],
        "private_subnet_ids": [get(subnet_address("private", i), "id") for i in range(count)],
        **nat.outputs(ctx),
        "security_group_ids": {tier: get(group_address(tier), "id") for tier in TIERS},
        "load_balancer_arn": get(LOAD_BALANCER, "arn"),
        "target_group_arn": get(TARGET_GROUP, "arn"),
        "launch_template_id": get(LAUNCH_TEMPLATE, "id"),
        "image_tag": get(LAUNCH_TEMPLATE, "image_tag"),
        "autoscaling_group_name": get(AUTOSCALING_GROUP, "name"),
        "instance_role_arn": get(INSTANCE_ROLE, "arn"),
        "log_group_name": get(APP_LOG_GROUP, "name"),
        "alarm_topic_arn": get(ALARM_TOPIC, "arn"),
        "dashboard_url": console_url(ctx.aws.region, get(DASHBOARD, "name"))
        if get(DASHBOARD, "name")
        else None,
        **monthly_budget(get),
        "aws_region": ctx.aws.region,
    }


def app_url(ctx: Context, get) -> str | None:
    """https://<domain_name> once port 443 answers, else the load balancer's own name."""
    if ctx.settings.https and get(HTTPS_LISTENER, "arn"):
        return f"https://{ctx.settings.domain_name}"
    dns = get(LOAD_BALANCER, "dns_name")
    return f"http://{dns}" if dns else None


def https_outputs(ctx: Context, get) -> dict:
    """Only with HTTPS; without a hosted zone, also the DNS records the user must add."""
    if not ctx.settings.https:
        return {}
    values = {"certificate_arn": get(CERTIFICATE, "arn")}
    if not ctx.settings.hosted_zone_id:
        records = [record_line(record) for record in get(CERTIFICATE, "_validation_records") or ()]
        dns = get(LOAD_BALANCER, "dns_name")
        if dns:
            records.append(record_line((fqdn(ctx.settings.domain_name), "CNAME", fqdn(dns))))
        values["dns_records_to_add"] = records
    return values


def monthly_budget(get) -> dict:
    """Only while the stack has its cost guard (option monthly_budget_usd)."""
    amount = get(BUDGET, "limit_amount")
    if amount is None:
        return {}
    levels = " and ".join(f"{percent} %" for percent in THRESHOLDS_PERCENT)
    return {
        "monthly_budget": f"{get(BUDGET, 'name')}: {amount} {get(BUDGET, 'limit_unit')} a "
        f"month, e-mails alarm_email at {levels}"
    }


def render(values: dict) -> list[str]:
    width = max(len(key) for key in values)
    return [f"{key.ljust(width)} = {show(value)}" for key, value in values.items()]
