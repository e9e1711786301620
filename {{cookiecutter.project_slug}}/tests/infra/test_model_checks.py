"""The check of every AWS call against its service model (model_checks.py), on botocore's
real models: what it finds, what it lets through, and that a call breaking a rule fails."""

from __future__ import annotations

import boto3
import botocore.exceptions
import botocore.session
import model_checks
import pytest
from model_checks import problems

from infra import aws

# The services the deploy tool calls.
SERVICES = (
    "acm",
    "autoscaling",
    "budgets",
    "cloudwatch",
    "ec2",
    "ecr",
    "elbv2",
    "iam",
    "logs",
    "rds",
    "route53",
    "s3",
    "secretsmanager",
    "sns",
    "ssm",
    "sts",
)
SESSION = botocore.session.get_session()


def operation(service: str, name: str):
    return SESSION.get_service_model(service).operation_model(name)


def test_a_tag_value_over_its_length():
    tags = [{"Key": "Project", "Value": "demo"}, {"Key": "Note", "Value": "x" * 300}]
    params = {"Name": "demo-app", "Tags": tags}
    assert problems(operation("elbv2", "CreateTargetGroup"), params) == [
        "CreateTargetGroup.Tags[1].Value: 300 characters, at most 256"
    ]


def test_a_value_outside_its_enum():
    found = problems(
        operation("ec2", "CreateVpc"), {"CidrBlock": "10.0.0.0/16", "InstanceTenancy": "sometimes"}
    )
    assert found == [
        "CreateVpc.InstanceTenancy: 'sometimes' is not one of 'default', 'dedicated', 'host'"
    ]


def test_a_name_against_its_pattern():
    create_role = operation("iam", "CreateRole")
    found = problems(create_role, {"RoleName": "demo app", "AssumeRolePolicyDocument": "{}"})
    assert found == [r"CreateRole.RoleName: 'demo app' does not match the pattern [\w+=,.@-]+"]
    assert problems(create_role, {"RoleName": "demo-app", "AssumeRolePolicyDocument": "{}"}) == []


def test_a_list_over_its_length_and_a_number_out_of_range():
    attributes = [{"Key": f"key.{number}", "Value": "true"} for number in range(21)]
    found = problems(
        operation("elbv2", "ModifyLoadBalancerAttributes"),
        {"LoadBalancerArn": "arn", "Attributes": attributes},
    )
    assert found == ["ModifyLoadBalancerAttributes.Attributes: 21 items, at most 20"]
    found = problems(
        operation("elbv2", "CreateTargetGroup"),
        {"Name": "demo", "Port": 0, "HealthCheckIntervalSeconds": 301},
    )
    assert found == [
        "CreateTargetGroup.Port: 0, at least 1",
        "CreateTargetGroup.HealthCheckIntervalSeconds: 301, at most 300",
    ]


def test_an_empty_list_under_its_minimum():
    found = problems(operation("elbv2", "CreateTargetGroup"), {"Name": "demo", "Tags": []})
    assert found == ["CreateTargetGroup.Tags: 0 items, at least 1"]


def test_a_valid_call_has_no_problems():
    params = {
        "Name": "demo-app",
        "Protocol": "HTTP",
        "Port": 8000,
        "VpcId": "vpc-1",
        "HealthCheckPath": "/health",
        "Tags": [{"Key": "Project", "Value": "demo"}],
    }
    assert problems(operation("elbv2", "CreateTargetGroup"), params) == []


def test_every_operation_of_the_stacks_services_has_a_checker():
    """Builds the checker of every input shape of the services the deploy tool calls (also
    proving recursive shapes end), and shows how many of their patterns Python cannot read."""
    checked = set()
    for service in SERVICES:
        model = SESSION.get_service_model(service)
        for name in model.operation_names:
            problems(model.operation_model(name), {})
        for shape_name in model.shape_names:
            pattern = model.shape_for(shape_name).metadata.get("pattern")
            if pattern is not None:
                checked.add(pattern)
    skipped = model_checks.SKIPPED_PATTERNS & checked
    print(f"{len(skipped)} of {len(checked)} patterns are not checked: Python cannot read them")
    assert 0 < len(skipped) < len(checked)
    assert r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$" in skipped  # \p{...} classes


def test_a_pattern_python_reads_differently_is_skipped():
    assert model_checks.compiled_pattern("[a-z[0-9]]+") is None
    assert model_checks.compiled_pattern(r"\p{L}+\z") is None
    assert model_checks.compiled_pattern(r"[\w+=,.@-]+") is not None


def test_a_deploy_tool_call_that_breaks_a_rule_fails(moto, model_constraints):
    ec2 = aws.Aws("us-east-1").ec2
    with pytest.raises(AssertionError, match="CreateVpc.InstanceTenancy: 'sometimes'"):
        ec2.create_vpc(CidrBlock="10.0.0.0/16", InstanceTenancy="sometimes")
    assert ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"] == []
    assert model_constraints == [
        "ec2 CreateVpc.InstanceTenancy: 'sometimes' is not one of 'default', 'dedicated', 'host'"
    ]
    model_constraints.clear()  # broken on purpose: the fixture would fail this test


def test_a_tests_own_client_is_checked_too(moto, model_constraints):
    iam = boto3.client("iam", region_name="us-east-1")
    with pytest.raises(AssertionError, match="does not match the pattern"):
        iam.create_role(RoleName="demo app", AssumeRolePolicyDocument="{}")
    model_constraints.clear()


def test_botocore_still_reports_a_wrong_type_first(moto):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    with pytest.raises(botocore.exceptions.ParamValidationError):
        ec2.create_vpc(CidrBlock="10.0.0.0/16", InstanceTenancy=1)
