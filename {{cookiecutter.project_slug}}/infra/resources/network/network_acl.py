"""The private subnets' network ACL: the database port from the app's subnets only.

The default network ACL admits everything. This one (Amazon VPC User Guide, "Control subnet
traffic with network access control lists"): rules are evaluated "starting with the lowest
numbered rule", the first that matches decides, and what no rule matches is denied by the
last rule `*`, which cannot be removed. Network ACLs are stateless: "responses to allowed
inbound traffic are subject to the rules for outbound traffic (and vice versa)", so every
answer needs its own rule, to the ephemeral ports (1024-65535 covers the clients the guide
lists: Linux, Elastic Load Balancing, NAT gateways). They do not filter traffic to or from the
Route 53 Resolver (DNS), DHCP, instance metadata or the Amazon Time Sync Service, nor traffic
between two addresses of one subnet.

Who uses the private subnets: the database (and its Multi-AZ standby, which takes over in the
other zone under the same rules) and, with nat_gateway, the app instances. The app may run in
the public subnets or, behind NAT, in the private ones, and while nat_gateway is switched an
instance refresh runs old instances in the one and new ones in the other; so whatever the
setting, the ACL admits what the app needs to reach the database from either, and what the
load balancer needs to reach the app in the private subnets:
- in: PostgreSQL from the public and private subnets, the app port from the public subnets
  (the load balancer and its health checks), the database's answers from the private ones;
- out: the answers, to the public and private subnets, and PostgreSQL to the private subnets
  (an instance in one zone, the database in another).
With nat_gateway, the instances' own calls through the NAT gateways too: out, HTTPS anywhere
(all the app's security group lets out besides PostgreSQL); in, the answers from anywhere,
after PostgreSQL and the app port from anywhere else have been denied.
Everything else is denied: no SSH, nothing from outside the stack's subnets to the database,
and without NAT nothing from or to the internet at all. The security groups stay the finer
filter (the database admits the app's group only); this ACL is the layer under them.

The NAT rules (numbers 300-399) are a resource of their own, `aws_network_acl_rule.private_nat`,
which lives and dies with the NAT gateways; the ACL's resource leaves those numbers alone.
They are the instances' way out as much as the NAT routes are ("instances in a private subnet
can connect to services outside your VPC" through a NAT gateway, Amazon VPC User Guide, "NAT
gateways", only if the ACL lets the traffic and its answers through), and they must outlast
the instances that use them: the app logs through Docker's awslogs driver, in its default
blocking mode ("applications are likely to fail in unexpected ways when STDERR or STDOUT
streams block", AWS CDK reference, AwsLogDriverMode), so an instance cut off from CloudWatch
Logs may stop answering. Within the ACL's resource they would change with it, early in the
apply, before the instance refresh has moved the instances out of the private subnets; and
the ACL cannot wait for the group, which depends on it through the private subnets.
Apart, the Auto Scaling group depends on them (stack.py): switching NAT on, they are added
before the group (and a launch template version without public IPs) moves into the private
subnets; switching it off, their deletion waits for the group's update, which waits for the
refresh, as the NAT routes and gateways do. The resource is in every stack, wanted only with
NAT: a plan then finds and removes rules left by any earlier setting or stopped apply, and the
stack's list needs no read to know whether to hold it.

The private subnets associate themselves with the ACL (subnets.py), and so depend on it:
destroy deletes the subnets first, and their associations with them, so the ACL goes last
without the VPC's default ACL ever being touched (EC2 API Reference, DeleteNetworkAcl: "You
can't delete the ACL if it's associated with any subnets").
"""

from __future__ import annotations

import functools

from infra import tags
from infra.aws import delete_when_free, once_visible, unless_gone
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import DB_NETWORK_ACL, NAT_ACL_RULES, VPC
from infra.resources.shared.ec2 import ec2_tags, find_tagged, update_ec2_tags
from infra.resources.shared.names import HTTPS_PORT, POSTGRES_PORT
from infra.resources.shared.permissions import ec2_changes, ec2_creates, reads
from infra.validation import StackSettings

EPHEMERAL = f"{1024}-{65535}"
ANYWHERE = "0.0.0.0/0"
# AWS's own last rule (`*`, deny everything), listed by DescribeNetworkAcls but not ours.
LAST_RULE = 32767
PROTOCOLS = {"tcp": "6", "all": "-1"}
# The NAT rules' numbers: theirs alone, whether NAT is on or not.
NAT_RULE_NUMBERS = range(300, 400)


def entry(number: int, action: str, protocol: str, ports: str, cidr: str) -> str:
    return f"{number} {action} {protocol} {ports} {cidr}"


