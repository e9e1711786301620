"""Access logs under AWS's timing: a bucket policy not yet in effect, a log after emptying.

- Turning access logs on makes the load balancer test-write to the bucket; a policy put
  seconds before can still refuse it (InvalidConfigurationRequest "Access Denied for
  bucket"), so apply retries, and says what to do when it never works.
- The load balancer can deliver its last log after destroy emptied the bucket
  (BucketNotEmpty), so destroy empties it again, and says what to do when it never ends.
moto does neither, so the failures are injected. The tests' ctx.sleep is instant.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from infra import aws


def bucket_denied(bucket: str = "visit-counter-dev-alb-logs") -> ClientError:
    message = f"Access Denied for bucket: {bucket}. Please check S3bucket permission"
    return ClientError(
        {"Error": {"Code": "InvalidConfigurationRequest", "Message": message}},
        "ModifyLoadBalancerAttributes",
    )


def bucket_not_empty() -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "BucketNotEmpty",
                "Message": "The bucket you tried to delete is not empty",
            }
        },
        "DeleteBucket",
    )


def one_error_line(result) -> str:
    assert "Traceback" not in result.err, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    return lines[0]


@pytest.fixture
def logs_on(moto, instance_refreshes, project):
    project.set("alb_access_logs", "true")
    return project


def access_log_attributes(aws_client, project) -> dict:
    elbv2 = aws_client("elbv2")
    arn = elbv2.describe_load_balancers(Names=[project.settings.name("alb")])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    found = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    return {a["Key"]: a["Value"] for a in found if a["Key"].startswith("access_logs.")}


def test_apply_retries_until_the_bucket_policy_takes_effect(
    logs_on, infra, inject_failure, aws_client
):
    seen = inject_failure("ModifyLoadBalancerAttributes", bucket_denied(), times=2)
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert seen["count"] == 2
    assert access_log_attributes(aws_client, logs_on)["access_logs.s3.enabled"] == "true"
    assert infra("plan").plan_summary.startswith("No changes.")


def test_apply_gives_up_on_a_bucket_that_stays_denied_in_one_line(logs_on, infra, inject_failure):
    seen = inject_failure("ModifyLoadBalancerAttributes", bucket_denied(), times=100)
    result = infra("apply", "--auto-approve")
    assert result.code == 1
    line = one_error_line(result)
    assert line.startswith("Error: aws_lb.main: the load balancer still may not write its access")
    assert "InvalidConfigurationRequest: Access Denied for bucket" in line
    assert "set alb_access_logs = false in stack.toml" in line
    assert seen["count"] == 8  # about two minutes of AWS time


def test_another_invalid_configuration_is_not_retried(logs_on, infra, inject_failure):
    other = ClientError(
        {"Error": {"Code": "InvalidConfigurationRequest", "Message": "Bucket in another Region"}},
        "ModifyLoadBalancerAttributes",
    )
    seen = inject_failure("ModifyLoadBalancerAttributes", other, times=100)
    assert infra("apply", "--auto-approve").code == 1
    assert seen["count"] == 1


def test_destroy_empties_the_bucket_again_when_a_last_log_arrives(logs_on, infra, aws_client):
    assert infra("apply", "--auto-approve").code == 0
    s3, bucket = aws_client("s3"), logs_on.settings.name("alb-logs")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(bucket))
    # moto takes its in-process requests for plain HTTP, which the policy denies.
    s3.delete_bucket_policy(Bucket=bucket)
    late_logs = []

    def deliver_a_last_log(service: str, operation: str, params: dict) -> None:
        # ELB writes its last file after the bucket was emptied: S3 (moto) then refuses.
        if operation == "DeleteBucket" and not late_logs:
            key = "alb/AWSLogs/123456789012/elasticloadbalancing/last.log.gz"
            s3.put_object(Bucket=params["Bucket"], Key=key, Body=b"late")
            late_logs.append(key)

    aws.call_observers.append(deliver_a_last_log)
    try:
        result = infra("destroy", "--auto-approve")
    finally:
        aws.call_observers.remove(deliver_a_last_log)
    assert result.code == 0, result.err
    assert late_logs
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_destroy_retries_an_injected_bucket_not_empty(logs_on, infra, inject_failure, aws_client):
    assert infra("apply", "--auto-approve").code == 0
    seen = inject_failure("DeleteBucket", bucket_not_empty(), times=2)
    result = infra("destroy", "--auto-approve")
    assert result.code == 0, result.err
    assert seen["count"] == 2
    assert aws_client("s3").list_buckets()["Buckets"] == []


def test_destroy_gives_up_on_a_bucket_that_keeps_filling_in_one_line(
    logs_on, infra, inject_failure
):
    assert infra("apply", "--auto-approve").code == 0
    inject_failure("DeleteBucket", bucket_not_empty(), times=100)
    result = infra("destroy", "--auto-approve")
    assert result.code == 1
    line = one_error_line(result)
    assert line.startswith("Error: aws_s3_bucket.alb_logs: S3 still refuses to delete bucket ")
    assert "(BucketNotEmpty: The bucket you tried to delete is not empty)" in line
    assert line.endswith("then run `python -m infra destroy` again.")
