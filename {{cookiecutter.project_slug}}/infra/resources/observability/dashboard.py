"""The stack's CloudWatch dashboard: `dashboard.json` with the real resource ids filled in.

moto stores any JSON as a dashboard body, while the PutDashboard API rejects a body that
breaks the documented dashboard body structure, and CloudWatch silently draws an empty
graph for a metric name or dimension it does not know. So the rendered body is checked
here against that structure and against the metrics AWS documents for each namespace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.aws import DeployError
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.observability.targets import watched
from infra.resources.shared.addresses import (
    ALARM_ADDRESSES,
    APP_LOG_GROUP,
    AUTOSCALING_GROUP,
    DASHBOARD,
)
from infra.resources.shared.permissions import allow, arn

TEMPLATE_PATH = Path(__file__).parents[2] / "dashboard.json"
PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")

# Metric names and the dimension sets AWS publishes them with, per namespace (from the
# CloudWatch metrics pages of Elastic Load Balancing, Amazon EC2 and Amazon RDS).
_LB = frozenset({"LoadBalancer"})
_LB_TG = frozenset({"LoadBalancer", "TargetGroup"})
_ASG = frozenset({"AutoScalingGroupName"})
_DB = frozenset({"DBInstanceIdentifier"})
KNOWN_METRICS: dict[str, dict[str, tuple[frozenset[str], ...]]] = {
    "AWS/ApplicationELB": {
        "RequestCount": (_LB, _LB_TG),
        "TargetResponseTime": (_LB, _LB_TG),
        "HTTPCode_Target_5XX_Count": (_LB, _LB_TG),
        "HTTPCode_ELB_5XX_Count": (_LB,),
        "HealthyHostCount": (_LB_TG,),
        "UnHealthyHostCount": (_LB_TG,),
    },
    "AWS/EC2": {name: (_ASG,) for name in ("CPUUtilization", "NetworkIn", "NetworkOut")},
    "AWS/RDS": {
        name: (_DB,)
        for name in (
            "CPUUtilization",
            "DatabaseConnections",
            "FreeStorageSpace",
            "FreeableMemory",
            "ReadLatency",
            "WriteLatency",
        )
    },
}

WIDGET_TYPES = ("metric", "text", "log", "alarm", "explorer")
VIEWS = ("timeSeries", "singleValue", "gauge", "bar", "pie", "table")
STAT = re.compile(
    r"(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?|p100|"
    r"(tm|wm|tc|ts|TM|WM|TC|TS)\d{1,2}(\.\d+)?)"
)


class DashboardError(ValueError):
    pass


def render(values: Mapping[str, Any], template: str | None = None) -> dict:
    """The dashboard body with every `${name}` replaced; a name without a value is an error.

    A string that is exactly one placeholder takes the value as it is (so `${alarm_arns}`
    becomes a list); placeholders inside longer strings are replaced as text.
    """
    document = json.loads(TEMPLATE_PATH.read_text() if template is None else template)
    missing: set[str] = set()

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: fill(value) for key, value in node.items()}
        if isinstance(node, list):
            return [fill(item) for item in node]
        if not isinstance(node, str):
            return node
        whole = PLACEHOLDER.fullmatch(node)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        missing.update(name for name in PLACEHOLDER.findall(node) if name not in values)
        return PLACEHOLDER.sub(lambda match: str(values.get(match.group(1), match.group(0))), node)

    body = fill(document)
    if missing:
        raise DashboardError(
            f"dashboard.json uses {', '.join(sorted(missing))}, which apply "
            f"does not know; known: {', '.join(sorted(values))}"
        )
    return body


def structure_problems(body: Any) -> list[str]:
    """Where `body` breaks the documented dashboard body structure or names unknown metrics."""
    if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
        return ["the body must be an object with a 'widgets' list"]
    problems: list[str] = []
    for index, widget in enumerate(body["widgets"]):
        problems.extend(f"widget {index}: {problem}" for problem in _widget_problems(widget))
    return problems


def _widget_problems(widget: Any) -> list[str]:
    if not isinstance(widget, dict):
        return ["is not an object"]
    problems = []
    if widget.get("type") not in WIDGET_TYPES:
        problems.append(f"type {widget.get('type')!r} is not one of {', '.join(WIDGET_TYPES)}")
    for field, low, high in (("x", 0, 23), ("y", 0, 10000), ("width", 1, 24), ("height", 1, 1000)):
        value = widget.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems.append(f"{field} must be a whole number from {low} to {high}")
    properties = widget.get("properties")
    if not isinstance(properties, dict):
        return [*problems, "has no 'properties' object"]
    checks = {
        "metric": _metric_problems,
        "text": _text_problems,
        "log": _log_problems,
        "alarm": _alarm_problems,
    }
    if widget.get("type") in checks:
        problems.extend(checks[widget["type"]](properties))
    return problems


def _metric_problems(properties: dict) -> list[str]:
    problems = []
    if not isinstance(properties.get("region"), str) or not properties["region"]:
        problems.append("a metric widget needs a 'region'")
    if properties.get("view") not in VIEWS:
        problems.append(f"view {properties.get('view')!r} is not one of {', '.join(VIEWS)}")
    if not isinstance(properties.get("period"), int) or properties["period"] % 60:
        problems.append("a metric widget needs a 'period' in whole minutes (60, 300, ...)")
    metrics = properties.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        return [*problems, "a metric widget needs a non-empty 'metrics' list"]
    for row in metrics:
        problems.extend(_metric_row_problems(row, properties.get("stat")))
    return problems


def _metric_row_problems(row: Any, widget_stat: Any) -> list[str]:
    if not isinstance(row, list) or len(row) < 2:
        return [f"metric {row!r} must be a list [namespace, name, dimension, value, ...]"]
    options = row[-1] if isinstance(row[-1], dict) else {}
    fields = row[:-1] if options else row
    namespace, name, dimensions = fields[0], fields[1], fields[2:]
    problems = []
    if len(dimensions) % 2:
        problems.append(f"{namespace} {name}: dimensions must come as name, value pairs")
    pairs = dict(zip(dimensions[::2], dimensions[1::2], strict=False))
    known = KNOWN_METRICS.get(namespace, {}).get(name)
    if known is None:
        problems.append(f"{namespace} {name} is not a metric this dashboard knows AWS publishes")
    elif frozenset(pairs) not in known:
        allowed = " or ".join("+".join(sorted(dims)) for dims in known)
        given = "+".join(sorted(pairs)) or "no dimension"
        problems.append(f"{namespace} {name} is published with {allowed}, not {given}")
    for dimension, value in pairs.items():
        if not isinstance(value, str) or not value or PLACEHOLDER.search(value):
            problems.append(f"{namespace} {name}: dimension {dimension} has no value: {value!r}")
    stat = options.get("stat", widget_stat)
    if not isinstance(stat, str) or not STAT.fullmatch(stat):
        problems.append(f"{namespace} {name}: needs a valid 'stat' on the widget or the metric")
    return problems


def _text_problems(properties: dict) -> list[str]:
    return [] if isinstance(properties.get("markdown"), str) else ["a text widget needs 'markdown'"]


def _log_problems(properties: dict) -> list[str]:
    problems = []
    query = properties.get("query")
    if not isinstance(query, str) or not query.startswith("SOURCE '"):
        problems.append("a log widget needs a 'query' starting with SOURCE '<log group>'")
    if not isinstance(properties.get("region"), str) or not properties["region"]:
        problems.append("a log widget needs a 'region'")
    return problems


def _alarm_problems(properties: dict) -> list[str]:
    alarms = properties.get("alarms")
    if not isinstance(alarms, list) or not alarms:
        return ["an alarm widget needs a non-empty 'alarms' list of alarm ARNs"]
    return [
        f"{arn!r} is not an alarm ARN"
        for arn in alarms
        if not isinstance(arn, str) or not arn.startswith("arn:aws") or ":alarm:" not in arn
    ]


def log_groups(body: dict) -> list[str]:
    """The log groups the body's Logs Insights widgets query."""
    return [
        match
        for widget in body["widgets"]
        if widget.get("type") == "log"
        for match in re.findall(r"SOURCE '([^']+)'", widget["properties"]["query"])
    ]


