"""Expected failures are one line with the fix, exit code 1, and no traceback."""

from __future__ import annotations

import botocore.parsers
import pytest
from botocore.exceptions import ClientError

from infra.resources.app import instances


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
    line = one_line_error(infra("plan"))
    assert line.startswith("Error: Unknown AWS region 'xx-nowhere-1'")


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
    assert instances.emulator_lacks_it(unparsable)
    assert not instances.emulator_lacks_it(refused)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert not instances.emulator_lacks_it(unparsable)
