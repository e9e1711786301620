"""One apply on moto, then the whole topology checked attribute by attribute."""

from __future__ import annotations

import base64
import ipaddress
import json
import urllib.parse

import boto3
import pytest

from infra.resources.app.instances import AMI_PARAMETER

ALLOWED_STAR_RESOURCE_ACTIONS = {
    # AWS offers no resource-level permission for these.
    "ecr:GetAuthorizationToken",
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


class Stack:
    """The deployed stack and boto3 clients to look at it."""

    def __init__(self, project, apply_output: str):
        self.project = project
        self.settings = project.settings
        self.apply_output = apply_output
        self.region = self.settings.aws_region

    def __getattr__(self, service: str):
        return boto3.client(service, region_name=self.region)

    @property
    def tagging(self):
        return boto3.client("resourcegroupstaggingapi", region_name=self.region)

    def tag_filters(self) -> list[dict]:
        s = self.settings
        return [
            {"Name": "tag:Project", "Values": [s.project_slug]},
            {"Name": "tag:Stack", "Values": [s.stack_name]},
            {"Name": "tag:ManagedBy", "Values": ["three-tier-flask"]},
        ]

    def vpc(self) -> dict:
        vpcs = self.ec2.describe_vpcs(Filters=self.tag_filters())["Vpcs"]
        assert len(vpcs) == 1
        return vpcs[0]

    def subnets(self, tier: str) -> list[dict]:
        found = self.ec2.describe_subnets(Filters=self.tag_filters())["Subnets"]
        prefix = self.settings.name(f"{tier}-")
        named = [(tag_value(s, "Name"), s) for s in found]
        return [s for name, s in sorted(named, key=lambda pair: pair[0]) if name.startswith(prefix)]

    def group(self, tier: str) -> dict:
        name = self.settings.name(f"{tier}-sg")
        return self.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [name]}]
        )["SecurityGroups"][0]

    def load_balancer(self) -> dict:
        found = self.elbv2.describe_load_balancers(Names=[self.settings.name("alb")])
        assert len(found["LoadBalancers"]) == 1
        return found["LoadBalancers"][0]

    def target_group(self) -> dict:
        return self.elbv2.describe_target_groups(Names=[self.settings.name("tg")])["TargetGroups"][
            0
        ]

    def db(self) -> dict:
        return self.rds.describe_db_instances(DBInstanceIdentifier=self.settings.name("db"))[
            "DBInstances"
        ][0]

    def launch_template_data(self) -> dict:
        template = self.ec2.describe_launch_templates(
            LaunchTemplateNames=[self.settings.name("lt")]
        )["LaunchTemplates"][0]
        return self.ec2.describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"],
            Versions=["$Default"],
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]

    def autoscaling_group(self) -> dict:
        return self.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.settings.name("asg")]
        )["AutoScalingGroups"][0]

    def policies(self) -> dict[str, dict]:
        role = self.settings.name("app-role")
        names = self.iam.list_role_policies(RoleName=role)["PolicyNames"]
        documents = {}
        for name in names:
            document = self.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            if isinstance(document, str):
                document = json.loads(urllib.parse.unquote(document))
            documents[name] = document
        return documents


def tag_value(item: dict, key: str) -> str:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}.get(key, "")


@pytest.fixture(scope="module")
def stack(applied_stack):
    return Stack(*applied_stack)


def test_vpc_resolves_dns_names(stack):
    vpc = stack.vpc()
    assert vpc["CidrBlock"] == stack.settings.vpc_cidr
    for attribute, key in (
        ("enableDnsSupport", "EnableDnsSupport"),
        ("enableDnsHostnames", "EnableDnsHostnames"),
    ):
        assert (
            stack.ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attribute)[key]["Value"]
            is True
        )


def test_one_public_and_one_private_subnet_per_zone(stack):
    public, private = stack.subnets("public"), stack.subnets("private")
    assert [s["CidrBlock"] for s in public] == list(stack.settings.public_subnet_cidrs)
    assert [s["CidrBlock"] for s in private] == list(stack.settings.private_subnet_cidrs)
    zones = [s["AvailabilityZone"] for s in public]
    assert len(set(zones)) == len(zones) == stack.settings.az_count
    assert [s["AvailabilityZone"] for s in private] == zones
    if stack.settings.availability_zones:
        assert zones == list(stack.settings.availability_zones)
    else:  # the region's first zones, picked at deploy time
        available = sorted(
            z["ZoneName"] for z in stack.ec2.describe_availability_zones()["AvailabilityZones"]
        )
        assert zones == available[: len(zones)]
    for subnet in public + private:
        assert ipaddress.ip_network(subnet["CidrBlock"]).subnet_of(
            ipaddress.ip_network(stack.settings.vpc_cidr)
        )


