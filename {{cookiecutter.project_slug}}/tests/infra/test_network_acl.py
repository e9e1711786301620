"""The private subnets' network ACL admits the database port from the app subnets only.

Amazon VPC User Guide, "Control subnet traffic with network access control lists": a subnet
has exactly one network ACL, the VPC's default one (which admits everything) until another
is associated; rules are evaluated from the lowest number up and the first match decides;
what none matches is denied (rule `*`); network ACLs are stateless, so the answers need
rules of their own, to the client's ephemeral ports (1024-65535); traffic between two
addresses of one subnet is not filtered. `admits` (helpers.py) evaluates the ACL as AWS does,
on the entries AWS lists, so these tests check what would get through, not how the rules are
spelt.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from helpers import EPHEMERAL_PORT, admits, remaining, stack_acl, subnet_ids

from infra.resources.network.network_acl import NAT_RULE_NUMBERS, desired_entries, nat_entries
from infra.stack_file import load
from infra.validation import MAX_SUBNETS_PER_TIER

# Amazon VPC quotas, "Rules per network ACL": 20 inbound and 20 outbound by default, AWS's
# own deny-all rule (32767) included. moto takes any number.
RULES_PER_ACL = 20


def host(cidr: str) -> str:
    return str(next(ipaddress.ip_network(cidr).hosts()) + 9)


def associated(acl: dict) -> list[str]:
    return sorted(a["SubnetId"] for a in acl.get("Associations", []))


def test_without_nat_only_the_stack_subnets_reach_the_database(deployed, project, aws_client):
    settings = project.settings
    ec2 = aws_client("ec2")
    acl = stack_acl(ec2, settings)
    assert not acl["IsDefault"]
    # The database subnets, and they alone: the public ones keep the VPC's default ACL.
    assert associated(acl) == sorted(subnet_ids(ec2, settings, "private"))

    for cidr in settings.public_subnet_cidrs:  # the app instances, without NAT
        app = host(cidr)
        assert admits(acl, egress=False, address=app, port=5432)
        assert admits(acl, egress=True, address=app, port=EPHEMERAL_PORT)  # the answer
        assert not admits(acl, egress=False, address=app, port=22)
    # Nothing from or to the internet, nor from elsewhere in the VPC.
    for outsider in ("203.0.113.7", "10.0.200.9"):
        assert not admits(acl, egress=False, address=outsider, port=5432)
        assert not admits(acl, egress=False, address=outsider, port=EPHEMERAL_PORT)
        assert not admits(acl, egress=True, address=outsider, port=443)
        assert not admits(acl, egress=True, address=outsider, port=EPHEMERAL_PORT)


def test_with_nat_the_app_in_the_private_subnets_keeps_its_way_out(
    deployed, project, infra, aws_client
):
    """The app instances move into the database's subnets: the ACL admits what they need
    (the load balancer in, HTTPS out and its answers, the database across zones) and still
    keeps PostgreSQL to the stack's subnets."""
    settings = project.settings
    project.set("nat_gateway", '"single"')
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    # The NAT rules are a resource of their own; the ACL's own rules do not change.
    assert "aws_network_acl_rule.private_nat: Creation complete" in result.out
    assert "aws_network_acl.private: Modifying..." not in result.out
    ec2 = aws_client("ec2")
    acl = stack_acl(ec2, settings)
    assert associated(acl) == sorted(subnet_ids(ec2, settings, "private"))
    app_port = settings.app_port
    first, second = (host(cidr) for cidr in settings.private_subnet_cidrs)
    internet = "198.51.100.20"

    for balancer in (host(cidr) for cidr in settings.public_subnet_cidrs):
        assert admits(acl, egress=False, address=balancer, port=app_port)
        assert admits(acl, egress=True, address=balancer, port=EPHEMERAL_PORT)
    # An instance of one zone and the database in the other, both ways.
    assert admits(acl, egress=True, address=second, port=5432)
    assert admits(acl, egress=False, address=first, port=5432)
    assert admits(acl, egress=True, address=first, port=EPHEMERAL_PORT)
    assert admits(acl, egress=False, address=second, port=EPHEMERAL_PORT)
    # HTTPS to AWS's APIs and ECR through the NAT gateway, and the answers.
    assert admits(acl, egress=True, address=internet, port=443)
    assert admits(acl, egress=False, address=internet, port=EPHEMERAL_PORT)
    # The answers' port range does not open the database or the app to anyone else.
    for port in (5432, app_port, 22):
        assert not admits(acl, egress=False, address=internet, port=port)
        assert not admits(acl, egress=False, address="10.0.200.9", port=port)
    assert infra("plan").code == 0

    # Back to no NAT: nothing to or from the internet again, the NAT rules deleted.
    project.set("nat_gateway", '"none"')
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert "aws_network_acl_rule.private_nat: Destruction complete" in result.out
    assert "aws_network_acl.private: Modifying..." not in result.out
    acl = stack_acl(ec2, settings)
    assert not admits(acl, egress=True, address=internet, port=443)
    assert not admits(acl, egress=False, address=internet, port=EPHEMERAL_PORT)
    assert infra("plan").code == 0


