"""What the alarms and the dashboard watch: the real ids of the load balancer, the target
group and the database, and the database class's memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.engine import UNKNOWN, Context
from infra.resources.shared.addresses import DB_INSTANCE, LOAD_BALANCER, TARGET_GROUP


@dataclass(frozen=True)
class AlarmTargets:
    """The real identifiers the alarms watch."""

    load_balancer: str  # the app/<name>/<id> suffix of the load balancer's ARN
    target_group: str  # the targetgroup/<name>/<id> suffix of the target group's ARN
    db_instance: str
    db_memory_mib: int  # memory of the DB instance class, which sets its connection limit


def elb_dimension(arn: Any) -> Any:
    """How CloudWatch names a load balancer (`app/<name>/<id>`) or a target group
    (`targetgroup/<name>/<id>`): the resource part of its ARN."""
    if not isinstance(arn, str):
        return UNKNOWN
    return arn.split(":", 5)[5].removeprefix("loadbalancer/")


def watched(ctx: Context) -> AlarmTargets | None:
    """The identifiers the alarms and the dashboard refer to; None until they all exist."""
    load_balancer = elb_dimension(ctx.attr(LOAD_BALANCER, "arn"))
    target_group = elb_dimension(ctx.attr(TARGET_GROUP, "arn"))
    db_instance = ctx.attr(DB_INSTANCE, "identifier")
    if UNKNOWN in (load_balancer, target_group, db_instance):
        return None
    return AlarmTargets(load_balancer, target_group, db_instance, db_memory_mib(ctx))


def db_memory_mib(ctx: Context) -> int:
    """Memory of the DB class, from the EC2 instance type it is built on (db.t3.micro: t3.micro)."""
    instance_type = ctx.settings.db_instance_class.removeprefix("db.")

    def read() -> int:
        found = ctx.aws.ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
        return found[0]["MemoryInfo"]["SizeInMiB"]

    return ctx.cached(f"memory:{instance_type}", read)
