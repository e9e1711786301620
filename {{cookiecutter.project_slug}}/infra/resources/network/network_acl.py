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

The private subnets associate themselves with it (subnets.py), and so depend on it: destroy
deletes the subnets first, and their associations with them, so the ACL goes last without
the VPC's default ACL ever being touched (EC2 API Reference, DeleteNetworkAcl: "You can't
delete the ACL if it's associated with any subnets").
"""

from __future__ import annotations

import functools

from infra import tags
from infra.aws import delete_when_free, is_not_found, once_visible
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import DB_NETWORK_ACL, VPC
from infra.resources.shared.ec2 import ec2_tags, find_tagged, update_ec2_tags
from infra.resources.shared.names import HTTPS_PORT, POSTGRES_PORT
from infra.resources.shared.permissions import ec2_changes, ec2_creates, reads
from infra.validation import StackSettings

EPHEMERAL = f"{1024}-{65535}"
ANYWHERE = "0.0.0.0/0"
# AWS's own last rule (`*`, deny everything), listed by DescribeNetworkAcls but not ours.
LAST_RULE = 32767
PROTOCOLS = {"tcp": "6", "all": "-1"}


def entry(number: int, action: str, protocol: str, ports: str, cidr: str) -> str:
    return f"{number} {action} {protocol} {ports} {cidr}"


def desired_entries(settings: StackSettings) -> dict[str, tuple[str, ...]]:
    """Inbound and outbound rules as `<number> <allow|deny> tcp <ports> <cidr>` strings."""
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
    if settings.nat_gateway_count:
        ingress += [
            entry(300, "deny", "tcp", db, ANYWHERE),
            entry(301, "deny", "tcp", app, ANYWHERE),
            entry(310, "allow", "tcp", EPHEMERAL, ANYWHERE),
        ]
        egress.append(entry(300, "allow", "tcp", str(HTTPS_PORT), ANYWHERE))
    return {"ingress": tuple(ingress), "egress": tuple(egress)}


def listed_entries(acl: dict, egress: bool) -> tuple[str, ...]:
    found = []
    for item in acl.get("Entries", []):
        if item["Egress"] != egress or item["RuleNumber"] == LAST_RULE:
            continue
        protocol = {code: name for name, code in PROTOCOLS.items()}.get(
            item["Protocol"], item["Protocol"]
        )
        ports = item.get("PortRange") or {}
        low, high = ports.get("From"), ports.get("To")
        span = "all" if low is None else (f"{low}" if low == high else f"{low}-{high}")
        cidr = item.get("CidrBlock") or item.get("Ipv6CidrBlock", "")
        found.append(
            (
                item["RuleNumber"],
                entry(item["RuleNumber"], item["RuleAction"], protocol, span, cidr),
            )
        )
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


class DatabaseNetworkAcl(Resource):
    address = DB_NETWORK_ACL
    depends_on = (VPC,)
    immutable = ("vpc_id",)
    replace_blocked = "Change it back, or run `python -m infra destroy` and then apply."

    def _name(self, ctx) -> str:
        return ctx.settings.name("private-acl")

    def read(self, ctx: Context) -> dict | None:
        name = self._name(ctx)
        acl = find_tagged(
            ctx, ctx.aws.ec2.describe_network_acls, "NetworkAcls", "network ACL", name
        )
        if acl is None:
            return None
        return {
            "id": acl["NetworkAclId"],
            "vpc_id": acl["VpcId"],
            "ingress": listed_entries(acl, egress=False),
            "egress": listed_entries(acl, egress=True),
            "tags": ec2_tags(acl, ctx, name),
        }

    def desired(self, ctx: Context) -> dict | None:
        return {
            "vpc_id": ctx.attr(VPC, "id"),
            **desired_entries(ctx.settings),
            "tags": tags.stack_tags(ctx.settings, self._name(ctx)),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        acl_id = ctx.aws.ec2.create_network_acl(
            VpcId=desired["vpc_id"],
            TagSpecifications=tags.ec2_tag_specification("network-acl", desired["tags"]),
        )["NetworkAcl"]["NetworkAclId"]
        empty = {"id": acl_id, "ingress": (), "egress": (), "tags": desired["tags"]}
        self._converge(ctx, empty, desired)

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        self._converge(ctx, actual, desired)

    def _converge(self, ctx: Context, actual: dict, desired: dict) -> None:
        """Each rule number to what it should be: replaced, added, or removed."""
        ec2, acl_id = ctx.aws.ec2, actual["id"]
        for direction in ("ingress", "egress"):
            egress = direction == "egress"
            present = {text.split(" ")[0]: text for text in actual[direction]}
            wanted = {text.split(" ")[0]: text for text in desired[direction]}
            for number, text in wanted.items():
                if present.get(number) == text:
                    continue
                call = (
                    ec2.replace_network_acl_entry
                    if number in present
                    else ec2.create_network_acl_entry
                )
                # Right after CreateNetworkAcl: InvalidNetworkAclID.NotFound for a moment.
                once_visible(
                    functools.partial(
                        call, NetworkAclId=acl_id, Egress=egress, **entry_arguments(text)
                    ),
                    ctx.sleep,
                    f"{self.address}: set rule {number} ({direction}) of {acl_id}",
                )
            for number in present.keys() - wanted.keys():
                ec2.delete_network_acl_entry(
                    NetworkAclId=acl_id, Egress=egress, RuleNumber=int(number)
                )
        if actual["tags"] != desired["tags"]:
            update_ec2_tags(ctx, acl_id, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        def delete() -> None:
            try:
                ctx.aws.ec2.delete_network_acl(NetworkAclId=actual["id"])
            except Exception as error:
                if not is_not_found(error):
                    raise

        # The subnets went just before: AWS may list their associations a moment longer.
        delete_when_free(delete, ctx.sleep)


def resources() -> list[Resource]:
    return [DatabaseNetworkAcl()]


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
