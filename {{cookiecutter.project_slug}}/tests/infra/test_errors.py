"""Expected failures are one line with the fix, exit code 1, and no traceback."""

from __future__ import annotations

import botocore.parsers
import pytest
from botocore.exceptions import ClientError

from infra.aws import THROTTLING_CODES, is_throttling, translate
from infra.resources.app import releases


def one_line_error(result) -> str:
    assert result.code == 1
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.mark.parametrize("command", ["apply", "validate"])
def test_no_credentials(moto, infra, monkeypatch, command):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    result = infra(command)
    assert result.code == 1
    assert "No AWS credentials found: set AWS_PROFILE" in result.out + result.err
    assert "Traceback" not in result.err


def test_availability_zone_not_in_region(moto, project, infra):
    region, count = project.settings.aws_region, project.settings.az_count
    # One zone per subnet pair, the last of which the region does not have.
    zones = [f"{region}{letter}" for letter in "abcdefgh"[: count - 1]] + [f"{region}z"]
    project.set("availability_zones", str(zones).replace("'", '"'))
    line = one_line_error(infra("plan"))
    assert line.startswith(f"Error: Availability zone {region}z does not exist in {region}")
    assert "fix availability_zones in stack.toml" in line


def test_instance_type_not_offered(moto, project, infra):
    project.set("app_instance_type", '"t9.micro"')
    line = one_line_error(infra("apply", "--auto-approve"))
    assert line.startswith("Error: Instance type t9.micro is not offered in ")
    assert "pick another app_instance_type" in line


def test_unknown_region(moto, project, infra):
    project.set("aws_region", '"xx-nowhere-1"')
    project.set("availability_zones", "[]")
    result = infra("plan")
    assert result.code == 1
    assert "Traceback" not in result.err
    assert "aws_region = 'xx-nowhere-1': is not an AWS region" in result.err


def test_quota_exceeded(moto, infra, inject_failure):
    inject_failure(
        "CreateVpc",
        ClientError(
            {
                "Error": {
                    "Code": "VpcLimitExceeded",
                    "Message": "The maximum number of VPCs has been reached.",
                }
            },
            "CreateVpc",
        ),
    )
    line = one_line_error(infra("apply", "--auto-approve"))
    assert "AWS quota reached in CreateVpc (VpcLimitExceeded" in line
    assert "Service Quotas" in line


def test_access_denied(moto, infra, inject_failure):
    inject_failure(
        "CreateVpc",
        ClientError(
            {"Error": {"Code": "UnauthorizedOperation", "Message": "You are not authorized"}},
            "CreateVpc",
        ),
    )
    line = one_line_error(infra("apply", "--auto-approve"))
    assert line.startswith("Error: Not allowed to call CreateVpc")


def test_invalid_image_tag(moto, infra):
    line = one_line_error(infra("plan", "--image-tag", "v1;reboot"))
    assert "is not a valid Docker tag" in line


def test_every_settings_problem_is_listed(moto, project, infra):
    project.set("app_port", "22")
    project.set("db_backup_retention_days", "99")
    result = infra("plan")
    assert result.code == 1
    assert "stack.toml has 2 problem(s):" in result.err
    assert "app_port" in result.err and "db_backup_retention_days" in result.err
    assert "Traceback" not in result.err


def test_unexpected_errors_say_how_to_resume(moto, infra, inject_failure):
    inject_failure("CreateVpc", RuntimeError("boom"))
    result = infra("apply", "--auto-approve")
    assert result.code == 1
    assert result.err.strip().splitlines()[-1] == (
        "The stack may be half changed: run the same command again to resume."
    )


