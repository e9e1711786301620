"""Every resource's address: how plans name it and how resources point at each other.

Addresses follow Terraform's `aws_<type>.<name>` (with `[index]` for one of several), so a
plan reads like Terraform's. They live here, not in the tier modules, so that a resource
can name what it depends on without importing another tier.
"""

from __future__ import annotations

# Network tier
VPC = "aws_vpc.main"
DEFAULT_SG = "aws_default_security_group.default"
IGW = "aws_internet_gateway.main"
PUBLIC_RT = "aws_route_table.public"
PRIVATE_RT = "aws_route_table.private"
FLOW_LOG_GROUP = "aws_cloudwatch_log_group.vpc_flow_logs"
FLOW_LOGS_ROLE = "aws_iam_role.flow_logs"
FLOW_LOG = "aws_flow_log.vpc"
DB_NETWORK_ACL = "aws_network_acl.private"
# Its NAT rules (numbers 300-399), which come and go with the NAT gateways.
NAT_ACL_RULES = "aws_network_acl_rule.private_nat"


def subnet_address(tier: str, index: int) -> str:
    return f"aws_subnet.{tier}[{index}]"


def eip_address(index: int) -> str:
    return f"aws_eip.nat[{index}]"


def gateway_address(index: int) -> str:
    return f"aws_nat_gateway.main[{index}]"


def zone_route_table_address(index: int) -> str:
    return f"aws_route_table.private_zone[{index}]"


def group_address(tier: str) -> str:
    return f"aws_security_group.{tier}"


def rules_address(tier: str) -> str:
    return f"aws_security_group_rules.{tier}"


# App tier
REPOSITORY = "aws_ecr_repository.app"
APP_LOG_GROUP = "aws_cloudwatch_log_group.app"
INSTANCE_ROLE = "aws_iam_role.app"
APP_POLICY = "aws_iam_role_policy.app"
SECRET_POLICY = "aws_iam_role_policy.db_secret"  # noqa: S105 - an address, not a secret
INSTANCE_PROFILE = "aws_iam_instance_profile.app"
LAUNCH_TEMPLATE = "aws_launch_template.app"
AUTOSCALING_GROUP = "aws_autoscaling_group.app"

# Database tier
SUBNET_GROUP = "aws_db_subnet_group.main"
PARAMETER_GROUP = "aws_db_parameter_group.main"
DB_INSTANCE = "aws_db_instance.main"


def db_log_group_address(log: str) -> str:
    return f"aws_cloudwatch_log_group.db_{log}"


# Edge tier
LOAD_BALANCER = "aws_lb.main"
TARGET_GROUP = "aws_lb_target_group.app"
LISTENER = "aws_lb_listener.http"
HTTPS_LISTENER = "aws_lb_listener.https"
ACCESS_LOG_BUCKET = "aws_s3_bucket.alb_logs"
CERTIFICATE = "aws_acm_certificate.app"
VALIDATION_RECORDS = "aws_route53_record.cert_validation"
CERTIFICATE_VALIDATION = "aws_acm_certificate_validation.app"
ALIAS_RECORD = "aws_route53_record.app"

# Observability
ALARM_TOPIC = "aws_sns_topic.alarms"
ALARM_EMAIL = "aws_sns_topic_subscription.alarm_email"
DASHBOARD = "aws_cloudwatch_dashboard.main"
BUDGET = "aws_budgets_budget.monthly"
ALARM_ROLES = (
    "unhealthy-hosts",
    "no-healthy-host",
    "target-5xx",
    "p99-response-time",
    "db-cpu",
    "db-free-storage",
    "db-connections",
)


def alarm_address(role: str) -> str:
    return f"aws_cloudwatch_metric_alarm.{role.replace('-', '_')}"


ALARM_ADDRESSES = tuple(alarm_address(role) for role in ALARM_ROLES)

# CI: made by `bootstrap-ci`, not by apply
GITHUB_PROVIDER = "aws_iam_openid_connect_provider.github"
DEPLOY_ROLE = "aws_iam_role.deploy"
DEPLOY_POLICY = "aws_iam_policy.deploy"
BOUNDARY = "aws_iam_policy.boundary"
