"""The dashboard and the alarms: what apply publishes is what CloudWatch really accepts.

moto stores any JSON as a dashboard body and any names in an alarm, so these tests check
the rendered body against the documented structure and every identifier in it against
the resources that exist after a moto apply.
"""

from __future__ import annotations

import json

import boto3
import pytest

from infra.resources.observability import alarms, dashboard
from infra.resources.shared.addresses import ALARM_ROLES


@pytest.fixture(scope="module")
def deployed_stack(applied_stack):
    project, _output = applied_stack
    settings = project.settings
    return project, settings, lambda service: boto3.client(service, region_name=settings.aws_region)


def published_body(client, settings) -> dict:
    found = client("cloudwatch").get_dashboard(DashboardName=settings.name("dashboard"))
    return json.loads(found["DashboardBody"])


def test_dashboard_body_has_the_documented_structure(deployed_stack):
    _project, settings, client = deployed_stack
    body = published_body(client, settings)
    assert dashboard.structure_problems(body) == []
    metrics = {
        row[1]
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for row in widget["properties"]["metrics"]
    }
    assert {
        "RequestCount",
        "TargetResponseTime",
        "HealthyHostCount",
        "UnHealthyHostCount",
        "HTTPCode_Target_5XX_Count",
        "HTTPCode_ELB_5XX_Count",
        "NetworkIn",
        "NetworkOut",
        "DatabaseConnections",
        "FreeStorageSpace",
        "FreeableMemory",
        "ReadLatency",
        "WriteLatency",
        "CPUUtilization",
    } <= metrics
    assert {widget["type"] for widget in body["widgets"]} >= {"metric", "alarm", "log"}


def test_every_dimension_names_a_resource_that_exists(deployed_stack):
    _project, settings, client = deployed_stack
    found = dashboard.dimension_values(published_body(client, settings))
    (lb,) = client("elbv2").describe_load_balancers(Names=[settings.name("alb")])["LoadBalancers"]
    (tg,) = client("elbv2").describe_target_groups(Names=[settings.name("tg")])["TargetGroups"]
    # CloudWatch's dimension values are the resource part of the ARNs, not names or ARNs.
    assert found["LoadBalancer"] == {lb["LoadBalancerArn"].split(":loadbalancer/")[1]}
    assert found["TargetGroup"] == {tg["TargetGroupArn"].split(":")[-1]}
    (group_name,) = found["AutoScalingGroupName"]
    assert client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])[
        "AutoScalingGroups"
    ]
    (db,) = found["DBInstanceIdentifier"]
    assert client("rds").describe_db_instances(DBInstanceIdentifier=db)["DBInstances"]


