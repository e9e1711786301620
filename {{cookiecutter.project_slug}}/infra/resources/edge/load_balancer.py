"""The load balancer tier: an internet-facing ALB, its target group and its listeners.

Port 80 forwards to the target group; with HTTPS (option `domain_name`) port 443 does, with
the domain's ACM certificate (certificate.py), and port 80 answers with a redirect.
"""

from __future__ import annotations

from infra import tags
from infra.aws import DeployError, error_code, error_message, once_visible, retry
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.shared.addresses import (
    ACCESS_LOG_BUCKET,
    CERTIFICATE,
    CERTIFICATE_VALIDATION,
    HTTPS_LISTENER,
    IGW,
    LISTENER,
    LOAD_BALANCER,
    TARGET_GROUP,
    VPC,
    group_address,
    subnet_address,
)
from infra.resources.shared.ec2 import only_one, require_two_zones
from infra.resources.shared.names import (
    ACCESS_LOG_PREFIX,
    HTTP_PORT,
    HTTPS_PORT,
    access_log_bucket_name,
)
from infra.resources.shared.permissions import allow, arn, reads, service_linked_role

# The policy AWS recommends, and the console's default (AWS documentation, "Security policies
# for your Application Load Balancer"): TLS 1.3, or 1.2 with restricted forward-secret
# ciphers, and hybrid post-quantum key exchange for clients that offer it. The API's own
# default, ELBSecurityPolicy-2016-08, still allows TLS 1.0.
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
REDIRECT_TO_HTTPS = {"protocol": "HTTPS", "port": str(HTTPS_PORT), "status_code": "HTTP_301"}
ATTRIBUTES = {"routing.http.drop_invalid_header_fields.enabled": "true"}
ACCESS_LOGS_ENABLED = "access_logs.s3.enabled"
# How long a deregistering target drains before it is unused (0-3600 s, AWS's default 300).
DEREGISTRATION_DELAY = "deregistration_delay.timeout_seconds"
# Turning access logs on makes Elastic Load Balancing write a test file to the bucket, and a
# bucket policy put seconds before may not be in effect yet: AWS then refuses with
# InvalidConfigurationRequest "Access Denied for bucket: <name>. Please check S3bucket
# permission" (ELB User Guide, "Enable access logs for your Application Load Balancer",
# "Verify bucket permissions" and "Troubleshooting"). Retried for about two minutes.
BUCKET_DENIED_CODE = "InvalidConfigurationRequest"
BUCKET_DENIED_MESSAGE = "access denied for bucket"
BUCKET_DENIED_ATTEMPTS = 8
BUCKET_DENIED_FIRST_DELAY_SECONDS = 2.0
REPLACE_LB = "Change it back in stack.toml, or run `python -m infra destroy` and then apply."


def attributes(ctx: Context) -> dict[str, str]:
    """The attributes we manage; the access log ones follow the `alb_access_logs` option."""
    wanted = {**ATTRIBUTES, ACCESS_LOGS_ENABLED: "false"}
    if ctx.settings.alb_access_logs:
        wanted[ACCESS_LOGS_ENABLED] = "true"
        wanted["access_logs.s3.bucket"] = access_log_bucket_name(ctx)
        wanted["access_logs.s3.prefix"] = ACCESS_LOG_PREFIX
    return wanted


def bucket_not_writable_yet(error: Exception) -> bool:
    """ELB's test write to a new access log bucket was refused: its policy is not in effect."""
    return (
        error_code(error) == BUCKET_DENIED_CODE
        and BUCKET_DENIED_MESSAGE in error_message(error).lower()
    )


def elb_tags(ctx: Context, arn: str) -> dict:
    found = ctx.aws.elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
    return tags.from_list(found[0]["Tags"]) if found else {}


def converge_elb_tags(ctx: Context, actual: dict, desired: dict) -> None:
    if actual["tags"] != desired["tags"]:
        ctx.aws.elbv2.add_tags(ResourceArns=[actual["arn"]], Tags=tags.as_list(desired["tags"]))


