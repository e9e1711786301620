"""Nothing of the stack grows without bound: the ECR repository expires old images, and the
access log bucket (option `alb_access_logs`) deletes logs after `log_retention_days`.

Both are attributes of their resource like any other: read back, planned as an in-place
update, put back when removed by hand. moto stores lifecycle policies but checks less than
AWS does and never runs them; the tests below check what AWS documents and moto does not.
"""

from __future__ import annotations

import json
import re

import pytest
from iam_requests import RequestMapper

from infra.resources.app import registry
from infra.resources.edge import access_logs
from infra.resources.shared import addresses


@pytest.fixture
def logged(moto, instance_refreshes, project, infra):
    """The stack applied with `alb_access_logs` on."""
    project.set("alb_access_logs", "true")
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    return result


def repository_policy(aws_client, settings) -> dict:
    text = aws_client("ecr").get_lifecycle_policy(repositoryName=settings.name("app"))[
        "lifecyclePolicyText"
    ]
    return json.loads(text)


def bucket_name(aws_client, settings) -> str:
    account = aws_client("sts").get_caller_identity()["Account"]
    return f"{settings.name('alb-logs')}-{account}"


def bucket_rules(aws_client, settings) -> list[dict]:
    bucket = bucket_name(aws_client, settings)
    return aws_client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]


def updated_addresses(plan_out: str) -> set[str]:
    return set(re.findall(r"# (\S+) will be updated in-place", plan_out))


def test_apply_sets_both_lifecycles_and_the_next_plan_is_clean(logged, project, infra, aws_client):
    """Amazon ECR User Guide, "Lifecycle policy properties": rules apply lowest
    `rulePriority` first; `sinceImagePushed` counts `countUnit` days since the push,
    `imageCountMoreThan` keeps the newest `countNumber` images. Amazon S3 User Guide,
    "Lifecycle configuration elements": `Expiration` `Days` after an object's creation."""
    settings = project.settings
    policy = repository_policy(aws_client, settings)
    assert policy == registry.lifecycle_policy()
    untagged, tagged = sorted(policy["rules"], key=lambda rule: rule["rulePriority"])
    assert untagged["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 1,
    }
    assert tagged["selection"] == {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "imageCountMoreThan",
        "countNumber": registry.KEEP_TAGGED_IMAGES,
    }
    assert {rule["action"]["type"] for rule in policy["rules"]} == {"expire"}

    (rule,) = bucket_rules(aws_client, settings)
    assert rule["Status"] == "Enabled"
    assert rule.get("Filter", {}).get("Prefix", "") == ""  # the whole bucket
    assert rule["Expiration"] == {"Days": settings.log_retention_days}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}

    again = infra("plan")
    assert again.code == 0, again.out
    assert "No changes." in again.out


def test_changed_log_retention_updates_the_bucket_and_the_log_groups_in_place(
    logged, project, infra, calls, aws_client
):
    """The bucket keeps logs as long as the log groups do: one setting, `log_retention_days`,
    changes both in place (PutBucketLifecycleConfiguration replaces the whole configuration,
    Amazon S3 API Reference)."""
    old = project.settings.log_retention_days
    new = 14 if old != 14 else 7
    project.set("log_retention_days", str(new))
    calls.clear()
    plan = infra("plan")
    assert plan.code == 2, plan.out + plan.err
    assert calls.mutating == []
    changed = updated_addresses(plan.out)
    assert {addresses.ACCESS_LOG_BUCKET, addresses.APP_LOG_GROUP} <= changed
    # Only the bucket and the log groups (the database's too, where the stack has them).
    assert all(
        a == addresses.ACCESS_LOG_BUCKET or a.startswith("aws_cloudwatch_log_group.")
        for a in changed
    ), changed
    assert plan.plan_summary == f"Plan: 0 to add, {len(changed)} to change, 0 to destroy."
    bucket_block = plan.out.split(f"# {addresses.ACCESS_LOG_BUCKET} will be updated")[1]
    bucket_block = bucket_block.split("\n\n")[0]
    (change,) = [line for line in bucket_block.splitlines() if line.strip().startswith("~ ")][1:]
    assert change.strip().startswith("~ lifecycle = ")
    # Not an f-string: its doubled braces would be Jinja's when the template is baked.
    assert "Expiration = {Days = " + str(old) + "}" in change
    assert "Expiration = {Days = " + str(new) + "}" in change

    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert f"0 added, {len(changed)} changed, 0 destroyed." in result.out
    (rule,) = bucket_rules(aws_client, project.settings)
    assert rule["Expiration"] == {"Days": new}
    group = aws_client("logs").describe_log_groups(
        logGroupNamePrefix=f"/{project.settings.project_slug}/{project.settings.stack_name}/app"
    )["logGroups"][0]
    assert group["retentionInDays"] == new
    again = infra("plan")
    assert again.code == 0, again.out