def test_subnets_do_not_hand_out_public_ips(stack):
    for subnet in stack.subnets("public") + stack.subnets("private"):
        assert subnet["MapPublicIpOnLaunch"] is False


def test_only_the_public_route_table_reaches_the_internet_gateway(stack):
    vpc_id = stack.vpc()["VpcId"]
    gateways = stack.ec2.describe_internet_gateways(Filters=stack.tag_filters())["InternetGateways"]
    assert len(gateways) == 1
    assert gateways[0]["Attachments"][0]["VpcId"] == vpc_id
    gateway_id = gateways[0]["InternetGatewayId"]
    tables = {
        tag_value(t, "Name"): t
        for t in stack.ec2.describe_route_tables(Filters=stack.tag_filters())["RouteTables"]
    }
    public = tables[stack.settings.name("public-rt")]
    private = tables[stack.settings.name("private-rt")]
    assert {(r.get("DestinationCidrBlock"), r.get("GatewayId")) for r in public["Routes"]} == {
        (stack.settings.vpc_cidr, "local"),
        ("0.0.0.0/0", gateway_id),
    }
    assert [r.get("GatewayId") for r in private["Routes"]] == ["local"]
    associated = {a["SubnetId"] for a in public["Associations"] if a.get("SubnetId")}
    assert associated == {s["SubnetId"] for s in stack.subnets("public")}
    associated = {a["SubnetId"] for a in private["Associations"] if a.get("SubnetId")}
    assert associated == {s["SubnetId"] for s in stack.subnets("private")}


def test_default_security_group_has_no_rules(stack):
    group = stack.ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [stack.vpc()["VpcId"]]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"][0]
    assert group["IpPermissions"] == []
    assert group["IpPermissionsEgress"] == []


def rules(permissions: list[dict]) -> set[tuple]:
    found = set()
    for p in permissions:
        sources = (
            [g["GroupId"] for g in p.get("UserIdGroupPairs", [])]
            + [r["CidrIp"] for r in p.get("IpRanges", [])]
            + [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
        )
        found |= {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), s) for s in sources}
    return found


def test_security_groups_are_layered_by_group_reference(stack):
    port = stack.settings.app_port
    alb, app, db = (stack.group(tier) for tier in ("alb", "app", "db"))
    assert rules(alb["IpPermissions"]) == {("tcp", 80, 80, "0.0.0.0/0"), ("tcp", 80, 80, "::/0")}
    assert rules(alb["IpPermissionsEgress"]) == {("tcp", port, port, app["GroupId"])}
    assert rules(app["IpPermissions"]) == {("tcp", port, port, alb["GroupId"])}
    assert rules(app["IpPermissionsEgress"]) == {
        ("tcp", 443, 443, "0.0.0.0/0"),
        ("tcp", 5432, 5432, db["GroupId"]),
    }
    assert rules(db["IpPermissions"]) == {("tcp", 5432, 5432, app["GroupId"])}
    assert rules(db["IpPermissionsEgress"]) == set()


def test_no_port_22_and_no_ip_sources_besides_the_public_entry(stack):
    groups = stack.ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [stack.vpc()["VpcId"]]}]
    )["SecurityGroups"]
    for group in groups:
        for rule in rules(group["IpPermissions"]) | rules(group["IpPermissionsEgress"]):
            assert rule[0] != "-1", group["GroupName"]
            assert not rule[1] <= 22 <= rule[2], group["GroupName"]
        for _protocol, low, _high, source in rules(group["IpPermissions"]):
            if not source.startswith("sg-"):  # only the load balancer's HTTP entry takes IPs
                assert (group["GroupName"], low) == (stack.settings.name("alb-sg"), 80)