def find_by_name_then_tags(ctx: Context, kind: str, name: str) -> dict | None:
    """The load balancer or target group `name` that carries the stack's tags.

    AWS refuses a second one of a name, but moto creates it: reads insist on one.
    """
    elbv2 = ctx.aws.elbv2
    if kind == "load balancer":
        describe, key, arn_key = elbv2.describe_load_balancers, "LoadBalancers", "LoadBalancerArn"
        missing = elbv2.exceptions.LoadBalancerNotFoundException
    else:
        describe, key, arn_key = elbv2.describe_target_groups, "TargetGroups", "TargetGroupArn"
        missing = elbv2.exceptions.TargetGroupNotFoundException
    try:
        found = describe(Names=[name])[key]
    except missing:
        return None
    mine = [item for item in found if tags.belongs(elb_tags(ctx, item[arn_key]), ctx.settings)]
    return only_one(mine, kind, name)


class LoadBalancer(Resource):
    address = LOAD_BALANCER
    immutable = ("scheme", "type")
    replace_blocked = REPLACE_LB

    def __init__(self, subnet_count: int):
        self.subnets = [subnet_address("public", index) for index in range(subnet_count)]
        # AWS checks that it may write to the log bucket when access logs are turned on.
        self.depends_on = (IGW, group_address("alb"), ACCESS_LOG_BUCKET, *self.subnets)

    def read(self, ctx: Context) -> dict | None:
        name = ctx.settings.name("alb")
        lb = find_by_name_then_tags(ctx, "load balancer", name)
        if lb is None:
            return None
        arn = lb["LoadBalancerArn"]
        found_attributes = {
            a["Key"]: a["Value"]
            for a in ctx.aws.elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)[
                "Attributes"
            ]
        }
        return {
            "id": arn,
            "arn": arn,
            "name": name,
            "dns_name": lb["DNSName"],
            "canonical_hosted_zone_id": lb.get("CanonicalHostedZoneId"),
            "state": lb.get("State", {}).get("Code"),
            "scheme": lb["Scheme"],
            "type": lb["Type"],
            "subnet_ids": tuple(sorted(z["SubnetId"] for z in lb["AvailabilityZones"])),
            "security_group_ids": tuple(sorted(lb.get("SecurityGroups", []))),
            "attributes": {key: found_attributes.get(key) for key in attributes(ctx)},
            "tags": tags.ours(elb_tags(ctx, arn), tags.stack_tags(ctx.settings)),
        }

    def desired(self, ctx: Context) -> dict | None:
        subnet_ids = [ctx.attr(address, "id") for address in self.subnets]
        sg = ctx.attr(group_address("alb"), "id")
        return {
            "name": ctx.settings.name("alb"),
            "scheme": "internet-facing",
            "type": "application",
            "subnet_ids": UNKNOWN if UNKNOWN in subnet_ids else tuple(sorted(subnet_ids)),
            "security_group_ids": UNKNOWN if sg is UNKNOWN else (sg,),
            "attributes": attributes(ctx),
            "tags": tags.stack_tags(ctx.settings),
        }

    def _check_zones(self, ctx):
        require_two_zones(
            [ctx.attr(address, "availability_zone") for address in self.subnets], "load balancer"
        )

    def create(self, ctx: Context, desired: dict) -> None:
        self._check_zones(ctx)
        elbv2 = ctx.aws.elbv2
        arn = once_visible(
            lambda: elbv2.create_load_balancer(
                Name=desired["name"],
                Subnets=list(desired["subnet_ids"]),
                SecurityGroups=list(desired["security_group_ids"]),
                Scheme=desired["scheme"],
                Type=desired["type"],
                IpAddressType="ipv4",
                Tags=tags.as_list(desired["tags"]),
            ),
            ctx.sleep,
            f"{self.address}: create the load balancer",
        )["LoadBalancers"][0]["LoadBalancerArn"]
        self._set_attributes(ctx, arn, desired["attributes"])

        def active() -> bool:
            lb = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
            return lb.get("State", {}).get("Code", "active") == "active"

        ctx.wait(self.address, "creating", active, timeout_seconds=900)

    def _set_attributes(self, ctx, arn, wanted: dict[str, str]):
        def modify() -> None:
            ctx.aws.elbv2.modify_load_balancer_attributes(
                LoadBalancerArn=arn,
                Attributes=[{"Key": key, "Value": value} for key, value in wanted.items()],
            )

        try:
            retry(
                modify,
                bucket_not_writable_yet,
                ctx.sleep,
                attempts=BUCKET_DENIED_ATTEMPTS,
                first_delay=BUCKET_DENIED_FIRST_DELAY_SECONDS,
            )
        except ctx.aws.elbv2.exceptions.ClientError as error:
            if not bucket_not_writable_yet(error):
                raise
            raise DeployError(
                f"{self.address}: the load balancer still may not write its access logs to "
                f"bucket {wanted.get('access_logs.s3.bucket')} after about two minutes "
                f"({error_code(error)}: {error_message(error)}): check the bucket's policy "
                "(`python -m infra plan` shows it if it differs), or set alb_access_logs = "
                "false in stack.toml, then run apply again."
            ) from None

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        elbv2, arn = ctx.aws.elbv2, actual["arn"]
        if actual["subnet_ids"] != desired["subnet_ids"]:
            self._check_zones(ctx)
            elbv2.set_subnets(LoadBalancerArn=arn, Subnets=list(desired["subnet_ids"]))
        if actual["security_group_ids"] != desired["security_group_ids"]:
            elbv2.set_security_groups(
                LoadBalancerArn=arn, SecurityGroups=list(desired["security_group_ids"])
            )
        if actual["attributes"] != desired["attributes"]:
            self._set_attributes(ctx, arn, desired["attributes"])
        converge_elb_tags(ctx, actual, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        elbv2 = ctx.aws.elbv2
        elbv2.delete_load_balancer(LoadBalancerArn=actual["arn"])

        def gone() -> bool:
            try:
                return not elbv2.describe_load_balancers(LoadBalancerArns=[actual["arn"]])[
                    "LoadBalancers"
                ]
            except elbv2.exceptions.LoadBalancerNotFoundException:
                return True

        ctx.wait(self.address, "destroying", gone, timeout_seconds=900)


def health_check(ctx: Context) -> dict:
    settings = ctx.settings
    return {
        "protocol": "HTTP",
        "port": "traffic-port",
        "path": settings.health_check_path,
        "interval_seconds": settings.health_check_interval_seconds,
        "timeout_seconds": settings.health_check_timeout_seconds,
        "healthy_threshold": settings.health_check_healthy_threshold,
        "unhealthy_threshold": settings.health_check_unhealthy_threshold,
        "matcher": settings.health_check_success_codes,
    }


class TargetGroup(Resource):
    address = TARGET_GROUP
    depends_on = (VPC,)
    immutable = ("port", "protocol", "target_type", "vpc_id")
    replace_blocked = (
        "The listener and the instances use it: change app_port back in stack.toml, "
        "or run `python -m infra destroy` and then apply."
    )

    def read(self, ctx: Context) -> dict | None:
        name = ctx.settings.name("tg")
        tg = find_by_name_then_tags(ctx, "target group", name)
        if tg is None:
            return None
        return {
            "id": tg["TargetGroupArn"],
            "arn": tg["TargetGroupArn"],
            "name": name,
            "port": tg["Port"],
            "protocol": tg["Protocol"],
            "target_type": tg["TargetType"],
            "vpc_id": tg["VpcId"],
            "health_check": {
                "protocol": tg["HealthCheckProtocol"],
                "port": tg["HealthCheckPort"],
                "path": tg.get("HealthCheckPath"),
                "interval_seconds": tg["HealthCheckIntervalSeconds"],
                "timeout_seconds": tg["HealthCheckTimeoutSeconds"],
                "healthy_threshold": tg["HealthyThresholdCount"],
                "unhealthy_threshold": tg["UnhealthyThresholdCount"],
                "matcher": tg.get("Matcher", {}).get("HttpCode"),
            },
            "deregistration_delay_seconds": self._deregistration_delay(ctx, tg["TargetGroupArn"]),
            "tags": tags.ours(elb_tags(ctx, tg["TargetGroupArn"]), tags.stack_tags(ctx.settings)),
        }

    @staticmethod
    def _deregistration_delay(ctx: Context, arn: str) -> int | None:
        found = ctx.aws.elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        value = {a["Key"]: a["Value"] for a in found}.get(DEREGISTRATION_DELAY)
        return None if value is None else int(value)

    def desired(self, ctx: Context) -> dict | None:
        return {
            "name": ctx.settings.name("tg"),
            "port": ctx.settings.app_port,
            "protocol": "HTTP",
            "target_type": "instance",
            "vpc_id": ctx.attr(VPC, "id"),
            "health_check": health_check(ctx),
            "deregistration_delay_seconds": ctx.settings.deregistration_delay_seconds,
            "tags": tags.stack_tags(ctx.settings),
        }

    @staticmethod
    def _health_check_arguments(check: dict) -> dict:
        return {
            "HealthCheckProtocol": check["protocol"],
            "HealthCheckPort": check["port"],
            "HealthCheckPath": check["path"],
            "HealthCheckEnabled": True,
            "HealthCheckIntervalSeconds": check["interval_seconds"],
            "HealthCheckTimeoutSeconds": check["timeout_seconds"],
            "HealthyThresholdCount": check["healthy_threshold"],
            "UnhealthyThresholdCount": check["unhealthy_threshold"],
            "Matcher": {"HttpCode": check["matcher"]},
        }

    @staticmethod
    def _set_deregistration_delay(ctx: Context, arn: str, seconds: int) -> None:
        ctx.aws.elbv2.modify_target_group_attributes(
            TargetGroupArn=arn, Attributes=[{"Key": DEREGISTRATION_DELAY, "Value": str(seconds)}]
        )

    def create(self, ctx: Context, desired: dict) -> None:
        arn = ctx.aws.elbv2.create_target_group(
            Name=desired["name"],
            Protocol="HTTP",
            Port=desired["port"],
            VpcId=desired["vpc_id"],
            TargetType="instance",
            Tags=tags.as_list(desired["tags"]),
            **self._health_check_arguments(desired["health_check"]),
        )["TargetGroups"][0]["TargetGroupArn"]
        # CreateTargetGroup takes no attributes: a new group drains for AWS's 300 s until set.
        self._set_deregistration_delay(ctx, arn, desired["deregistration_delay_seconds"])

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if actual["health_check"] != desired["health_check"]:
            ctx.aws.elbv2.modify_target_group(
                TargetGroupArn=actual["arn"],
                **self._health_check_arguments(desired["health_check"]),
            )
        if actual["deregistration_delay_seconds"] != desired["deregistration_delay_seconds"]:
            self._set_deregistration_delay(
                ctx, actual["arn"], desired["deregistration_delay_seconds"]
            )
        converge_elb_tags(ctx, actual, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        ctx.aws.elbv2.delete_target_group(TargetGroupArn=actual["arn"])


def read_listener(ctx: Context, port: int) -> dict | None:
    """The load balancer's listener on `port`, with the attributes both listeners share."""
    lb_arn = ctx.attr(LOAD_BALANCER, "arn")
    if lb_arn is UNKNOWN:
        return None
    listeners = [
        item
        for item in ctx.aws.elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
        if item["Port"] == port
    ]
    if not listeners:
        return None
    listener = listeners[0]
    actions = listener.get("DefaultActions", [])
    action = actions[0] if actions else {}
    redirect = action.get("RedirectConfig") if action.get("Type") == "redirect" else None
    arn = listener["ListenerArn"]
    return {
        "id": arn,
        "arn": arn,
        "port": listener["Port"],
        "protocol": listener["Protocol"],
        "forward_to": action.get("TargetGroupArn") if action.get("Type") == "forward" else None,
        "redirect": {
            "protocol": redirect.get("Protocol"),
            "port": redirect.get("Port"),
            "status_code": redirect.get("StatusCode"),
        }
        if redirect
        else None,
        "ssl_policy": listener.get("SslPolicy"),
        "certificate_arn": (listener.get("Certificates") or [{}])[0].get("CertificateArn"),
        "tags": tags.ours(elb_tags(ctx, arn), tags.stack_tags(ctx.settings)),
    }


def default_actions(desired: dict) -> list[dict]:
    redirect = desired.get("redirect")
    if redirect:
        config = {
            "Protocol": redirect["protocol"],
            "Port": redirect["port"],
            "StatusCode": redirect["status_code"],
        }
        return [{"Type": "redirect", "RedirectConfig": config}]
    return [{"Type": "forward", "TargetGroupArn": desired["forward_to"]}]


class Listener(Resource):
    """Port 80: forwards to the app, or with HTTPS redirects to port 443."""

    address = LISTENER
    # With HTTPS it redirects only once port 443 answers; without, 443 goes after it forwards.
    depends_on = (LOAD_BALANCER, TARGET_GROUP, HTTPS_LISTENER)

    def read(self, ctx: Context) -> dict | None:
        return read_listener(ctx, HTTP_PORT)

    def desired(self, ctx: Context) -> dict | None:
        https = ctx.settings.https
        return {
            "port": HTTP_PORT,
            "protocol": "HTTP",
            "forward_to": None if https else ctx.attr(TARGET_GROUP, "arn"),
            "redirect": dict(REDIRECT_TO_HTTPS) if https else None,
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.elbv2.create_listener(
            LoadBalancerArn=ctx.attr(LOAD_BALANCER, "arn"),
            Protocol="HTTP",
            Port=HTTP_PORT,
            DefaultActions=default_actions(desired),
            Tags=tags.as_list(desired["tags"]),
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        fields = ("forward_to", "redirect", "protocol")
        if any(actual[field] != desired[field] for field in fields):
            ctx.aws.elbv2.modify_listener(
                ListenerArn=actual["arn"],
                Protocol="HTTP",
                Port=HTTP_PORT,
                DefaultActions=default_actions(desired),
            )
        converge_elb_tags(ctx, actual, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        ctx.aws.elbv2.delete_listener(ListenerArn=actual["arn"])


class HttpsListener(Resource):
    """Port 443 (option `domain_name`): TLS with the issued certificate, forwards to the app."""

    address = HTTPS_LISTENER
    # AWS refuses a certificate that is not issued yet; ACM refuses to delete one in use.
    depends_on = (LOAD_BALANCER, TARGET_GROUP, CERTIFICATE, CERTIFICATE_VALIDATION)

    def read(self, ctx: Context) -> dict | None:
        return read_listener(ctx, HTTPS_PORT)

    def desired(self, ctx: Context) -> dict | None:
        if not ctx.settings.https:
            return None
        return {
            "port": HTTPS_PORT,
            "protocol": "HTTPS",
            "ssl_policy": SSL_POLICY,
            "certificate_arn": ctx.attr(CERTIFICATE, "arn"),
            "forward_to": ctx.attr(TARGET_GROUP, "arn"),
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.elbv2.create_listener(
            LoadBalancerArn=ctx.attr(LOAD_BALANCER, "arn"),
            Protocol="HTTPS",
            Port=HTTPS_PORT,
            SslPolicy=desired["ssl_policy"],
            Certificates=[{"CertificateArn": desired["certificate_arn"]}],
            DefaultActions=default_actions(desired),
            Tags=tags.as_list(desired["tags"]),
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        fields = ("protocol", "ssl_policy", "certificate_arn", "forward_to")
        if any(actual[field] != desired[field] for field in fields):
            ctx.aws.elbv2.modify_listener(
                ListenerArn=actual["arn"],
                Protocol="HTTPS",
                Port=HTTPS_PORT,
                SslPolicy=desired["ssl_policy"],
                Certificates=[{"CertificateArn": desired["certificate_arn"]}],
                DefaultActions=default_actions(desired),
            )
        converge_elb_tags(ctx, actual, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        ctx.aws.elbv2.delete_listener(ListenerArn=actual["arn"])


def resources(ctx: Context) -> list[Resource]:
    return [LoadBalancer(ctx.settings.az_count), TargetGroup(), HttpsListener(), Listener()]


def deploy_permissions(ctx: Context) -> list[dict]:
    name = ctx.settings.name
    load_balancer = f"app/{name('alb')}/*"
    return [
        reads(
            "elasticloadbalancing:DescribeListeners",
            "elasticloadbalancing:DescribeLoadBalancerAttributes",
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeTags",
            "elasticloadbalancing:DescribeTargetGroupAttributes",
            "elasticloadbalancing:DescribeTargetGroups",
        ),
        allow(
            [
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:CreateLoadBalancer",
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
            ],
            [
                arn(ctx, "elasticloadbalancing", f"loadbalancer/{load_balancer}"),
                arn(ctx, "elasticloadbalancing", f"listener/{load_balancer}"),
                arn(ctx, "elasticloadbalancing", f"targetgroup/{name('tg')}/*"),
            ],
        ),
        service_linked_role(ctx, "elasticloadbalancing.amazonaws.com"),
    ]