def test_lifecycles_removed_by_hand_are_put_back_by_the_next_apply(
    logged, project, infra, aws_client
):
    """ECR's DeleteLifecyclePolicy and S3's DeleteBucketLifecycle leave the repository and
    the bucket without one (GetLifecyclePolicy: LifecyclePolicyNotFoundException;
    GetBucketLifecycleConfiguration: NoSuchLifecycleConfiguration); plan sees it."""
    settings = project.settings
    ecr, s3 = aws_client("ecr"), aws_client("s3")
    ecr.delete_lifecycle_policy(repositoryName=settings.name("app"))
    s3.delete_bucket_lifecycle(Bucket=bucket_name(aws_client, settings))

    plan = infra("plan")
    assert plan.code == 2, plan.out + plan.err
    assert updated_addresses(plan.out) == {addresses.REPOSITORY, addresses.ACCESS_LOG_BUCKET}
    assert "~ lifecycle_policy = null -> " in plan.out
    assert "~ lifecycle = null -> " in plan.out

    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert repository_policy(aws_client, settings) == registry.lifecycle_policy()
    (rule,) = bucket_rules(aws_client, settings)
    assert rule["Expiration"] == {"Days": settings.log_retention_days}
    assert infra("plan").code == 0


def test_a_repository_policy_changed_by_hand_is_put_back(deployed, project, infra, aws_client):
    """Compared as canonical JSON: key order and spacing are no change, a rule is."""
    ecr, name = aws_client("ecr"), project.settings.name("app")
    policy = registry.lifecycle_policy()
    reordered = json.dumps({"rules": [dict(reversed(r.items())) for r in policy["rules"]]})
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=reordered)
    assert infra("plan").code == 0

    policy["rules"][1]["selection"]["countNumber"] = 1000
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(policy))
    plan = infra("plan")
    assert plan.code == 2
    assert updated_addresses(plan.out) == {addresses.REPOSITORY}
    assert infra("apply", "--auto-approve").code == 0
    assert repository_policy(aws_client, project.settings) == registry.lifecycle_policy()


def test_the_repository_policy_keeps_the_rules_aws_checks_and_moto_does_not():
    """Amazon ECR User Guide, "Lifecycle policy properties": each `rulePriority` unique; a
    rule with `tagStatus` `any` has the highest; `tagged` needs `tagPatternList` or
    `tagPrefixList`, `untagged` has neither; at most four wildcards per pattern; `countUnit`
    (`days`) only with `sinceImagePushed`; `countNumber` at least 1. moto checks the names
    and enums only."""
    rules = registry.lifecycle_policy()["rules"]
    priorities = [rule["rulePriority"] for rule in rules]
    assert len(set(priorities)) == len(priorities)
    for rule in rules:
        selection = rule["selection"]
        patterns = selection.get("tagPatternList", []) + selection.get("tagPrefixList", [])
        if selection["tagStatus"] == "tagged":
            assert patterns
        else:
            assert not patterns
        if selection["tagStatus"] == "any":
            assert rule["rulePriority"] == max(priorities)
        assert all(pattern.count("*") <= 4 for pattern in patterns)
        if selection["countType"] == "sinceImagePushed":
            assert selection["countUnit"] == "days"
        else:
            assert "countUnit" not in selection
        assert selection["countNumber"] >= 1
        assert rule["action"] == {"type": "expire"}
    assert registry.KEEP_TAGGED_IMAGES >= 2  # the running image and one to roll back to


@pytest.mark.parametrize(
    "echoed",
    [
        {"ID": "renamed", "Filter": {}},
        {"ID": "expire-access-logs", "Filter": {"Prefix": ""}},
        {"Prefix": ""},
    ],
)
def test_bucket_rules_compare_whatever_filter_spelling_s3_echoes(echoed):
    """Amazon S3 User Guide, "Lifecycle configuration elements": an empty `Filter` or an
    empty `Prefix` selects every object; `ID` only names the rule."""
    (rule,) = access_logs.lifecycle_rules(30)
    body = {k: v for k, v in rule.items() if k not in ("ID", "Filter")}
    assert access_logs.normalized_rules([{**body, **echoed}]) == access_logs.normalized_rules(
        [rule]
    )
    other = {**body, **echoed, "Expiration": {"Days": 31}}
    assert access_logs.normalized_rules([other]) != access_logs.normalized_rules([rule])
    prefixed = {**body, "Filter": {"Prefix": "alb/"}}
    assert access_logs.normalized_rules([prefixed]) != access_logs.normalized_rules([rule])


def test_lifecycle_calls_map_to_their_iam_actions():
    """Service Authorization Reference, Amazon S3: PutBucketLifecycleConfiguration and
    GetBucketLifecycleConfiguration are authorized as s3:PutLifecycleConfiguration and
    s3:GetLifecycleConfiguration, on the bucket."""
    mapper = RequestMapper("eu-west-1", account="123456789012")
    for operation, action in (
        ("PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
        ("GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
    ):
        (request,) = mapper.requests("s3", operation, {"Bucket": "logs-bucket"})
        assert (request.action, request.resource) == (action, "arn:aws:s3:::logs-bucket")
