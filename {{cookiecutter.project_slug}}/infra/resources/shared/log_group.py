"""The stack's CloudWatch log groups: the app's (one stream per instance, written through
Docker), with `vpc_flow_logs` the VPC's flow logs, and the database's exported logs."""

from __future__ import annotations

from collections.abc import Callable

from infra import tags
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import APP_LOG_GROUP
from infra.resources.shared.names import log_group_name
from infra.resources.shared.permissions import allow, arn, reads
from infra.validation import StackSettings


class LogGroup(Resource):
    """A log group `/<project>/<stack>/<purpose>` (or the one `name` gives), kept as long as
    log_retention_days says."""

    def __init__(
        self,
        address: str = APP_LOG_GROUP,
        purpose: str = "app",
        wanted: Callable[[StackSettings], bool] = lambda _settings: True,
        name: Callable[[Context], str] | None = None,
    ):
        self.address = address
        self.wanted = wanted
        self.name = name or (lambda ctx: log_group_name(ctx, purpose))

    def read(self, ctx: Context) -> dict | None:
        logs, name = ctx.aws.client("logs"), self.name(ctx)
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == name), None)
        if group is None:
            return None
        arn = group["arn"].removesuffix(":*")
        listed = logs.list_tags_for_resource(resourceArn=arn)["tags"]
        return {
            "id": name,
            "name": name,
            "arn": arn,
            "retention_days": group.get("retentionInDays"),
            "tags": tags.ours(listed, tags.stack_tags(ctx.settings)),
        }

    def desired(self, ctx: Context) -> dict | None:
        if not self.wanted(ctx.settings):
            return None
        return {
            "name": self.name(ctx),
            "retention_days": ctx.settings.log_retention_days,
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        logs = ctx.aws.client("logs")
        logs.create_log_group(logGroupName=desired["name"], tags=desired["tags"])
        logs.put_retention_policy(
            logGroupName=desired["name"], retentionInDays=desired["retention_days"]
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        logs = ctx.aws.client("logs")
        if actual["retention_days"] != desired["retention_days"]:
            logs.put_retention_policy(
                logGroupName=actual["name"], retentionInDays=desired["retention_days"]
            )
        if actual["tags"] != desired["tags"]:
            logs.tag_resource(resourceArn=actual["arn"], tags=desired["tags"])

    def delete(self, ctx: Context, actual: dict) -> None:
        ctx.aws.client("logs").delete_log_group(logGroupName=actual["name"])


def manage_log_groups(ctx: Context, names: str) -> dict:
    """What the deploy role may do to the log groups named like `names` (a `*` pattern)."""
    return allow(
        [
            "logs:CreateLogGroup",
            "logs:DeleteLogGroup",
            "logs:ListTagsForResource",
            "logs:PutRetentionPolicy",
            "logs:TagResource",
        ],
        arn(ctx, "logs", f"log-group:{names}"),
    )


def deploy_permissions(ctx: Context) -> list[dict]:
    """The stack's log groups, all named /<project>/<stack>/..."""
    return [reads("logs:DescribeLogGroups"), manage_log_groups(ctx, log_group_name(ctx, "*"))]
