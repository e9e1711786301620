"""Plans read and never write; a changed setting plans as one in-place update and converges."""

from __future__ import annotations


def test_plan_of_a_new_stack_lists_every_create_and_changes_nothing(moto, infra, calls):
    result = infra("plan")
    assert result.code == 2, result.err
    assert "+ aws_vpc.main" in result.out
    assert "+ aws_db_instance.main" in result.out
    assert "+ aws_autoscaling_group.app" in result.out
    assert "to add, 0 to change, 0 to destroy." in result.plan_summary
    assert result.out.splitlines()[-1].startswith("Estimated cost of this stack: ")
    assert calls.all and calls.mutating == []


def changed_plan(infra, calls, expected_line: str) -> str:
    calls.clear()
    result = infra("plan")
    assert result.code == 2, result.out + result.err
    assert result.plan_summary == "Plan: 0 to add, 1 to change, 0 to destroy."
    assert expected_line in result.out
    assert calls.mutating == []
    return result.out


def converges(infra) -> None:
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in result.out
    again = infra("plan")
    assert again.code == 0, again.out
    assert "No changes." in again.out


def test_changed_instance_type_is_one_update_then_an_instance_refresh(
    deployed, project, infra, calls, aws_client, instance_refreshes
):
    old = project.settings.app_instance_type
    new = "t3.small" if old != "t3.small" else "t3.medium"
    project.set("app_instance_type", f'"{new}"')
    out = changed_plan(infra, calls, f'~ instance_type = "{old}" -> "{new}"')
    assert "~ aws_launch_template.app" in out
    converges(infra)
    assert len(instance_refreshes) == 1
    refresh = instance_refreshes[0]
    assert refresh["AutoScalingGroupName"] == project.settings.name("asg")
    # Never below the healthy count: new instances come up before old ones go.
    assert refresh["Preferences"]["MinHealthyPercentage"] == 100
    assert refresh["Preferences"]["MaxHealthyPercentage"] == 200
    templates = aws_client("ec2").describe_launch_templates(
        LaunchTemplateNames=[project.settings.name("lt")]
    )["LaunchTemplates"]
    assert templates[0]["DefaultVersionNumber"] == 2


def test_changed_group_size_is_one_update(deployed, project, infra, calls, aws_client):
    settings = project.settings
    project.set("app_max_size", str(settings.app_max_size + 1))
    changed_plan(
        infra, calls, f"~ max_size = {settings.app_max_size} -> {settings.app_max_size + 1}"
    )
    converges(infra)
    group = aws_client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[settings.name("asg")]
    )["AutoScalingGroups"][0]
    assert group["MaxSize"] == settings.app_max_size + 1


def test_changed_health_check_and_retention_converge_in_place(
    deployed, project, infra, calls, aws_client
):
    project.set("health_check_path", '"/ready"')
    project.set("log_retention_days", "14" if project.settings.log_retention_days != 14 else "7")
    project.set("db_backup_retention_days", "3")
    result = infra("plan")
    assert result.code == 2
    # The target group, the database, the three log groups (the app's and the two the
    # database exports to), and the launch template: the container is told the new path.
    assert result.plan_summary == "Plan: 0 to add, 6 to change, 0 to destroy."
    assert infra("apply", "--auto-approve").code == 0
    assert infra("plan").code == 0
    tg = aws_client("elbv2").describe_target_groups(Names=[project.settings.name("tg")])
    assert tg["TargetGroups"][0]["HealthCheckPath"] == "/ready"
    db = aws_client("rds").describe_db_instances(DBInstanceIdentifier=project.settings.name("db"))
    assert db["DBInstances"][0]["BackupRetentionPeriod"] == 3


def test_new_image_tag_rolls_out_and_stays_deployed(deployed, project, infra, instance_refreshes):
    result = infra("apply", "--auto-approve", "--image-tag", "v2")
    assert result.code == 0, result.err
    assert "instance refresh refresh-1 started" in result.out
    assert len(instance_refreshes) == 1
    # Without --image-tag, the tag running now is the one to keep.
    assert infra("plan").code == 0
    outputs = infra("outputs", "--json")
    assert '"image_tag": "v2"' in outputs.out


def test_vpc_cidr_change_is_refused_with_what_to_do(deployed, project, infra, calls):
    project.set("vpc_cidr", '"10.9.0.0/16"')
    project.set("public_subnet_cidrs", '["10.9.1.0/24", "10.9.4.0/24"]')
    project.set("private_subnet_cidrs", '["10.9.2.0/24", "10.9.3.0/24"]')
    calls.clear()
    result = infra("apply", "--auto-approve")
    assert result.code == 1
    assert "-/+ aws_vpc.main" in result.out
    assert "Error: aws_vpc.main: cidr_block cannot change in place." in result.out
    assert "destroy" in result.out
    # Refused before any change: only the lock was taken and given back.
    assert {operation for _service, operation in calls.mutating} <= {
        "PutParameter",
        "DeleteParameter",
    }
