"""HTTPS (option `domain_name`): the ACM certificate of the domain and its DNS validation.

Three resources, none of which exists while domain_name is empty (apply removes them when
it is emptied again):
- the public certificate for domain_name, validated by DNS and tagged with the stack's tags
  (and with the hosted zone its validation records went to, so that they are found again
  after hosted_zone_id is emptied);
- its validation CNAME record(s), UPSERTed into the Route 53 hosted zone `hosted_zone_id`
  when one is given; without a zone apply prints them for the user to add;
- the wait until ACM has issued it (Terraform's aws_acm_certificate_validation), with
  progress lines and a timeout whose error names the record ACM has not seen yet; running
  apply again resumes the wait with the same certificate.
The HTTPS listener that serves the certificate is in load_balancer.py, the alias record of
the domain in dns.py.

Real AWS, unlike moto: the validation record shows up in DescribeCertificate only seconds
after RequestCertificate (create polls for it); a retried RequestCertificate without an
idempotency token makes a second certificate; a certificate's domain name has at most 64
characters (infra/validation.py refuses longer ones); ACM refuses DeleteCertificate while a
listener still uses it, for a while even after the listener is gone (bounded retry); an
HTTPS listener is refused a certificate that is not issued yet (the listener waits for the
validation resource). ACM gives every certificate of one account for one domain the same
validation record, so deleting it (on destroy) would also stop the renewal of another
certificate of that account for the same domain, should one exist outside this stack.
"""

from __future__ import annotations

import uuid

import botocore.exceptions

from infra import tags
from infra.aws import DeployError, error_code, is_not_found, retry
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.shared.addresses import CERTIFICATE, CERTIFICATE_VALIDATION, VALIDATION_RECORDS
from infra.resources.shared.permissions import allow, arn, reads, stack_tags
from infra.resources.shared.route53 import (
    change_records,
    delete_records,
    find_record,
    fqdn,
    hosted_zone_name,
    record_line,
)

# The hosted zone the validation records were written to, kept on the certificate.
ZONE_TAG = "HostedZoneId"
KEY_ALGORITHM = "RSA_2048"  # what ListCertificates returns without an Includes filter
ALL_STATUSES = [
    "PENDING_VALIDATION",
    "ISSUED",
    "INACTIVE",
    "EXPIRED",
    "VALIDATION_TIMED_OUT",
    "REVOKED",
    "FAILED",
]
FAILED_STATUSES = ("FAILED", "VALIDATION_TIMED_OUT", "REVOKED", "EXPIRED", "INACTIVE")
VALIDATION_TTL = 300
TURN_OFF_FIRST = (
    'set domain_name = "" and hosted_zone_id = "" and apply (back to HTTP), '
    "then set the new values and apply again"
)


def _validation_records(certificate: dict, pending_only: bool = False) -> tuple:
    """(name, type, value) of each domain's DNS validation record that ACM has published."""
    records = {
        (fqdn(r["Name"]), r["Type"], r["Value"])
        for option in certificate.get("DomainValidationOptions", [])
        if (r := option.get("ResourceRecord"))
        and not (pending_only and option.get("ValidationStatus") == "SUCCESS")
    }
    return tuple(sorted(records))


def describe(ctx: Context, arn: str) -> dict | None:
    try:
        return ctx.aws.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    except botocore.exceptions.ClientError as error:
        if is_not_found(error):
            return None
        raise


