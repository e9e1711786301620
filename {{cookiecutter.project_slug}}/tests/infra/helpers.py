"""What the deploy tests share besides fixtures: a project copy to run `python -m infra` on,
the calls it makes, and what is left of a stack in the emulator."""

from __future__ import annotations

import dataclasses
import ipaddress
import shutil
from pathlib import Path

import boto3

from infra import aws, cli, stack_file
from infra.validation import OPTIONS, VALUED_OPTIONS, StackSettings

PROJECT_ROOT = Path(__file__).absolute().parents[2]


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def plan_summary(self) -> str:
        """The plan's "Plan: ..." or "No changes." line (the cost estimate comes after it)."""
        return next(
            line for line in self.out.splitlines() if line.startswith(("Plan:", "No changes."))
        )


class Project:
    """A copy of the project's stack.toml and a way to run `python -m infra` on it."""

    def __init__(self, directory: Path):
        self.path = directory / "stack.toml"
        shutil.copy(PROJECT_ROOT / "stack.toml", self.path)
        # Tests start from the base stack whatever options the project chose (deletion
        # protection would stop every destroy); the option tests turn each one on.
        for option in (*OPTIONS, *VALUED_OPTIONS):
            self.unset(option)

    @property
    def settings(self) -> StackSettings:
        return stack_file.load(self.path)

    def set(self, key: str, value: str) -> None:
        """Rewrite one `key = value` line of stack.toml (value as TOML), or add it."""
        lines = self._lines_without(key)
        # Added at the end, the key lands in the last table; every table is read alike.
        lines.append(f"{key} = {value}")
        self.path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def unset(self, key: str) -> None:
        """Remove `key` from stack.toml, so it takes its default."""
        self.path.write_text("\n".join(self._lines_without(key)) + "\n", encoding="utf-8")

    def _lines_without(self, key: str) -> list[str]:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [line for line in lines if line.split("=")[0].strip() != key]

    def run(self, *args: str, capsys=None) -> Result:
        code = cli.main([*args, "--config", str(self.path)])
        if capsys is None:
            return Result(code, "", "")
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)


class Calls:
    """Every AWS API call made, as (service, operation)."""

    def __init__(self):
        self.all: list[tuple[str, str]] = []

    def __call__(self, service: str, operation: str, _params: dict) -> None:
        self.all.append((service, operation))

    @property
    def mutating(self) -> list[tuple[str, str]]:
        return [call for call in self.all if aws.is_mutating(call[1])]

    def clear(self) -> None:
        self.all.clear()


HOSTED_ZONE_ID = "Z0HTTPS4TEST"

# The repository bootstrap-ci trusts in the tests.
REPO = "octo-org/visit-counter"
# Every option on, for the deploy role's tests: switches, and options with a value (as TOML).
SWITCHES_ON = ("vpc_flow_logs", "alb_access_logs")
VALUES_SET = {
    "monthly_budget_usd": "25",
    "alarm_email": '"you@example.com"',
    "domain_name": '"app.example.com"',
    "hosted_zone_id": f'"{HOSTED_ZONE_ID}"',  # the hosted_zone fixture's
    "nat_gateway": '"per_az"',
}


