"""The stack's CloudWatch alarms, one per failure a student should hear about.

Each alarm fires after two periods in a row, so one slow request or one deploy does not
page anyone. Thresholds come from `stack.toml`.
"""

from __future__ import annotations

from infra import tags
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.observability.targets import AlarmTargets, watched
from infra.resources.shared.addresses import (
    ALARM_ROLES,
    ALARM_TOPIC,
    DB_INSTANCE,
    LOAD_BALANCER,
    TARGET_GROUP,
    alarm_address,
)
from infra.resources.shared.permissions import allow, arn, reads
from infra.validation import StackSettings

GIB = 1024**3
# RDS for PostgreSQL: max_connections = LEAST(DBInstanceClassMemory / 9531392, 5000).
BYTES_PER_CONNECTION = 9531392
MAX_CONNECTIONS = 5000


# DBInstanceClassMemory is the class's memory less what RDS's own processes and the OS keep;
# AWS documents neither the amount nor a formula for it. Taken as a tenth of the memory, at
# least 256 MiB: that gives 84 for a 1 GiB class (measured on RDS: 81-87) and stays at or
# just under the values measured with `SHOW max_connections` on larger ones (2 GiB: 198,
# 4 GiB: 413, 8 GiB: 856), so the alarm fires a little early, never too late.
RESERVED_MIB_FLOOR = 256
RESERVED_SHARE = 0.10