def test_log_widget_and_alarm_widget_point_at_real_resources(deployed_stack):
    _project, settings, client = deployed_stack
    body = published_body(client, settings)
    for group in dashboard.log_groups(body):
        assert client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    existing = {a["AlarmArn"] for a in client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert set(alarm_widget["properties"]["alarms"]) == existing


def test_every_alarm_exists_with_its_threshold_and_action(deployed_stack):
    _project, settings, client = deployed_stack
    topic = client("sns").list_topics()["Topics"]
    (topic_arn,) = [t["TopicArn"] for t in topic if t["TopicArn"].endswith(settings.name("alarms"))]
    found = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert set(found) == {settings.name(role) for role in ALARM_ROLES}
    for alarm in found.values():
        assert alarm["AlarmActions"] == [topic_arn]
        assert alarm["EvaluationPeriods"] == 2
    assert found[settings.name("db-cpu")]["Threshold"] == settings.alarm_db_cpu_percent
    assert found[settings.name("unhealthy-hosts")]["Threshold"] == 0
    assert found[settings.name("p99-response-time")]["ExtendedStatistic"] == "p99"
    assert found[settings.name("p99-response-time")]["Threshold"] == (
        settings.alarm_p99_response_ms / 1000
    )
    storage = settings.db_allocated_storage_gb * 1024**3 * settings.alarm_db_free_storage_percent
    assert found[settings.name("db-free-storage")]["Threshold"] == storage // 100


# `SHOW max_connections` on RDS for PostgreSQL with the default parameter group, by memory
# (MiB): db.t3.micro 81-87 (issue #15), db.t2.small 198, db.t2.medium 413, db.t2.large and
# db.m4.large 856, db.r4.large 1660 (values users measured and published; AWS documents
# only the formula, LEAST({DBInstanceClassMemory/9531392}, 5000), not the memory RDS keeps).
MEASURED_MAX_CONNECTIONS = {1024: 87, 2048: 198, 4096: 413, 8192: 856, 15616: 1660}


@pytest.mark.parametrize(("memory_mib", "measured"), MEASURED_MAX_CONNECTIONS.items())
def test_connection_limit_is_at_most_what_rds_allows_and_close_to_it(memory_mib, measured):
    """The alarm must fire before the database refuses connections: the computed limit is
    never above the measured one, and within 10 % of it."""
    computed = alarms.max_connections(memory_mib)
    assert computed <= measured
    assert computed >= measured * 0.9


def test_connection_limit_caps_at_5000_and_the_micro_class_is_not_112():
    assert alarms.max_connections(1024 * 1024) == 5000
    # 1 GiB / 9531392 would be 112 (the plain formula without RDS's reserve): the alarm
    # at 80 % of that (89) could never fire on a db.t3.micro, which stops at about 85.
    assert 81 <= alarms.max_connections(1024) <= 87


def test_outputs_name_the_dashboard_url(deployed_stack, capsys):
    project, settings, _client = deployed_stack
    assert project.run("outputs", "--json").code == 0
    values = json.loads(capsys.readouterr().out)
    assert values["dashboard_url"] == (
        f"https://{settings.aws_region}.console.aws.amazon.com/cloudwatch/home"
        f"?region={settings.aws_region}#dashboards/dashboard/{settings.name('dashboard')}"
    )


def test_changed_threshold_is_one_update_and_destroy_removes_it_all(
    deployed, project, infra, aws_client
):
    settings = project.settings
    project.set("alarm_db_cpu_percent", "70")
    plan = infra("plan")
    assert plan.code == 2
    assert plan.plan_summary == "Plan: 0 to add, 1 to change, 0 to destroy."
    assert "~ aws_cloudwatch_metric_alarm.db_cpu" in plan.out
    assert infra("apply", "--auto-approve").code == 0
    cloudwatch = aws_client("cloudwatch")
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[settings.name("db-cpu")])["MetricAlarms"]
    assert alarm["Threshold"] == 70
    assert infra("plan").code == 0

    assert infra("destroy", "--auto-approve").code == 0
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert cloudwatch.list_dashboards()["DashboardEntries"] == []
    assert aws_client("sns").list_topics()["Topics"] == []


def test_alarm_email_is_subscribed_when_set(moto, instance_refreshes, project, infra, aws_client):
    project.set("alarm_email", '"ops@example.com"')
    assert infra("apply", "--auto-approve").code == 0
    sns = aws_client("sns")
    (topic,) = sns.list_topics()["Topics"]
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")
    assert infra("plan").code == 0


def _template_with(old: str, new: str) -> str:
    text = dashboard.TEMPLATE_PATH.read_text()
    assert old in text
    return text.replace(old, new, 1)


VALUES = {
    "stack": "dev",
    "region": "ap-south-1",
    "load_balancer": "app/x/1",
    "target_group": "targetgroup/t/2",
    "auto_scaling_group": "x-dev-asg",
    "db_instance": "x-dev-db",
    "log_group": "/x/dev/app",
    "alarm_arns": ["arn:aws:cloudwatch:ap-south-1:1:alarm:x"],
}


def test_shipped_dashboard_renders_cleanly():
    assert dashboard.structure_problems(dashboard.render(VALUES)) == []


def test_an_unfilled_placeholder_fails():
    template = _template_with('"${db_instance}"', '"${db_instanse}"')
    with pytest.raises(dashboard.DashboardError, match="db_instanse"):
        dashboard.render(VALUES, template)


def test_an_unknown_metric_name_fails():
    body = dashboard.render(VALUES, _template_with('"RequestCount"', '"RequestsCount"'))
    assert any("RequestsCount is not a metric" in p for p in dashboard.structure_problems(body))


def test_a_wrong_dimension_fails():
    # HealthyHostCount is only published per target group, never per load balancer alone.
    body = dashboard.render(
        VALUES,
        _template_with(
            '"HealthyHostCount", "TargetGroup", "${target_group}", ', '"HealthyHostCount", '
        ),
    )
    assert any(
        "HealthyHostCount is published with" in p for p in dashboard.structure_problems(body)
    )


def test_a_widget_without_required_fields_fails():
    body = dashboard.render(VALUES)
    del body["widgets"][1]["properties"]["region"]
    body["widgets"][2]["width"] = 30
    problems = dashboard.structure_problems(body)
    assert any("needs a 'region'" in p for p in problems)
    assert any("width must be" in p for p in problems)
