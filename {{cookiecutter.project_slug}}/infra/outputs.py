"""What the user got: the app's URL, the registry, the database endpoint and the ids."""

from __future__ import annotations

from infra import compute, database, iam, load_balancer, network, security_groups
from infra.alarm_topic import TOPIC
from infra.dashboard import DASHBOARD, console_url
from infra.engine import Context
from infra.logs import LOG_GROUP
from infra.plan_output import show
from infra.registry import REPOSITORY


def collect(ctx: Context) -> dict:
    """Outputs from the state read so far (`ctx.state`); empty when nothing is deployed."""
    state = ctx.state

    def get(address: str, key: str):
        return (state.get(address) or {}).get(key)

    if not any(state.values()):
        return {}
    db_address, db_port = get(database.DB_INSTANCE, "address"), get(database.DB_INSTANCE, "port")
    dns = get(load_balancer.LOAD_BALANCER, "dns_name")
    count = ctx.settings.az_count
    return {
        "app_url": f"http://{dns}" if dns else None,
        "ecr_repository_uri": get(REPOSITORY, "uri"),
        "db_endpoint": f"{db_address}:{db_port}" if db_address else None,
        "db_secret_arn": get(database.DB_INSTANCE, "secret_arn"),
        "db_instance_identifier": get(database.DB_INSTANCE, "identifier"),
        "vpc_id": get(network.VPC, "id"),
        "public_subnet_ids": [get(network.subnet_address("public", i), "id") for i in range(count)],
        "private_subnet_ids": [
            get(network.subnet_address("private", i), "id") for i in range(count)
        ],
        "security_group_ids": {
            tier: get(security_groups.group_address(tier), "id") for tier in security_groups.TIERS
        },
        "load_balancer_arn": get(load_balancer.LOAD_BALANCER, "arn"),
        "target_group_arn": get(load_balancer.TARGET_GROUP, "arn"),
        "launch_template_id": get(compute.LAUNCH_TEMPLATE, "id"),
        "image_tag": get(compute.LAUNCH_TEMPLATE, "image_tag"),
        "autoscaling_group_name": get(compute.AUTOSCALING_GROUP, "name"),
        "instance_role_arn": get(iam.ROLE, "arn"),
        "log_group_name": get(LOG_GROUP, "name"),
        "alarm_topic_arn": get(TOPIC, "arn"),
        "dashboard_url": console_url(ctx.aws.region, get(DASHBOARD, "name"))
        if get(DASHBOARD, "name")
        else None,
        "aws_region": ctx.aws.region,
    }


def render(values: dict) -> list[str]:
    width = max(len(key) for key in values)
    return [f"{key.ljust(width)} = {show(value)}" for key, value in values.items()]