def desired_entries(settings: StackSettings) -> dict[str, tuple[str, ...]]:
    """The ACL's own inbound and outbound rules, the same whatever nat_gateway is, as
    `<number> <allow|deny> tcp <ports> <cidr>` strings."""
    public, private = settings.public_subnet_cidrs, settings.private_subnet_cidrs
    db, app = str(POSTGRES_PORT), str(settings.app_port)
    ingress = [
        *(entry(100 + i, "allow", "tcp", db, cidr) for i, cidr in enumerate(public)),
        *(entry(150 + i, "allow", "tcp", db, cidr) for i, cidr in enumerate(private)),
        *(entry(200 + i, "allow", "tcp", app, cidr) for i, cidr in enumerate(public)),
        *(entry(250 + i, "allow", "tcp", EPHEMERAL, cidr) for i, cidr in enumerate(private)),
    ]
    egress = [
        *(entry(100 + i, "allow", "tcp", EPHEMERAL, cidr) for i, cidr in enumerate(public)),
        *(entry(150 + i, "allow", "tcp", EPHEMERAL, cidr) for i, cidr in enumerate(private)),
        *(entry(200 + i, "allow", "tcp", db, cidr) for i, cidr in enumerate(private)),
    ]
    return {"ingress": tuple(ingress), "egress": tuple(egress)}


def nat_entries(settings: StackSettings) -> dict[str, tuple[str, ...]]:
    """The instances' HTTPS calls through the NAT gateways and their answers: after the
    ACL's own rules (lower numbers), the database and app ports denied from anywhere else
    before the answers' port range, which holds both, is allowed from anywhere."""
    db, app = str(POSTGRES_PORT), str(settings.app_port)
    return {
        "ingress": (
            entry(300, "deny", "tcp", db, ANYWHERE),
            entry(301, "deny", "tcp", app, ANYWHERE),
            entry(310, "allow", "tcp", EPHEMERAL, ANYWHERE),
        ),
        "egress": (entry(300, "allow", "tcp", str(HTTPS_PORT), ANYWHERE),),
    }


def listed_entries(acl: dict, egress: bool, nat: bool = False) -> tuple[str, ...]:
    """The ACL's entries in one direction, as `entry` strings: the NAT rules' numbers
    (`nat`) or every other number but AWS's last rule."""
    found = []
    for item in acl.get("Entries", []):
        number = item["RuleNumber"]
        if item["Egress"] != egress or number == LAST_RULE:
            continue
        if (number in NAT_RULE_NUMBERS) != nat:
            continue
        protocol = {code: name for name, code in PROTOCOLS.items()}.get(
            item["Protocol"], item["Protocol"]
        )
        ports = item.get("PortRange") or {}
        low, high = ports.get("From"), ports.get("To")
        span = "all" if low is None else (f"{low}" if low == high else f"{low}-{high}")
        cidr = item.get("CidrBlock") or item.get("Ipv6CidrBlock", "")
        found.append((number, entry(number, item["RuleAction"], protocol, span, cidr)))
    return tuple(text for _number, text in sorted(found))


def entry_arguments(text: str) -> dict:
    number, action, protocol, ports, cidr = text.split(" ")
    arguments = {
        "RuleNumber": int(number),
        "RuleAction": action,
        "Protocol": PROTOCOLS[protocol],
        "CidrBlock": cidr,
    }
    if ports != "all":
        low, _, high = ports.partition("-")
        arguments["PortRange"] = {"From": int(low), "To": int(high or low)}
    return arguments


def find_acl(ctx: Context) -> dict | None:
    name = ctx.settings.name("private-acl")
    return find_tagged(ctx, ctx.aws.ec2.describe_network_acls, "NetworkAcls", "network ACL", name)


def converge_entries(ctx: Context, address: str, acl_id: str, actual: dict, desired: dict) -> None:
    """Each rule number to what it should be: replaced, added (lowest first), or removed
    (highest first), so that a deny is in place before the allow it guards comes, and
    stays until that allow has gone."""
    ec2 = ctx.aws.ec2
    for direction in ("ingress", "egress"):
        egress = direction == "egress"
        present = {int(text.split(" ")[0]): text for text in actual[direction]}
        wanted = {int(text.split(" ")[0]): text for text in desired[direction]}
        for number in sorted(wanted):
            text = wanted[number]
            if present.get(number) == text:
                continue
            call = (
                ec2.replace_network_acl_entry if number in present else ec2.create_network_acl_entry
            )
            # Right after CreateNetworkAcl: InvalidNetworkAclID.NotFound for a moment.
            once_visible(
                functools.partial(
                    call, NetworkAclId=acl_id, Egress=egress, **entry_arguments(text)
                ),
                ctx.sleep,
                f"{address}: set rule {number} ({direction}) of {acl_id}",
            )
        for number in sorted(present.keys() - wanted.keys(), reverse=True):
            delete_entry(ctx, acl_id, egress, number)


