"""Rules real AWS enforces and moto does not, which our code checks itself."""

from __future__ import annotations

import pytest

from infra.aws import DeployError, is_iam_propagation_delay
from infra.resources.app import instances
from infra.resources.shared.ec2 import require_two_zones


def test_load_balancer_and_db_subnet_group_need_two_zones():
    """AWS: an ALB and a DB subnet group span at least two AZs. moto accepts one."""
    with pytest.raises(DeployError, match="at least two availability zones"):
        require_two_zones(["eu-west-1a", "eu-west-1a"], "load balancer")
    require_two_zones(["eu-west-1a", "eu-west-1b"], "load balancer")


def test_user_data_values_are_shell_quoted():
    script = instances.render_user_data(
        {
            "region": "eu-west-1",
            "registry": "r",
            "image": "r/x:1",
            "image_tag": "1",
            "db_identifier": "x-dev-db",
            "db_name": "visits",
            "app_port": "5000",
            "health_check_path": "/health",
            "log_group": "/x/dev/app; reboot",
        }
    )
    assert "LOG_GROUP='/x/dev/app; reboot'" in script
    assert instances.deployed_image_tag(script) == "1"


def test_iam_propagation_error_is_recognised():
    from botocore.exceptions import ClientError

    error = ClientError(
        {"Error": {"Code": "ValidationError", "Message": "Invalid IamInstanceProfile: x"}},
        "CreateAutoScalingGroup",
    )
    assert is_iam_propagation_delay(error)
    other = ClientError(
        {"Error": {"Code": "ValidationError", "Message": "MaxSize too small"}},
        "CreateAutoScalingGroup",
    )
    assert not is_iam_propagation_delay(other)