class Certificate(Resource):
    address = CERTIFICATE
    immutable = ("domain_name", "validation_method", "hosted_zone_id")
    replace_blocked = (
        "A certificate is for one domain, validated in one place: set domain_name and "
        f"hosted_zone_id back, or {TURN_OFF_FIRST}."
    )
    records_timeout_seconds = 300.0

    def read(self, ctx: Context) -> dict | None:
        mine = self._stack_certificates(ctx)
        if len(mine) > 1:
            arns = ", ".join(arn for arn, _ in mine)
            raise DeployError(
                f"Found {len(mine)} ACM certificates tagged with stack "
                f"{ctx.settings.stack_name} of {ctx.settings.project_slug} ({arns}): delete "
                "the extra ones in the ACM console, then run the command again."
            )
        if not mine:
            return None
        arn, listed_tags = mine[0]
        certificate = describe(ctx, arn)
        if certificate is None:
            return None
        options = certificate.get("DomainValidationOptions", [])
        return {
            "id": arn,
            "arn": arn,
            "domain_name": certificate["DomainName"],
            "validation_method": options[0].get("ValidationMethod") if options else None,
            "hosted_zone_id": listed_tags.get(ZONE_TAG, ""),
            "status": certificate["Status"],
            "tags": tags.ours(listed_tags, tags.stack_tags(ctx.settings)),
            "_validation_records": _validation_records(certificate),
        }

    @staticmethod
    def _stack_certificates(ctx: Context) -> list[tuple[str, dict]]:
        """(ARN, tags) of the region's certificates that carry the stack's tags."""
        acm = ctx.aws.client("acm")
        found = []
        pages = acm.get_paginator("list_certificates").paginate(CertificateStatuses=ALL_STATUSES)
        for page in pages:
            for summary in page["CertificateSummaryList"]:
                arn = summary["CertificateArn"]
                # ACM tags may have no value (someone else's certificates, say).
                listed = {
                    tag["Key"]: tag.get("Value", "")
                    for tag in acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
                }
                if tags.belongs(listed, ctx.settings):
                    found.append((arn, listed))
        return found

    def desired(self, ctx: Context) -> dict | None:
        if not ctx.settings.https:
            return None
        return {
            "domain_name": ctx.settings.domain_name,
            "validation_method": "DNS",
            "hosted_zone_id": ctx.settings.hosted_zone_id,
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        acm = ctx.aws.client("acm")
        request_tags = dict(desired["tags"])
        if desired["hosted_zone_id"]:
            request_tags[ZONE_TAG] = desired["hosted_zone_id"]
        # One token per request: botocore's retries of this call return the same certificate.
        arn = acm.request_certificate(
            DomainName=desired["domain_name"],
            ValidationMethod="DNS",
            KeyAlgorithm=KEY_ALGORITHM,
            IdempotencyToken=uuid.uuid4().hex,
            Tags=tags.as_list(request_tags),
        )["CertificateArn"]
        ctx.wait(
            self.address,
            "creating",
            lambda: self._ready(ctx, arn),
            timeout_seconds=self.records_timeout_seconds,
            timed_out=lambda elapsed: (
                f"{self.address}: ACM has not published the DNS validation record of {arn} "
                f"after {elapsed}; run apply again (it finds the same certificate)."
            ),
        )

    @staticmethod
    def _ready(ctx: Context, arn: str) -> bool:
        """ACM shows the validation records, and lists the certificate, seconds after the
        request; until then the records resource would have nothing to write."""
        certificate = describe(ctx, arn)
        if certificate is None or not _validation_records(certificate):
            return False
        acm = ctx.aws.client("acm")
        pages = acm.get_paginator("list_certificates").paginate(CertificateStatuses=ALL_STATUSES)
        return any(s["CertificateArn"] == arn for p in pages for s in p["CertificateSummaryList"])

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        ctx.aws.client("acm").add_tags_to_certificate(
            CertificateArn=actual["arn"], Tags=tags.as_list(desired["tags"])
        )

    in_use_attempts = 8  # about 3.5 minutes of backoff

    def delete(self, ctx: Context, actual: dict) -> None:
        acm, arn = ctx.aws.client("acm"), actual["arn"]

        def in_use(error: Exception) -> bool:
            return error_code(error) == "ResourceInUseException"

        try:
            retry(
                lambda: acm.delete_certificate(CertificateArn=arn),
                in_use,
                ctx.sleep,
                attempts=self.in_use_attempts,
                first_delay=5.0,
            )
        except botocore.exceptions.ClientError as error:
            if is_not_found(error):
                return
            if not in_use(error):
                raise
            users = ", ".join((describe(ctx, arn) or {}).get("InUseBy", [])) or "a load balancer"
            raise DeployError(
                f"{self.address}: ACM still counts {arn} as used by {users}; wait a few "
                "minutes, then run the command again."
            ) from None


class ValidationRecords(Resource):
    """The certificate's validation CNAME(s) in the hosted zone, when one is given."""

    address = VALIDATION_RECORDS
    depends_on = (CERTIFICATE,)

    def read(self, ctx: Context) -> dict | None:
        certificate = ctx.actual(CERTIFICATE)
        if certificate is None or not certificate["hosted_zone_id"]:
            return None
        zone_id = certificate["hosted_zone_id"]
        found = [
            record_set
            for name, record_type, _ in certificate["_validation_records"]
            if (record_set := find_record(ctx, zone_id, name, record_type))
        ]
        if not found:
            return None
        return {
            "id": f"{zone_id}/{' '.join(fqdn(r['Name']) for r in found)}",
            "zone_id": zone_id,
            "records": tuple(sorted(self._line(record_set) for record_set in found)),
            "_record_sets": found,
        }

    @staticmethod
    def _line(record_set: dict) -> str:
        values = " ".join(r["Value"] for r in record_set.get("ResourceRecords", []))
        return record_line((fqdn(record_set["Name"]), record_set["Type"], values))

    def desired(self, ctx: Context) -> dict | None:
        settings = ctx.settings
        if not settings.https or not settings.hosted_zone_id:
            return None
        hosted_zone_name(ctx)
        records = ctx.attr(CERTIFICATE, "_validation_records")
        return {
            "zone_id": settings.hosted_zone_id,
            "records": UNKNOWN
            if records is UNKNOWN
            else tuple(sorted(record_line(r) for r in records)),
            "_records": records,
        }

    def create(self, ctx: Context, desired: dict) -> None:
        changes = [
            {
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": name,
                    "Type": record_type,
                    "TTL": VALIDATION_TTL,
                    "ResourceRecords": [{"Value": value}],
                },
            }
            for name, record_type, value in desired["_records"]
        ]
        if not changes:  # a request interrupted before ACM published them
            raise DeployError(
                f"{self.address}: ACM shows no validation record for the certificate yet; "
                "run apply again in a minute."
            )
        change_records(ctx, self.address, desired["zone_id"], changes)

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        wanted = set(desired["records"])
        stale = [r for r in actual["_record_sets"] if self._line(r) not in wanted]
        self.create(ctx, desired)
        delete_records(ctx, actual["zone_id"], stale)

    def delete(self, ctx: Context, actual: dict) -> None:
        delete_records(ctx, actual["zone_id"], actual["_record_sets"])


