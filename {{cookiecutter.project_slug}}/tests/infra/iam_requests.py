"""The IAM authorization requests AWS makes for each API call of the deploy tool.

One boto3 call can need several permissions: its own action on each resource it names,
and the implicit ones AWS checks with the caller's rights (tagging on create, passing a
role, a service-linked role, a launch template's `ec2:RunInstances`, a secret RDS creates).
`RequestMapper.requests(service, operation, params)` lists them as `Request`s: the IAM
action, the resource ARN AWS evaluates, and the request context (condition keys).

The rules come from AWS's Service Authorization Reference ("Actions, resources, and
condition keys for <service>", SAR below): the resource types an action supports, and the
keys each sets. Where an action supports no resource-level permissions, the resource is
`*`. A resource the call creates has no id yet: EC2 authorizes it as `<type>/*`; for the
other services these requests use a placeholder id (`NEW_HEX`, `NEW_UUID`). Each implicit
permission names the AWS page that states it.

Tags of existing resources go into the context as `aws:ResourceTag/K` (and the service's
own spelling where the SAR defines one, like `ec2:ResourceTag/K`). They must be read when
the call is made, before it changes them: `Recorder` is an `infra.aws.call_observers`
entry, and observers run before each call. Lookups use plain boto3 clients of their own,
which infra's observers do not see.

Modelled context keys: tags, and the service keys the deploy policy can use
(`ec2:CreateAction`, `ec2:LaunchTemplate`, `iam:PermissionsBoundary`, `iam:PassedToService`,
`iam:PolicyARN`, `iam:AWSServiceName`, `route53:ChangeResourceRecordSets*`, ...); not every
key the SAR lists. An operation with no rule here raises `UnmappedOperation`.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Iterable
from typing import NamedTuple

import boto3
import botocore.exceptions

# Placeholder ids of resources a call creates (see the module docstring).
NEW_HEX = "0000000000000000"
NEW_UUID = "00000000-0000-0000-0000-000000000000"


class UnmappedOperation(Exception):
    """A call with no rule here: add one, with the AWS page it comes from."""


class Need(NamedTuple):
    action: str
    resource: str
    context: dict


@dataclasses.dataclass(frozen=True)
class Request:
    """One authorization request, and the call (`service:Operation`) that made it."""

    action: str
    resource: str
    context: tuple[tuple[str, str | tuple[str, ...]], ...]
    call: str

    @classmethod
    def of(cls, need: Need, call: str) -> Request:
        items = tuple(
            sorted(
                (key, tuple(value) if isinstance(value, list | tuple) else str(value))
                for key, value in need.context.items()
            )
        )
        return cls(need.action, need.resource, items, call)

    def context_dict(self) -> dict:
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in self.context
        }

    def __str__(self) -> str:
        keys = ", ".join(
            f"{key}={list(value) if isinstance(value, tuple) else value}"
            for key, value in self.context
        )
        return f"{self.action} on {self.resource} [{keys}] (call {self.call})"


# ---------------------------------------------------------------------------------------
# Tags and context


def tag_dict(tags) -> dict[str, str]:
    """Tags as a dict, from `[{"Key": k, "Value": v}]` (or lowercase keys) or a dict."""
    if isinstance(tags, dict):
        return {str(key): str(value) for key, value in tags.items()}
    return {
        tag.get("Key", tag.get("key")): tag.get("Value", tag.get("value", "")) for tag in tags or []
    }


def request_tags(tags: dict, *aliases: str) -> dict:
    """`aws:RequestTag/K` for each tag the request adds, and `aws:TagKeys`."""
    if not tags:
        return {}
    context = {}
    for key, value in tags.items():
        context[f"aws:RequestTag/{key}"] = value
        for alias in aliases:
            context[f"{alias}/{key}"] = value
    context["aws:TagKeys"] = sorted(tags)
    return context


def resource_tags(tags: dict, *aliases: str) -> dict:
    """`aws:ResourceTag/K` for each tag the resource has, and the service's own spelling."""
    context = {}
    for key, value in tags.items():
        context[f"aws:ResourceTag/{key}"] = value
        for alias in aliases:
            context[f"{alias}/{key}"] = value
    return context


