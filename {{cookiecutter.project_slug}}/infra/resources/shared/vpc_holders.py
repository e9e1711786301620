"""Deleting what something else still holds in the VPC: asking again for up to 20 minutes,
with Terraform's progress lines, then one line that names the holders and what to do.

The VPC, its internet gateway and the subnets are deleted this way (network/vpc.py and
network/subnets.py).
"""

from __future__ import annotations

import time

from infra import tags
from infra.aws import DeployError, error_code, error_message, is_dependency_violation
from infra.engine import Context, duration

# How long destroy keeps asking AWS to delete the VPC (or detach its gateway) while something
# still holds it. The network interfaces of a deleted load balancer or database can take
# more than 20 minutes to go; asking again costs nothing.
FREE_WAIT_SECONDS = 20 * 60
FIRST_DELAY_SECONDS = 5.0
LONGEST_DELAY_SECONDS = 30.0
# How often, while waiting, to list what still holds the VPC (and say so when it changes).
HOLDERS_EVERY_SECONDS = 120.0
# Amazon GuardDuty User Guide, "Using shared VPC with automated security agents": with
# Runtime Monitoring's automated agent configuration on, GuardDuty creates an interface VPC
# endpoint (service com.amazonaws.<region>.guardduty-data, "Prerequisite - Creating an Amazon
# VPC endpoint") and a security group in each VPC, and "adds a GuardDutyManaged tag and sets
# it to true" on them. "Using Infrastructure as Code (IaC) with GuardDuty automated security
# agents": GuardDuty deletes them only when Runtime Monitoring is turned off, so an IaC tool's
# VPC delete fails; "Disabling, uninstalling, and cleaning up resources in Runtime
# Monitoring": turning off only the automated agent configuration leaves the endpoint, to be
# deleted by hand. Nothing removes them while destroy waits, so it stops waiting at once.
GUARDDUTY_TAG = "GuardDutyManaged"
GUARDDUTY_SERVICE_SUFFIX = ".guardduty-data"
GUARDDUTY_ADVICE = (
    "a GuardDuty-managed endpoint (guardduty-data) holds the VPC, and GuardDuty keeps it while "
    "Runtime Monitoring is on: turn off GuardDuty Runtime Monitoring's automated agent "
    "configuration for this account and region (or GuardDuty makes the endpoint again), delete "
    "the endpoint and then its security group (both tagged GuardDutyManaged=true) in the VPC "
    "console, then run `python -m infra destroy` again"
)
RELEASED_LATE = {"amazon-elb", "amazon-rds"}


def delete_once_free(
    ctx: Context,
    address: str,
    resource_id: str,
    doing: str,
    vpc_id: str,
    call,
    subnet_id: str | None = None,
) -> None:
    """`call()` again and again while AWS refuses it with DependencyViolation (for at most
    FREE_WAIT_SECONDS), printing Terraform's "Still destroying..." lines; then a one-line
    DeployError that names what still holds the VPC (or only `subnet_id`) and what to do.
    A GuardDuty-managed endpoint among the holders ends the wait at once.

    Time waited is the larger of the clock and the sleeps asked for, so a test's instant
    `ctx.sleep` runs the whole wait in no time."""
    started = time.monotonic()
    slept = 0.0
    delay = FIRST_DELAY_SECONDS
    last_report = 0.0
    next_look = 0.0
    said = ""
    while True:
        try:
            call()
            return
        except Exception as error:  # noqa: BLE001 - only a dependency is waited out
            if not is_dependency_violation(error):
                raise
            refusal = error
        waited = max(time.monotonic() - started, slept)
        if waited >= next_look or waited >= FREE_WAIT_SECONDS:
            holders = vpc_holders(ctx, vpc_id, subnet_id)
            next_look = waited + HOLDERS_EVERY_SECONDS
            if holders["guardduty"] or waited >= FREE_WAIT_SECONDS:
                raise DeployError(gave_up(address, doing, waited, refusal, holders))
            listed = "; ".join(holders["lines"])
            if listed and listed != said:
                ctx.out(f"{address}: waiting for AWS to release what holds {vpc_id}: {listed}")
                said = listed
        if waited - last_report >= ctx.progress_seconds:
            ctx.out(
                f"{address}: Still destroying... [id={resource_id}, {duration(waited)} elapsed]"
            )
            last_report = waited
        ctx.sleep(delay)
        slept += delay
        delay = min(delay * 2, LONGEST_DELAY_SECONDS)


