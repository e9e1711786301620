"""What tells the user how the stack is doing: alarms and where they go, the dashboard, and
the monthly budget."""

from __future__ import annotations

from infra.engine import Resource
from infra.resources.observability import alarms, budget
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
