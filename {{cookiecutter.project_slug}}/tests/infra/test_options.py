"""The optional components: off by default, each planned, applied and destroyed like the rest.

moto accepts things real AWS refuses or reports less than AWS does; where that matters the
test says so: S3 bucket name length (checked by our code), Performance Insights (moto does
not report it, so the test checks what the tool asks AWS for).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from helpers import stack_db

from infra.aws import DeployError
from infra.resources.edge import access_logs
from infra.resources.network import flow_logs
from infra.resources.shared import addresses, names
from infra.validation import OPTIONS, StackSettings, validate


def lb_attributes(aws_client, settings) -> dict:
    elbv2 = aws_client("elbv2")
    arn = elbv2.describe_load_balancers(Names=[settings.name("alb")])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    listed = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    return {a["Key"]: a["Value"] for a in listed}


def flow_log_list(aws_client) -> list[dict]:
    return aws_client("ec2").describe_flow_logs()["FlowLogs"]


def bucket_names(aws_client) -> list[str]:
    return [b["Name"] for b in aws_client("s3").list_buckets()["Buckets"]]


def role_names(aws_client) -> list[str]:
    return [r["RoleName"] for r in aws_client("iam").list_roles()["Roles"]]


def log_group_names(aws_client) -> list[str]:
    return [g["logGroupName"] for g in aws_client("logs").describe_log_groups()["logGroups"]]


def tagged(aws_client, settings) -> list[str]:
    found = aws_client("resourcegroupstaggingapi").get_resources(
        TagFilters=[
            {"Key": "Project", "Values": [settings.project_slug]},
            {"Key": "Stack", "Values": [settings.stack_name]},
        ]
    )["ResourceTagMappingList"]
    # Terminated instances stay listed for a while (about an hour in real AWS); they are gone.
    terminated = {
        i["InstanceId"]
        for r in aws_client("ec2").describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}]
        )["Reservations"]
        for i in r["Instances"]
    }
    return [m["ResourceARN"] for m in found if m["ResourceARN"].split("/")[-1] not in terminated]


def test_defaults_leave_every_option_off(deployed, aws_client, project):
    settings = project.settings
    instance = stack_db(aws_client, settings)
    assert instance["MultiAZ"] is False
    assert instance["DeletionProtection"] is False
    assert flow_log_list(aws_client) == []
    assert not [name for name in bucket_names(aws_client) if "alb-logs" in name]
    assert settings.name("flow-logs-role") not in role_names(aws_client)
    assert names.log_group_name(
        SimpleNamespace(settings=settings), names.FLOW_LOGS_PURPOSE
    ) not in log_group_names(aws_client)
    assert lb_attributes(aws_client, settings)["access_logs.s3.enabled"] == "false"


@pytest.mark.exhaustive
def test_every_option_is_applied_refused_by_destroy_removed_and_destroyed(
    moto, instance_refreshes, infra, project, aws_client, requests
):
    for option in OPTIONS:
        project.set(option, "true")
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    settings = project.settings
    account = aws_client("sts").get_caller_identity()["Account"]

    instance = stack_db(aws_client, settings)
    assert instance["MultiAZ"] is True
    assert instance["DeletionProtection"] is True
    # moto does not report PerformanceInsightsEnabled: check what the tool asked AWS for.
    (create,) = [params for op, params in requests if op == "CreateDBInstance"]
    assert create["EnablePerformanceInsights"] is True
    assert create["PerformanceInsightsRetentionPeriod"] == 7  # the free tier

    (flow_log,) = flow_log_list(aws_client)
    vpc_id = aws_client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:Project", "Values": [settings.project_slug]}]
    )["Vpcs"][0]["VpcId"]
    group = f"/{settings.project_slug}/{settings.stack_name}/vpc-flow-logs"
    role_name = settings.name("flow-logs-role")
    assert flow_log["ResourceId"] == vpc_id
    assert flow_log["TrafficType"] == "ALL"
    assert flow_log["LogGroupName"] == group
    assert flow_log["DeliverLogsPermissionArn"].endswith(f":role/{role_name}")
    assert {t["Key"]: t["Value"] for t in flow_log["Tags"]}["ManagedBy"] == "three-tier-flask"
    (log_group,) = aws_client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert log_group["retentionInDays"] == settings.log_retention_days
    iam = aws_client("iam")
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    policy = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    (grant,) = policy["Statement"]
    assert sorted(grant["Action"]) == sorted(flow_logs.DELIVERY_ACTIONS)
    assert all(group in resource for resource in grant["Resource"])

    bucket = f"{settings.name('alb-logs')}-{account}"
    s3 = aws_client("s3")
    assert bucket in bucket_names(aws_client)
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    bucket_policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    delivery = bucket_policy["Statement"][0]
    elb_account = access_logs.ELB_ACCOUNT_IDS[settings.aws_region]
    assert delivery["Principal"] == {"AWS": f"arn:aws:iam::{elb_account}:root"}
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Resource"] == f"arn:aws:s3:::{bucket}/alb/AWSLogs/{account}/*"
    attributes = lb_attributes(aws_client, settings)
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == bucket
    assert attributes["access_logs.s3.prefix"] == "alb"
    assert infra("plan").code == 0

    # Deletion protection: destroy refuses in one line, before anything is deleted.
    requests.clear()
    refused = infra("destroy", "--auto-approve", "--skip-final-snapshot")
    assert refused.code == 1
    errors = [line for line in refused.err.splitlines() if line.strip()]
    assert len(errors) == 1 and "db_deletion_protection = false" in errors[0], refused.err
    assert "Traceback" not in refused.err
    deleting = [op for op, _ in requests if op.startswith(("Delete", "Terminate", "Deregister"))]
    assert [op for op in deleting if op != "DeleteParameter"] == []  # DeleteParameter: the lock
    assert stack_db(aws_client, settings)["DBInstanceStatus"] == "available"
    assert bucket in bucket_names(aws_client)

    # Logs already in the bucket, in several versions, do not stop its removal.
    # moto takes its in-process requests for plain HTTP, which the policy denies.
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=bucket, Key=f"alb/AWSLogs/{account}/log.gz", Body=body)

    for option in OPTIONS:
        project.set(option, "false")
    plan = infra("plan")
    assert plan.code == 2
    for address in (
        addresses.ACCESS_LOG_BUCKET,
        addresses.FLOW_LOG,
        addresses.FLOW_LOGS_ROLE,
        addresses.FLOW_LOG_GROUP,
    ):
        assert address in plan.out
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    instance = stack_db(aws_client, settings)
    assert (instance["MultiAZ"], instance["DeletionProtection"]) == (False, False)
    assert flow_log_list(aws_client) == []
    assert role_name not in role_names(aws_client)
    assert group not in log_group_names(aws_client)
    assert bucket not in bucket_names(aws_client)
    assert lb_attributes(aws_client, settings)["access_logs.s3.enabled"] == "false"
    assert infra("plan").code == 0

    # On again, then destroy with the protection off: nothing tagged is left.
    for option in ("vpc_flow_logs", "alb_access_logs"):
        project.set(option, "true")
    assert infra("apply", "--auto-approve").code == 0
    result = infra("destroy", "--auto-approve", "--skip-final-snapshot")
    assert result.code == 0, result.err
    assert tagged(aws_client, settings) == []
    assert bucket not in bucket_names(aws_client)
    assert flow_log_list(aws_client) == []
    assert role_name not in role_names(aws_client)


def settings_for(**changes) -> StackSettings:
    base = {
        "project_slug": "visit-counter",
        "stack_name": "dev",
        "aws_region": "ap-south-1",
        "availability_zones": "",
        "vpc_cidr": "10.0.0.0/16",
        "public_subnet_cidrs": "10.0.1.0/24,10.0.4.0/24",
        "private_subnet_cidrs": "10.0.2.0/24,10.0.3.0/24",
        "app_port": "5000",
        "app_instance_type": "t3.micro",
        "app_min_size": "1",
        "app_desired_capacity": "1",
        "app_max_size": "2",
        "db_instance_class": "db.t3.micro",
        "db_allocated_storage_gb": "20",
        "db_engine_version": "16",
        "db_name": "visits",
        "db_admin_username": "visits_admin",
        "db_backup_retention_days": "7",
        "health_check_path": "/health",
        "health_check_interval_seconds": "30",
        "health_check_timeout_seconds": "5",
        "health_check_healthy_threshold": "2",
        "health_check_unhealthy_threshold": "2",
        "health_check_success_codes": "200",
        "log_retention_days": "30",
        "alarm_email": "",
    }
    settings, problems = validate({**base, **changes})
    assert settings is not None, problems
    return settings


@pytest.mark.parametrize(("given", "expected"), [("yes", True), ("No", False), (True, True)])
def test_options_accept_yes_no_true_false(given, expected):
    settings = settings_for(**dict.fromkeys(OPTIONS, given))
    assert all(getattr(settings, option) is expected for option in OPTIONS)


def test_options_default_to_off_when_stack_toml_omits_them():
    assert not any(getattr(settings_for(), option) for option in OPTIONS)


def test_an_option_must_be_a_yes_or_no(project, infra):
    project.set("vpc_flow_logs", '"maybe"')
    result = infra("validate")
    assert result.code == 1
    assert "vpc_flow_logs = 'maybe': must be yes, no, true or false" in result.err


def test_the_bucket_name_limit_is_ours_because_moto_has_none():
    settings = StackSettings(**{**settings_for().__dict__, "project_slug": "x" * 50})
    ctx = SimpleNamespace(settings=settings, aws=SimpleNamespace(account_id="123456789012"))
    with pytest.raises(DeployError, match="S3 allows 63"):
        names.access_log_bucket_name(ctx)
    _, problems = validate({**settings_for().__dict__, "project_slug": "a" * 40, "stack_name": "d"})
    assert any("S3 bucket" in str(p) or "load balancer" in str(p) for p in problems)


def test_log_delivery_principal_by_region():
    assert access_logs.log_delivery_principal("ap-south-1") == {
        "AWS": "arn:aws:iam::718504428378:root"
    }
    assert access_logs.log_delivery_principal("ap-south-2") == {
        "Service": "logdelivery.elasticloadbalancing.amazonaws.com"
    }
    with pytest.raises(DeployError, match="alb_access_logs = false"):
        access_logs.log_delivery_principal("xx-nowhere-9")
