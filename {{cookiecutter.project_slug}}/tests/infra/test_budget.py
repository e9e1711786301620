"""The cost guard (`monthly_budget_usd`): an AWS Budgets cost budget that e-mails alarm_email.

moto 5.2 keeps budgets and their notifications but lacks UpdateBudget, UpdateSubscriber,
DescribeSubscribersForNotification and budget tags (it drops CreateBudget's ResourceTags);
the `budgets_api` fixture carries those calls out on moto's model, and the tests read the
subscribers from that model. (`make deploy-local` leaves the budget out for that reason.)

Real-AWS rules moto does not enforce, and how our code handles them:
- AWS answers a limit of 25 as "25.0" and thresholds as doubles: the tool compares numbers.
- Budgets count a tag only once it is an activated cost allocation tag (up to 24 h to list,
  24 h more to apply): apply says so when it creates the budget.
- CreateBudget refuses a second budget of the same name: the tool finds the budget by name.
- The CI deploy role may look at the budget only while the option is on: with it off, an
  AccessDenied answer means there is no budget to delete (moto checks no permissions).
- Budgets is global (one endpoint, signed for us-east-1): boto3 resolves it from any region.
moto neither filters costs by tag nor sends e-mail: the tests check what was asked of AWS.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from helpers import remaining
from moto.budgets.models import budgets_backends
from moto.core import DEFAULT_ACCOUNT_ID

from infra.resources.observability import budget

EMAIL = "you@example.com"
NEW_EMAIL = "someone-else@example.com"


@pytest.fixture
def with_budget(project):
    project.set("alarm_email", json.dumps(EMAIL))
    project.set("monthly_budget_usd", "25")
    return project


@pytest.fixture
def applied(moto, instance_refreshes, calls, budgets_api, with_budget, infra):
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    return result


def described(aws_client, settings) -> dict:
    return aws_client("budgets").describe_budget(
        AccountId=DEFAULT_ACCOUNT_ID, BudgetName=settings.name("monthly")
    )["Budget"]


def subscribers(settings) -> dict[float, list[dict]]:
    """By threshold, from moto's model: moto has no DescribeSubscribersForNotification."""
    stored = budgets_backends[DEFAULT_ACCOUNT_ID]["aws"].budgets[DEFAULT_ACCOUNT_ID]
    return {
        n.details["Threshold"]: n.subscribers
        for n in stored[settings.name("monthly")].notifications
    }


def budget_filter(settings) -> dict:
    return {"TagKeyValue": [f"user:Project${settings.project_slug}"]}


def budget_names(aws_client) -> list[str]:
    listed = aws_client("budgets").describe_budgets(AccountId=DEFAULT_ACCOUNT_ID)
    return [b["BudgetName"] for b in listed.get("Budgets", [])]


def test_apply_creates_a_monthly_cost_budget_of_the_project_tag(
    applied, project, aws_client, budgets_api
):
    settings = project.settings
    found = described(aws_client, settings)
    assert found["BudgetName"] == f"{settings.project_slug}-{settings.stack_name}-monthly"
    assert found["BudgetType"] == "COST"
    assert found["TimeUnit"] == "MONTHLY"
    assert found["BudgetLimit"] == {"Amount": "25", "Unit": "USD"}
    assert found["CostFilters"] == budget_filter(settings)
    arn = f"arn:aws:budgets::{DEFAULT_ACCOUNT_ID}:budget/{settings.name('monthly')}"
    assert {t["Key"]: t["Value"] for t in budgets_api[arn]} == {
        "Project": settings.project_slug,
        "Stack": settings.stack_name,
        "ManagedBy": "three-tier-flask",
    }
    # The user learns the one step no API call of the tool takes for them.
    assert "activate `Project` in the Billing console" in applied.out
    assert "24 h" in applied.out


def test_it_emails_alarm_email_at_80_and_100_percent_of_the_actual_spend(
    applied, project, aws_client
):
    settings = project.settings
    notifications = aws_client("budgets").describe_notifications_for_budget(
        AccountId=DEFAULT_ACCOUNT_ID, BudgetName=settings.name("monthly")
    )["Notifications"]
    assert sorted(notifications, key=lambda n: n["Threshold"]) == [
        {
            "NotificationType": "ACTUAL",
            "ComparisonOperator": "GREATER_THAN",
            "Threshold": threshold,
            "ThresholdType": "PERCENTAGE",
        }
        for threshold in (80.0, 100.0)
    ]
    email = [{"SubscriptionType": "EMAIL", "Address": EMAIL}]
    assert subscribers(settings) == {80.0: email, 100.0: email}


