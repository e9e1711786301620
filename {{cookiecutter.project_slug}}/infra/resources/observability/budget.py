"""Cost guard (option `monthly_budget_usd`): an AWS Budgets cost budget that e-mails alarm_email.

The budget `<project>-<stack>-monthly` counts the month's costs of the resources tagged
`Project=<project_slug>` and e-mails alarm_email when the actual spend passes 80 % and
100 % of the amount. Leaving the option empty (or destroy) deletes it.

What AWS needs that no API call of this tool can do for you:
- Budgets sees a tag only once it is an activated cost allocation tag. In the Billing and
  Cost Management console, under Cost allocation tags, activate the user-defined tag
  `Project` (and `Stack`, to break costs down further). AWS lists a tag key there up to
  24 hours after the first resource carrying it, and activation takes up to 24 hours more;
  until then the budget counts nothing and sends no e-mail.
- Budgets is a global service with one endpoint (budgets.amazonaws.com, signed for
  us-east-1): boto3 resolves it from a client of any region, so the stack's region is fine.
- Every call names the account (AccountId), read once from STS.
A budget without actions costs nothing (see infra/costs.py).
"""

from __future__ import annotations

from decimal import Decimal

import botocore.exceptions

from infra import tags
from infra.aws import DENIED_CODES, error_code, is_not_found
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import BUDGET
from infra.resources.shared.permissions import allow

# The actual spend, as the option promises. A FORECASTED 100 % would warn earlier, but a
# forecast needs spend history that a new stack does not have yet.
THRESHOLDS_PERCENT = (80, 100)
# AWS's documented defaults, sent explicitly: UpdateBudget takes CostFilters together with
# CostTypes (or FilterExpression with Metrics), so both calls send the same pair.
COST_TYPES = {
    "IncludeTax": True,
    "IncludeSubscription": True,
    "UseBlended": False,
    "IncludeRefund": True,
    "IncludeCredit": True,
    "IncludeUpfront": True,
    "IncludeRecurring": True,
    "IncludeOtherSubscription": True,
    "IncludeSupport": True,
    "IncludeDiscount": True,
    "UseAmortized": False,
}
BUDGET_FIELDS = ("budget_type", "time_unit", "limit_amount", "limit_unit", "cost_filters")
OPERATORS = {"GREATER_THAN": ">", "LESS_THAN": "<", "EQUAL_TO": "="}
THRESHOLD_UNITS = {"PERCENTAGE": "%", "ABSOLUTE_VALUE": "USD"}


def budget_name(ctx: Context) -> str:
    return ctx.settings.name("monthly")


def budget_arn(ctx: Context) -> str:
    return ctx.aws.arn("budgets", f"budget/{budget_name(ctx)}", region=False)


def cost_filters(ctx: Context) -> dict:
    """Only the project's tagged costs.

    The values of one CostFilters key are ORed, so naming `Project` and `Stack` would count
    every stack of the project and every same-named stack of other projects too. `Project`
    alone counts all stacks of this project: never less than this stack's spend, so the
    e-mail may come early (while several stacks of the project run), never late. An exact
    Project AND Stack filter needs the newer FilterExpression API (an And of two Tags),
    whose tag-key spelling we could not confirm in AWS's documentation.
    """
    return {"TagKeyValue": [f"user:Project${ctx.settings.project_slug}"]}


def notification(percent: float) -> dict:
    return {
        "NotificationType": "ACTUAL",
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": float(percent),
        "ThresholdType": "PERCENTAGE",
    }


def label(spec: dict) -> str:
    """`ACTUAL > 80 %`: how the plan names a notification."""
    operator = OPERATORS.get(spec["ComparisonOperator"], spec["ComparisonOperator"])
    unit = THRESHOLD_UNITS.get(spec.get("ThresholdType", "PERCENTAGE"), "")
    return f"{spec['NotificationType']} {operator} {float(spec['Threshold']):g} {unit}".strip()


