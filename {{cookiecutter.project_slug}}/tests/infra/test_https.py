"""HTTPS (option `domain_name`, with or without `hosted_zone_id`): certificate, listeners, DNS.

moto is more forgiving than AWS; each rule below is handled by our code and tested here:
- ACM issues a DNS-validated certificate only once it sees the validation record. moto issues
  every certificate `moto.settings.ACM_VALIDATION_WAIT` seconds (env MOTO_ACM_VALIDATION_WAIT)
  after the request: the tests set it to 0 (issued at once) or a day (never, within a test).
- ELB refuses an HTTPS listener whose certificate is not issued yet; moto accepts it. The
  listener is created only after the certificate is ISSUED (checked when it is created).
- ACM shows the validation record in DescribeCertificate only seconds after the request;
  moto at once. Create polls for it (a test hides it for the first calls).
- A retried RequestCertificate without an idempotency token makes a second certificate:
  every request carries one.
- ACM refuses DeleteCertificate while, and shortly after, a listener uses it
  (ResourceInUseException); moto never does. Destroy retries (a test injects the error).
- A certificate's domain name has at most 64 characters; moto accepts more: the rules refuse.
- Route 53 refuses a record outside its zone (moto too) and ACM cannot see a private zone
  (moto validates anyway): plan checks the zone before anything is created.
- Route 53 refuses to CREATE a record that exists; moto does not. An A record of the domain
  that is not an alias to a load balancer is the user's: plan refuses to overwrite it.
"""

from __future__ import annotations

import json

import botocore.exceptions
import pytest
from helpers import create_hosted_zone, remaining
from moto.acm.models import acm_backends
from moto.core import DEFAULT_ACCOUNT_ID

from infra import aws
from infra.resources.edge import certificate

DOMAIN = "app.example.com"


@pytest.fixture
def zone(hosted_zone, project) -> str:
    """HTTPS on app.example.com, in the user's hosted zone example.com."""
    project.set("domain_name", json.dumps(DOMAIN))
    project.set("hosted_zone_id", json.dumps(hosted_zone))
    return hosted_zone


@pytest.fixture
def without_zone(moto, project) -> None:
    project.set("domain_name", json.dumps(DOMAIN))


@pytest.fixture
def validation_records_published_late(moto):
    """Like ACM, DescribeCertificate shows no validation record for the first few calls."""
    hidden = {"left": 3}

    def answer(_service: str, operation: str, params: dict) -> dict | None:
        if operation != "DescribeCertificate" or hidden["left"] == 0:
            return None
        hidden["left"] -= 1
        backend = acm_backends[DEFAULT_ACCOUNT_ID][params["CertificateArn"].split(":")[3]]
        described = backend.describe_certificate(params["CertificateArn"]).describe()
        for option in described["Certificate"].get("DomainValidationOptions", []):
            option.pop("ResourceRecord", None)
        return {**described, "ResponseMetadata": {"HTTPStatusCode": 200}}

    aws.call_observers.append(answer)
    yield hidden
    aws.call_observers.remove(answer)


@pytest.fixture
def status_when_listener_created(moto):
    """The certificate's status at the moment each HTTPS listener is created."""
    seen: list[str] = []

    def observer(_service: str, operation: str, params: dict) -> None:
        if operation == "CreateListener" and params.get("Protocol") == "HTTPS":
            arn = params["Certificates"][0]["CertificateArn"]
            backend = acm_backends[DEFAULT_ACCOUNT_ID][arn.split(":")[3]]
            seen.append(backend.get_certificate(arn).status)

    aws.call_observers.append(observer)
    yield seen
    aws.call_observers.remove(observer)


def certificates(aws_client) -> list[dict]:
    acm = aws_client("acm")
    listed = acm.list_certificates(CertificateStatuses=certificate.ALL_STATUSES)
    return [
        acm.describe_certificate(CertificateArn=c["CertificateArn"])["Certificate"]
        for c in listed["CertificateSummaryList"]
    ]


def listeners(aws_client, settings) -> dict[int, dict]:
    elbv2 = aws_client("elbv2")
    lb = elbv2.describe_load_balancers(Names=[settings.name("alb")])["LoadBalancers"][0]
    found = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    return {listener["Port"]: listener for listener in found}


def load_balancer_description(aws_client, settings) -> dict:
    names = [settings.name("alb")]
    return aws_client("elbv2").describe_load_balancers(Names=names)["LoadBalancers"][0]


def records(aws_client, zone_id: str) -> dict[tuple[str, str], dict]:
    listed = aws_client("route53").list_resource_record_sets(HostedZoneId=zone_id)
    return {(r["Name"], r["Type"]): r for r in listed["ResourceRecordSets"]}


def alb_ingress(aws_client, settings) -> set[str]:
    ec2 = aws_client("ec2")
    filters = [{"Name": "group-name", "Values": [settings.name("alb-sg")]}]
    (group,) = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    return {
        f"{rule['FromPort']} {cidr}"
        for rule in group["IpPermissions"]
        for cidr in [r["CidrIp"] for r in rule.get("IpRanges", [])]
        + [r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])]
    }


