"""Destroy removes every resource of the stack, keeps a final snapshot, and can run twice."""

from __future__ import annotations

import builtins

pytest_plugins = ["infra_fixtures"]


def stack_tag_filters(settings) -> list[dict]:
    return [
        {"Key": "Project", "Values": [settings.project_slug]},
        {"Key": "Stack", "Values": [settings.stack_name]},
    ]


def remaining(aws_client, settings) -> list[str]:
    """Everything still tagged with the stack, by the tagging API and by each service."""
    ec2 = aws_client("ec2")
    left = [
        m["ResourceARN"]
        for m in aws_client("resourcegroupstaggingapi").get_resources(
            TagFilters=stack_tag_filters(settings)
        )["ResourceTagMappingList"]
    ]
    # Terminated instances stay listed for a while (about an hour in real AWS); they are gone.
    terminated = {
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}]
        )["Reservations"]
        for i in r["Instances"]
    }
    left = [arn for arn in left if arn.split("/")[-1] not in terminated]
    # So do deleted NAT gateways.
    deleted = {
        g["NatGatewayId"]
        for g in ec2.describe_nat_gateways(Filter=[{"Name": "state", "Values": ["deleted"]}])[
            "NatGateways"
        ]
    }
    left = [arn for arn in left if arn.split("/")[-1] not in deleted]
    filters = [
        {"Name": "tag:Project", "Values": [settings.project_slug]},
        {"Name": "tag:Stack", "Values": [settings.stack_name]},
    ]
    left += [v["VpcId"] for v in ec2.describe_vpcs(Filters=filters)["Vpcs"]]
    left += [s["SubnetId"] for s in ec2.describe_subnets(Filters=filters)["Subnets"]]
    left += [g["GroupId"] for g in ec2.describe_security_groups(Filters=filters)["SecurityGroups"]]
    left += [
        g["InternetGatewayId"]
        for g in ec2.describe_internet_gateways(Filters=filters)["InternetGateways"]
    ]
    left += [
        t["LaunchTemplateId"]
        for t in ec2.describe_launch_templates(Filters=filters)["LaunchTemplates"]
    ]
    left += [a["AllocationId"] for a in ec2.describe_addresses(Filters=filters)["Addresses"]]
    left += [
        g["NatGatewayId"]
        for g in ec2.describe_nat_gateways(
            Filter=[{"Name": "state", "Values": ["pending", "available", "deleting"]}]
        )["NatGateways"]
    ]
    left += [
        r["Instances"][0]["InstanceId"]
        for r in ec2.describe_instances(
            Filters=filters
            + [
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                }
            ]
        )["Reservations"]
    ]
    left += [
        lb["LoadBalancerArn"]
        for lb in aws_client("elbv2").describe_load_balancers()["LoadBalancers"]
    ]
    left += [
        tg["TargetGroupArn"] for tg in aws_client("elbv2").describe_target_groups()["TargetGroups"]
    ]
    left += [
        g["AutoScalingGroupName"]
        for g in aws_client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    ]
    rds = aws_client("rds")
    left += [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    left += [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]]
    left += [
        g["DBParameterGroupName"]
        for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
        if g["DBParameterGroupName"].startswith(settings.name(""))
    ]
    left += [r["repositoryName"] for r in aws_client("ecr").describe_repositories()["repositories"]]
    left += [
        r["RoleName"]
        for r in aws_client("iam").list_roles()["Roles"]
        if r["RoleName"].startswith(settings.name(""))
    ]
    left += [
        p["InstanceProfileName"]
        for p in aws_client("iam").list_instance_profiles()["InstanceProfiles"]
    ]
    left += [g["logGroupName"] for g in aws_client("logs").describe_log_groups()["logGroups"]]
    left += [
        p["Name"]
        for p in aws_client("ssm").describe_parameters()["Parameters"]
        if p["Name"].startswith("/three-tier-flask/")
    ]
    left += [s["ARN"] for s in aws_client("secretsmanager").list_secrets()["SecretList"]]
    return left


def test_destroy_leaves_only_the_final_snapshot(deployed, project, infra, aws_client):
    settings = project.settings
    result = infra("destroy", "--auto-approve")
    assert result.code == 0, result.err
    assert "Destroy complete!" in result.out
    left = [item for item in remaining(aws_client, settings) if ":snapshot:" not in item]
    assert left == [], "\n".join(left)
    snapshots = aws_client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert [
        s["DBSnapshotIdentifier"].startswith(settings.name("db-final-")) for s in snapshots
    ] == [True]


def test_destroy_again_is_harmless(deployed, infra, calls):
    assert infra("destroy", "--auto-approve").code == 0
    calls.clear()
    again = infra("destroy", "--auto-approve")
    assert again.code == 0
    assert "Nothing to destroy" in again.out
    assert calls.mutating == []


def test_destroy_asks_first(deployed, project, infra, monkeypatch, aws_client):
    monkeypatch.setattr(builtins, "input", lambda _prompt="": "no")
    result = infra("destroy")
    assert result.code == 1
    assert "Destroy cancelled." in result.err
    assert "- aws_db_instance.main" in result.out
    assert aws_client("rds").describe_db_instances()["DBInstances"]


def test_apply_asks_first(moto, infra, monkeypatch, calls):
    monkeypatch.setattr(builtins, "input", lambda _prompt="": "yes please")
    result = infra("apply")
    assert result.code == 1
    assert "Apply cancelled." in result.err
    assert {op for _s, op in calls.mutating} == {"PutParameter", "DeleteParameter"}  # the lock


def test_skip_final_snapshot(deployed, infra, aws_client):
    assert infra("destroy", "--auto-approve", "--skip-final-snapshot").code == 0
    assert aws_client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []
