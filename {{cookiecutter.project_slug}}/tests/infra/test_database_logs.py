"""The database's exported PostgreSQL logs go to log groups the stack owns.

RDS User Guide, "Publishing PostgreSQL logs to Amazon CloudWatch Logs": RDS exports to
`/aws/rds/instance/<identifier>/postgresql` (and `/upgrade`), creating the group on first
export with no expiry, and leaves it after the instance is deleted. The stack creates them
first, with its log_retention_days, and destroy deletes them.
"""

from __future__ import annotations


def rds_log_groups(aws_client, settings) -> dict[str, int | None]:
    prefix = f"/aws/rds/instance/{settings.name('db')}/"
    groups = aws_client("logs").describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]
    return {group["logGroupName"]: group.get("retentionInDays") for group in groups}


def test_exported_log_groups_keep_the_stacks_retention_and_go_with_destroy(
    deployed, project, infra, aws_client
):
    settings = project.settings
    prefix = f"/aws/rds/instance/{settings.name('db')}"
    assert rds_log_groups(aws_client, settings) == {
        f"{prefix}/postgresql": settings.log_retention_days,
        f"{prefix}/upgrade": settings.log_retention_days,
    }
    assert infra("destroy", "--auto-approve", "--skip-final-snapshot").code == 0
    assert rds_log_groups(aws_client, settings) == {}


def test_groups_rds_made_before_get_the_retention(
    moto, project, infra, aws_client, instance_refreshes
):
    """A stack deployed before this change: RDS made the group, without expiry."""
    settings = project.settings
    name = f"/aws/rds/instance/{settings.name('db')}/postgresql"
    aws_client("logs").create_log_group(logGroupName=name)
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert rds_log_groups(aws_client, settings)[name] == settings.log_retention_days
