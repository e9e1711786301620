"""The stack exactly as this project was generated: its own stack.toml, every option it
chose, applied to moto, planned clean, and destroyed down to nothing.

moto stands in for the parts of the user's account the stack expects to exist: the Route 53
zone named by hosted_zone_id (created here with that id), and the DNS validation that
turns an ACM certificate ISSUED (moto issues it at once here).
"""

from __future__ import annotations

import json
import re

import pytest
from helpers import PROJECT_ROOT, create_hosted_zone, remaining

from infra import stack_file


@pytest.fixture
def generated(project):
    """The test's stack.toml is the project's own, options included."""
    project.path.write_text((PROJECT_ROOT / "stack.toml").read_text(encoding="utf-8"))
    return stack_file.load(project.path)


def test_the_generated_stack_applies_plans_clean_and_destroys_to_nothing(
    moto, instance_refreshes, budgets_api, acm_validates, generated, project, infra, aws_client
):
    if generated.hosted_zone_id:
        parent = generated.domain_name.split(".", 1)[1]
        create_hosted_zone(parent, generated.hosted_zone_id)

    applied = infra("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert infra("plan").code == 0
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    # The guide shows the counts this stack really gets.
    assert applied.plan_summary in readme
    assert re.search(r"Apply complete! Resources: \d+ added", applied.out)[0] in readme
    outputs = json.loads(infra("outputs", "--json").out)
    scheme = "https" if generated.https else "http"
    assert outputs["app_url"].startswith(f"{scheme}://")
    if generated.https:
        assert outputs["app_url"] == f"https://{generated.domain_name}"

    if generated.db_deletion_protection:
        assert infra("destroy", "--auto-approve").code == 1  # refused, as documented
        project.set("db_deletion_protection", "false")
        assert infra("apply", "--auto-approve").code == 0
    destroyed = infra("destroy", "--auto-approve", "--skip-final-snapshot")
    assert destroyed.code == 0, destroyed.err
    assert re.search(r"Destroy complete! Resources: \d+ destroyed", destroyed.out)[0] in readme
    assert remaining(aws_client, generated) == []
    account = aws_client("sts").get_caller_identity()["Account"]
    assert aws_client("budgets").describe_budgets(AccountId=account).get("Budgets", []) == []
    if generated.hosted_zone_id:
        records = aws_client("route53").list_resource_record_sets(
            HostedZoneId=generated.hosted_zone_id
        )["ResourceRecordSets"]
        assert sorted(record["Type"] for record in records) == ["NS", "SOA"]
