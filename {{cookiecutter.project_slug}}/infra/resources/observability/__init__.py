"""What tells the user how the stack is doing: alarms and where they go, the dashboard, and
the monthly budget."""

from __future__ import annotations

from infra.engine import Context, Resource
from infra.resources.observability import alarm_topic, alarms, budget, dashboard
from infra.resources.observability.alarm_topic import AlarmEmailSubscription, AlarmTopic
from infra.resources.observability.dashboard import Dashboard


def resources() -> list[Resource]:
    return [
        AlarmTopic(),
        AlarmEmailSubscription(),
        *alarms.resources(),
        Dashboard(),
        *budget.resources(),
    ]


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        *alarm_topic.deploy_permissions(ctx),
        *alarms.deploy_permissions(ctx),
        *dashboard.deploy_permissions(ctx),
        *budget.deploy_permissions(ctx),
    ]
