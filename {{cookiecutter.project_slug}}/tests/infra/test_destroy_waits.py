"""Destroy waits for what holds the VPC, says how long, and names it when it gives up.

AWS refuses DeleteVpc with DependencyViolation while anything is left in the VPC: network
interfaces (a deleted load balancer's or database's linger for many minutes), VPC
endpoints (GuardDuty Runtime Monitoring makes one in every VPC), security groups, subnets.
moto deletes the VPC anyway, so `vpc_refuses_while_held` makes it as strict as AWS. The
tests' ctx.sleep is instant (devtools/emulated_aws.py), so the 20-minute wait takes no time.
"""

from __future__ import annotations

import ipaddress

import boto3
import pytest
from botocore.exceptions import ClientError
from helpers import guardduty_endpoint, remaining

from infra import aws

VPC_ADDRESS = "aws_vpc.main"


def dependency_violation(operation: str, vpc_id: str = "vpc-0") -> ClientError:
    message = f"The vpc '{vpc_id}' has dependencies and cannot be deleted."
    return ClientError({"Error": {"Code": "DependencyViolation", "Message": message}}, operation)


@pytest.fixture
def vpc_refuses_while_held(moto, project):
    """DeleteVpc fails, as in AWS, while an interface, endpoint or non-default group is in it.
    Yields a test EC2 client and the DeleteVpc calls made."""
    ec2 = boto3.client("ec2", region_name=project.settings.aws_region)

    def held(vpc_id: str) -> bool:
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        # moto keeps a terminated instance's interface; AWS deletes it with the instance.
        terminated = {
            i["InstanceId"]
            for r in ec2.describe_instances(
                Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}]
            )["Reservations"]
            for i in r["Instances"]
        }
        interfaces = [
            i
            for i in ec2.describe_network_interfaces(Filters=in_vpc)["NetworkInterfaces"]
            if i.get("Attachment", {}).get("InstanceId") not in terminated
        ]
        endpoints = [
            e
            for e in ec2.describe_vpc_endpoints(Filters=in_vpc)["VpcEndpoints"]
            if e["State"].lower() != "deleted"
        ]
        groups = [
            g
            for g in ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"]
            if g["GroupName"] != "default"
        ]
        return bool(interfaces or endpoints or groups)

    attempts = []

    def observer(_service: str, operation: str, params: dict) -> None:
        if operation == "DeleteVpc":
            attempts.append(params["VpcId"])
            if held(params["VpcId"]):
                raise dependency_violation(operation, params["VpcId"])

    aws.call_observers.append(observer)
    yield ec2, attempts
    aws.call_observers.remove(observer)


def stack_vpc(ec2, settings) -> dict:
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [settings.name("vpc")]}])
    return found["Vpcs"][0]


def error_lines(result) -> list[str]:
    assert "Traceback" not in result.err, result.err
    return [line for line in result.err.splitlines() if line.strip()]