def test_instance_role_trusts_ec2_only(stack):
    role = stack.iam.get_role(RoleName=stack.settings.name("app-role"))["Role"]
    document = role["AssumeRolePolicyDocument"]
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    assert document["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "ec2.amazonaws.com"},
        }
    ]
    assert (
        stack.iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    )
    profile = stack.iam.get_instance_profile(InstanceProfileName=stack.settings.name("app-profile"))
    assert [r["RoleName"] for r in profile["InstanceProfile"]["Roles"]] == [role["RoleName"]]


def test_instance_policies_are_least_privilege(stack):
    s = stack.settings
    db = stack.db()
    statements = [st for doc in stack.policies().values() for st in doc["Statement"]]
    by_action = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        for action in actions:
            assert "*" not in action, action
            by_action[action] = resources
            if "*" in resources:
                assert action in ALLOWED_STAR_RESOURCE_ACTIONS, action
    repository = stack.ecr.describe_repositories(repositoryNames=[s.name("app")])["repositories"][0]
    for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
        assert by_action[action] == [repository["repositoryArn"]]
    assert by_action["secretsmanager:GetSecretValue"] == [db["MasterUserSecret"]["SecretArn"]]
    assert by_action["rds:DescribeDBInstances"] == [db["DBInstanceArn"]]
    log_group = f"/{s.project_slug}/{s.stack_name}/app"
    assert all(log_group in resource for resource in by_action["logs:PutLogEvents"])
    assert by_action["ecr:GetAuthorizationToken"] == ["*"]


def test_registry_scans_on_push(stack):
    repository = stack.ecr.describe_repositories(repositoryNames=[stack.settings.name("app")])[
        "repositories"
    ][0]
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    assert repository["encryptionConfiguration"]["encryptionType"] == "AES256"


def test_database_is_private_encrypted_and_keeps_its_password_in_secrets_manager(stack):
    s, db = stack.settings, stack.db()
    assert db["Engine"] == "postgres"
    assert db["EngineVersion"].split(".")[0] == s.db_engine_version
    assert db["DBInstanceClass"] == s.db_instance_class
    assert db["AllocatedStorage"] == s.db_allocated_storage_gb
    assert db["StorageType"] == "gp3"
    assert db["StorageEncrypted"] is True
    assert db["PubliclyAccessible"] is False
    assert db["BackupRetentionPeriod"] == s.db_backup_retention_days
    assert db["MasterUsername"] == s.db_admin_username
    assert db["DBName"] == s.db_name
    assert db["MasterUserSecret"]["SecretArn"].startswith("arn:")
    assert db["CopyTagsToSnapshot"] is True
    assert db["AutoMinorVersionUpgrade"] is True
    assert db["DeletionProtection"] is False
    assert sorted(db["EnabledCloudwatchLogsExports"]) == ["postgresql", "upgrade"]
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [
        stack.group("db")["GroupId"]
    ]
    group = db["DBParameterGroups"][0]["DBParameterGroupName"]
    family = stack.rds.describe_db_parameter_groups(DBParameterGroupName=group)[
        "DBParameterGroups"
    ][0]["DBParameterGroupFamily"]
    assert family == f"postgres{s.db_engine_version}"
    parameters = stack.rds.describe_db_parameters(DBParameterGroupName=group)["Parameters"]
    assert {p["ParameterName"]: p["ParameterValue"] for p in parameters}["rds.force_ssl"] == "1"
    subnets = db["DBSubnetGroup"]["Subnets"]
    assert {x["SubnetIdentifier"] for x in subnets} == {
        x["SubnetId"] for x in stack.subnets("private")
    }
    assert len({x["SubnetAvailabilityZone"]["Name"] for x in subnets}) >= 2


def test_no_password_appears_in_the_output(stack):
    secret = stack.secretsmanager.get_secret_value(
        SecretId=stack.db()["MasterUserSecret"]["SecretArn"]
    )["SecretString"]
    password = json.loads(secret)["password"]
    assert password not in stack.apply_output


def test_load_balancer_is_internet_facing_over_the_public_subnets(stack):
    lb = stack.load_balancer()
    assert lb["Scheme"] == "internet-facing"
    assert lb["Type"] == "application"
    assert {z["SubnetId"] for z in lb["AvailabilityZones"]} == {
        s["SubnetId"] for s in stack.subnets("public")
    }
    assert lb["SecurityGroups"] == [stack.group("alb")["GroupId"]]
    attributes = {
        a["Key"]: a["Value"]
        for a in stack.elbv2.describe_load_balancer_attributes(
            LoadBalancerArn=lb["LoadBalancerArn"]
        )["Attributes"]
    }
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"


