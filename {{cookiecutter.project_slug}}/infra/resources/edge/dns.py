"""The app's domain name (option `domain_name` with `hosted_zone_id`): an alias A record.

`<domain_name> A ALIAS -> the load balancer` in the user's Route 53 hosted zone, written once
port 443 answers. The zone itself is the user's: this tool creates and deletes only this
record. An A record of that name that is not an alias to a load balancer is someone else's:
plan stops with an error rather than overwrite it, and apply creates the record with CREATE
(not UPSERT), which Route 53 refuses when one appeared since (moto accepts both).
Without a zone, the outputs list the CNAME for the user to add (infra/outputs.py).
"""

from __future__ import annotations

import botocore.exceptions

from infra.aws import DeployError, error_code
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.shared.addresses import (
    ALIAS_RECORD,
    CERTIFICATE,
    HTTPS_LISTENER,
    LOAD_BALANCER,
)
from infra.resources.shared.route53 import (
    change_records,
    delete_records,
    find_record,
    fqdn,
    hosted_zone_name,
)

LOAD_BALANCER_DNS_SUFFIXES = (".elb.amazonaws.com.", ".elb.amazonaws.com.cn.")


def record_target(ctx: Context) -> tuple[str, str]:
    """(zone id, domain) of the record: the certificate's while it exists, since it remembers
    them after domain_name and hosted_zone_id are emptied; else the settings'."""
    certificate = ctx.actual(CERTIFICATE)
    if certificate is not None:
        return certificate["hosted_zone_id"], certificate["domain_name"]
    return ctx.settings.hosted_zone_id, ctx.settings.domain_name


def _dns_name(value):
    return value if value is UNKNOWN or value is None else fqdn(value)


class AliasRecord(Resource):
    address = ALIAS_RECORD
    depends_on = (LOAD_BALANCER, HTTPS_LISTENER)

    def read(self, ctx: Context) -> dict | None:
        zone_id, domain = record_target(ctx)
        if not zone_id or not domain:
            return None
        record_set = find_record(ctx, zone_id, domain, "A")
        if record_set is None:
            return None
        alias = record_set.get("AliasTarget")
        if alias is None or not fqdn(alias["DNSName"]).endswith(LOAD_BALANCER_DNS_SUFFIXES):
            if ctx.settings.https:
                raise DeployError(
                    f"Route 53 hosted zone {zone_id} already has an A record for {domain} "
                    "that does not point to a load balancer: delete it (or choose another "
                    "domain_name), then run the command again."
                )
            return None  # not ours: left alone
        return {
            "id": f"{zone_id}/{fqdn(domain)}",
            "zone_id": zone_id,
            "name": fqdn(domain),
            "type": "A",
            "alias_dns_name": fqdn(alias["DNSName"]),
            "alias_zone_id": alias["HostedZoneId"],
            "_record_set": record_set,
        }

    def desired(self, ctx: Context) -> dict | None:
        settings = ctx.settings
        if not settings.https or not settings.hosted_zone_id:
            return None
        hosted_zone_name(ctx)
        return {
            "zone_id": settings.hosted_zone_id,
            "name": fqdn(settings.domain_name),
            "type": "A",
            "alias_dns_name": _dns_name(ctx.attr(LOAD_BALANCER, "dns_name")),
            "alias_zone_id": ctx.attr(LOAD_BALANCER, "canonical_hosted_zone_id"),
        }

    def _write(self, ctx, desired, action: str) -> None:
        record_set = {
            "Name": desired["name"],
            "Type": "A",
            "AliasTarget": {
                "HostedZoneId": desired["alias_zone_id"],
                "DNSName": desired["alias_dns_name"],
                "EvaluateTargetHealth": False,  # one load balancer: nothing to fail over to
            },
        }
        try:
            change_records(
                ctx,
                self.address,
                desired["zone_id"],
                [{"Action": action, "ResourceRecordSet": record_set}],
            )
        except botocore.exceptions.ClientError as error:
            if action != "CREATE" or error_code(error) != "InvalidChangeBatch":
                raise
            raise DeployError(
                f"{self.address}: Route 53 refused to add {desired['name']} to hosted zone "
                f"{desired['zone_id']} ({error}); a record of that name may exist: delete "
                "it, then run apply again."
            ) from None

    def create(self, ctx: Context, desired: dict) -> None:
        self._write(ctx, desired, "CREATE")

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if actual["zone_id"] != desired["zone_id"] or actual["name"] != desired["name"]:
            self.delete(ctx, actual)
            self._write(ctx, desired, "CREATE")
            return
        self._write(ctx, desired, "UPSERT")

    def delete(self, ctx: Context, actual: dict) -> None:
        delete_records(ctx, actual["zone_id"], [actual["_record_set"]])


def resources() -> list[Resource]:
    return [AliasRecord()]
