"""The app's CloudWatch log group; each instance writes its own stream through Docker."""

from __future__ import annotations

from infra import tags
from infra.engine import Context, Resource

LOG_GROUP = "aws_cloudwatch_log_group.app"


def log_group_name(ctx: Context) -> str:
    return f"/{ctx.settings.project_slug}/{ctx.settings.stack_name}/app"


class LogGroup(Resource):
    address = LOG_GROUP

    def read(self, ctx):
        logs, name = ctx.aws.client("logs"), log_group_name(ctx)
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

    def desired(self, ctx):
        return {
            "name": log_group_name(ctx),
            "retention_days": ctx.settings.log_retention_days,
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx, desired):
        logs = ctx.aws.client("logs")
        logs.create_log_group(logGroupName=desired["name"], tags=desired["tags"])
        logs.put_retention_policy(
            logGroupName=desired["name"], retentionInDays=desired["retention_days"]
        )

    def update(self, ctx, actual, desired, changes):
        logs = ctx.aws.client("logs")
        if actual["retention_days"] != desired["retention_days"]:
            logs.put_retention_policy(
                logGroupName=actual["name"], retentionInDays=desired["retention_days"]
            )
        if actual["tags"] != desired["tags"]:
            logs.tag_resource(resourceArn=actual["arn"], tags=desired["tags"])

    def delete(self, ctx, actual):
        ctx.aws.client("logs").delete_log_group(logGroupName=actual["name"])