def create_hosted_zone(name: str, zone_id: str, **options) -> str:
    """A Route 53 zone whose id starts with Z like real ones do (moto's random ids need not)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.route53.models import HostedZoneIdentifier
    from moto.utilities.id_generator import moto_id_manager

    identifier = HostedZoneIdentifier(DEFAULT_ACCOUNT_ID, f"{name}.", None)
    moto_id_manager.set_custom_id(identifier, zone_id)
    try:
        created = boto3.client("route53").create_hosted_zone(
            Name=name, CallerReference=f"test {name}", **options
        )
    finally:
        moto_id_manager.unset_custom_id(identifier)
    return created["HostedZone"]["Id"].split("/")[-1]


def stack_tag_filters(settings) -> list[dict]:
    return [
        {"Key": "Project", "Values": [settings.project_slug]},
        {"Key": "Stack", "Values": [settings.stack_name]},
    ]


def remaining(aws_client, settings) -> list[str]:
    """Everything still tagged with the stack, by the tagging API and by each service."""
    ec2 = aws_client("ec2")
    left = [
        m["ResourceARN"]
        for m in aws_client("resourcegroupstaggingapi").get_resources(
            TagFilters=stack_tag_filters(settings)
        )["ResourceTagMappingList"]
    ]
    # Terminated instances stay listed for a while (about an hour in real AWS); they are gone.
    terminated = {
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}]
        )["Reservations"]
        for i in r["Instances"]
    }
    left = [arn for arn in left if arn.split("/")[-1] not in terminated]
    # So do deleted NAT gateways.
    deleted = {
        g["NatGatewayId"]
        for g in ec2.describe_nat_gateways(Filter=[{"Name": "state", "Values": ["deleted"]}])[
            "NatGateways"
        ]
    }
    left = [arn for arn in left if arn.split("/")[-1] not in deleted]
    filters = [
        {"Name": "tag:Project", "Values": [settings.project_slug]},
        {"Name": "tag:Stack", "Values": [settings.stack_name]},
    ]
    left += [v["VpcId"] for v in ec2.describe_vpcs(Filters=filters)["Vpcs"]]
    left += [s["SubnetId"] for s in ec2.describe_subnets(Filters=filters)["Subnets"]]
    left += [a["NetworkAclId"] for a in ec2.describe_network_acls(Filters=filters)["NetworkAcls"]]
    left += [g["GroupId"] for g in ec2.describe_security_groups(Filters=filters)["SecurityGroups"]]
    left += [
        g["InternetGatewayId"]
        for g in ec2.describe_internet_gateways(Filters=filters)["InternetGateways"]
    ]
    left += [
        t["LaunchTemplateId"]
        for t in ec2.describe_launch_templates(Filters=filters)["LaunchTemplates"]
    ]
    left += [a["AllocationId"] for a in ec2.describe_addresses(Filters=filters)["Addresses"]]
    left += [
        g["NatGatewayId"]
        for g in ec2.describe_nat_gateways(
            Filter=[{"Name": "state", "Values": ["pending", "available", "deleting"]}]
        )["NatGateways"]
    ]
    left += [
        r["Instances"][0]["InstanceId"]
        for r in ec2.describe_instances(
            Filters=filters
            + [
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                }
            ]
        )["Reservations"]
    ]
    left += [
        lb["LoadBalancerArn"]
        for lb in aws_client("elbv2").describe_load_balancers()["LoadBalancers"]
    ]
    left += [
        tg["TargetGroupArn"] for tg in aws_client("elbv2").describe_target_groups()["TargetGroups"]
    ]
    left += [
        g["AutoScalingGroupName"]
        for g in aws_client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    ]
    rds = aws_client("rds")
    left += [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    left += [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]]
    left += [
        g["DBParameterGroupName"]
        for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
        if g["DBParameterGroupName"].startswith(settings.name(""))
    ]
    left += [r["repositoryName"] for r in aws_client("ecr").describe_repositories()["repositories"]]
    left += [
        r["RoleName"]
        for r in aws_client("iam").list_roles()["Roles"]
        if r["RoleName"].startswith(settings.name(""))
    ]
    left += [
        p["InstanceProfileName"]
        for p in aws_client("iam").list_instance_profiles()["InstanceProfiles"]
    ]
    left += [g["logGroupName"] for g in aws_client("logs").describe_log_groups()["logGroups"]]
    left += [
        p["Name"]
        for p in aws_client("ssm").describe_parameters()["Parameters"]
        if p["Name"].startswith("/three-tier-flask/")
    ]
    left += [s["ARN"] for s in aws_client("secretsmanager").list_secrets()["SecretList"]]
    return left


def count_stack(aws_client, settings) -> dict[str, int]:
    ec2, tags = (
        aws_client("ec2"),
        [
            {"Name": "tag:Project", "Values": [settings.project_slug]},
            {"Name": "tag:Stack", "Values": [settings.stack_name]},
        ],
    )
    return {
        "vpcs": len(ec2.describe_vpcs(Filters=tags)["Vpcs"]),
        "subnets": len(ec2.describe_subnets(Filters=tags)["Subnets"]),
        "security groups": len(ec2.describe_security_groups(Filters=tags)["SecurityGroups"]),
        "gateways": len(ec2.describe_internet_gateways(Filters=tags)["InternetGateways"]),
        "route tables": len(ec2.describe_route_tables(Filters=tags)["RouteTables"]),
        "load balancers": len(aws_client("elbv2").describe_load_balancers()["LoadBalancers"]),
        "target groups": len(aws_client("elbv2").describe_target_groups()["TargetGroups"]),
        "databases": len(aws_client("rds").describe_db_instances()["DBInstances"]),
        "groups": len(
            aws_client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        ),
        "templates": len(ec2.describe_launch_templates()["LaunchTemplates"]),
    }


EXPECTED = {
    "vpcs": 1,
    "security groups": 3,  # the VPC's default group is AWS's: not tagged
    "gateways": 1,
    "route tables": 2,
    "load balancers": 1,
    "target groups": 1,
    "databases": 1,
    "groups": 1,
    "templates": 1,
}


def subnet_ids(ec2, settings, tier: str) -> list[str]:
    """The stack's subnets of one tier ("public" or "private"), in zone order."""
    return [
        ec2.describe_subnets(
            Filters=[{"Name": "tag:Name", "Values": [settings.name(f"{tier}-{index + 1}")]}]
        )["Subnets"][0]["SubnetId"]
        for index in range(settings.az_count)
    ]


