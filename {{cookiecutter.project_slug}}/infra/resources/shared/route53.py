"""Route 53 record helpers, for the certificate's validation records and the domain's alias."""

from __future__ import annotations

import botocore.exceptions

from infra.aws import DeployError, error_code
from infra.engine import Context


def fqdn(name: str) -> str:
    """Route 53 spells names in lowercase with a final dot."""
    return name.lower().rstrip(".") + "."


def route53(ctx: Context):
    return ctx.aws.client("route53")


def hosted_zone_name(ctx: Context) -> str:
    """The name of `hosted_zone_id`, checked once per run: it exists, is public and holds
    domain_name (Route 53 refuses records outside the zone; ACM cannot see a private zone)."""

    def look_up() -> str:
        zone_id, domain = ctx.settings.hosted_zone_id, ctx.settings.domain_name
        try:
            zone = route53(ctx).get_hosted_zone(Id=zone_id)["HostedZone"]
        except botocore.exceptions.ClientError as error:
            if error_code(error) != "NoSuchHostedZone":
                raise
            raise DeployError(
                f"Route 53 has no hosted zone {zone_id} in this account: set hosted_zone_id "
                "in stack.toml to the id the Route 53 console shows for the domain's zone, "
                "or leave it empty to add the DNS records yourself."
            ) from None
        name = zone["Name"].lower().rstrip(".")
        if zone.get("Config", {}).get("PrivateZone"):
            raise DeployError(
                f"Hosted zone {zone_id} ({name}) is private: ACM validates certificates "
                "through public DNS only; set hosted_zone_id to the public zone of the domain."
            )
        if domain != name and not domain.endswith(f".{name}"):
            raise DeployError(
                f"domain_name {domain} is not in hosted zone {zone_id} ({name}): set "
                "hosted_zone_id to the zone of the domain, or leave it empty."
            )
        return name

    return ctx.cached("hosted_zone_name", look_up)


def find_record(ctx: Context, zone_id: str, name: str, record_type: str) -> dict | None:
    """The record set of that name and type in the zone, or None."""
    listed = route53(ctx).list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=name, StartRecordType=record_type, MaxItems="1"
    )["ResourceRecordSets"]
    for record_set in listed:
        if fqdn(record_set["Name"]) == fqdn(name) and record_set["Type"] == record_type:
            return record_set
    return None


def change_records(ctx: Context, address: str, zone_id: str, changes: list[dict]) -> None:
    """Send the changes and wait until every Route 53 name server has them."""
    client = route53(ctx)
    change = client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Comment": f"{ctx.settings.name('https')} {address}", "Changes": changes},
    )["ChangeInfo"]

    def in_sync() -> bool:
        return client.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "INSYNC"

    ctx.wait(address, "creating", in_sync, timeout_seconds=600)


def delete_records(ctx: Context, zone_id: str, record_sets: list[dict]) -> None:
    """DELETE needs the record exactly as it is; one already gone is fine."""
    for record_set in record_sets:
        try:
            route53(ctx).change_resource_record_sets(
                HostedZoneId=zone_id,
                ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": record_set}]},
            )
        except botocore.exceptions.ClientError as error:
            if error_code(error) != "InvalidChangeBatch" or "not found" not in str(error):
                raise


def record_line(record: tuple[str, str, str]) -> str:
    name, record_type, value = record
    return f"{name} {record_type} {value}"