def delete_entry(ctx: Context, acl_id: str, egress: bool, number: int) -> None:
    """Gone already (the ACL or the rule, an interrupted run before) counts as deleted."""
    unless_gone(
        functools.partial(
            ctx.aws.ec2.delete_network_acl_entry,
            NetworkAclId=acl_id,
            Egress=egress,
            RuleNumber=number,
        )
    )


class DatabaseNetworkAcl(Resource):
    address = DB_NETWORK_ACL
    depends_on = (VPC,)
    immutable = ("vpc_id",)
    replace_blocked = "Change it back, or run `python -m infra destroy` and then apply."

    def read(self, ctx: Context) -> dict | None:
        acl = find_acl(ctx)
        if acl is None:
            return None
        return {
            "id": acl["NetworkAclId"],
            "vpc_id": acl["VpcId"],
            "ingress": listed_entries(acl, egress=False),
            "egress": listed_entries(acl, egress=True),
            "tags": ec2_tags(acl, ctx, ctx.settings.name("private-acl")),
        }

    def desired(self, ctx: Context) -> dict | None:
        return {
            "vpc_id": ctx.attr(VPC, "id"),
            **desired_entries(ctx.settings),
            "tags": tags.stack_tags(ctx.settings, ctx.settings.name("private-acl")),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        acl_id = ctx.aws.ec2.create_network_acl(
            VpcId=desired["vpc_id"],
            TagSpecifications=tags.ec2_tag_specification("network-acl", desired["tags"]),
        )["NetworkAcl"]["NetworkAclId"]
        converge_entries(ctx, self.address, acl_id, {"ingress": (), "egress": ()}, desired)

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        converge_entries(ctx, self.address, actual["id"], actual, desired)
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, actual["id"], desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        delete = functools.partial(ctx.aws.ec2.delete_network_acl, NetworkAclId=actual["id"])
        # The subnets went just before: AWS may list their associations a moment longer.
        delete_when_free(lambda: unless_gone(delete), ctx.sleep)


class NatNetworkAclRules(Resource):
    """The private ACL's rules numbered 300-399: the NAT rules with nat_gateway, none
    without. It exists while the ACL holds any of them; its `id` is the ACL's."""

    address = NAT_ACL_RULES
    depends_on = (DB_NETWORK_ACL,)

    def read(self, ctx: Context) -> dict | None:
        acl = find_acl(ctx)
        if acl is None:
            return None
        ingress = listed_entries(acl, egress=False, nat=True)
        egress = listed_entries(acl, egress=True, nat=True)
        if not ingress and not egress:
            return None
        acl_id = acl["NetworkAclId"]
        return {"id": acl_id, "network_acl_id": acl_id, "ingress": ingress, "egress": egress}

    def desired(self, ctx: Context) -> dict | None:
        if not ctx.settings.nat_gateway_count:
            return None
        return {"network_acl_id": ctx.attr(DB_NETWORK_ACL, "id"), **nat_entries(ctx.settings)}

    def create(self, ctx: Context, desired: dict) -> None:
        empty = {"ingress": (), "egress": ()}
        converge_entries(ctx, self.address, desired["network_acl_id"], empty, desired)

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        converge_entries(ctx, self.address, actual["id"], actual, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        empty = {"ingress": (), "egress": ()}
        converge_entries(ctx, self.address, actual["id"], actual, empty)


def resources() -> list[Resource]:
    return [DatabaseNetworkAcl(), NatNetworkAclRules()]


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        reads("ec2:DescribeNetworkAcls"),
        *ec2_creates(
            ctx, {"ec2:CreateNetworkAcl": "network-acl"}, {"ec2:CreateNetworkAcl": ["vpc"]}
        ),
        # Service Authorization Reference, Amazon EC2: these name the network-acl only;
        # ReplaceNetworkAclAssociation the ACL the subnet moves to, always the stack's.
        ec2_changes(
            ctx,
            [
                "ec2:CreateNetworkAclEntry",
                "ec2:DeleteNetworkAcl",
                "ec2:DeleteNetworkAclEntry",
                "ec2:ReplaceNetworkAclAssociation",
                "ec2:ReplaceNetworkAclEntry",
            ],
        ),
    ]
