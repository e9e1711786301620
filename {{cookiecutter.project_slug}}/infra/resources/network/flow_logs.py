"""VPC flow logs (option `vpc_flow_logs`): all traffic of the VPC, kept in CloudWatch Logs.

Three resources, none of which exists while the option is off (apply removes them when it
is turned off): the log group, the role the flow-logs service delivers with (allowed to
write to that log group only) and the flow log itself.
"""

from __future__ import annotations

from infra import tags
from infra.aws import DeployError
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import FLOW_LOG, FLOW_LOG_GROUP, FLOW_LOGS_ROLE, VPC
from infra.resources.shared.iam import Role, role_permissions
from infra.resources.shared.log_group import LogGroup
from infra.resources.shared.names import FLOW_LOGS_PURPOSE, flow_logs_role_name, log_group_name
from infra.resources.shared.permissions import allow, ec2_changes, ec2_creates, reads

SERVICE = "vpc-flow-logs.amazonaws.com"
DELIVERY_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]


def trust_policy(ctx: Context) -> dict:
    """Only the flow-logs service, and only on behalf of this account (confused deputy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": SERVICE},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ctx.aws.account_id}},
            }
        ],
    }


def delivery_policy(ctx: Context) -> dict:
    group = ctx.aws.arn("logs", f"log-group:{log_group_name(ctx, FLOW_LOGS_PURPOSE)}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteTheFlowLogGroup",
                "Effect": "Allow",
                "Action": DELIVERY_ACTIONS,
                "Resource": [group, f"{group}:log-stream:*"],
            }
        ],
    }


class FlowLog(Resource):
    address = FLOW_LOG
    depends_on = (VPC, FLOW_LOG_GROUP, FLOW_LOGS_ROLE)

    def read(self, ctx: Context) -> dict | None:
        found = ctx.aws.ec2.describe_flow_logs(Filters=tags.ec2_filters(ctx.settings))["FlowLogs"]
        if not found:
            return None
        flow_log = found[0]
        return {
            "id": flow_log["FlowLogId"],
            "vpc_id": flow_log["ResourceId"],
            "traffic_type": flow_log["TrafficType"],
            "destination_type": flow_log.get("LogDestinationType"),
            "log_group": flow_log.get("LogGroupName"),
            "role_arn": flow_log.get("DeliverLogsPermissionArn"),
            "tags": tags.ours(tags.from_list(flow_log.get("Tags")), tags.stack_tags(ctx.settings)),
            "_all_ids": [f["FlowLogId"] for f in found],
        }

    def desired(self, ctx: Context) -> dict | None:
        if not ctx.settings.vpc_flow_logs:
            return None
        return {
            "vpc_id": ctx.attr(VPC, "id"),
            "traffic_type": "ALL",
            "destination_type": "cloud-watch-logs",
            "log_group": log_group_name(ctx, FLOW_LOGS_PURPOSE),
            "role_arn": ctx.attr(FLOW_LOGS_ROLE, "arn"),
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        result = ctx.aws.ec2.create_flow_logs(
            ResourceIds=[desired["vpc_id"]],
            ResourceType="VPC",
            TrafficType=desired["traffic_type"],
            LogDestinationType=desired["destination_type"],
            LogGroupName=desired["log_group"],
            DeliverLogsPermissionArn=desired["role_arn"],
            TagSpecifications=tags.ec2_tag_specification("vpc-flow-log", desired["tags"]),
        )
        if result.get("Unsuccessful"):
            error = result["Unsuccessful"][0].get("Error", {})
            raise DeployError(
                f"{self.address}: AWS refused the flow log ({error.get('Code')}: "
                f"{error.get('Message')}); run apply again, or set vpc_flow_logs = false."
            )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        # A flow log cannot be modified: a new one replaces it (no traffic is lost for long).
        self.delete(ctx, actual)
        self.create(ctx, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        ctx.aws.ec2.delete_flow_logs(FlowLogIds=actual.get("_all_ids") or [actual["id"]])


def resources() -> list[Resource]:
    group = LogGroup(
        FLOW_LOG_GROUP, FLOW_LOGS_PURPOSE, wanted=lambda settings: settings.vpc_flow_logs
    )
    role = Role(
        FLOW_LOGS_ROLE,
        flow_logs_role_name,
        trust_policy,
        "VPC flow logs of the stack deliver to their log group",
        policy=delivery_policy,
        wanted=lambda ctx: ctx.settings.vpc_flow_logs,
        bounded=True,
    )
    return [group, role, FlowLog()]


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        reads("ec2:DescribeFlowLogs"),
        *ec2_creates(ctx, {"ec2:CreateFlowLogs": "vpc-flow-log"}, {"ec2:CreateFlowLogs": ["vpc"]}),
        ec2_changes(ctx, ["ec2:DeleteFlowLogs"]),
        *role_permissions(ctx, flow_logs_role_name(ctx)),
        allow(
            ["iam:PassRole"],
            ctx.aws.arn("iam", f"role/{flow_logs_role_name(ctx)}", region=False),
            {"StringEquals": {"iam:PassedToService": SERVICE}},
        ),
    ]