def test_an_emulator_without_instance_refresh_is_recognised_and_real_errors_are_not(monkeypatch):
    """moto_server answers a call it lacks with a body boto3 cannot parse (or a 500); only
    with AWS_ENDPOINT_URL set does the rollout fall back instead of failing."""
    unparsable = botocore.parsers.ResponseParserError("not XML")
    refused = ClientError(
        {"Error": {"Code": "ValidationError"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "StartInstanceRefresh",
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    assert releases.emulator_lacks_it(unparsable)
    assert not releases.emulator_lacks_it(refused)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert not releases.emulator_lacks_it(unparsable)


def client_error(code: str, operation: str, message: str = "", status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


# (code, operation, message) that AWS returns when it refuses calls for their rate:
# - EC2: RequestLimitExceeded, "If you exceed an API throttling limit, you get the
#   RequestLimitExceeded error code" (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html).
# - Throttling, ThrottlingException: "The requests were made too frequently and have been
#   throttled. Wait a while and try again" (https://docs.aws.amazon.com/botocore/latest/reference/services/ec2-instance-connect/client/exceptions/ThrottlingException.html);
#   ACM, CloudWatch Logs, SSM, Route 53 and Budgets model ThrottlingException.
# - S3: SlowDown, "SlowDown errors can occur when a high request rate triggers one of these
#   mechanisms" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorBestPractices.html).
# - Route 53: PriorRequestNotComplete, "wait, in intervals of increasing duration, before you
#   try the request again" (https://docs.aws.amazon.com/botocore/latest/reference/services/route53/client/exceptions/PriorRequestNotComplete.html).
# - SNS: Throttled; SSM PutParameter: TooManyUpdates (another update is under way).
# - TooManyRequestsException: in boto3's list of throttling errors it retries
#   (https://docs.aws.amazon.com/boto3/latest/guide/retries.html).
THROTTLING = [
    ("RequestLimitExceeded", "CreateVpc", "Request limit exceeded."),
    ("Throttling", "CreateRole", "Rate exceeded"),
    ("ThrottlingException", "PutRetentionPolicy", "Rate exceeded"),
    ("TooManyRequestsException", "CreateBudget", "Too many requests"),
    ("SlowDown", "PutBucketPolicy", "Please reduce your request rate."),
    ("PriorRequestNotComplete", "ChangeResourceRecordSets", "The request was rejected"),
    ("RequestThrottled", "DescribeTargetHealth", ""),
    ("EC2ThrottledException", "DescribeSubnets", ""),
    ("Throttled", "Subscribe", "Rate exceeded"),
    ("TooManyUpdates", "PutParameter", "There are concurrent updates"),
]

# (code, operation, message) of the account's quotas, which retrying does not lift:
# - EC2: VpcLimitExceeded, AddressLimitExceeded (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
# - IAM: LimitExceeded, "attempted to create resources beyond the current Amazon Web Services
#   account limits" (https://docs.aws.amazon.com/botocore/latest/reference/services/iam/client/exceptions/LimitExceededException.html).
# - ELB: TooManyLoadBalancers, "You've reached the limit on the number of load balancers"
#   (https://docs.aws.amazon.com/botocore/latest/reference/services/elbv2/client/exceptions/TooManyLoadBalancersException.html).
# - S3: TooManyBuckets, the bucket quota raised in the Service Quotas console
#   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/BucketRestrictions.html).
# - CloudWatch Logs: LimitExceededException, "You have reached the maximum number of
#   resources that can be created" (https://docs.aws.amazon.com/botocore/latest/reference/services/logs/client/exceptions/LimitExceededException.html).
# - RDS: InstanceQuotaExceeded, DBSubnetGroupQuotaExceeded.
QUOTAS = [
    ("VpcLimitExceeded", "CreateVpc", "The maximum number of VPCs has been reached."),
    ("AddressLimitExceeded", "AllocateAddress", "The maximum number of addresses is reached."),
    ("LimitExceeded", "CreateRole", "Cannot exceed quota for RolesPerAccount: 1000"),
    ("TooManyLoadBalancers", "CreateLoadBalancer", "The quota for load balancers is reached"),
    ("TooManyBuckets", "CreateBucket", "You have attempted to create more buckets than allowed"),
    ("LimitExceededException", "CreateLogGroup", "Resource limit exceeded."),
    ("InstanceQuotaExceeded", "CreateDBInstance", "DB Instance quota exceeded"),
    ("DBSubnetGroupQuotaExceeded", "CreateDBSubnetGroup", ""),
]


@pytest.mark.parametrize(("code", "operation", "message"), THROTTLING)
def test_throttling_says_wait_and_run_again_not_ask_for_a_quota(code, operation, message):
    """AWS rule: a throttled call is about the rate of calls, not the account's quotas; it
    succeeds later (botocore has already retried it with backoff), so the advice is to wait
    and run the command again, which resumes without creating anything twice."""
    error = translate(client_error(code, operation, message))
    assert error is not None
    line = str(error)
    assert line.startswith(f"AWS kept refusing {operation} because of the rate of calls ({code})")
    assert "wait a minute and run the same command again" in line
    assert "creates nothing twice" in line
    assert "quota" not in line.lower()


@pytest.mark.parametrize(("code", "operation", "message"), QUOTAS)
def test_quotas_keep_the_quota_advice(code, operation, message):
    """AWS rule: these codes report a quota of the account (a number of VPCs, roles, load
    balancers, buckets...), which only deleting resources or an increase lifts."""
    line = str(translate(client_error(code, operation, message)))
    assert line.startswith(f"AWS quota reached in {operation} ({code}")
    assert "Service Quotas console" in line
    assert "wait a minute" not in line


def test_a_rate_message_or_http_429_is_throttling_whatever_the_code():
    """AWS rule: HTTP 429 is Too Many Requests; botocore's retry handler treats it as
    throttling (https://docs.aws.amazon.com/boto3/latest/guide/retries.html). A
    LimitExceededException whose message says "Rate exceeded" is a rate, not a quota."""
    for error in (
        client_error("LimitExceededException", "PutMetricData", "Rate exceeded"),
        client_error("SomeNewCode", "CreateThing", "", status=429),
    ):
        assert "because of the rate of calls" in str(translate(error))
    assert "quota" in str(translate(client_error("LimitExceededException", "CreateLogGroup")))
    # Only a limit code is read for its message: other errors are not guessed at.
    assert translate(client_error("ValidationError", "CreateThing", "Rate exceeded")) is None


def test_every_code_botocore_retries_as_throttling_is_translated_as_throttling():
    """botocore's own list of throttling codes (the ones its retry handler retries before we
    see them). LimitExceededException is the one exception: in the services this stack
    calls (IAM, ECR, ACM, CloudWatch Logs, Secrets Manager) it is a quota."""
    from botocore.retries.standard import ThrottledRetryableChecker

    codes = set(ThrottledRetryableChecker._THROTTLED_ERROR_CODES) - {"LimitExceededException"}
    assert codes <= THROTTLING_CODES
    for code in codes:
        assert is_throttling(client_error(code, "AnyCall"))


@pytest.mark.parametrize(
    ("code", "operation"),
    [
        ("InsufficientInstanceCapacity", "RunInstances"),
        ("InsufficientDBInstanceCapacity", "CreateDBInstance"),
    ],
)
def test_missing_capacity_is_neither_a_quota_nor_throttling(code, operation):
    """AWS rule: InsufficientInstanceCapacity means AWS has no spare On-Demand capacity of
    that type in that zone right now (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html);
    for RDS, "the specified DB instance class isn't available in the specified Availability
    Zone" (https://docs.aws.amazon.com/botocore/latest/reference/services/rds/client/exceptions/InsufficientDBInstanceCapacityFault.html).
    No quota increase helps: wait, or pick another type, class or zone."""
    line = str(translate(client_error(code, operation, "We currently do not have capacity")))
    assert line.startswith(f"AWS has no spare capacity for {operation} right now ({code}")
    assert "another instance type or class (or availability_zones)" in line
    assert "Service Quotas" not in line


def test_throttling_on_apply_is_one_line_that_says_wait(moto, infra, inject_failure):
    """The same through the command line: EC2's RequestLimitExceeded on CreateVpc."""
    inject_failure("CreateVpc", client_error("RequestLimitExceeded", "CreateVpc", "slow down"))
    line = one_line_error(infra("apply", "--auto-approve"))
    assert line.startswith("Error: AWS kept refusing CreateVpc because of the rate of calls")
    assert "Service Quotas" not in line