def test_target_group_checks_health_as_configured(stack):
    s, tg = stack.settings, stack.target_group()
    assert len(tg["TargetGroupName"]) <= 32
    assert (tg["Port"], tg["Protocol"], tg["TargetType"]) == (s.app_port, "HTTP", "instance")
    assert tg["HealthCheckPath"] == s.health_check_path
    assert tg["HealthCheckIntervalSeconds"] == s.health_check_interval_seconds
    assert tg["HealthCheckTimeoutSeconds"] == s.health_check_timeout_seconds
    assert tg["HealthyThresholdCount"] == s.health_check_healthy_threshold
    assert tg["UnhealthyThresholdCount"] == s.health_check_unhealthy_threshold
    assert tg["Matcher"]["HttpCode"] == s.health_check_success_codes


def test_listener_forwards_http_to_the_target_group(stack):
    listeners = stack.elbv2.describe_listeners(
        LoadBalancerArn=stack.load_balancer()["LoadBalancerArn"]
    )["Listeners"]
    assert [(x["Port"], x["Protocol"]) for x in listeners] == [(80, "HTTP")]
    action = listeners[0]["DefaultActions"][0]
    assert (action["Type"], action["TargetGroupArn"]) == (
        "forward",
        stack.target_group()["TargetGroupArn"],
    )


def test_launch_template_is_hardened(stack):
    s, data = stack.settings, stack.launch_template_data()
    assert data["InstanceType"] == s.app_instance_type
    arch = stack.ec2.describe_instance_types(InstanceTypes=[s.app_instance_type])["InstanceTypes"][
        0
    ]["ProcessorInfo"]["SupportedArchitectures"]
    parameter = AMI_PARAMETER.format(arch="arm64" if "arm64" in arch else "x86_64")
    assert data["ImageId"] == stack.ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    disk = data["BlockDeviceMappings"][0]["Ebs"]
    assert (disk["VolumeType"], disk["Encrypted"]) == ("gp3", True)
    assert "KeyName" not in data
    interface = data["NetworkInterfaces"][0]
    assert interface["AssociatePublicIpAddress"] is True
    assert interface["Groups"] == [stack.group("app")["GroupId"]]
    assert data["IamInstanceProfile"]["Name"] == s.name("app-profile")


def test_user_data_runs_the_image_and_waits_for_the_database(stack):
    s = stack.settings
    script = base64.b64decode(stack.launch_template_data()["UserData"]).decode()
    assert script.startswith("#!/bin/bash")
    assert "@" not in script.replace("$@", "")  # every placeholder filled in
    assert f"DB_IDENTIFIER={s.name('db')}" in script
    assert "aws rds describe-db-instances" in script
    assert "--restart unless-stopped" in script
    assert f"LOG_GROUP=/{s.project_slug}/{s.stack_name}/app" in script
    assert "awslogs-stream=${INSTANCE_ID}" in script
    assert "DB_SSLMODE=verify-full" in script  # against the region's RDS CA bundle
    assert f"HEALTH_CHECK_PATH={s.health_check_path}" in script
    assert "IMAGE_TAG=latest" in script
    assert "DB_PASSWORD" not in script  # the app reads the secret itself, at run time


def test_autoscaling_group_sizes_and_health_checks(stack):
    s, group = stack.settings, stack.autoscaling_group()
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (
        s.app_min_size,
        s.app_desired_capacity,
        s.app_max_size,
    )
    assert group["TargetGroupARNs"] == [stack.target_group()["TargetGroupArn"]]
    assert set(group["VPCZoneIdentifier"].split(",")) == {
        x["SubnetId"] for x in stack.subnets("public")
    }
    assert group["HealthCheckType"] == "ELB"
    assert group["HealthCheckGracePeriod"] > 0
    assert all(tag["PropagateAtLaunch"] for tag in group["Tags"])
    assert len(group["Instances"]) == s.app_desired_capacity


def test_log_group_keeps_logs_as_configured(stack):
    s = stack.settings
    name = f"/{s.project_slug}/{s.stack_name}/app"
    group = stack.logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
    assert group["retentionInDays"] == s.log_retention_days