def listed(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def tag_specifications(params: dict) -> dict[str, dict]:
    """EC2 `TagSpecifications` as {resource type: tags}."""
    return {
        spec["ResourceType"]: tag_dict(spec.get("Tags"))
        for spec in params.get("TagSpecifications", [])
    }


def normalized_record_name(name: str) -> str:
    """As Route 53 puts it in `route53:ChangeResourceRecordSetsNormalizedRecordNames`
    (Route 53 Developer Guide, "Using IAM policy conditions for fine-grained access
    control"): lowercase, without the trailing dot, octal escapes (\\052) decoded."""
    decoded = re.sub(r"\\(\d{3})", lambda match: chr(int(match.group(1), 8)), name)
    return decoded.lower().rstrip(".")


# IAM User Guide, "AWS global condition context keys", aws:RequestedRegion: the Region the
# call is sent to; calls to the global services below go to us-east-1.
GLOBAL_SERVICES = ("budgets", "iam", "route53")


def region_keys(service: str, region: str, action: str) -> dict:
    """The Region keys of a request made through a call to `service` (boto3's name, or
    the IAM prefix): aws:RequestedRegion, and ec2:Region for EC2 actions (SAR, EC2)."""
    keys = {"aws:RequestedRegion": "us-east-1" if service in GLOBAL_SERVICES else region}
    if action.startswith("ec2:"):
        keys["ec2:Region"] = region
    return keys


# ---------------------------------------------------------------------------------------
# The mapper: ARNs, lookups of existing resources, and the rules of each operation

Rule = Callable[["RequestMapper", str, dict], list[Need]]
RULES: dict[tuple[str, str], Rule] = {}


def rule(service: str, *operations: str) -> Callable[[Rule], Rule]:
    def register(function: Rule) -> Rule:
        for operation in operations:
            RULES[(service, operation)] = function
        return function

    return register


class RequestMapper:
    """Maps calls to requests for one account and region; thread-safe (calls come from
    the deploy tool's worker threads). `tags_of` gives the tags of resources moto cannot
    tag (budgets), by ARN."""

    def __init__(
        self,
        region: str,
        account: str | None = None,
        partition: str = "aws",
        tags_of: dict[str, list] | None = None,
    ):
        self.region = region
        self.partition = partition
        self._session = boto3.session.Session(region_name=region)
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()
        self.account = account or self.client("sts").get_caller_identity()["Account"]
        self.tags_of = tags_of if tags_of is not None else {}

    def requests(self, service: str, operation: str, params: dict) -> list[Request]:
        found = RULES.get((service, operation))
        if found is None:
            raise UnmappedOperation(f"{service}:{operation}")
        return [
            Request.of(
                need._replace(
                    context={**region_keys(service, self.region, need.action), **need.context}
                ),
                f"{service}:{operation}",
            )
            for need in found(self, operation, params)
        ]

    def client(self, service: str):
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(service)
            return self._clients[service]

    # ARNs

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        where = self.region if region else ""
        owner = self.account if account else ""
        return f"arn:{self.partition}:{service}:{where}:{owner}:{resource}"

    def ec2_arn(self, kind: str, resource_id: str) -> str:
        if kind == "image":  # AMIs: no account in the ARN (SAR, EC2 resource type image)
            return self.arn("ec2", f"image/{resource_id}", account=False)
        return self.arn("ec2", f"{kind}/{resource_id}")

    def iam_arn(self, resource: str) -> str:
        return self.arn("iam", resource, region=False)

    # Lookups at call time; a resource that does not exist (yet, or any more) has no tags.

    def quietly(self, lookup: Callable[[], object], default=None):
        try:
            return lookup()
        except botocore.exceptions.ClientError:
            return default

    def ec2_tags(self, resource_id: str) -> dict:
        filters = [{"Name": "resource-id", "Values": [resource_id]}]
        found = self.quietly(lambda: self.client("ec2").describe_tags(Filters=filters), {})
        return tag_dict(found.get("Tags", []))

    def ec2_existing(self, kind: str, resource_id: str) -> tuple[str, dict]:
        """The ARN and resource-tag context of an existing EC2 resource."""
        tags = self.ec2_tags(resource_id)
        return self.ec2_arn(kind, resource_id), resource_tags(tags, "ec2:ResourceTag")

    def role(self, name: str) -> tuple[dict, str | None]:
        """A role's tags and permissions boundary ARN ({} and None when it does not exist)."""
        role = self.quietly(lambda: self.client("iam").get_role(RoleName=name)["Role"], {})
        boundary = role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        return tag_dict(role.get("Tags", [])), boundary

    def instance_profile(self, name: str) -> dict:
        return self.quietly(
            lambda: self.client("iam").get_instance_profile(InstanceProfileName=name)[
                "InstanceProfile"
            ],
            {},
        )

    def elb_tags(self, arn: str) -> dict:
        found = self.quietly(
            lambda: self.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"], []
        )
        return tag_dict(found[0].get("Tags", [])) if found else {}

    def rds_tags(self, arn: str) -> dict:
        found = self.quietly(
            lambda: self.client("rds").list_tags_for_resource(ResourceName=arn)["TagList"], []
        )
        return tag_dict(found)

    def group(self, name: str) -> dict:
        found = self.quietly(
            lambda: self.client("autoscaling").describe_auto_scaling_groups(
                AutoScalingGroupNames=[name]
            )["AutoScalingGroups"],
            [],
        )
        return found[0] if found else {}

    def tags_by(self, service: str, method: str, result: str, **arguments) -> dict:
        """Tags from a service's own list-tags call, `result` naming the list in the answer."""
        found = self.quietly(lambda: getattr(self.client(service), method)(**arguments)[result], [])
        return tag_dict(found)


# ---------------------------------------------------------------------------------------
# Calls that need no permission, and reads AWS does not scope to resources


@rule("sts", "GetCallerIdentity")
def _no_permission(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    # STS API Reference, GetCallerIdentity: "No permissions are required to perform this
    # operation."
    return []


UNSCOPED = {
    # SAR: these actions list no resource types, so AWS evaluates them on "*".
    "ec2": (
        "DescribeAddresses",
        "DescribeAvailabilityZones",
        "DescribeFlowLogs",
        "DescribeImages",
        "DescribeInstanceTypeOfferings",
        "DescribeInstanceTypes",
        "DescribeInstances",
        "DescribeInternetGateways",
        "DescribeLaunchTemplateVersions",
        "DescribeLaunchTemplates",
        "DescribeNatGateways",
        "DescribeNetworkAcls",
        "DescribeRegions",
        "DescribeRouteTables",
        "DescribeSecurityGroups",
        "DescribeSubnets",
        "DescribeTags",
        "DescribeVpcs",
    ),
    "elbv2": (
        "DescribeListeners",
        "DescribeLoadBalancerAttributes",
        "DescribeLoadBalancers",
        "DescribeTags",
        "DescribeTargetGroupAttributes",
        "DescribeTargetGroups",
        "DescribeTargetHealth",
    ),
    "autoscaling": (
        "DescribeAutoScalingGroups",
        "DescribeInstanceRefreshes",
        "DescribeLoadBalancerTargetGroups",
        "DescribeScalingActivities",
        "DescribeTags",
    ),
    "acm": ("ListCertificates",),
    "logs": ("DescribeLogGroups",),
    "rds": ("DescribeOrderableDBInstanceOptions",),
    "ecr": ("GetAuthorizationToken",),
    "iam": ("ListOpenIDConnectProviders",),
}
IAM_PREFIX = {"elbv2": "elasticloadbalancing"}


def _unscoped(m: RequestMapper, operation: str, params: dict, service: str) -> list[Need]:
    return [Need(f"{IAM_PREFIX.get(service, service)}:{operation}", "*", {})]


for _service, _operations in UNSCOPED.items():
    rule(_service, *_operations)(
        lambda m, operation, params, service=_service: _unscoped(m, operation, params, service)
    )


@rule("pricing", "GetProducts")
def _price_list(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    # SAR, AWS Price List: GetProducts lists no resource types. The deploy tool sends it to
    # the Price List endpoint in us-east-1 (infra/price_list.py), whatever the stack's Region.
    return [Need("pricing:GetProducts", "*", {"aws:RequestedRegion": "us-east-1"})]


# ---------------------------------------------------------------------------------------
# EC2

EC2_KINDS = {
    "ami": "image",
    "eipalloc": "elastic-ip",
    "eni": "network-interface",
    "fl": "vpc-flow-log",
    "i": "instance",
    "igw": "internet-gateway",
    "lt": "launch-template",
    "acl": "network-acl",
    "nat": "natgateway",
    "rtb": "route-table",
    "sg": "security-group",
    "subnet": "subnet",
    "vol": "volume",
    "vpc": "vpc",
}


def ec2_kind(resource_id: str) -> str:
    return EC2_KINDS[resource_id.split("-", 1)[0]]


def tag_on_create(m: RequestMapper, operation: str, specifications: dict[str, dict]) -> list[Need]:
    # Amazon EC2 User Guide, "Grant permission to tag Amazon EC2 resources during
    # creation": tags given to a create call need ec2:CreateTags on the new resource, with
    # ec2:CreateAction naming the call.
    return [
        Need(
            "ec2:CreateTags",
            m.ec2_arn(kind, "*"),
            {**request_tags(tags), "ec2:CreateAction": operation},
        )
        for kind, tags in specifications.items()
        if tags
    ]


# The created resource's type, and (parameter, type) of the existing ones the SAR lists.
EC2_CREATES = {
    "AllocateAddress": ("elastic-ip", ()),
    "CreateInternetGateway": ("internet-gateway", ()),
    "CreateLaunchTemplate": ("launch-template", ()),
    "CreateNatGateway": ("natgateway", (("SubnetId", "subnet"), ("AllocationId", "elastic-ip"))),
    "CreateNetworkAcl": ("network-acl", (("VpcId", "vpc"),)),
    "CreateRouteTable": ("route-table", (("VpcId", "vpc"),)),
    "CreateSecurityGroup": ("security-group", (("VpcId", "vpc"),)),
    "CreateSubnet": ("subnet", (("VpcId", "vpc"),)),
    "CreateVpc": ("vpc", ()),
}


@rule("ec2", *EC2_CREATES)
def _ec2_create(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    kind, existing = EC2_CREATES[operation]
    specifications = tag_specifications(params)
    needs = [
        Need(f"ec2:{operation}", m.ec2_arn(kind, "*"), request_tags(specifications.get(kind, {})))
    ]
    for parameter, existing_kind in existing:
        for resource_id in listed(params.get(parameter)):
            needs.append(Need(f"ec2:{operation}", *m.ec2_existing(existing_kind, resource_id)))
    return needs + tag_on_create(m, operation, specifications)


FLOW_LOG_TARGETS = {"VPC": "vpc", "Subnet": "subnet", "NetworkInterface": "network-interface"}


@rule("ec2", "CreateFlowLogs")
def _create_flow_logs(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    specifications = tag_specifications(params)
    needs = [
        Need(
            "ec2:CreateFlowLogs",
            m.ec2_arn("vpc-flow-log", "*"),
            request_tags(specifications.get("vpc-flow-log", {})),
        )
    ]
    target = FLOW_LOG_TARGETS[params["ResourceType"]]
    for resource_id in params["ResourceIds"]:
        needs.append(Need("ec2:CreateFlowLogs", *m.ec2_existing(target, resource_id)))
    if params.get("DeliverLogsPermissionArn"):
        # Amazon VPC User Guide, "IAM role for publishing flow logs to CloudWatch Logs":
        # the caller needs iam:PassRole on the delivery role.
        needs += pass_role(m, params["DeliverLogsPermissionArn"], "vpc-flow-logs.amazonaws.com")
    return needs + tag_on_create(m, operation, specifications)


# (parameter, type) of the existing resources each change names, as the SAR lists them.
EC2_CHANGES = {
    "AssociateRouteTable": (
        ("RouteTableId", "route-table"),
        ("SubnetId", "subnet"),
        ("GatewayId", "internet-gateway"),
    ),
    "AttachInternetGateway": (("InternetGatewayId", "internet-gateway"), ("VpcId", "vpc")),
    "AuthorizeSecurityGroupEgress": (("GroupId", "security-group"),),
    "AuthorizeSecurityGroupIngress": (("GroupId", "security-group"),),
    "CreateLaunchTemplateVersion": (("LaunchTemplateId", "launch-template"),),
    "CreateNetworkAclEntry": (("NetworkAclId", "network-acl"),),
    "CreateRoute": (("RouteTableId", "route-table"),),
    "DeleteFlowLogs": (("FlowLogIds", "vpc-flow-log"),),
    "DeleteInternetGateway": (("InternetGatewayId", "internet-gateway"),),
    "DeleteLaunchTemplate": (("LaunchTemplateId", "launch-template"),),
    "DeleteNatGateway": (("NatGatewayId", "natgateway"),),
    "DeleteNetworkAcl": (("NetworkAclId", "network-acl"),),
    "DeleteNetworkAclEntry": (("NetworkAclId", "network-acl"),),
    "DeleteRoute": (("RouteTableId", "route-table"),),
    "DeleteRouteTable": (("RouteTableId", "route-table"),),
    "DeleteSecurityGroup": (("GroupId", "security-group"),),
    "DeleteSubnet": (("SubnetId", "subnet"),),
    "DeleteVpc": (("VpcId", "vpc"),),
    "DescribeVpcAttribute": (("VpcId", "vpc"),),
    "DetachInternetGateway": (("InternetGatewayId", "internet-gateway"), ("VpcId", "vpc")),
    "ModifyLaunchTemplate": (("LaunchTemplateId", "launch-template"),),
    "ModifySubnetAttribute": (("SubnetId", "subnet"),),
    "ModifyVpcAttribute": (("VpcId", "vpc"),),
    "ReleaseAddress": (("AllocationId", "elastic-ip"),),
    # SAR: the network-acl only; for the association, the ACL the subnet moves to.
    "ReplaceNetworkAclAssociation": (("NetworkAclId", "network-acl"),),
    "ReplaceNetworkAclEntry": (("NetworkAclId", "network-acl"),),
    "RevokeSecurityGroupEgress": (("GroupId", "security-group"),),
    "RevokeSecurityGroupIngress": (("GroupId", "security-group"),),
}


def launch_template_id(m: RequestMapper, params: dict) -> str | None:
    if params.get("LaunchTemplateId"):
        return params["LaunchTemplateId"]
    name = params.get("LaunchTemplateName")
    if not name:
        return None
    found = m.client("ec2").describe_launch_templates(LaunchTemplateNames=[name])
    return found["LaunchTemplates"][0]["LaunchTemplateId"]


@rule("ec2", *EC2_CHANGES)
def _ec2_change(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    params = dict(params)
    if "launch-template" in dict(EC2_CHANGES[operation]).values():
        params["LaunchTemplateId"] = launch_template_id(m, params)
    needs = []
    for parameter, kind in EC2_CHANGES[operation]:
        for resource_id in listed(params.get(parameter)):
            needs.append(Need(f"ec2:{operation}", *m.ec2_existing(kind, resource_id)))
    return needs


@rule("ec2", "DisassociateRouteTable")
def _disassociate_route_table(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    # The call names only the association; the SAR authorizes the route table and the
    # subnet (or gateway) it links.
    filters = [
        {"Name": "association.route-table-association-id", "Values": [params["AssociationId"]]}
    ]
    tables = m.client("ec2").describe_route_tables(Filters=filters)["RouteTables"]
    needs = []
    for table in tables:
        needs.append(
            Need(
                "ec2:DisassociateRouteTable", *m.ec2_existing("route-table", table["RouteTableId"])
            )
        )
        for association in table.get("Associations", []):
            if association.get("RouteTableAssociationId") != params["AssociationId"]:
                continue
            for key, kind in (("SubnetId", "subnet"), ("GatewayId", "internet-gateway")):
                if association.get(key):
                    needs.append(
                        Need("ec2:DisassociateRouteTable", *m.ec2_existing(kind, association[key]))
                    )
    return needs


@rule("ec2", "CreateTags")
def _create_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    # Tags added to existing resources: no ec2:CreateAction (that key is only set when a
    # create call tags what it creates).
    added = request_tags(tag_dict(params.get("Tags")))
    needs = []
    for resource_id in params["Resources"]:
        arn, context = m.ec2_existing(ec2_kind(resource_id), resource_id)
        needs.append(Need("ec2:CreateTags", arn, {**added, **context}))
    return needs


def launch_from_template(m: RequestMapper, template: dict, subnet_ids: Iterable[str]) -> list[Need]:
    """What an Auto Scaling group given a launch template checks with the caller's rights.

    Amazon EC2 Auto Scaling User Guide, "Amazon EC2 Auto Scaling API permissions" (create
    or update a group with a launch template: ec2:RunInstances; iam:PassRole for the
    template's instance profile; ec2:CreateTags for the template's tag specifications) and
    "Control Amazon EC2 launch template usage in Auto Scaling groups". RunInstances is
    authorized on the template, the subnets, the security groups, the image and the new
    instance, interfaces and volumes (SAR, ec2:RunInstances), with ec2:LaunchTemplate.
    """
    ec2 = m.client("ec2")
    template_id = launch_template_id(m, template)
    version = template.get("Version", "$Default")
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[version])[
        "LaunchTemplateVersions"
    ][0]["LaunchTemplateData"]
    template_arn = m.ec2_arn("launch-template", template_id)
    via = {"ec2:LaunchTemplate": template_arn}
    inside = {**via, "ec2:IsLaunchTemplateResource": "true"}
    arn, context = m.ec2_existing("launch-template", template_id)
    needs = [Need("ec2:RunInstances", arn, {**via, **context})]
    for subnet_id in subnet_ids:
        arn, context = m.ec2_existing("subnet", subnet_id)
        needs.append(
            Need(
                "ec2:RunInstances", arn, {**via, "ec2:IsLaunchTemplateResource": "false", **context}
            )
        )
    groups = list(data.get("SecurityGroupIds", []))
    for interface in data.get("NetworkInterfaces", []):
        groups += interface.get("Groups", [])
    for group_id in groups:
        arn, context = m.ec2_existing("security-group", group_id)
        needs.append(Need("ec2:RunInstances", arn, {**inside, **context}))
    if data.get("ImageId"):
        needs.append(Need("ec2:RunInstances", m.ec2_arn("image", data["ImageId"]), inside))
    # Only what RunInstances tags (moto also lists the template's own tags here).
    specifications = {
        kind: tags
        for kind, tags in tag_specifications(data).items()
        if kind in ("instance", "network-interface", "volume", "spot-instances-request")
    }
    profile = data.get("IamInstanceProfile", {})
    instance = {**inside, "ec2:InstanceType": data.get("InstanceType", "")}
    found_profile = m.instance_profile(profile["Name"]) if profile.get("Name") else {}
    if profile:
        instance["ec2:InstanceProfile"] = profile.get("Arn") or found_profile.get("Arn", "")
    for kind in ("instance", "network-interface", "volume"):
        context = instance if kind == "instance" else inside
        needs.append(
            Need(
                "ec2:RunInstances",
                m.ec2_arn(kind, "*"),
                {**context, **request_tags(specifications.get(kind, {}))},
            )
        )
    needs += tag_on_create(m, "RunInstances", specifications)
    for role in found_profile.get("Roles", []):
        needs += pass_role(m, role["Arn"], "ec2.amazonaws.com")
    return needs


# ---------------------------------------------------------------------------------------
# IAM

# SAR, IAM: the actions on a role that set iam:PermissionsBoundary (the role's boundary,
# or for CreateRole and PutRolePermissionsBoundary the one in the request).
BOUNDARY_KEY_ACTIONS = {
    "AttachRolePolicy",
    "CreateRole",
    "DeleteRole",
    "DeleteRolePermissionsBoundary",
    "DeleteRolePolicy",
    "DetachRolePolicy",
    "GetRole",
    "PutRolePermissionsBoundary",
    "PutRolePolicy",
    "UpdateAssumeRolePolicy",
}


def role_arn(m: RequestMapper, name: str, path: str = "/") -> str:
    return m.iam_arn(f"role{path}{name}")


def existing_role(m: RequestMapper, action: str, name: str) -> Need:
    tags, boundary = m.role(name)
    context = resource_tags(tags, "iam:ResourceTag")
    if boundary and action.split(":")[1] in BOUNDARY_KEY_ACTIONS:
        context["iam:PermissionsBoundary"] = boundary
    return Need(action, role_arn(m, name), context)


def pass_role(m: RequestMapper, arn: str, service: str) -> list[Need]:
    # IAM User Guide, "Grant a user permissions to pass a role to an AWS service":
    # iam:PassRole on the role, with iam:PassedToService.
    tags, _boundary = m.role(arn.rsplit("/", 1)[1])
    context = {"iam:PassedToService": service, **resource_tags(tags, "iam:ResourceTag")}
    return [Need("iam:PassRole", arn, context)]


def service_linked_role(m: RequestMapper, service: str, name: str) -> list[Need]:
    # IAM User Guide, "Service-linked role permissions": the first use of the service in
    # an account creates its service-linked role with the caller's iam:CreateServiceLinkedRole.
    arn = m.iam_arn(f"role/aws-service-role/{service}/{name}")
    return [Need("iam:CreateServiceLinkedRole", arn, {"iam:AWSServiceName": service})]


ROLE_CALLS = (
    "DeleteRole",
    "DeleteRolePolicy",
    "GetRole",
    "GetRolePolicy",
    "ListAttachedRolePolicies",
    "ListInstanceProfilesForRole",
    "ListRolePolicies",
    "ListRoleTags",
    "PutRolePolicy",
    "UntagRole",
    "UpdateAssumeRolePolicy",
    "UpdateRole",
    "UpdateRoleDescription",
)


@rule("iam", *ROLE_CALLS)
def _role_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [existing_role(m, f"iam:{operation}", params["RoleName"])]


@rule("iam", "AttachRolePolicy", "DetachRolePolicy")
def _role_managed_policy(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_role(m, f"iam:{operation}", params["RoleName"])
    return [need._replace(context={**need.context, "iam:PolicyARN": params["PolicyArn"]})]


@rule("iam", "PutRolePermissionsBoundary")
def _put_boundary(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_role(m, "iam:PutRolePermissionsBoundary", params["RoleName"])
    return [
        need._replace(
            context={**need.context, "iam:PermissionsBoundary": params["PermissionsBoundary"]}
        )
    ]


@rule("iam", "DeleteRolePermissionsBoundary")
def _delete_boundary(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [existing_role(m, "iam:DeleteRolePermissionsBoundary", params["RoleName"])]


@rule("iam", "TagRole")
def _tag_role(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_role(m, "iam:TagRole", params["RoleName"])
    return [need._replace(context={**need.context, **request_tags(tag_dict(params["Tags"]))})]


@rule("iam", "CreateRole")
def _create_role(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = role_arn(m, params["RoleName"], params.get("Path", "/"))
    tags = request_tags(tag_dict(params.get("Tags")))
    context = dict(tags)
    if params.get("PermissionsBoundary"):
        context["iam:PermissionsBoundary"] = params["PermissionsBoundary"]
    needs = [Need("iam:CreateRole", arn, context)]
    if tags:
        # IAM User Guide, "Tagging IAM roles": creating a role with tags also needs
        # iam:TagRole.
        needs.append(Need("iam:TagRole", arn, tags))
    return needs


def existing_policy(m: RequestMapper, action: str, arn: str) -> Need:
    found = m.quietly(lambda: m.client("iam").list_policy_tags(PolicyArn=arn)["Tags"], [])
    return Need(action, arn, resource_tags(tag_dict(found)))


POLICY_CALLS = (
    "CreatePolicyVersion",
    "DeletePolicy",
    "DeletePolicyVersion",
    "GetPolicy",
    "GetPolicyVersion",
    "ListEntitiesForPolicy",
    "ListPolicyTags",
    "ListPolicyVersions",
    "SetDefaultPolicyVersion",
    "UntagPolicy",
)


@rule("iam", *POLICY_CALLS)
def _policy_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [existing_policy(m, f"iam:{operation}", params["PolicyArn"])]


@rule("iam", "TagPolicy")
def _tag_policy(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_policy(m, "iam:TagPolicy", params["PolicyArn"])
    return [need._replace(context={**need.context, **request_tags(tag_dict(params["Tags"]))})]


@rule("iam", "CreatePolicy")
def _create_policy(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = m.iam_arn(f"policy{params.get('Path', '/')}{params['PolicyName']}")
    tags = request_tags(tag_dict(params.get("Tags")))
    needs = [Need("iam:CreatePolicy", arn, tags)]
    if tags:
        # IAM User Guide, "Tagging IAM resources": creating with tags needs the Tag* action.
        needs.append(Need("iam:TagPolicy", arn, tags))
    return needs


def profile_arn(m: RequestMapper, name: str, path: str = "/") -> str:
    return m.iam_arn(f"instance-profile{path}{name}")


def existing_profile(m: RequestMapper, action: str, name: str) -> Need:
    tags = tag_dict(m.instance_profile(name).get("Tags", []))
    return Need(action, profile_arn(m, name), resource_tags(tags))


@rule("iam", "GetInstanceProfile", "DeleteInstanceProfile", "RemoveRoleFromInstanceProfile")
def _profile_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [existing_profile(m, f"iam:{operation}", params["InstanceProfileName"])]


@rule("iam", "TagInstanceProfile")
def _tag_profile(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_profile(m, "iam:TagInstanceProfile", params["InstanceProfileName"])
    return [need._replace(context={**need.context, **request_tags(tag_dict(params["Tags"]))})]


@rule("iam", "CreateInstanceProfile")
def _create_profile(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = profile_arn(m, params["InstanceProfileName"], params.get("Path", "/"))
    tags = request_tags(tag_dict(params.get("Tags")))
    needs = [Need("iam:CreateInstanceProfile", arn, tags)]
    if tags:
        # IAM User Guide, "Tagging IAM resources": creating with tags needs the Tag* action.
        needs.append(Need("iam:TagInstanceProfile", arn, tags))
    return needs


@rule("iam", "AddRoleToInstanceProfile")
def _add_role_to_profile(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    # A role put in an instance profile is passed to EC2: AWS checks iam:PassRole on it
    # (IAM User Guide, "Use an IAM role to grant permissions to applications running on
    # Amazon EC2 instances", and "Grant a user permissions to pass a role to an AWS service").
    needs = [existing_profile(m, "iam:AddRoleToInstanceProfile", params["InstanceProfileName"])]
    return needs + pass_role(m, role_arn(m, params["RoleName"]), "ec2.amazonaws.com")


# ---------------------------------------------------------------------------------------
# Elastic Load Balancing (v2)

ELB_TYPES = {"application": "app", "network": "net", "gateway": "gwy"}


def existing_elb(m: RequestMapper, action: str, arn: str) -> Need:
    return Need(action, arn, resource_tags(m.elb_tags(arn), "elasticloadbalancing:ResourceTag"))


def elb_tag_on_create(arn: str, operation: str, tags: dict) -> list[Need]:
    # Elastic Load Balancing User Guide (Application Load Balancers), "Identity and access
    # management": tags given to a create call need elasticloadbalancing:AddTags, with
    # elasticloadbalancing:CreateAction naming the call.
    if not tags:
        return []
    context = {**request_tags(tags), "elasticloadbalancing:CreateAction": operation}
    return [Need("elasticloadbalancing:AddTags", arn, context)]


@rule("elbv2", "CreateLoadBalancer")
def _create_load_balancer(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    kind = ELB_TYPES[params.get("Type", "application")]
    arn = m.arn("elasticloadbalancing", f"loadbalancer/{kind}/{params['Name']}/{NEW_HEX}")
    tags = tag_dict(params.get("Tags"))
    context = {
        **request_tags(tags),
        "elasticloadbalancing:Scheme": params.get("Scheme", "internet-facing"),
        "elasticloadbalancing:Subnet": listed(params.get("Subnets")),
        "elasticloadbalancing:SecurityGroup": listed(params.get("SecurityGroups")),
    }
    needs = [Need("elasticloadbalancing:CreateLoadBalancer", arn, context)]
    needs += elb_tag_on_create(arn, operation, tags)
    # Elastic Load Balancing User Guide, "Service-linked role for Elastic Load Balancing".
    return needs + service_linked_role(
        m, "elasticloadbalancing.amazonaws.com", "AWSServiceRoleForElasticLoadBalancing"
    )


@rule("elbv2", "CreateTargetGroup")
def _create_target_group(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = m.arn("elasticloadbalancing", f"targetgroup/{params['Name']}/{NEW_HEX}")
    tags = tag_dict(params.get("Tags"))
    needs = [Need("elasticloadbalancing:CreateTargetGroup", arn, request_tags(tags))]
    return needs + elb_tag_on_create(arn, operation, tags)


def listener_keys(params: dict) -> dict:
    context = {}
    if params.get("Protocol"):
        context["elasticloadbalancing:ListenerProtocol"] = params["Protocol"]
    if params.get("SslPolicy"):
        context["elasticloadbalancing:SecurityPolicy"] = params["SslPolicy"]
    return context


@rule("elbv2", "CreateListener")
def _create_listener(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    # SAR: CreateListener is authorized on the load balancer.
    balancer = params["LoadBalancerArn"]
    tags = tag_dict(params.get("Tags"))
    need = existing_elb(m, "elasticloadbalancing:CreateListener", balancer)
    needs = [need._replace(context={**need.context, **request_tags(tags), **listener_keys(params)})]
    listener = balancer.replace(":loadbalancer/", ":listener/") + f"/{NEW_HEX}"
    return needs + elb_tag_on_create(listener, operation, tags)


ELB_CALLS = {
    "DeleteListener": "ListenerArn",
    "DeleteLoadBalancer": "LoadBalancerArn",
    "DeleteTargetGroup": "TargetGroupArn",
    "ModifyListener": "ListenerArn",
    "ModifyLoadBalancerAttributes": "LoadBalancerArn",
    "ModifyTargetGroup": "TargetGroupArn",
    "ModifyTargetGroupAttributes": "TargetGroupArn",
    "SetSecurityGroups": "LoadBalancerArn",
    "SetSubnets": "LoadBalancerArn",
}


@rule("elbv2", *ELB_CALLS)
def _elb_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_elb(m, f"elasticloadbalancing:{operation}", params[ELB_CALLS[operation]])
    context = dict(need.context)
    if operation == "ModifyListener":
        context.update(listener_keys(params))
    if operation == "SetSecurityGroups":
        context["elasticloadbalancing:SecurityGroup"] = listed(params.get("SecurityGroups"))
    if operation == "SetSubnets":
        context["elasticloadbalancing:Subnet"] = listed(params.get("Subnets"))
    return [need._replace(context=context)]


@rule("elbv2", "AddTags", "RemoveTags")
def _elb_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    added = request_tags(tag_dict(params.get("Tags"))) if operation == "AddTags" else {}
    needs = []
    for arn in params["ResourceArns"]:
        need = existing_elb(m, f"elasticloadbalancing:{operation}", arn)
        needs.append(need._replace(context={**need.context, **added}))
    return needs


# ---------------------------------------------------------------------------------------
# EC2 Auto Scaling


def group_need(m: RequestMapper, action: str, name: str) -> tuple[Need, dict]:
    group = m.group(name)
    arn = group.get("AutoScalingGroupARN") or m.arn(
        "autoscaling", f"autoScalingGroup:{NEW_UUID}:autoScalingGroupName/{name}"
    )
    context = resource_tags(tag_dict(group.get("Tags", [])), "autoscaling:ResourceTag")
    return Need(action, arn, context), group


def group_keys(params: dict) -> dict:
    context = {}
    if "MinSize" in params:
        context["autoscaling:MinSize"] = str(params["MinSize"])
    if "MaxSize" in params:
        context["autoscaling:MaxSize"] = str(params["MaxSize"])
    if params.get("VPCZoneIdentifier"):
        context["autoscaling:VPCZoneIdentifiers"] = params["VPCZoneIdentifier"].split(",")
    if params.get("TargetGroupARNs"):
        context["autoscaling:TargetGroupARNs"] = listed(params["TargetGroupARNs"])
    template = params.get("LaunchTemplate")
    if template:
        version = template.get("Version", "$Default")
        context["autoscaling:LaunchTemplateVersionSpecified"] = str(
            version not in ("$Default", "$Latest")
        ).lower()
    return context


@rule("autoscaling", "CreateAutoScalingGroup")
def _create_group(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    name = params["AutoScalingGroupName"]
    arn = m.arn("autoscaling", f"autoScalingGroup:{NEW_UUID}:autoScalingGroupName/{name}")
    tags = request_tags(tag_dict(params.get("Tags")))
    needs = [Need("autoscaling:CreateAutoScalingGroup", arn, {**tags, **group_keys(params)})]
    if params.get("LaunchTemplate"):
        subnets = [s for s in params.get("VPCZoneIdentifier", "").split(",") if s]
        needs += launch_from_template(m, params["LaunchTemplate"], subnets)
    # Amazon EC2 Auto Scaling User Guide, "Amazon EC2 Auto Scaling API permissions":
    # iam:CreateServiceLinkedRole, to create the default service-linked role.
    return needs + service_linked_role(
        m, "autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling"
    )


@rule("autoscaling", "UpdateAutoScalingGroup")
def _update_group(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need, group = group_need(
        m, "autoscaling:UpdateAutoScalingGroup", params["AutoScalingGroupName"]
    )
    needs = [need._replace(context={**need.context, **group_keys(params)})]
    if params.get("LaunchTemplate"):
        subnets = params.get("VPCZoneIdentifier") or group.get("VPCZoneIdentifier", "")
        needs += launch_from_template(
            m, params["LaunchTemplate"], [s for s in subnets.split(",") if s]
        )
    return needs


@rule(
    "autoscaling",
    "AttachLoadBalancerTargetGroups",
    "CancelInstanceRefresh",
    "DeleteAutoScalingGroup",
    "DetachLoadBalancerTargetGroups",
    "StartInstanceRefresh",
)
def _group_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need, group = group_need(m, f"autoscaling:{operation}", params["AutoScalingGroupName"])
    context = dict(need.context)
    if params.get("TargetGroupARNs"):
        context["autoscaling:TargetGroupARNs"] = listed(params["TargetGroupARNs"])
    if operation == "DeleteAutoScalingGroup" and "ForceDelete" in params:
        context["autoscaling:ForceDelete"] = str(bool(params["ForceDelete"])).lower()
    needs = [need._replace(context=context)]
    desired = params.get("DesiredConfiguration", {})
    if operation == "StartInstanceRefresh" and desired.get("LaunchTemplate"):
        # Same API permissions page: a refresh to a new launch template launches with it.
        subnets = [s for s in group.get("VPCZoneIdentifier", "").split(",") if s]
        needs += launch_from_template(m, desired["LaunchTemplate"], subnets)
    return needs


@rule("autoscaling", "CreateOrUpdateTags")
def _group_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    by_group: dict[str, dict] = {}
    for tag in params["Tags"]:
        by_group.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag.get("Value", "")
    needs = []
    for name, tags in by_group.items():
        need, _group = group_need(m, "autoscaling:CreateOrUpdateTags", name)
        needs.append(need._replace(context={**need.context, **request_tags(tags)}))
    return needs


# ---------------------------------------------------------------------------------------
# RDS

RDS_ALIASES = {
    "db": "rds:db-tag",
    "pg": "rds:pg-tag",
    "subgrp": "rds:subgrp-tag",
    "snapshot": "rds:snapshot-tag",
    "og": "rds:og-tag",
}


def rds_arn(m: RequestMapper, kind: str, name: str) -> str:
    return m.arn("rds", f"{kind}:{name}")


def existing_rds(m: RequestMapper, action: str, arn: str) -> Need:
    kind = arn.split(":")[5]
    aliases = (RDS_ALIASES[kind],) if kind in RDS_ALIASES else ()
    return Need(action, arn, resource_tags(m.rds_tags(arn), *aliases))


def rds_tag_on_create(arn: str, tags: dict) -> list[Need]:
    # Amazon RDS User Guide, "Tagging Amazon RDS resources": tags given to a create call
    # need rds:AddTagsToResource too.
    if not tags:
        return []
    return [Need("rds:AddTagsToResource", arn, request_tags(tags, "rds:req-tag"))]


# Operation: (resource type, parameter naming it). Without the parameter a describe lists
# them all, which the SAR authorizes on "*".
RDS_CALLS = {
    "DeleteDBParameterGroup": ("pg", "DBParameterGroupName"),
    "DeleteDBSubnetGroup": ("subgrp", "DBSubnetGroupName"),
    "DescribeDBInstances": ("db", "DBInstanceIdentifier"),
    "DescribeDBParameterGroups": ("pg", "DBParameterGroupName"),
    "DescribeDBParameters": ("pg", "DBParameterGroupName"),
    "DescribeDBSubnetGroups": ("subgrp", "DBSubnetGroupName"),
    "ModifyDBParameterGroup": ("pg", "DBParameterGroupName"),
    "ModifyDBSubnetGroup": ("subgrp", "DBSubnetGroupName"),
}


@rule("rds", *RDS_CALLS)
def _rds_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    kind, parameter = RDS_CALLS[operation]
    if not params.get(parameter):
        return [Need(f"rds:{operation}", "*", {})]
    return [existing_rds(m, f"rds:{operation}", rds_arn(m, kind, params[parameter]))]


@rule("rds", "ListTagsForResource", "AddTagsToResource", "RemoveTagsFromResource")
def _rds_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_rds(m, f"rds:{operation}", params["ResourceName"])
    if operation == "AddTagsToResource":
        added = request_tags(tag_dict(params["Tags"]), "rds:req-tag")
        need = need._replace(context={**need.context, **added})
    return [need]


@rule("rds", "CreateDBParameterGroup", "CreateDBSubnetGroup")
def _rds_create_group(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    kind, parameter = (
        ("pg", "DBParameterGroupName")
        if operation == "CreateDBParameterGroup"
        else ("subgrp", "DBSubnetGroupName")
    )
    arn = rds_arn(m, kind, params[parameter])
    tags = tag_dict(params.get("Tags"))
    needs = [Need(f"rds:{operation}", arn, request_tags(tags, "rds:req-tag"))]
    return needs + rds_tag_on_create(arn, tags)


def option_group(params: dict) -> str:
    """The option group a new instance gets: the engine's default one unless named."""
    if params.get("OptionGroupName"):
        return params["OptionGroupName"]
    major = str(params.get("EngineVersion", "")).split(".")[0]
    return f"default:{params['Engine']}-{major}"


@rule("rds", "CreateDBInstance")
def _create_db_instance(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = rds_arn(m, "db", params["DBInstanceIdentifier"])
    tags = tag_dict(params.get("Tags"))
    managed = bool(params.get("ManageMasterUserPassword"))
    context = {
        **request_tags(tags, "rds:req-tag"),
        "rds:DatabaseClass": params["DBInstanceClass"],
        "rds:DatabaseEngine": params["Engine"],
        "rds:MultiAz": str(bool(params.get("MultiAZ"))).lower(),
        "rds:StorageEncrypted": str(bool(params.get("StorageEncrypted"))).lower(),
        "rds:PubliclyAccessible": str(bool(params.get("PubliclyAccessible"))).lower(),
        "rds:ManageMasterUserPassword": str(managed).lower(),
    }
    if params.get("DBName"):
        context["rds:DatabaseName"] = params["DBName"]
    if params.get("AllocatedStorage"):
        context["rds:StorageSize"] = str(params["AllocatedStorage"])
    needs = [Need("rds:CreateDBInstance", arn, context)]
    # SAR: also authorized on the parameter group, subnet group and option group it uses.
    if params.get("DBParameterGroupName"):
        needs.append(
            existing_rds(
                m, "rds:CreateDBInstance", rds_arn(m, "pg", params["DBParameterGroupName"])
            )
        )
    if params.get("DBSubnetGroupName"):
        needs.append(
            existing_rds(
                m, "rds:CreateDBInstance", rds_arn(m, "subgrp", params["DBSubnetGroupName"])
            )
        )
    needs.append(existing_rds(m, "rds:CreateDBInstance", rds_arn(m, "og", option_group(params))))
    needs += rds_tag_on_create(arn, tags)
    if managed:
        needs += managed_password(m, arn, params)
    # Amazon RDS User Guide, "Using service-linked roles for Amazon RDS".
    return needs + service_linked_role(m, "rds.amazonaws.com", "AWSServiceRoleForRDS")


# RDS makes the Secrets Manager and KMS requests below with the caller's credentials (a
# forward access session): IAM User Guide, "AWS global condition context keys",
# aws:ViaAWSService is then true. aws:CalledVia is left out: only the services that page
# lists as supporting it set it, and we found no statement that RDS does (add
# "aws:CalledVia": ["rds.amazonaws.com"] here if the page lists rds.amazonaws.com).
VIA_SERVICE = {"aws:ViaAWSService": "true"}


def managed_password(m: RequestMapper, instance_arn: str, params: dict) -> list[Need]:
    """Amazon RDS User Guide, "Password management with Amazon RDS and AWS Secrets
    Manager", section "Permissions required for Secrets Manager integration": RDS creates
    the secret with the caller's rights: secretsmanager:CreateSecret and TagResource on
    the rds!... secret it names, and kms:DescribeKey on the key that encrypts it (the
    account's aws/secretsmanager key unless MasterUserSecretKmsKeyId names another)."""
    name = f"rds!db-{NEW_UUID}"
    secret = m.arn("secretsmanager", f"secret:{name}-AbCdEf")
    # The tag RDS puts on the secret it manages (moto puts the same one).
    tags = {**request_tags({"aws:rds:primaryDBInstanceArn": instance_arn}), **VIA_SERVICE}
    needs = [
        Need("secretsmanager:CreateSecret", secret, {**tags, "secretsmanager:Name": name}),
        Need("secretsmanager:TagResource", secret, tags),
    ]
    key = params.get("MasterUserSecretKmsKeyId") or "alias/aws/secretsmanager"
    key_arn = m.client("kms").describe_key(KeyId=key)["KeyMetadata"]["Arn"]
    # AWS KMS Developer Guide, "kms:ViaService": set when an integrated service (RDS here)
    # calls AWS KMS for the caller.
    context = {**VIA_SERVICE, "kms:ViaService": f"rds.{m.region}.amazonaws.com"}
    context["kms:CallerAccount"] = m.account
    if key.startswith("alias/"):
        context["kms:ResourceAliases"] = [key]
    return [*needs, Need("kms:DescribeKey", key_arn, context)]


@rule("rds", "ModifyDBInstance")
def _modify_db_instance(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = rds_arn(m, "db", params["DBInstanceIdentifier"])
    need = existing_rds(m, "rds:ModifyDBInstance", arn)
    if "ManageMasterUserPassword" in params:
        value = str(bool(params["ManageMasterUserPassword"])).lower()
        need = need._replace(context={**need.context, "rds:ManageMasterUserPassword": value})
    needs = [need]
    for kind, parameter in (("pg", "DBParameterGroupName"), ("subgrp", "DBSubnetGroupName")):
        if params.get(parameter):
            needs.append(
                existing_rds(m, "rds:ModifyDBInstance", rds_arn(m, kind, params[parameter]))
            )
    return needs


@rule("rds", "DeleteDBInstance")
def _delete_db_instance(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    identifier = params["DBInstanceIdentifier"]
    arn = rds_arn(m, "db", identifier)
    db = existing_rds(m, "rds:DeleteDBInstance", arn)
    needs = [db]
    found = m.quietly(
        lambda: m.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)[
            "DBInstances"
        ],
        [],
    )
    instance = found[0] if found else {}
    snapshot = params.get("FinalDBSnapshotIdentifier")
    if snapshot and not params.get("SkipFinalSnapshot"):
        # Amazon RDS API Reference, DeleteDBInstance, and AWS's notice of 2024-08-15: a
        # final snapshot needs rds:CreateDBSnapshot (on the instance and the snapshot),
        # and with CopyTagsToSnapshot, rds:AddTagsToResource on the snapshot.
        snapshot_arn = rds_arn(m, "snapshot", snapshot)
        db_tags = m.rds_tags(arn)
        copied = db_tags if instance.get("CopyTagsToSnapshot") else {}
        needs.append(Need("rds:CreateDBSnapshot", arn, db.context))
        needs.append(
            Need("rds:CreateDBSnapshot", snapshot_arn, request_tags(copied, "rds:req-tag"))
        )
        if copied:
            needs.append(
                Need("rds:AddTagsToResource", snapshot_arn, request_tags(copied, "rds:req-tag"))
            )
    secret = instance.get("MasterUserSecret", {}).get("SecretArn")
    if secret:
        # The RDS page on Secrets Manager above: the managed secret goes with the instance,
        # deleted for the caller (secretsmanager:DeleteSecret).
        needs.append(
            Need("secretsmanager:DeleteSecret", secret, {**secret_tags(m, secret), **VIA_SERVICE})
        )
    return needs


def secret_tags(m: RequestMapper, arn: str) -> dict:
    found = m.quietly(lambda: m.client("secretsmanager").describe_secret(SecretId=arn), {})
    return resource_tags(tag_dict(found.get("Tags", [])), "secretsmanager:ResourceTag")


# ---------------------------------------------------------------------------------------
# CloudWatch Logs, ECR, SNS, CloudWatch, ACM, Route 53, SSM, S3, Budgets


def log_group_arn(m: RequestMapper, name: str) -> str:
    return m.arn("logs", f"log-group:{name}")


def existing_log_group(m: RequestMapper, action: str, arn: str) -> Need:
    tags = m.tags_by("logs", "list_tags_for_resource", "tags", resourceArn=arn)
    return Need(action, arn, resource_tags(tags))


@rule("logs", "CreateLogGroup")
def _create_log_group(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = log_group_arn(m, params["logGroupName"])
    tags = request_tags(tag_dict(params.get("tags")))
    needs = [Need("logs:CreateLogGroup", arn, tags)]
    if tags:
        # Amazon CloudWatch Logs API Reference, CreateLogGroup: tags given at creation need
        # logs:TagResource.
        needs.append(Need("logs:TagResource", arn, tags))
    return needs


@rule("logs", "DeleteLogGroup", "PutRetentionPolicy", "DeleteRetentionPolicy")
def _log_group_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [existing_log_group(m, f"logs:{operation}", log_group_arn(m, params["logGroupName"]))]


@rule("logs", "ListTagsForResource", "TagResource", "UntagResource")
def _log_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = params["resourceArn"]
    need = existing_log_group(m, f"logs:{operation}", arn)
    if operation == "TagResource":
        need = need._replace(context={**need.context, **request_tags(tag_dict(params["tags"]))})
    return [need]


def repository_arn(m: RequestMapper, name: str) -> str:
    return m.arn("ecr", f"repository/{name}")


def existing_repository(m: RequestMapper, action: str, arn: str) -> Need:
    tags = m.tags_by("ecr", "list_tags_for_resource", "tags", resourceArn=arn)
    return Need(action, arn, resource_tags(tags, "ecr:ResourceTag"))


@rule("ecr", "CreateRepository")
def _create_repository(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = repository_arn(m, params["repositoryName"])
    tags = request_tags(tag_dict(params.get("tags")))
    needs = [Need("ecr:CreateRepository", arn, tags)]
    if tags:
        # AWS's notice of 2022-12 (Amazon ECR User Guide, "Tagging a private repository"):
        # CreateRepository with tags needs ecr:TagResource.
        needs.append(Need("ecr:TagResource", arn, tags))
    return needs


ECR_CALLS = (
    "BatchDeleteImage",
    "DeleteRepository",
    "DescribeImages",
    "GetLifecyclePolicy",
    "ListImages",
    "PutImageScanningConfiguration",
    "PutImageTagMutability",
    "PutLifecyclePolicy",
)


@rule("ecr", *ECR_CALLS)
def _repository_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [existing_repository(m, f"ecr:{operation}", repository_arn(m, params["repositoryName"]))]


@rule("ecr", "DescribeRepositories")
def _describe_repositories(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    names = params.get("repositoryNames") or ["*"]
    return [
        existing_repository(m, "ecr:DescribeRepositories", repository_arn(m, name))
        if name != "*"
        else Need("ecr:DescribeRepositories", repository_arn(m, "*"), {})
        for name in names
    ]


@rule("ecr", "ListTagsForResource", "TagResource", "UntagResource")
def _repository_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_repository(m, f"ecr:{operation}", params["resourceArn"])
    if operation == "TagResource":
        need = need._replace(context={**need.context, **request_tags(tag_dict(params["tags"]))})
    return [need]


def existing_topic(m: RequestMapper, action: str, arn: str) -> Need:
    tags = m.tags_by("sns", "list_tags_for_resource", "Tags", ResourceArn=arn)
    return Need(action, arn, resource_tags(tags))


@rule("sns", "CreateTopic")
def _create_topic(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = m.arn("sns", params["Name"])
    tags = request_tags(tag_dict(params.get("Tags")))
    needs = [Need("sns:CreateTopic", arn, tags)]
    if tags:
        # Amazon SNS Developer Guide, "Amazon SNS tags": creating a topic with tags needs
        # sns:TagResource too.
        needs.append(Need("sns:TagResource", arn, tags))
    return needs


@rule(
    "sns",
    "DeleteTopic",
    "GetTopicAttributes",
    "ListSubscriptionsByTopic",
    "SetTopicAttributes",
    "Subscribe",
)
def _topic_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_topic(m, f"sns:{operation}", params["TopicArn"])
    if operation == "Subscribe":
        keys = {"sns:Protocol": params["Protocol"], "sns:Endpoint": params.get("Endpoint", "")}
        need = need._replace(context={**need.context, **keys})
    return [need]


@rule("sns", "Unsubscribe")
def _unsubscribe(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    # SAR: Unsubscribe is authorized on the topic of the subscription.
    return [existing_topic(m, "sns:Unsubscribe", params["SubscriptionArn"].rsplit(":", 1)[0])]


@rule("sns", "ListTagsForResource", "TagResource", "UntagResource")
def _topic_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_topic(m, f"sns:{operation}", params["ResourceArn"])
    if operation == "TagResource":
        need = need._replace(context={**need.context, **request_tags(tag_dict(params["Tags"]))})
    return [need]


def alarm_arn(m: RequestMapper, name: str) -> str:
    return m.arn("cloudwatch", f"alarm:{name}")


def existing_alarm(m: RequestMapper, action: str, arn: str) -> Need:
    tags = m.tags_by("cloudwatch", "list_tags_for_resource", "Tags", ResourceARN=arn)
    return Need(action, arn, resource_tags(tags))


@rule("cloudwatch", "DescribeAlarms")
def _describe_alarms(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    names = params.get("AlarmNames")
    if not names:
        return [Need("cloudwatch:DescribeAlarms", alarm_arn(m, "*"), {})]
    return [existing_alarm(m, "cloudwatch:DescribeAlarms", alarm_arn(m, name)) for name in names]


@rule("cloudwatch", "DeleteAlarms")
def _delete_alarms(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [
        existing_alarm(m, "cloudwatch:DeleteAlarms", alarm_arn(m, name))
        for name in params["AlarmNames"]
    ]


@rule("cloudwatch", "PutMetricAlarm")
def _put_metric_alarm(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = alarm_arn(m, params["AlarmName"])
    tags = request_tags(tag_dict(params.get("Tags")))
    actions = sorted(
        {
            a
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions")
            for a in params.get(key, [])
        }
    )
    need = existing_alarm(m, "cloudwatch:PutMetricAlarm", arn)
    context = {**need.context, **tags}
    if actions:
        context["cloudwatch:AlarmActions"] = actions
    needs = [need._replace(context=context)]
    if tags:
        # Amazon CloudWatch API Reference, PutMetricAlarm: creating an alarm with tags
        # needs cloudwatch:TagResource.
        needs.append(Need("cloudwatch:TagResource", arn, tags))
    return needs


@rule("cloudwatch", "ListTagsForResource", "TagResource", "UntagResource")
def _alarm_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_alarm(m, f"cloudwatch:{operation}", params["ResourceARN"])
    if operation == "TagResource":
        need = need._replace(context={**need.context, **request_tags(tag_dict(params["Tags"]))})
    return [need]


def dashboard_arn(m: RequestMapper, name: str) -> str:
    return m.arn("cloudwatch", f"dashboard/{name}", region=False)


@rule("cloudwatch", "GetDashboard", "PutDashboard")
def _dashboard_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [Need(f"cloudwatch:{operation}", dashboard_arn(m, params["DashboardName"]), {})]


@rule("cloudwatch", "DeleteDashboards")
def _delete_dashboards(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [
        Need("cloudwatch:DeleteDashboards", dashboard_arn(m, name), {})
        for name in params["DashboardNames"]
    ]


def existing_certificate(m: RequestMapper, action: str, arn: str) -> Need:
    tags = m.tags_by("acm", "list_tags_for_certificate", "Tags", CertificateArn=arn)
    return Need(action, arn, resource_tags(tags))


@rule("acm", "RequestCertificate")
def _request_certificate(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    # SAR: acm:RequestCertificate supports no resource types: it is authorized on "*".
    tags = request_tags(tag_dict(params.get("Tags")))
    names = [params["DomainName"], *params.get("SubjectAlternativeNames", [])]
    context = {
        **tags,
        "acm:DomainNames": sorted(set(names)),
        "acm:ValidationMethod": params.get("ValidationMethod", "EMAIL"),
    }
    if params.get("KeyAlgorithm"):
        context["acm:KeyAlgorithm"] = params["KeyAlgorithm"]
    needs = [Need("acm:RequestCertificate", "*", context)]
    if tags:
        # AWS Certificate Manager User Guide, "Tag AWS Certificate Manager resources":
        # requesting a certificate with tags needs acm:AddTagsToCertificate.
        arn = m.arn("acm", f"certificate/{NEW_UUID}")
        needs.append(Need("acm:AddTagsToCertificate", arn, tags))
    return needs


@rule(
    "acm",
    "AddTagsToCertificate",
    "DeleteCertificate",
    "DescribeCertificate",
    "ListTagsForCertificate",
    "RemoveTagsFromCertificate",
)
def _certificate_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_certificate(m, f"acm:{operation}", params["CertificateArn"])
    if operation == "AddTagsToCertificate":
        need = need._replace(context={**need.context, **request_tags(tag_dict(params["Tags"]))})
    return [need]


def zone_arn(m: RequestMapper, zone_id: str) -> str:
    return m.arn("route53", f"hostedzone/{zone_id.rsplit('/', 1)[-1]}", region=False, account=False)


@rule("route53", "GetHostedZone", "ListResourceRecordSets")
def _zone_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    zone = params.get("Id") or params["HostedZoneId"]
    return [Need(f"route53:{operation}", zone_arn(m, zone), {})]


@rule("route53", "ListTagsForResource")
def _zone_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [Need("route53:ListTagsForResource", zone_arn(m, params["ResourceId"]), {})]


@rule("route53", "GetChange")
def _get_change(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    change = params["Id"].rsplit("/", 1)[-1]
    return [
        Need(
            "route53:GetChange",
            m.arn("route53", f"change/{change}", region=False, account=False),
            {},
        )
    ]


@rule("route53", "ChangeResourceRecordSets")
def _change_records(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    # SAR and Route 53 Developer Guide, "Using IAM policy conditions for fine-grained
    # access control": the names, types and actions of the batch, as multivalued keys.
    changes = params["ChangeBatch"]["Changes"]
    context = {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(
            {normalized_record_name(c["ResourceRecordSet"]["Name"]) for c in changes}
        ),
        "route53:ChangeResourceRecordSetsRecordTypes": sorted(
            {c["ResourceRecordSet"]["Type"] for c in changes}
        ),
        "route53:ChangeResourceRecordSetsActions": sorted({c["Action"] for c in changes}),
    }
    return [Need("route53:ChangeResourceRecordSets", zone_arn(m, params["HostedZoneId"]), context)]


def parameter_arn(m: RequestMapper, name: str) -> str:
    if name.startswith("/aws/service/"):  # AWS's public parameters: no account in the ARN
        return m.arn("ssm", f"parameter{name}", account=False)
    return m.arn("ssm", f"parameter/{name.lstrip('/')}")


def existing_parameter(m: RequestMapper, action: str, name: str) -> Need:
    if name.startswith("/aws/service/"):
        return Need(action, parameter_arn(m, name), {})
    tags = m.tags_by(
        "ssm", "list_tags_for_resource", "TagList", ResourceType="Parameter", ResourceId=name
    )
    return Need(action, parameter_arn(m, name), resource_tags(tags))


@rule("ssm", "GetParameter", "DeleteParameter")
def _parameter_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    return [existing_parameter(m, f"ssm:{operation}", params["Name"])]


@rule("ssm", "PutParameter")
def _put_parameter(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    name = params["Name"]
    tags = request_tags(tag_dict(params.get("Tags")))
    need = existing_parameter(m, "ssm:PutParameter", name)
    context = {**need.context, **tags, "ssm:Overwrite": str(bool(params.get("Overwrite"))).lower()}
    needs = [need._replace(context=context)]
    if tags:
        # AWS Systems Manager API Reference, PutParameter (Tags): tagging at creation needs
        # ssm:AddTagsToResource.
        needs.append(Need("ssm:AddTagsToResource", parameter_arn(m, name), tags))
    return needs


@rule("ssm", "AddTagsToResource", "ListTagsForResource", "RemoveTagsFromResource")
def _parameter_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = existing_parameter(m, f"ssm:{operation}", params["ResourceId"])
    if operation == "AddTagsToResource":
        need = need._replace(context={**need.context, **request_tags(tag_dict(params["Tags"]))})
    return [need]


# S3 operations authorized by an action of another name (SAR, Amazon S3).
S3_ACTIONS = {
    "CreateBucket": "s3:CreateBucket",
    "DeleteBucket": "s3:DeleteBucket",
    "DeleteBucketPolicy": "s3:DeleteBucketPolicy",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketOwnershipControls": "s3:GetBucketOwnershipControls",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "GetBucketTagging": "s3:GetBucketTagging",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "PutBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "PutBucketPolicy": "s3:PutBucketPolicy",
    "PutBucketTagging": "s3:PutBucketTagging",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
}


def bucket_arn(m: RequestMapper, bucket: str) -> str:
    return f"arn:{m.partition}:s3:::{bucket}"


# Bucket tags are not in the context: S3 evaluates aws:ResourceTag on a bucket only once
# ABAC is turned on for it, and the stack's bucket does not turn it on.


@rule("s3", *S3_ACTIONS)
def _bucket_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = bucket_arn(m, params["Bucket"])
    context = {}
    if operation == "CreateBucket":
        location = params.get("CreateBucketConfiguration", {}).get("LocationConstraint")
        if location:
            context["s3:locationconstraint"] = location
        if params.get("ObjectOwnership"):
            context["s3:x-amz-object-ownership"] = params["ObjectOwnership"]
    needs = [Need(S3_ACTIONS[operation], arn, context)]
    if operation == "CreateBucket" and params.get("ObjectOwnership"):
        # Amazon S3 API Reference, CreateBucket: with ObjectOwnership the caller also needs
        # s3:PutBucketOwnershipControls.
        needs.append(Need("s3:PutBucketOwnershipControls", arn, {}))
    return needs


@rule("s3", "DeleteObjects")
def _delete_objects(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    # Amazon S3 API Reference, DeleteObjects: each object needs s3:DeleteObject, and
    # s3:DeleteObjectVersion when a version is named.
    needs = []
    for item in params["Delete"]["Objects"]:
        arn = f"{bucket_arn(m, params['Bucket'])}/{item['Key']}"
        needs.append(Need("s3:DeleteObject", arn, {}))
        if item.get("VersionId"):
            needs.append(Need("s3:DeleteObjectVersion", arn, {"s3:versionid": item["VersionId"]}))
    return needs


def budget_arn(m: RequestMapper, name: str) -> str:
    return m.arn("budgets", f"budget/{name}", region=False)


def budget_need(m: RequestMapper, action: str, arn: str) -> Need:
    return Need(action, arn, resource_tags(tag_dict(m.tags_of.get(arn, []))))


# Budgets authorizes its calls by two actions (AWS Billing User Guide, "Manage access
# permissions": budgets:ViewBudget and budgets:ModifyBudget).
BUDGET_ACTIONS = {
    "CreateNotification": "budgets:ModifyBudget",
    "CreateSubscriber": "budgets:ModifyBudget",
    "DeleteBudget": "budgets:ModifyBudget",
    "DeleteNotification": "budgets:ModifyBudget",
    "DeleteSubscriber": "budgets:ModifyBudget",
    "DescribeBudget": "budgets:ViewBudget",
    "DescribeNotificationsForBudget": "budgets:ViewBudget",
    "DescribeSubscribersForNotification": "budgets:ViewBudget",
    "UpdateBudget": "budgets:ModifyBudget",
    "UpdateNotification": "budgets:ModifyBudget",
    "UpdateSubscriber": "budgets:ModifyBudget",
}


@rule("budgets", *BUDGET_ACTIONS)
def _budget_call(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    name = params.get("BudgetName") or params["NewBudget"]["BudgetName"]
    return [budget_need(m, BUDGET_ACTIONS[operation], budget_arn(m, name))]


@rule("budgets", "CreateBudget")
def _create_budget(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    arn = budget_arn(m, params["Budget"]["BudgetName"])
    tags = request_tags(tag_dict(params.get("ResourceTags")))
    needs = [Need("budgets:ModifyBudget", arn, tags)]
    if tags:
        # AWS Billing User Guide, "Manage access permissions" (tag-based access to
        # budgets): CreateBudget with ResourceTags needs budgets:TagResource.
        needs.append(Need("budgets:TagResource", arn, tags))
    return needs


@rule("budgets", "ListTagsForResource", "TagResource", "UntagResource")
def _budget_tags(m: RequestMapper, operation: str, params: dict) -> list[Need]:
    need = budget_need(m, f"budgets:{operation}", params["ResourceARN"])
    if operation == "TagResource":
        added = request_tags(tag_dict(params["ResourceTags"]))
        need = need._replace(context={**need.context, **added})
    return [need]


# ---------------------------------------------------------------------------------------
# Recording


class Recorder:
    """An `infra.aws.call_observers` entry: maps each call to its requests as it is made.

    Insert it first in the list, so it sees calls that a later observer answers in place of
    moto. It never answers a call itself. Operations with no rule and lookups that failed
    are kept, not raised: an exception here would fail the deploy instead of the test.
    """

    def __init__(self, mapper: RequestMapper):
        self.mapper = mapper
        self.calls: list[tuple[str, str]] = []
        self.requests: list[Request] = []
        self.unmapped: set[str] = set()
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, service: str, operation: str, params: dict) -> None:
        with self._lock:
            self.calls.append((service, operation))
        try:
            found = self.mapper.requests(service, operation, params)
        except UnmappedOperation as error:
            with self._lock:
                self.unmapped.add(str(error))
            return
        except Exception as error:  # noqa: BLE001 - reported by the test, not the deploy
            with self._lock:
                self.errors.append(f"{service}:{operation} {params}: {error!r}")
            return
        with self._lock:
            self.requests.extend(found)
