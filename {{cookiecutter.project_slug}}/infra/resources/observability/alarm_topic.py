"""Where alarms go: an SNS topic of the stack, and the e-mail subscription when one is set.

The topic uses SNS's default encryption settings on purpose: CloudWatch cannot publish to
a topic encrypted with the AWS managed key (its key policy does not admit CloudWatch), and
a customer managed key costs money every month.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from infra import tags
from infra.aws import is_not_found
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.shared.addresses import ALARM_EMAIL, ALARM_TOPIC
from infra.resources.shared.permissions import allow, arn

PENDING = "PendingConfirmation"


class AlarmTopic(Resource):
    address = ALARM_TOPIC

    def read(self, ctx: Context) -> dict | None:
        sns, arn = ctx.aws.client("sns"), ctx.aws.arn("sns", ctx.settings.name("alarms"))
        try:
            listed = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
        except ClientError as error:
            if is_not_found(error):
                return None
            raise
        return {
            "id": arn,
            "arn": arn,
            "name": ctx.settings.name("alarms"),
            "tags": tags.ours(tags.from_list(listed), tags.stack_tags(ctx.settings)),
        }

    def desired(self, ctx: Context) -> dict | None:
        return {"name": ctx.settings.name("alarms"), "tags": tags.stack_tags(ctx.settings)}

    def create(self, ctx: Context, desired: dict) -> None:
        # CreateTopic is idempotent for the same name and tags, so a retry cannot duplicate it.
        ctx.aws.client("sns").create_topic(Name=desired["name"], Tags=tags.as_list(desired["tags"]))

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        ctx.aws.client("sns").tag_resource(
            ResourceArn=actual["arn"], Tags=tags.as_list(desired["tags"])
        )

    def delete(self, ctx: Context, actual: dict) -> None:
        ctx.aws.client("sns").delete_topic(TopicArn=actual["arn"])


class AlarmEmailSubscription(Resource):
    """The alarm e-mail. AWS sends a confirmation link; alarms reach the inbox once clicked."""

    address = ALARM_EMAIL
    depends_on = (ALARM_TOPIC,)

    def read(self, ctx: Context) -> dict | None:
        topic_arn = ctx.attr(ALARM_TOPIC, "arn")
        if topic_arn is UNKNOWN:
            return None
        sns = ctx.aws.client("sns")
        pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        email = [s for page in pages for s in page["Subscriptions"] if s["Protocol"] == "email"]
        wanted = [s for s in email if s["Endpoint"] == ctx.settings.alarm_email]
        # An unconfirmed subscription to an old address cannot be deleted; it lapses by itself.
        others = [s for s in email if s["SubscriptionArn"] != PENDING]
        subscription = next(iter(wanted or others), None)
        if subscription is None:
            return None
        return {
            "id": subscription["SubscriptionArn"],
            "endpoint": subscription["Endpoint"],
            "protocol": "email",
        }

    def desired(self, ctx: Context) -> dict | None:
        if not ctx.settings.alarm_email:
            return None
        return {"endpoint": ctx.settings.alarm_email, "protocol": "email"}

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.client("sns").subscribe(
            TopicArn=ctx.attr(ALARM_TOPIC, "arn"), Protocol="email", Endpoint=desired["endpoint"]
        )
        ctx.out(f"{self.address}: check {desired['endpoint']} for AWS's confirmation e-mail")

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        self.delete(ctx, actual)
        self.create(ctx, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        if actual["id"] == PENDING:
            # AWS cannot delete an unconfirmed subscription; it lapses by itself after 3 days.
            ctx.out(f"{self.address}: unconfirmed, so AWS lets it lapse by itself")
            return
        ctx.aws.client("sns").unsubscribe(SubscriptionArn=actual["id"])


def deploy_permissions(ctx: Context) -> list[dict]:
    topic = arn(ctx, "sns", ctx.settings.name("alarms"))
    return [
        allow(
            [
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:ListSubscriptionsByTopic",
                "sns:ListTagsForResource",
                "sns:Subscribe",
                "sns:TagResource",
                "sns:Unsubscribe",
            ],
            [topic, f"{topic}:*"],
        )
    ]