def dimension_values(body: dict) -> dict[str, set[str]]:
    """Every dimension name the body uses with the values it gives it."""
    found: dict[str, set[str]] = {}
    metric_widgets = [widget for widget in body["widgets"] if widget["type"] == "metric"]
    for widget in metric_widgets:
        for row in widget["properties"]["metrics"]:
            fields = row[:-1] if isinstance(row[-1], dict) else row
            for dimension, value in zip(fields[2::2], fields[3::2], strict=False):
                found.setdefault(dimension, set()).add(value)
    return found


def console_url(region: str, name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards/dashboard/{name}"
    )


def values(ctx: Context) -> dict[str, Any] | None:
    """What dashboard.json may refer to, or None until every resource it shows exists."""
    targets = watched(ctx)
    alarm_arns = [ctx.attr(address, "arn") for address in ALARM_ADDRESSES]
    group, log_group = ctx.attr(AUTOSCALING_GROUP, "name"), ctx.attr(APP_LOG_GROUP, "name")
    if targets is None or UNKNOWN in (group, log_group, *alarm_arns):
        return None
    return {
        "stack": ctx.settings.stack_name,
        "region": ctx.settings.aws_region,
        "load_balancer": targets.load_balancer,
        "target_group": targets.target_group,
        "auto_scaling_group": group,
        "db_instance": targets.db_instance,
        "log_group": log_group,
        "alarm_arns": sorted(alarm_arns),
    }


class Dashboard(Resource):
    """CloudWatch dashboards take no tags; this one is found by its stack-specific name."""

    address = DASHBOARD
    depends_on = (AUTOSCALING_GROUP, APP_LOG_GROUP, *ALARM_ADDRESSES)

    def read(self, ctx: Context) -> dict | None:
        cloudwatch, name = ctx.aws.client("cloudwatch"), ctx.settings.name("dashboard")
        try:
            found = cloudwatch.get_dashboard(DashboardName=name)
        except cloudwatch.exceptions.ResourceNotFound:
            return None
        return {"id": name, "name": name, "body": json.loads(found["DashboardBody"])}

    def desired(self, ctx: Context) -> dict | None:
        filled = values(ctx)
        body = UNKNOWN if filled is None else render(filled)
        return {"name": ctx.settings.name("dashboard"), "body": body}

    def create(self, ctx: Context, desired: dict) -> None:
        problems = structure_problems(desired["body"])
        if problems:
            raise DeployError(
                "infra/dashboard.json does not make a valid dashboard: " + "; ".join(problems)
            )
        ctx.aws.client("cloudwatch").put_dashboard(
            DashboardName=desired["name"], DashboardBody=json.dumps(desired["body"])
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        self.create(ctx, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        ctx.aws.client("cloudwatch").delete_dashboards(DashboardNames=[actual["name"]])


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        allow(
            ["cloudwatch:DeleteDashboards", "cloudwatch:GetDashboard", "cloudwatch:PutDashboard"],
            arn(ctx, "cloudwatch", f"dashboard/{ctx.settings.name('dashboard')}", region=False),
        )
    ]