def test_either_way_a_nat_switch_keeps_old_and_new_instances_on_the_database(project):
    """During the instance refresh that a nat_gateway switch starts, instances run in both
    kinds of subnet: the ACL's own rules (the app's traffic to the database, the load
    balancer's to the app) are the same whatever the setting, so the ACL never changes with
    it and cuts off neither the old instances nor the new ones. The NAT rules, which do
    change, are another resource's (aws_network_acl_rule.private_nat, test_nat.py checks when
    they come and go), in numbers of their own, after the ACL's own rules."""

    def rules(mode: str) -> dict[str, tuple[str, ...]]:
        project.set("nat_gateway", f'"{mode}"')
        return desired_entries(project.settings)

    assert rules("none") == rules("single") == rules("per_az")
    own = rules("none")
    nat = nat_entries(project.settings)
    for direction in ("ingress", "egress"):
        own_numbers = [int(text.split(" ")[0]) for text in own[direction]]
        nat_numbers = [int(text.split(" ")[0]) for text in nat[direction]]
        assert not any(number in NAT_RULE_NUMBERS for number in own_numbers)
        assert all(number in NAT_RULE_NUMBERS for number in nat_numbers)
        assert max(own_numbers) < min(nat_numbers)
    assert nat["ingress"] == (
        "300 deny tcp 5432 0.0.0.0/0",
        f"301 deny tcp {project.settings.app_port} 0.0.0.0/0",
        "310 allow tcp 1024-65535 0.0.0.0/0",
    )
    assert nat["egress"] == ("300 allow tcp 443 0.0.0.0/0",)


def test_destroy_deletes_the_subnets_then_the_acl(deployed, project, infra, aws_client, requests):
    settings = project.settings
    private = set(subnet_ids(aws_client("ec2"), settings, "private"))
    result = infra("destroy", "--auto-approve", "--skip-final-snapshot")
    assert result.code == 0, result.err
    operations = [operation for operation, _params in requests]
    # The subnets take their associations with them: the default ACL is never touched.
    assert "ReplaceNetworkAclAssociation" not in operations
    private_deletes = [
        i
        for i, (operation, params) in enumerate(requests)
        if operation == "DeleteSubnet" and params["SubnetId"] in private
    ]
    assert len(private_deletes) == len(private)
    assert operations.index("DeleteNetworkAcl") > max(private_deletes)
    assert remaining(aws_client, settings) == []


def test_the_most_subnets_validate_allows_fit_in_the_rules_aws_allows_an_acl():
    """validate refuses more than MAX_SUBNETS_PER_TIER subnets a tier: with that many and
    NAT on, the ACL's rules and AWS's deny-all fit in each direction; one more pair would not
    (an apply would stop at NetworkAclEntryLimitExceeded)."""

    def most_rules_one_way(pairs: int) -> int:
        settings = dataclasses.replace(
            load(),
            public_subnet_cidrs=tuple(f"10.0.{i}.0/24" for i in range(pairs)),
            private_subnet_cidrs=tuple(f"10.0.{100 + i}.0/24" for i in range(pairs)),
        )
        own, nat = desired_entries(settings), nat_entries(settings)
        return 1 + max(len(own[way]) + len(nat[way]) for way in ("ingress", "egress"))

    assert most_rules_one_way(MAX_SUBNETS_PER_TIER) <= RULES_PER_ACL
    assert most_rules_one_way(MAX_SUBNETS_PER_TIER + 1) > RULES_PER_ACL