def stack_db(aws_client, settings) -> dict:
    return aws_client("rds").describe_db_instances(DBInstanceIdentifier=settings.name("db"))[
        "DBInstances"
    ][0]


def guardduty_endpoint(ec2, vpc_id: str, subnet_id: str, region: str) -> tuple[str, str]:
    """What GuardDuty Runtime Monitoring puts in a VPC (Amazon GuardDuty User Guide,
    "Prerequisite - Creating an Amazon VPC endpoint"): a guardduty-data interface endpoint in
    `subnet_id` and its security group, both tagged GuardDutyManaged=true; (group, endpoint)."""
    guardduty = [{"Key": "GuardDutyManaged", "Value": "true"}]
    group_id = ec2.create_security_group(
        GroupName=f"GuardDutyManagedSecurityGroup-{vpc_id}",
        Description="Associated with VPC endpoint managed by GuardDuty",
        VpcId=vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": guardduty}],
    )["GroupId"]
    endpoint_id = ec2.create_vpc_endpoint(
        VpcId=vpc_id,
        ServiceName=f"com.amazonaws.{region}.guardduty-data",
        VpcEndpointType="Interface",
        SubnetIds=[subnet_id],
        SecurityGroupIds=[group_id],
        TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": guardduty}],
    )["VpcEndpoint"]["VpcEndpointId"]
    return group_id, endpoint_id


EPHEMERAL_PORT = 40000  # a Linux client's port: its ephemeral range is 32768-60999


def stack_acl(ec2, settings) -> dict:
    (acl,) = ec2.describe_network_acls(
        Filters=[{"Name": "tag:Name", "Values": [settings.name("private-acl")]}]
    )["NetworkAcls"]
    return acl


def admits(acl: dict, egress: bool, address: str, port: int) -> bool:
    """Whether TCP to or from `address` on `port` crosses the ACL in that direction, as AWS
    decides it (Amazon VPC User Guide, network ACLs): lowest rule number first, the first
    match decides, what none matches is denied."""
    for entry in sorted(acl["Entries"], key=lambda e: e["RuleNumber"]):
        if entry["Egress"] != egress or entry["Protocol"] not in ("6", "-1"):
            continue
        if ipaddress.ip_address(address) not in ipaddress.ip_network(entry["CidrBlock"]):
            continue
        ports = entry.get("PortRange")
        if ports and not ports["From"] <= port <= ports["To"]:
            continue
        return entry["RuleAction"] == "allow"
    return False  # AWS's last rule, `*`: deny