class CertificateValidation(Resource):
    """Exists once ACM has issued the certificate; creating it waits for that."""

    address = CERTIFICATE_VALIDATION
    depends_on = (CERTIFICATE, VALIDATION_RECORDS)
    # Long enough to add a record by hand; ACM itself gives up after 72 hours.
    timeout_seconds = 45 * 60.0

    def read(self, ctx: Context) -> dict | None:
        certificate = ctx.actual(CERTIFICATE)
        if certificate is None:
            return None
        current = describe(ctx, certificate["arn"])
        if current is None or current["Status"] != "ISSUED":
            return None
        return {"id": certificate["arn"], "certificate_arn": certificate["arn"], "status": "ISSUED"}

    def desired(self, ctx: Context) -> dict | None:
        if not ctx.settings.https:
            return None
        return {"certificate_arn": ctx.attr(CERTIFICATE, "arn"), "status": "ISSUED"}

    def create(self, ctx: Context, desired: dict) -> None:
        arn = desired["certificate_arn"]
        if not ctx.settings.hosted_zone_id:
            self._ask_for_records(ctx, arn)
        ctx.wait(
            self.address,
            "creating",
            lambda: self._issued(ctx, arn),
            timeout_seconds=self.timeout_seconds,
            timed_out=lambda elapsed: self._timeout_message(ctx, arn, elapsed),
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        self.create(ctx, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        """Nothing to delete: the certificate itself goes with aws_acm_certificate.app."""

    def _ask_for_records(self, ctx: Context, arn: str) -> None:
        records = _validation_records(describe(ctx, arn) or {})
        domain = ctx.settings.domain_name
        ctx.out(
            f"{self.address}: add this DNS record where the DNS of {domain} is hosted; ACM "
            "issues the certificate once it sees it (keep it: ACM renews with it):"
        )
        for record in records:
            ctx.out(f"    {record_line(record)}")

    def _issued(self, ctx: Context, arn: str) -> bool:
        certificate = describe(ctx, arn) or {"Status": "MISSING"}
        status = certificate["Status"]
        if status in (*FAILED_STATUSES, "MISSING"):
            reason = certificate.get("FailureReason")
            raise DeployError(
                f"{self.address}: ACM did not issue the certificate for "
                f"{ctx.settings.domain_name} ({status}{': ' + reason if reason else ''}); "
                f"fix the cause (for example a CAA record that does not allow amazon.com), "
                f"then {TURN_OFF_FIRST}."
            )
        return status == "ISSUED"

    def _timeout_message(self, ctx: Context, arn: str, elapsed: str) -> str:
        settings = ctx.settings
        pending = _validation_records(describe(ctx, arn) or {}, pending_only=True)
        missing = " and ".join(f"CNAME {name} -> {value}" for name, _, value in pending)
        start = (
            f"{self.address}: ACM has not issued the certificate for {settings.domain_name} "
            f"after {elapsed}"
        )
        resume = "run apply again: it resumes waiting for the same certificate."
        zone_id = settings.hosted_zone_id
        if not zone_id:
            return (
                f"{start}: it has not seen the record {missing}. Add it where the DNS of "
                f"{settings.domain_name} is hosted, then {resume}"
            )
        if any(find_record(ctx, zone_id, name, kind) is None for name, kind, _ in pending):
            return (
                f"{start}: the record {missing} is missing from Route 53 hosted zone "
                f"{zone_id}; run apply again: it adds the record and resumes waiting for "
                "the same certificate."
            )
        return (
            f"{start}: it has not seen the record {missing}, which is in Route 53 hosted "
            f"zone {zone_id}. Check that the domain's registrar delegates it to that zone's "
            f"name servers (its NS record), then {resume}"
        )


def resources() -> list[Resource]:
    return [Certificate(), ValidationRecords(), CertificateValidation()]


def deploy_permissions(ctx: Context) -> list[dict]:
    """The certificate, and the records in the one hosted zone, while domain_name is set.

    Plan looks for a certificate left from when it was set. Turning HTTPS off deletes them
    with these rights: apply that change before running bootstrap-ci again.
    """
    settings = ctx.settings
    statements = [reads("acm:ListCertificates", "acm:ListTagsForCertificate")]
    if not settings.https:
        return statements
    certificates = arn(ctx, "acm", "certificate/*")
    statements += [
        # RequestCertificate has no resource type: "*", with the stack's tags on the request.
        allow(["acm:RequestCertificate"], "*", {"StringEquals": stack_tags(ctx, "RequestTag")}),
        # Tags given with the request need AddTagsToCertificate too; on an existing
        # certificate only one of the stack's (ACM has no condition key telling the two apart).
        allow(
            ["acm:AddTagsToCertificate"],
            certificates,
            {
                "StringEquals": stack_tags(ctx, "RequestTag"),
                "StringEqualsIfExists": stack_tags(ctx, "ResourceTag"),
            },
        ),
        allow(
            ["acm:DeleteCertificate", "acm:DescribeCertificate"],
            certificates,
            {"StringEquals": stack_tags(ctx, "ResourceTag")},
        ),
    ]
    if settings.hosted_zone_id:
        route53 = f"arn:{ctx.aws.partition}:route53:::"
        zone = f"{route53}hostedzone/{settings.hosted_zone_id}"
        domain = settings.domain_name.lower().rstrip(".")
        statements += [
            allow(
                ["route53:GetChange", "route53:GetHostedZone", "route53:ListResourceRecordSets"],
                [zone, f"{route53}change/*"],
            ),
            # Only the domain's record (dns.py) and its certificate's validation records
            # (Route 53 Developer Guide, fine-grained access control condition keys).
            allow(
                ["route53:ChangeResourceRecordSets"],
                zone,
                {
                    "ForAllValues:StringLike": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                            domain,
                            f"_*.{domain}",
                        ]
                    }
                },
            ),
        ]
    return statements