def outputs(infra) -> dict:
    result = infra("outputs", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def validation_record(described: dict) -> dict:
    (option,) = described["DomainValidationOptions"]
    return option["ResourceRecord"]


def assert_only_port_80_forwards(aws_client, settings) -> None:
    found = listeners(aws_client, settings)
    assert sorted(found) == [80]
    (action,) = found[80]["DefaultActions"]
    assert action["Type"] == "forward"


def test_with_a_zone_apply_serves_https_and_turning_it_off_goes_back_to_http(
    zone,
    acm_validates,
    instance_refreshes,
    infra,
    project,
    aws_client,
    requests,
    validation_records_published_late,
    status_when_listener_created,
):
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    settings = project.settings

    (cert,) = certificates(aws_client)
    assert cert["DomainName"] == DOMAIN
    assert cert["Status"] == "ISSUED"
    tags = aws_client("acm").list_tags_for_certificate(CertificateArn=cert["CertificateArn"])
    assert {t["Key"]: t.get("Value") for t in tags["Tags"]} == {
        "Project": settings.project_slug,
        "Stack": settings.stack_name,
        "ManagedBy": "three-tier-flask",
        "HostedZoneId": zone,
    }
    (request,) = [params for op, params in requests if op == "RequestCertificate"]
    assert request["ValidationMethod"] == "DNS"
    assert len(request["IdempotencyToken"]) == 32
    assert validation_records_published_late["left"] == 0  # create waited for the record
    assert status_when_listener_created == ["ISSUED"]

    found = listeners(aws_client, settings)
    assert sorted(found) == [80, 443]
    https = found[443]
    assert https["Protocol"] == "HTTPS"
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    assert [c["CertificateArn"] for c in https["Certificates"]] == [cert["CertificateArn"]]
    (forward,) = https["DefaultActions"]
    target_group = aws_client("elbv2").describe_target_groups(Names=[settings.name("tg")])
    assert forward["TargetGroupArn"] == target_group["TargetGroups"][0]["TargetGroupArn"]
    (redirect,) = found[80]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    config = redirect["RedirectConfig"]
    assert config["Protocol"] == "HTTPS"
    assert config["Port"] == "443"
    assert config["StatusCode"] == "HTTP_301"

    in_zone = records(aws_client, zone)
    wanted = validation_record(cert)
    cname = in_zone[(wanted["Name"], "CNAME")]
    assert cname["ResourceRecords"] == [{"Value": wanted["Value"]}]
    alias = in_zone[(f"{DOMAIN}.", "A")]["AliasTarget"]
    lb = load_balancer_description(aws_client, settings)
    assert alias["DNSName"].rstrip(".") == lb["DNSName"].lower()
    assert alias["HostedZoneId"] == lb["CanonicalHostedZoneId"]

    assert {"80 0.0.0.0/0", "80 ::/0", "443 0.0.0.0/0", "443 ::/0"} <= alb_ingress(
        aws_client, settings
    )
    values = outputs(infra)
    assert values["app_url"] == f"https://{DOMAIN}"
    assert values["certificate_arn"] == cert["CertificateArn"]
    assert "dns_records_to_add" not in values
    plan = infra("plan")
    assert plan.code == 0, plan.out + plan.err

    project.unset("domain_name")
    project.unset("hosted_zone_id")
    turned_off = infra("apply", "--auto-approve")
    assert turned_off.code == 0, turned_off.err
    assert_only_port_80_forwards(aws_client, settings)
    assert "443 0.0.0.0/0" not in alb_ingress(aws_client, settings)
    assert certificates(aws_client) == []
    assert {kind for _, kind in records(aws_client, zone)} == {"NS", "SOA"}
    values = outputs(infra)
    assert values["app_url"] == f"http://{lb['DNSName']}"
    assert "certificate_arn" not in values
    assert infra("plan").code == 0


def test_destroy_waits_until_acm_lets_go_of_the_certificate_and_leaves_nothing(
    zone, acm_validates, instance_refreshes, infra, project, aws_client, inject_failure
):
    """Someone else's certificate for the same domain (a tag without a value) stays."""
    theirs = aws_client("acm").request_certificate(
        DomainName=DOMAIN, ValidationMethod="DNS", Tags=[{"Key": "team-web"}]
    )["CertificateArn"]
    assert infra("apply", "--auto-approve").code == 0
    assert len(certificates(aws_client)) == 2
    in_use = botocore.exceptions.ClientError(
        {"Error": {"Code": "ResourceInUseException", "Message": "Certificate is in use"}},
        "DeleteCertificate",
    )
    attempts = inject_failure("DeleteCertificate", in_use, times=2)
    destroyed = infra("destroy", "--auto-approve")
    assert destroyed.code == 0, destroyed.err
    assert attempts["count"] == 2
    left = remaining(aws_client, project.settings)
    assert [item for item in left if ":snapshot:" not in item] == []
    assert [c["CertificateArn"] for c in certificates(aws_client)] == [theirs]
    assert {kind for _, kind in records(aws_client, zone)} == {"NS", "SOA"}


def test_without_a_zone_apply_prints_the_record_times_out_naming_it_then_resumes(
    deployed, acm_validates, infra, project, aws_client, monkeypatch
):
    """HTTPS turned on for a running stack: it keeps serving HTTP until 443 answers."""
    project.set("domain_name", json.dumps(DOMAIN))
    monkeypatch.setattr(certificate.CertificateValidation, "timeout_seconds", 0.2)
    acm_validates(False)
    waiting = infra("apply", "--auto-approve")
    assert waiting.code == 1
    settings = project.settings
    (cert,) = certificates(aws_client)
    record = validation_record(cert)
    line = f"{record['Name']} CNAME {record['Value']}"
    assert f"add this DNS record where the DNS of {DOMAIN} is hosted" in waiting.out
    assert f"    {line}" in waiting.out
    error = waiting.err.strip()
    assert error.count("\n") == 0, error
    assert f"CNAME {record['Name']} -> {record['Value']}" in error
    assert f"where the DNS of {DOMAIN} is hosted" in error
    assert "run apply again: it resumes waiting for the same certificate" in error
    assert_only_port_80_forwards(aws_client, settings)

    acm_validates(True)
    resumed = infra("apply", "--auto-approve")
    assert resumed.code == 0, resumed.err
    (issued,) = certificates(aws_client)
    assert issued["CertificateArn"] == cert["CertificateArn"]
    assert issued["Status"] == "ISSUED"
    assert sorted(listeners(aws_client, settings)) == [80, 443]
    values = outputs(infra)
    dns_name = load_balancer_description(aws_client, settings)["DNSName"]
    assert values["app_url"] == f"https://{DOMAIN}"
    assert values["dns_records_to_add"] == [line, f"{DOMAIN}. CNAME {dns_name.lower()}."]
    assert infra("plan").code == 0

    project.set("domain_name", json.dumps("www.example.com"))
    moved = infra("plan")
    assert moved.code == 1
    assert "aws_acm_certificate.app: domain_name cannot change in place" in moved.out
    assert 'set domain_name = "" and hosted_zone_id = "" and apply' in moved.out
    project.set("domain_name", json.dumps(DOMAIN))
    assert infra("destroy", "--auto-approve").code == 0
    assert certificates(aws_client) == []


def test_a_certificate_acm_refuses_is_one_line_with_the_way_out(
    without_zone, acm_validates, infra, aws_client, calls
):
    acm_validates(False)

    def fail(_service: str, operation: str, params: dict) -> None:
        if operation == "DescribeCertificate":
            backend = acm_backends[DEFAULT_ACCOUNT_ID][params["CertificateArn"].split(":")[3]]
            backend.get_certificate(params["CertificateArn"]).status = "FAILED"

    aws.call_observers.append(fail)
    try:
        result = infra("apply", "--auto-approve")
    finally:
        aws.call_observers.remove(fail)
    assert result.code == 1
    assert result.err.strip().count("\n") == 0, result.err
    assert "ACM did not issue the certificate for app.example.com (FAILED)" in result.err
    assert 'set domain_name = "" and hosted_zone_id = "" and apply' in result.err


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        (f"{'a' * 60}.example.com", "at most 64 are allowed"),  # ACM's limit, in the rules
        ("app.example.org", "domain_name app.example.org is not in hosted zone"),
    ],
)
def test_plan_refuses_what_aws_would_refuse_later(zone, infra, project, calls, domain, message):
    project.set("domain_name", json.dumps(domain))
    result = infra("plan")
    assert result.code == 1
    assert message in result.err
    assert calls.mutating == []


def test_plan_refuses_to_overwrite_an_a_record_that_is_not_ours(zone, infra, aws_client, calls):
    aws_client("route53").change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": DOMAIN,
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "192.0.2.10"}],
                    },
                }
            ]
        },
    )
    result = infra("plan")
    assert result.code == 1
    assert f"already has an A record for {DOMAIN}" in result.err
    assert calls.mutating == []


def test_plan_refuses_a_private_zone(moto, infra, project, aws_client, calls):
    vpc = aws_client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    region = project.settings.aws_region
    private = create_hosted_zone(
        "example.com",
        "Z0PRIVATE",
        VPC={"VPCRegion": region, "VPCId": vpc},
        HostedZoneConfig={"PrivateZone": True},  # moto needs it said; AWS infers it
    )
    project.set("domain_name", json.dumps(DOMAIN))
    project.set("hosted_zone_id", json.dumps(private))
    result = infra("plan")
    assert result.code == 1
    assert f"Hosted zone {private} (example.com) is private" in result.err
    assert calls.mutating == []
