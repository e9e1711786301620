"""Apply converges when AWS does not list what it just created (issue #15, item 5).

AWS's APIs are eventually consistent: "a resource that you create might not be immediately
visible to describe calls; if you get an error that it does not exist, retry with backoff"
(Amazon EC2 API Reference, "Eventual consistency in the Amazon EC2 API"; IAM User Guide,
"Changes that I make are not always immediately visible"; the ELB API says the same of
DescribeLoadBalancers). moto answers at once, so here the next reads after each create miss
what was made: empty lists from EC2, NotFound from ELB and IAM.
"""

from __future__ import annotations

import pytest

from infra import aws

# After each create, how the next reads of that kind miss it.
EMPTY, NOT_FOUND = "empty", "not found"
HIDDEN_AFTER = {
    "CreateVpc": ("DescribeVpcs", EMPTY, "Vpcs"),
    "CreateSubnet": ("DescribeSubnets", EMPTY, "Subnets"),
    "CreateSecurityGroup": ("DescribeSecurityGroups", EMPTY, "SecurityGroups"),
    "CreateRouteTable": ("DescribeRouteTables", EMPTY, "RouteTables"),
    "CreateInternetGateway": ("DescribeInternetGateways", EMPTY, "InternetGateways"),
    "CreateLaunchTemplate": ("DescribeLaunchTemplates", EMPTY, "LaunchTemplates"),
    "CreateLoadBalancer": ("DescribeLoadBalancers", NOT_FOUND, "LoadBalancerNotFound"),
    "CreateTargetGroup": ("DescribeTargetGroups", NOT_FOUND, "TargetGroupNotFound"),
    "CreateRole": ("GetRole", NOT_FOUND, "NoSuchEntity"),
    "CreateInstanceProfile": ("GetInstanceProfile", NOT_FOUND, "NoSuchEntity"),
}
MISSES_PER_CREATE = 2


@pytest.fixture
def eventually_consistent(moto, project):
    misses: dict[str, int] = {}
    seen: list[str] = []
    tool = aws.Aws(project.settings.aws_region)  # made once: a boto3 session is slow to make

    def not_found(service: str, operation: str, code: str) -> Exception:
        """The modeled exception AWS's answer becomes, from the tool's own client (each client
        has its own exception classes: what the tool's `except` clauses catch)."""
        exceptions = tool.client(service).exceptions
        return exceptions.from_code(code)(
            {"Error": {"Code": code, "Message": "not found"}}, operation
        )

    def observer(service: str, operation: str, _params: dict):
        if operation in HIDDEN_AFTER:
            misses[HIDDEN_AFTER[operation][0]] = MISSES_PER_CREATE
            return None
        for _create, (read, how, what) in HIDDEN_AFTER.items():
            if operation == read and misses.get(read):
                misses[read] -= 1
                seen.append(read)
                if how == EMPTY:
                    return {what: []}
                raise not_found(service, operation, what)
        return None

    aws.call_observers.insert(0, observer)
    yield seen
    aws.call_observers.remove(observer)


def test_apply_converges_and_prints_no_traceback(eventually_consistent, infra, instance_refreshes):
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    # The misses really happened, for every kind.
    assert {read for read, _how, _what in HIDDEN_AFTER.values()} <= set(eventually_consistent)
    again = infra("plan")
    assert again.code == 0, again.out