def max_connections(memory_mib: int) -> int:
    """RDS for PostgreSQL's default: LEAST({DBInstanceClassMemory/9531392}, 5000) (RDS User
    Guide, "Maximum number of database connections")."""
    reserved = max(RESERVED_MIB_FLOOR, memory_mib * RESERVED_SHARE)
    usable = int((memory_mib - reserved) * 1024 * 1024)
    return max(1, min(usable // BYTES_PER_CONNECTION, MAX_CONNECTIONS))


def alarm_definitions(settings: StackSettings, targets: AlarmTargets) -> list[dict]:
    """put_metric_alarm arguments for every alarm, without actions and tags."""
    target_group = [
        {"Name": "TargetGroup", "Value": targets.target_group},
        {"Name": "LoadBalancer", "Value": targets.load_balancer},
    ]
    load_balancer = [{"Name": "LoadBalancer", "Value": targets.load_balancer}]
    database = [{"Name": "DBInstanceIdentifier", "Value": targets.db_instance}]
    free_storage_bytes = (
        settings.db_allocated_storage_gb * GIB * settings.alarm_db_free_storage_percent // 100
    )
    connection_limit = max_connections(targets.db_memory_mib)
    connections = max(1, connection_limit * settings.alarm_db_connections_percent // 100)
    return [
        _alarm(
            settings,
            "unhealthy-hosts",
            "An app instance fails its health check.",
            "AWS/ApplicationELB",
            "UnHealthyHostCount",
            target_group,
            "Maximum",
            60,
            "GreaterThanThreshold",
            0,
        ),
        _alarm(
            settings,
            "no-healthy-host",
            "No app instance is healthy: the site is down.",
            "AWS/ApplicationELB",
            "HealthyHostCount",
            target_group,
            "Minimum",
            60,
            "LessThanThreshold",
            1,
            missing="breaching",
        ),
        _alarm(
            settings,
            "target-5xx",
            "The app answers with server errors.",
            "AWS/ApplicationELB",
            "HTTPCode_Target_5XX_Count",
            load_balancer,
            "Sum",
            300,
            "GreaterThanThreshold",
            settings.alarm_target_5xx_count,
        ),
        _alarm(
            settings,
            "p99-response-time",
            "The slowest 1 % of answers are too slow.",
            "AWS/ApplicationELB",
            "TargetResponseTime",
            load_balancer,
            "p99",
            300,
            "GreaterThanThreshold",
            settings.alarm_p99_response_ms / 1000,
        ),
        _alarm(
            settings,
            "db-cpu",
            "The database's CPU is busy.",
            "AWS/RDS",
            "CPUUtilization",
            database,
            "Average",
            300,
            "GreaterThanThreshold",
            settings.alarm_db_cpu_percent,
        ),
        _alarm(
            settings,
            "db-free-storage",
            "The database is running out of storage.",
            "AWS/RDS",
            "FreeStorageSpace",
            database,
            "Minimum",
            300,
            "LessThanThreshold",
            free_storage_bytes,
        ),
        _alarm(
            settings,
            "db-connections",
            f"Database connections near the class's limit of {connection_limit}.",
            "AWS/RDS",
            "DatabaseConnections",
            database,
            "Maximum",
            300,
            "GreaterThanThreshold",
            connections,
        ),
    ]


def _alarm(
    settings: StackSettings,
    role: str,
    description: str,
    namespace: str,
    metric: str,
    dimensions: list[dict],
    statistic: str,
    period: int,
    comparison: str,
    threshold: float,
    missing: str = "notBreaching",
) -> dict:
    definition = {
        "AlarmName": settings.name(role),
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": dimensions,
        "Period": period,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": float(threshold),
        "ComparisonOperator": comparison,
        "TreatMissingData": missing,
    }
    if statistic.startswith("p"):
        definition["ExtendedStatistic"] = statistic
    else:
        definition["Statistic"] = statistic
    return definition


# The attributes of an alarm that plan compares, as DescribeAlarms spells them.
COMPARED = (
    "AlarmDescription",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "Statistic",
    "ExtendedStatistic",
    "AlarmActions",
    "OKActions",
)


class Alarm(Resource):
    depends_on = (ALARM_TOPIC, LOAD_BALANCER, TARGET_GROUP, DB_INSTANCE)

    def __init__(self, role: str):
        self.role = role
        self.address = alarm_address(role)

    def read(self, ctx: Context) -> dict | None:
        cloudwatch, name = ctx.aws.client("cloudwatch"), ctx.settings.name(self.role)
        every_name = [ctx.settings.name(role) for role in ALARM_ROLES]
        found = ctx.listing(  # the stack's alarms in one call (DescribeAlarms takes 100 names)
            "alarms",
            lambda: cloudwatch.describe_alarms(AlarmNames=every_name, AlarmTypes=["MetricAlarm"])[
                "MetricAlarms"
            ],
        )
        alarm = next((item for item in found if item["AlarmName"] == name), None)
        if alarm is None:
            return None
        listed = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
        attributes = {key: _comparable(key, alarm.get(key)) for key in COMPARED}
        return {
            "id": name,
            "arn": alarm["AlarmArn"],
            "name": name,
            **attributes,
            "tags": tags.ours(tags.from_list(listed), tags.stack_tags(ctx.settings)),
        }

    def desired(self, ctx: Context) -> dict | None:
        targets = watched(ctx)
        topic = ctx.attr(ALARM_TOPIC, "arn")
        if targets is None or topic is UNKNOWN:
            return {"name": ctx.settings.name(self.role), "definition": UNKNOWN}
        (definition,) = (
            d
            for d in alarm_definitions(ctx.settings, targets)
            if d["AlarmName"] == ctx.settings.name(self.role)
        )
        wanted = {**definition, "AlarmActions": [topic], "OKActions": [topic]}
        return {
            "name": definition["AlarmName"],
            **{key: _comparable(key, wanted.get(key)) for key in COMPARED},
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        self._put(ctx, desired, tag=True)

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if any(change.attribute != "tags" for change in changes):
            self._put(ctx, desired)
        if actual["tags"] != desired["tags"]:
            ctx.aws.client("cloudwatch").tag_resource(
                ResourceARN=actual["arn"], Tags=tags.as_list(desired["tags"])
            )

    def _put(self, ctx, desired, tag=False):
        """PutMetricAlarm creates or overwrites; it sets tags only when it creates."""
        arguments = {key: desired[key] for key in COMPARED if desired[key] is not None}
        arguments["Dimensions"] = [{"Name": n, "Value": v} for n, v in desired["Dimensions"]]
        arguments["AlarmActions"] = list(desired["AlarmActions"])
        arguments["OKActions"] = list(desired["OKActions"])
        if tag:
            arguments["Tags"] = tags.as_list(desired["tags"])
        ctx.aws.client("cloudwatch").put_metric_alarm(AlarmName=desired["name"], **arguments)

    def delete(self, ctx: Context, actual: dict) -> None:
        ctx.aws.client("cloudwatch").delete_alarms(AlarmNames=[actual["name"]])


def _comparable(key: str, value):
    """One spelling for what we send and what DescribeAlarms returns."""
    if key == "Dimensions" and value is not None:
        return tuple(sorted((d["Name"], d["Value"]) for d in value))
    if key in ("AlarmActions", "OKActions") and value is not None:
        return tuple(value)
    if key == "Threshold" and value is not None:
        return float(value)
    return value


def resources() -> list[Resource]:
    return [Alarm(role) for role in ALARM_ROLES]


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        reads("cloudwatch:DescribeAlarms"),
        # Each alarm by name: `<project>-<stack>-*` would also match the alarms of a project
        # named `<project>-<stack>`.
        allow(
            [
                "cloudwatch:DeleteAlarms",
                "cloudwatch:ListTagsForResource",
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:TagResource",
            ],
            [arn(ctx, "cloudwatch", f"alarm:{ctx.settings.name(role)}") for role in ALARM_ROLES],
        ),
    ]
