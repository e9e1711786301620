"""Apply converges when AWS does not know yet what it just created (issue #15, item 5).

AWS's APIs are eventually consistent. Amazon EC2 API Reference, "Eventual consistency in the
Amazon EC2 API": a resource just created "might not be immediately visible to all subsequent
API calls", so a describe can miss it and a change that names it can fail with a NotFound
error (InvalidGroup.NotFound on a rule naming a new group, InvalidSubnetID.NotFound,
InvalidRouteTableID.NotFound); "retry the request using an exponential backoff algorithm".
IAM User Guide, "Changes that I make are not always immediately visible", says the same of
IAM (an instance profile EC2 does not accept yet); the ELB and RDS APIs behave alike
(DescribeLoadBalancers, DescribeDBInstances and DescribeDBSubnetGroups answer NotFound for
a while). moto answers at once, so here, after each create, the next reads of that kind
miss what was made (empty lists from EC2, NotFound from ELB, IAM and RDS) and the next
changes naming it fail with AWS's NotFound code.
"""

from __future__ import annotations

import pytest

from infra import aws

# After each create, how the next reads of that kind miss it.
EMPTY, NOT_FOUND = "empty", "not found"
HIDDEN_AFTER = {
    "CreateVpc": ("DescribeVpcs", EMPTY, "Vpcs"),
    "CreateSubnet": ("DescribeSubnets", EMPTY, "Subnets"),
    "CreateNetworkAcl": ("DescribeNetworkAcls", EMPTY, "NetworkAcls"),
    "CreateSecurityGroup": ("DescribeSecurityGroups", EMPTY, "SecurityGroups"),
    "CreateRouteTable": ("DescribeRouteTables", EMPTY, "RouteTables"),
    "CreateInternetGateway": ("DescribeInternetGateways", EMPTY, "InternetGateways"),
    "CreateLaunchTemplate": ("DescribeLaunchTemplates", EMPTY, "LaunchTemplates"),
    "CreateLoadBalancer": ("DescribeLoadBalancers", NOT_FOUND, "LoadBalancerNotFound"),
    "CreateTargetGroup": ("DescribeTargetGroups", NOT_FOUND, "TargetGroupNotFound"),
    "CreateRole": ("GetRole", NOT_FOUND, "NoSuchEntity"),
    "CreateInstanceProfile": ("GetInstanceProfile", NOT_FOUND, "NoSuchEntity"),
    "CreateDBSubnetGroup": ("DescribeDBSubnetGroups", NOT_FOUND, "DBSubnetGroupNotFoundFault"),
    "CreateDBInstance": ("DescribeDBInstances", NOT_FOUND, "DBInstanceNotFound"),
}
# After each create, the changes that name what it made, and what AWS answers them for now.
REFUSED_AFTER = {
    "CreateSecurityGroup": (
        ("AuthorizeSecurityGroupIngress", "InvalidGroup.NotFound", "group unknown"),
        ("AuthorizeSecurityGroupEgress", "InvalidGroup.NotFound", "group unknown"),
    ),
    "CreateSubnet": (
        ("AssociateRouteTable", "InvalidSubnetID.NotFound", "subnet unknown"),
        ("CreateDBSubnetGroup", "InvalidSubnet", "The requested subnet is invalid"),
        ("CreateLoadBalancer", "SubnetNotFound", "subnet unknown"),
    ),
    "CreateRouteTable": (("CreateRoute", "InvalidRouteTableID.NotFound", "table unknown"),),
    "CreateNetworkAcl": (
        ("CreateNetworkAclEntry", "InvalidNetworkAclID.NotFound", "ACL unknown"),
        ("ReplaceNetworkAclAssociation", "InvalidNetworkAclID.NotFound", "ACL unknown"),
    ),
    "CreateDBSubnetGroup": (
        ("CreateDBInstance", "DBSubnetGroupNotFoundFault", "subnet group unknown"),
    ),
    # An IAM instance profile EC2 Auto Scaling does not accept yet.
    "CreateInstanceProfile": (
        (
            "CreateAutoScalingGroup",
            "ValidationError",
            "Value (profile) for parameter iamInstanceProfile.name is invalid. "
            "Invalid IAM Instance Profile name",
        ),
    ),
}
MISSES_PER_CREATE = 2


@pytest.fixture
def eventually_consistent(moto, project):
    misses: dict[str, int] = {}
    seen: list[str] = []
    tool = aws.Aws(project.settings.aws_region)  # made once: a boto3 session is slow to make

    def error(service: str, operation: str, code: str, message: str) -> Exception:
        """The modeled exception AWS's answer becomes, from the tool's own client (each client
        has its own exception classes: what the tool's `except` clauses catch)."""
        exceptions = tool.client(service).exceptions
        return exceptions.from_code(code)({"Error": {"Code": code, "Message": message}}, operation)

    def observer(service: str, operation: str, _params: dict):
        if operation in HIDDEN_AFTER:
            misses[HIDDEN_AFTER[operation][0]] = MISSES_PER_CREATE
        for refused, _code, _message in REFUSED_AFTER.get(operation, ()):
            misses[refused] = MISSES_PER_CREATE
        for refused, code, message in (r for rs in REFUSED_AFTER.values() for r in rs):
            if operation == refused and misses.get(refused):
                misses[refused] -= 1
                seen.append(refused)
                raise error(service, operation, code, message)
        for _create, (read, how, what) in HIDDEN_AFTER.items():
            if operation == read and misses.get(read):
                misses[read] -= 1
                seen.append(read)
                if how == EMPTY:
                    return {what: []}
                raise error(service, operation, what, "not found")
        return None

    aws.call_observers.insert(0, observer)
    yield seen
    aws.call_observers.remove(observer)


def test_apply_converges_and_prints_no_traceback(eventually_consistent, infra, instance_refreshes):
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    # The misses really happened, for every kind of read and every refused change.
    assert {read for read, _how, _what in HIDDEN_AFTER.values()} <= set(eventually_consistent)
    refused = {operation for changes in REFUSED_AFTER.values() for operation, *_ in changes}
    assert refused <= set(eventually_consistent)
    again = infra("plan")
    assert again.code == 0, again.out


def test_a_change_aws_keeps_refusing_ends_in_one_line(deployed, project, infra, inject_failure):
    """Bounded: after about two minutes of NotFound (the tests' sleeps take no time), one
    line that says what to do; the next apply carries on."""
    project.set("nat_gateway", '"single"')
    refusal = aws.botocore.exceptions.ClientError(
        {"Error": {"Code": "InvalidRouteTableID.NotFound", "Message": "unknown"}}, "CreateRoute"
    )
    attempts = len(aws.VISIBILITY_DELAYS) + 1
    seen = inject_failure("CreateRoute", refusal, times=attempts)
    result = infra("apply", "--auto-approve")
    assert result.code == 1
    assert "Traceback" not in result.err
    assert seen["count"] == attempts
    line = result.err.strip().splitlines()[0]
    assert "aws_route_table.private: add the route 0.0.0.0/0 -> nat-" in line
    assert "AWS still answers InvalidRouteTableID.NotFound" in line
    assert "run the same command again in a few minutes" in line
    again = infra("apply", "--auto-approve")
    assert again.code == 0, again.err
    assert infra("plan").code == 0