def test_plan_after_apply_is_clean_and_outputs_name_the_budget(applied, project, infra):
    plan = infra("plan")
    assert plan.code == 0, plan.out
    outputs = json.loads(infra("outputs", "--json").out)
    name = project.settings.name("monthly")
    assert outputs["monthly_budget"] == (
        f"{name}: 25 USD a month, e-mails alarm_email at 80 % and 100 %"
    )


def test_the_amount_aws_reports_as_a_decimal_matches(applied, project, infra):
    """Real AWS answers "25.0" for a limit of 25 (moto echoes "25"): that is no change."""
    stored = budgets_backends[DEFAULT_ACCOUNT_ID]["aws"].budgets[DEFAULT_ACCOUNT_ID]
    stored[project.settings.name("monthly")].budget["BudgetLimit"]["Amount"] = "25.0"
    assert infra("plan").code == 0


def test_a_new_amount_updates_the_budget_in_place(applied, project, infra, calls, aws_client):
    project.set("monthly_budget_usd", "40")
    plan = infra("plan")
    assert plan.code == 2
    assert plan.plan_summary == "Plan: 0 to add, 1 to change, 0 to destroy."
    assert "~ limit_amount = 25 -> 40" in plan.out
    calls.clear()
    assert infra("apply", "--auto-approve").code == 0
    assert [c for c in calls.mutating if c[0] == "budgets"] == [("budgets", "UpdateBudget")]
    found = described(aws_client, project.settings)
    assert found["BudgetLimit"] == {"Amount": "40", "Unit": "USD"}
    assert found["CostFilters"] == budget_filter(project.settings)
    assert infra("plan").code == 0


def test_a_new_email_updates_the_subscribers_in_place(applied, project, infra, calls):
    project.set("alarm_email", json.dumps(NEW_EMAIL))
    calls.clear()
    assert infra("apply", "--auto-approve").code == 0
    budget_calls = [c for c in calls.mutating if c[0] == "budgets"]
    assert budget_calls == [("budgets", "UpdateSubscriber")] * 2
    email = [{"SubscriptionType": "EMAIL", "Address": NEW_EMAIL}]
    assert subscribers(project.settings) == {80.0: email, 100.0: email}
    assert infra("plan").code == 0


def test_a_lost_notification_is_put_back(applied, project, infra, aws_client):
    aws_client("budgets").delete_notification(
        AccountId=DEFAULT_ACCOUNT_ID,
        BudgetName=project.settings.name("monthly"),
        Notification=budget.notification(80),
    )
    plan = infra("plan")
    assert plan.code == 2
    assert plan.plan_summary == "Plan: 0 to add, 1 to change, 0 to destroy."
    assert infra("apply", "--auto-approve").code == 0
    email = [{"SubscriptionType": "EMAIL", "Address": EMAIL}]
    assert subscribers(project.settings) == {100.0: email, 80.0: email}
    assert infra("plan").code == 0


def test_emptying_the_option_deletes_the_budget(applied, project, infra, aws_client):
    project.unset("monthly_budget_usd")
    plan = infra("plan")
    assert plan.code == 2
    assert "# aws_budgets_budget.monthly will be destroyed" in plan.out
    assert infra("apply", "--auto-approve").code == 0
    assert budget_names(aws_client) == []
    assert "monthly_budget" not in json.loads(infra("outputs", "--json").out)
    assert infra("plan").code == 0


def test_destroy_leaves_nothing(applied, project, infra, aws_client):
    result = infra("destroy", "--auto-approve")
    assert result.code == 0, result.err
    assert budget_names(aws_client) == []
    left = remaining(aws_client, project.settings)
    assert [item for item in left if ":snapshot:" not in item] == []


def test_off_by_default_no_budget_and_no_output(moto, instance_refreshes, infra, aws_client):
    assert infra("apply", "--auto-approve").code == 0
    assert budget_names(aws_client) == []
    assert "monthly_budget" not in json.loads(infra("outputs", "--json").out)


def denied(operation: str) -> ClientError:
    error = {"Code": "AccessDeniedException", "Message": "not authorized: budgets:ViewBudget"}
    return ClientError({"Error": error}, operation)


def test_with_the_option_off_a_role_not_allowed_to_look_plans_clean(
    moto, instance_refreshes, infra, inject_failure
):
    """The CI deploy role gets budget rights only while the option is on (IAM's inline
    policy has no room for more), so with it off a refused look means no budget."""
    assert infra("apply", "--auto-approve").code == 0
    seen = inject_failure("DescribeBudget", denied("DescribeBudget"), times=100)
    assert infra("plan").code == 0
    assert seen["count"] >= 1


def test_with_the_option_on_a_refused_look_is_an_error(
    moto, instance_refreshes, budgets_api, with_budget, infra, inject_failure
):
    inject_failure("DescribeBudget", denied("DescribeBudget"), times=100)
    result = infra("plan")
    assert result.code == 1
    assert "Not allowed to call DescribeBudget" in result.err