def _tagged_guardduty(item: dict) -> bool:
    return tags.from_list(item.get("Tags")).get(GUARDDUTY_TAG, "").lower() == "true"


def vpc_holders(ctx: Context, vpc_id: str, subnet_id: str | None = None) -> dict:
    """What is still in the VPC (or only in `subnet_id`), each as a short phrase (`lines`),
    and whether GuardDuty's endpoint is among them (`guardduty`); `late`: only interfaces of
    load balancers and databases, which AWS releases by itself some minutes after deleting
    them."""
    ec2 = ctx.aws.ec2
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    lines: list[str] = []
    guardduty = False
    endpoints = [
        endpoint
        for endpoint in ec2.describe_vpc_endpoints(Filters=in_vpc).get("VpcEndpoints", [])
        if endpoint.get("State", "").lower() != "deleted"
        and (subnet_id is None or subnet_id in endpoint.get("SubnetIds", []))
    ]
    for endpoint in endpoints:
        service = endpoint.get("ServiceName", "")
        managed = _tagged_guardduty(endpoint) or service.endswith(GUARDDUTY_SERVICE_SUFFIX)
        guardduty = guardduty or managed
        lines.append(
            f"VPC endpoint {endpoint['VpcEndpointId']} ({service}"
            + (", GuardDuty-managed" if managed else "")
            + f", {endpoint.get('State', 'unknown').lower()})"
        )
    in_scope = in_vpc + ([{"Name": "subnet-id", "Values": [subnet_id]}] if subnet_id else [])
    interfaces = ec2.describe_network_interfaces(Filters=in_scope).get("NetworkInterfaces", [])
    for interface in interfaces:
        details = [
            repr(interface.get("Description") or ""),
            f"requester {interface.get('RequesterId') or 'this account'}",
            f"type {interface.get('InterfaceType') or 'interface'}",
        ]
        groups = [
            f"{group['GroupId']} ({group.get('GroupName', '')})"
            for group in interface.get("Groups", [])
        ]
        if groups:
            details.append("security groups " + ", ".join(groups))
        lines.append(f"network interface {interface['NetworkInterfaceId']} ({'; '.join(details)})")
    # A subnet is held by what is in it; security groups and subnets hold only the VPC.
    groups = [] if subnet_id else ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"]
    for group in groups:
        if group.get("GroupName") == "default":
            continue  # AWS deletes it with the VPC
        managed = _tagged_guardduty(group)
        guardduty = guardduty or managed
        lines.append(
            f"security group {group['GroupId']} ({group.get('GroupName', '')}"
            + (", GuardDuty-managed" if managed else "")
            + ")"
        )
    subnets = [] if subnet_id else ec2.describe_subnets(Filters=in_vpc)["Subnets"]
    for subnet in subnets:
        lines.append(f"subnet {subnet['SubnetId']} ({subnet.get('CidrBlock', '')})")
    late = bool(interfaces) and len(lines) == len(interfaces)
    late = late and all(i.get("RequesterId") in RELEASED_LATE for i in interfaces)
    return {"lines": lines, "guardduty": guardduty, "late": late}


def gave_up(address: str, doing: str, waited: float, refusal: Exception, holders: dict) -> str:
    refused = f"{error_code(refusal)}: {error_message(refusal)}".rstrip(". ")
    line = f"{address}: AWS still refuses to {doing} after {duration(waited)} ({refused})"
    if holders["lines"]:
        line += "; still in the VPC: " + "; ".join(holders["lines"])
    if holders["guardduty"]:
        advice = GUARDDUTY_ADVICE
    elif holders["late"]:
        advice = (
            "AWS has not released the network interfaces of the deleted load balancer or "
            "database yet: run `python -m infra destroy` again in a few minutes"
        )
    elif holders["lines"]:
        advice = (
            "they are not the stack's: delete them (or what made them) in the VPC console, "
            "then run `python -m infra destroy` again"
        )
    else:
        advice = (
            "nothing listed holds it any more: run `python -m infra destroy` again in a few minutes"
        )
    return f"{line}. {advice[0].upper()}{advice[1:]}."