def test_every_taggable_resource_carries_the_stack_tags(stack):
    s = stack.settings
    expected = {"Project": s.project_slug, "Stack": s.stack_name, "ManagedBy": "three-tier-flask"}

    def tagged(tag_list) -> bool:
        found = {t["Key"]: t["Value"] for t in tag_list}
        return all(found.get(k) == v for k, v in expected.items())

    ec2, vpc_id = stack.ec2, stack.vpc()["VpcId"]
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    ours = {"Name": "group-name", "Values": [s.name(f"{tier}-sg") for tier in ("alb", "app", "db")]}
    items = (
        ec2.describe_subnets(Filters=by_vpc)["Subnets"]
        + ec2.describe_route_tables(
            Filters=by_vpc + [{"Name": "association.main", "Values": ["false"]}]
        )["RouteTables"]
        # Not the VPC's default group: AWS's, untagged (the deploy role tags on create only).
        + ec2.describe_security_groups(Filters=[*by_vpc, ours])["SecurityGroups"]
        + ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
        )["InternetGateways"]
        + ec2.describe_launch_templates(LaunchTemplateNames=[s.name("lt")])["LaunchTemplates"]
    )
    for item in items:
        assert tagged(item.get("Tags", [])), item
    arns = [stack.load_balancer()["LoadBalancerArn"], stack.target_group()["TargetGroupArn"]]
    arns += [
        x["ListenerArn"]
        for x in stack.elbv2.describe_listeners(LoadBalancerArn=arns[0])["Listeners"]
    ]
    for description in stack.elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"]:
        assert tagged(description["Tags"]), description["ResourceArn"]
    db = stack.db()
    assert tagged(db["TagList"])
    for arn in (db["DBSubnetGroup"]["DBSubnetGroupArn"],):
        assert tagged(stack.rds.list_tags_for_resource(ResourceName=arn)["TagList"])
    assert tagged(stack.autoscaling_group()["Tags"])
    role = stack.iam.get_role(RoleName=s.name("app-role"))["Role"]
    assert tagged(role["Tags"])
    repository = stack.ecr.describe_repositories(repositoryNames=[s.name("app")])["repositories"][0]
    assert tagged(
        [
            {"Key": k["Key"], "Value": k["Value"]}
            for k in stack.ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])[
                "tags"
            ]
        ]
    )
    group = stack.logs.describe_log_groups(logGroupNamePrefix=f"/{s.project_slug}/")["logGroups"][0]
    log_tags = stack.logs.list_tags_for_resource(resourceArn=group["logGroupArn"])["tags"]
    assert tagged([{"Key": k, "Value": v} for k, v in log_tags.items()])
    instances = [
        i
        for r in ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["running", "pending"]}]
        )["Reservations"]
        for i in r["Instances"]
    ]
    assert instances and all(tagged(i.get("Tags", [])) for i in instances)


def test_tagging_api_finds_the_stack(stack):
    s = stack.settings
    found = stack.tagging.get_resources(
        TagFilters=[
            {"Key": "Project", "Values": [s.project_slug]},
            {"Key": "Stack", "Values": [s.stack_name]},
        ]
    )["ResourceTagMappingList"]
    services = {mapping["ResourceARN"].split(":")[2] for mapping in found}
    assert {"ec2", "elasticloadbalancing", "rds"} <= services


def test_outputs_name_what_was_built(stack, capsys):
    result = stack.project.run("outputs", "--json", capsys=capsys)
    assert result.code == 0
    values = json.loads(result.out)
    assert values["app_url"] == f"http://{stack.load_balancer()['DNSName']}"
    assert values["db_endpoint"] == f"{stack.db()['Endpoint']['Address']}:5432"
    assert values["db_secret_arn"] == stack.db()["MasterUserSecret"]["SecretArn"]
    assert values["ecr_repository_uri"].endswith(f"/{stack.settings.name('app')}")
    assert values["vpc_id"] == stack.vpc()["VpcId"]


def test_plan_after_apply_has_no_changes_and_changes_nothing(stack, calls, capsys):
    result = stack.project.run("plan", capsys=capsys)
    assert result.code == 0, result.out
    assert "No changes." in result.out
    assert calls.all and calls.mutating == []


def test_second_apply_makes_no_mutating_call(stack, calls, capsys):
    result = stack.project.run("apply", "--auto-approve", capsys=capsys)
    assert result.code == 0
    assert "No changes." in result.out
    assert calls.mutating == []