def wanted_notifications() -> dict[str, dict]:
    return {label(notification(percent)): notification(percent) for percent in THRESHOLDS_PERCENT}


def email(address: str) -> dict:
    return {"SubscriptionType": "EMAIL", "Address": address}


def subscribers(desired: dict, key: str) -> list[dict]:
    return [email(address) for address in desired["notifications"][key]]


def amount(value: str | None) -> int | float | None:
    """AWS answers "25.0" for a limit of 25: compare numbers, not strings."""
    if value is None:
        return None
    number = Decimal(value)
    return int(number) if number == number.to_integral_value() else float(number)


class MonthlyBudget(Resource):
    address = BUDGET

    def read(self, ctx: Context) -> dict | None:
        budgets, account, name = ctx.aws.client("budgets"), ctx.aws.account_id, budget_name(ctx)
        off = ctx.settings.monthly_budget_usd is None
        try:
            budget = budgets.describe_budget(AccountId=account, BudgetName=name)["Budget"]
        except botocore.exceptions.ClientError as error:
            # The CI deploy role may see the budget only while the option is on (its policy
            # has no room for more): with the option off, not allowed to look means none to
            # delete, as long as the change to off was applied before bootstrap-ci ran again.
            if is_not_found(error) or (off and error_code(error) in DENIED_CODES):
                return None
            raise
        if off:  # left from when the option was set: apply deletes it
            return {"id": name, "name": name, "arn": budget_arn(ctx)}
        listed = budgets.list_tags_for_resource(ResourceARN=budget_arn(ctx))["ResourceTags"]
        found = self._notifications(ctx)
        limit = budget.get("BudgetLimit") or {}
        return {
            "id": name,
            "name": name,
            "arn": budget_arn(ctx),
            "budget_type": budget.get("BudgetType"),
            "time_unit": budget.get("TimeUnit"),
            "limit_amount": amount(limit.get("Amount")),
            "limit_unit": limit.get("Unit"),
            "cost_filters": budget.get("CostFilters") or {},
            "notifications": {key: emails for key, (_, emails) in found.items()},
            "tags": tags.ours(tags.from_list(listed), tags.stack_tags(ctx.settings)),
            "_notifications": {key: spec for key, (spec, _) in found.items()},
        }

    def _notifications(self, ctx) -> dict[str, tuple[dict, list[str]]]:
        """Each notification by label: its identifying fields and its e-mail subscribers."""
        budgets, account, name = ctx.aws.client("budgets"), ctx.aws.account_id, budget_name(ctx)
        pages = budgets.get_paginator("describe_notifications_for_budget").paginate(
            AccountId=account, BudgetName=name
        )
        subscribers = budgets.get_paginator("describe_subscribers_for_notification")
        found = {}
        for listed in (n for page in pages for n in page.get("Notifications", [])):
            # The state (OK or ALARM) is AWS's, not a field that names the notification.
            spec = {key: value for key, value in listed.items() if key != "NotificationState"}
            addresses = [
                subscriber["Address"]
                for result in subscribers.paginate(
                    AccountId=account, BudgetName=name, Notification=spec
                )
                for subscriber in result.get("Subscribers", [])
                if subscriber["SubscriptionType"] == "EMAIL"
            ]
            found[label(spec)] = (spec, sorted(addresses))
        return found

    def desired(self, ctx: Context) -> dict | None:
        settings = ctx.settings
        if settings.monthly_budget_usd is None:
            return None
        return {
            "name": budget_name(ctx),
            "budget_type": "COST",
            "time_unit": "MONTHLY",
            "limit_amount": settings.monthly_budget_usd,
            "limit_unit": "USD",
            "cost_filters": cost_filters(ctx),
            "notifications": {key: [settings.alarm_email] for key in wanted_notifications()},
            "tags": tags.stack_tags(settings),
        }

    def _budget(self, desired: dict) -> dict:
        return {
            "BudgetName": desired["name"],
            "BudgetType": desired["budget_type"],
            "TimeUnit": desired["time_unit"],
            "BudgetLimit": {"Amount": str(desired["limit_amount"]), "Unit": desired["limit_unit"]},
            "CostFilters": desired["cost_filters"],
            "CostTypes": COST_TYPES,
        }

    def create(self, ctx: Context, desired: dict) -> None:
        # One call with the notifications: a budget never exists without its e-mails.
        # CreateBudget refuses a second budget of the same name (DuplicateRecordException),
        # so a retried apply cannot make two.
        ctx.aws.client("budgets").create_budget(
            AccountId=ctx.aws.account_id,
            Budget=self._budget(desired),
            NotificationsWithSubscribers=[
                {"Notification": spec, "Subscribers": subscribers(desired, key)}
                for key, spec in wanted_notifications().items()
            ],
            ResourceTags=tags.as_list(desired["tags"]),
        )
        ctx.out(
            f"{self.address}: it counts costs tagged Project={ctx.settings.project_slug} only "
            "once that tag is an active cost allocation tag: activate `Project` in the Billing "
            "console (Cost allocation tags); AWS can take up to 24 h to list it and 24 h more "
            "to apply it"
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        budgets, account = ctx.aws.client("budgets"), ctx.aws.account_id
        changed = {change.attribute for change in changes}
        if changed & set(BUDGET_FIELDS):
            budgets.update_budget(AccountId=account, NewBudget=self._budget(desired))
        if "notifications" in changed:
            self._update_notifications(ctx, actual, desired)
        if "tags" in changed:
            budgets.tag_resource(
                ResourceARN=actual["arn"], ResourceTags=tags.as_list(desired["tags"])
            )

    def _update_notifications(self, ctx, actual, desired):
        budgets = ctx.aws.client("budgets")
        where = {"AccountId": ctx.aws.account_id, "BudgetName": actual["name"]}
        have, want = actual["notifications"], desired["notifications"]
        specs = actual["_notifications"]

        def create(key: str) -> None:
            budgets.create_notification(
                **where,
                Notification=wanted_notifications()[key],
                Subscribers=subscribers(desired, key),
            )

        for key in have.keys() - want.keys():
            budgets.delete_notification(**where, Notification=specs[key])
        for key in want.keys() - have.keys():
            create(key)
        for key in want.keys() & have.keys():
            old, new = have[key], want[key]
            if old == new:
                continue
            if len(old) == 1 and len(new) == 1:
                # In place: the notification, and its OK or ALARM state, stay as they are.
                budgets.update_subscriber(
                    **where,
                    Notification=specs[key],
                    OldSubscriber=email(old[0]),
                    NewSubscriber=email(new[0]),
                )
            else:
                budgets.delete_notification(**where, Notification=specs[key])
                create(key)

    def delete(self, ctx: Context, actual: dict) -> None:
        # Deleting a budget deletes its notifications and subscribers with it.
        ctx.aws.client("budgets").delete_budget(
            AccountId=ctx.aws.account_id, BudgetName=actual["name"]
        )


def resources() -> list[Resource]:
    return [MonthlyBudget()]


def deploy_permissions(ctx: Context) -> list[dict]:
    """The cost guard's budget, only while monthly_budget_usd is set.

    Budgets authorizes its calls by two actions: budgets:ViewBudget (Describe*) and
    budgets:ModifyBudget (Create/Update/Delete of budgets, notifications, subscribers);
    CreateBudget with ResourceTags also needs budgets:TagResource. Emptying the option
    deletes the budget with these rights: apply that change before running bootstrap-ci
    again (the budget resource then takes "not allowed to look" for "no budget").
    """
    if ctx.settings.monthly_budget_usd is None:
        return []
    budget = f"arn:{ctx.aws.partition}:budgets::{ctx.aws.account_id}:budget/"
    return [
        allow(
            [
                "budgets:ListTagsForResource",
                "budgets:ModifyBudget",
                "budgets:TagResource",
                "budgets:ViewBudget",
            ],
            budget + ctx.settings.name("monthly"),
        )
    ]