def test_a_foreign_interface_is_waited_for_then_named(
    deployed, project, infra, vpc_refuses_while_held
):
    ec2, attempts = vpc_refuses_while_held
    vpc_id = stack_vpc(ec2, project.settings)["VpcId"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    subnet_id = ec2.describe_subnets(Filters=in_vpc)["Subnets"][0]["SubnetId"]
    group_id = ec2.create_security_group(
        GroupName="someone-elses", Description="not the stack's", VpcId=vpc_id
    )["GroupId"]
    interface_id = ec2.create_network_interface(
        SubnetId=subnet_id, Description="Lambda ENI of another team", Groups=[group_id]
    )["NetworkInterface"]["NetworkInterfaceId"]

    result = infra("destroy", "--auto-approve")

    assert result.code == 1
    # It waited, with Terraform's progress lines, and listed the holders while waiting.
    assert f"{VPC_ADDRESS}: Still destroying... [id={vpc_id}, " in result.out
    assert f"{VPC_ADDRESS}: waiting for AWS to release what holds {vpc_id}" in result.out
    assert len(attempts) > 12  # longer than delete_when_free's 12
    (line,) = error_lines(result)
    assert line.startswith(f"Error: {VPC_ADDRESS}: AWS still refuses to delete {vpc_id} after 2")
    assert "DependencyViolation" in line
    assert f"network interface {interface_id} ('Lambda ENI of another team'" in line
    assert "; requester " in line and "; type interface; " in line
    assert f"security groups {group_id} (someone-elses)" in line
    assert f"security group {group_id} (someone-elses)" in line
    assert "not the stack's: delete them" in line
    assert line.endswith("then run `python -m infra destroy` again.")


def free_subnet_cidr(vpc: dict, settings) -> str:
    """The VPC's last /28, which none of the stack's subnets covers."""
    taken = [
        ipaddress.ip_network(cidr)
        for cidr in (*settings.public_subnet_cidrs, *settings.private_subnet_cidrs)
    ]
    last = list(ipaddress.ip_network(vpc["CidrBlock"]).subnets(new_prefix=28))[-1]
    assert not any(last.overlaps(network) for network in taken)
    return str(last)


def test_a_guardduty_endpoint_stops_the_wait_at_once_with_what_to_do(
    deployed, project, infra, vpc_refuses_while_held
):
    """GuardDuty's endpoint has an interface in each subnet it serves; in one of the stack's,
    DeleteSubnet stops first (test_guardduty_endpoint.py). It reaches DeleteVpc when it
    serves only a subnet that is not the stack's, as here."""
    ec2, attempts = vpc_refuses_while_held
    settings = project.settings
    vpc = stack_vpc(ec2, settings)
    vpc_id = vpc["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=free_subnet_cidr(vpc, settings))
    other_subnet_id = other_subnet["Subnet"]["SubnetId"]
    group_id, endpoint_id = guardduty_endpoint(ec2, vpc_id, other_subnet_id, settings.aws_region)

    result = infra("destroy", "--auto-approve")

    assert result.code == 1
    # GuardDuty keeps its endpoint while Runtime Monitoring is on: no use waiting 20 minutes.
    assert len(attempts) == 1
    (line,) = error_lines(result)
    assert f"VPC endpoint {endpoint_id} (com.amazonaws." in line
    assert ".guardduty-data, GuardDuty-managed" in line
    assert f"security group {group_id} (GuardDutyManagedSecurityGroup-{vpc_id}, GuardDuty" in line
    assert "A GuardDuty-managed endpoint (guardduty-data) holds the VPC" in line
    assert "Runtime Monitoring's automated agent configuration" in line
    assert line.endswith("then run `python -m infra destroy` again.")

    # Once the endpoint, its group and the subnet are gone, destroy finishes.
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    ec2.delete_security_group(GroupId=group_id)
    ec2.delete_subnet(SubnetId=other_subnet_id)
    again = infra("destroy", "--auto-approve")
    assert again.code == 0, again.err


def test_a_passing_dependency_violation_is_waited_out(
    deployed, project, infra, inject_failure, aws_client
):
    seen = inject_failure("DeleteVpc", dependency_violation("DeleteVpc"), times=4)
    result = infra("destroy", "--auto-approve")
    assert result.code == 0, result.err
    assert seen["count"] == 4
    assert f"{VPC_ADDRESS}: Still destroying... [id=vpc-" in result.out
    assert f"{VPC_ADDRESS}: Destruction complete after " in result.out
    left = [item for item in remaining(aws_client, project.settings) if ":snapshot:" not in item]
    assert left == [], "\n".join(left)


def test_an_internet_gateway_detach_waits_too(deployed, infra, inject_failure):
    refusal = ClientError(
        {
            "Error": {
                "Code": "DependencyViolation",
                "Message": "Network vpc-0 has some mapped public address(es). Please unmap "
                "those public address(es) before detaching the gateway.",
            }
        },
        "DetachInternetGateway",
    )
    seen = inject_failure("DetachInternetGateway", refusal, times=3)
    result = infra("destroy", "--auto-approve")
    assert result.code == 0, result.err
    assert seen["count"] == 3
    assert "aws_internet_gateway.main: Still destroying... [id=igw-" in result.out
