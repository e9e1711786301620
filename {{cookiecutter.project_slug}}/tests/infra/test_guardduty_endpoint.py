"""A GuardDuty-managed endpoint in a subnet of the stack stops destroy at once, with advice.

Amazon GuardDuty User Guide, "Using shared VPC with automated security agents" and
"Prerequisite - Creating an Amazon VPC endpoint": with Runtime Monitoring's automated agent
configuration, GuardDuty puts an interface endpoint (com.amazonaws.<region>.guardduty-data)
with a security group in each VPC, both tagged GuardDutyManaged=true, and keeps them while
Runtime Monitoring is on ("Using Infrastructure as Code (IaC) with GuardDuty automated
security agents"). An interface endpoint has a network interface in each subnet it serves,
so AWS refuses DeleteSubnet (DependencyViolation) before it ever gets to DeleteVpc; moto
deletes the subnet anyway, so `subnet_refuses_while_held` refuses it as AWS does.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from helpers import guardduty_endpoint

from infra import aws


@pytest.fixture
def subnet_refuses_while_held(moto, aws_client):
    """DeleteSubnet fails while an endpoint that is not deleted serves the subnet; yields the
    DeleteSubnet calls made."""
    ec2 = aws_client("ec2")
    attempts: list[str] = []

    def observer(_service: str, operation: str, params: dict) -> None:
        if operation != "DeleteSubnet":
            return
        attempts.append(params["SubnetId"])
        for endpoint in ec2.describe_vpc_endpoints()["VpcEndpoints"]:
            if endpoint["State"].lower() != "deleted" and params["SubnetId"] in endpoint.get(
                "SubnetIds", []
            ):
                message = (
                    f"The subnet '{params['SubnetId']}' has dependencies and cannot be deleted."
                )
                error = {"Code": "DependencyViolation", "Message": message}
                raise ClientError({"Error": error}, operation)

    aws.call_observers.append(observer)
    yield attempts
    aws.call_observers.remove(observer)


def test_guardduty_endpoint_in_a_subnet_is_named_at_once_with_what_to_do(
    deployed, project, infra, aws_client, subnet_refuses_while_held
):
    settings = project.settings
    ec2 = aws_client("ec2")
    (subnet,) = ec2.describe_subnets(
        Filters=[{"Name": "tag:Name", "Values": [settings.name("private-1")]}]
    )["Subnets"]
    group_id, endpoint_id = guardduty_endpoint(
        ec2, subnet["VpcId"], subnet["SubnetId"], settings.aws_region
    )

    result = infra("destroy", "--auto-approve", "--skip-final-snapshot")

    assert result.code == 1
    assert "Traceback" not in result.err
    # Nothing removes GuardDuty's endpoint while destroy waits: it asked once and stopped.
    assert subnet_refuses_while_held.count(subnet["SubnetId"]) == 1
    line = result.err.strip().splitlines()[0]
    assert f"aws_subnet.private[0]: AWS still refuses to delete {subnet['SubnetId']}" in line
    assert f"VPC endpoint {endpoint_id} (com.amazonaws." in line
    assert ".guardduty-data, GuardDuty-managed" in line
    assert "turn off GuardDuty Runtime Monitoring's automated agent configuration" in line
    assert line.endswith("then run `python -m infra destroy` again.")

    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    ec2.delete_security_group(GroupId=group_id)
    again = infra("destroy", "--auto-approve", "--skip-final-snapshot")
    assert again.code == 0, again.err
