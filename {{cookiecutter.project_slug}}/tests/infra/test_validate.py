"""`validate`: the shared settings rules, then the checks that need the AWS account."""

from __future__ import annotations


def test_valid_settings_pass_every_check(moto, infra, calls):
    result = infra("validate")
    assert result.code == 0, result.out + result.err
    for check in (
        "region",
        "credentials",
        "availability zones",
        "instance type",
        "DB instance class",
    ):
        assert f"  ok   {check}" in result.out
    assert calls.mutating == []


def test_settings_problems_are_all_printed(moto, project, infra):
    project.set("vpc_cidr", '"10.0.0.1/16"')
    project.set("health_check_timeout_seconds", "60")
    result = infra("validate")
    assert result.code == 1
    assert "vpc_cidr" in result.err and "health_check_timeout_seconds" in result.err


def test_aws_problems_are_reported_per_check(moto, project, infra):
    region, count = project.settings.aws_region, project.settings.az_count
    # One zone per subnet pair, the last of which the region does not have.
    zones = [f"{region}{letter}" for letter in "abcdefgh"[: count - 1]] + [f"{region}z"]
    project.set("availability_zones", str(zones).replace("'", '"'))
    result = infra("validate")
    assert result.code == 1
    assert f"  FAIL availability zones: Availability zone {region}z does not exist" in result.out
    assert "  ok   credentials" in result.out


def test_more_subnets_than_the_network_acl_holds_are_refused_before_aws(project, infra, calls):
    """AWS allows 20 inbound rules in a network ACL (Amazon VPC quotas, "Rules per network
    ACL"); moto takes any number. Five subnet pairs would need 23 in the private subnets'."""
    project.set("public_subnet_cidrs", str([f"10.0.{i}.0/24" for i in range(5)]))
    project.set("private_subnet_cidrs", str([f"10.0.{100 + i}.0/24" for i in range(5)]))
    result = infra("validate")
    assert result.code == 1
    assert "has 5 subnets; at most 4 fit the private subnets' network ACL" in result.err
    assert calls.all == []


def test_load_balancer_name_length_is_checked_before_aws(moto, project, infra, calls):
    """AWS caps load balancer and target group names at 32 characters; moto takes any length."""
    project.set("project_slug", '"a-very-long-project-name-here"')
    result = infra("validate")
    assert result.code == 1
    assert "load balancer name" in result.err
    assert calls.all == []


def test_an_instance_type_of_another_architecture_than_the_image_is_refused(project, infra, calls):
    """An image built for amd64 does not start on a Graviton (arm64) instance: the platform
    deploy.yml builds for is fixed when the project is generated (issue #15, item 11)."""
    project.set("image_architecture", '"x86_64"')
    project.set("app_instance_type", '"t4g.small"')
    result = infra("validate")
    assert result.code == 1
    assert "app_instance_type = 't4g.small': runs arm64, but the image is built for x86_64" in (
        result.err
    )
    assert calls.all == []
    project.set("app_instance_type", '"t3a.small"')  # AMD, still x86_64
    assert "app_instance_type" not in infra("validate").err
