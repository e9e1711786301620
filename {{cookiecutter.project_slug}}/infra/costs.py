"""What the stack costs per month while it runs: the one table of prices this project has.

`python -m infra plan` ends with `render_estimate(settings)`, and README.md explains the same
items. Prices are on-demand list prices in USD for Linux, Single-AZ, in the regions below,
for the sizes the template offers by default. A region or size not in the table is reported
as "price unknown for X in Y", never guessed; add it here from the AWS pricing pages.

Sources (compiled on PRICES_AS_OF; AWS changes prices, so check before you rely on them):
- EC2, EBS gp3, RDS, Application Load Balancer, public IPv4: the AWS Price List (the offer
  files behind aws.amazon.com/ec2/pricing, /rds/postgresql/pricing, /elasticloadbalancing/
  pricing and /vpc/pricing), as quoted line by line ("$0.0104 per On Demand Linux t3.micro
  Instance Hour") in public price-list extracts and bills. ap-south-1 RDS and EC2 prices were
  found only in third-party price tables (two independent ones agreeing), not in a quoted
  AWS price-list line: check them on the AWS pages first.
- Secrets Manager: aws.amazon.com/secrets-manager/pricing ($0.40 per secret per month).
- us-east-2 (Ohio) lists the same on-demand prices as us-east-1 for every item of this
  table on the AWS pricing pages; that was recalled, not quoted from a price-list line:
  check it there.
- Multi-AZ databases: aws.amazon.com/rds/postgresql/pricing lists a Multi-AZ deployment
  with one standby at twice the Single-AZ instance-hour and gp3 storage rates.
- NAT gateway hours (option nat_gateway): us-east-1 $0.045, as aws.amazon.com/vpc/pricing
  quotes it in its US East example. ap-south-1 $0.056 (two independent third-party tables
  agreeing) and eu-west-1 $0.048 (one third-party table, and inside the $0.048-0.052 a
  second gives for Europe) were not found in a quoted AWS line: check them there first.
  Each gateway's Elastic IP is an in-use public IPv4 address like any other.
Not priced (usage-based, small for a student project, or free-tier): load balancer capacity
units (LCUs), data transfer out, CloudWatch alarms, dashboard, logs and metrics, ECR image
storage, SNS e-mails, backup storage beyond the free allocation, KMS API calls, data
processed by NAT gateways (per GB).
Free, so not an item: the cost guard's budget (option monthly_budget_usd). The AWS Price List
(AWSBudgets, effective 2020-10-01) charges $0.00 per budget-day for budgets with
notifications only; just action-enabled budgets cost money ($0.10 a day past 62 free
budget-days a month), and this budget has no actions. Also the HTTPS option's ACM
certificate: public certificates that cannot be exported are free (the AWS Price List
charges only exportable ones, from 2025-02-01), and Route 53 answers alias queries to a load
balancer for free. The hosted zone (0.50 USD a month) is the user's own, not the stack's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from infra.validation import StackSettings

PRICES_AS_OF = "2026-11-26"
HOURS_PER_MONTH = 730  # the AWS Pricing Calculator's month
# Keep in step with infra/resources/app/instances.py (ROOT_VOLUME_GB); a test checks they agree.
APP_ROOT_VOLUME_GB = 16
NOT_INCLUDED = (
    "load balancer capacity units (LCUs), data transfer out, CloudWatch alarms, dashboard "
    "and logs, ECR image storage, backups beyond the free allocation, and VPC flow logs "
    "or load balancer access logs when they are turned on"
)


@dataclasses.dataclass(frozen=True)
class RegionPrices:
    """USD list prices of one region; None where no trustworthy source was found."""

    instance_hour: Mapping[str, float]  # EC2 on-demand Linux, per instance-hour
    db_instance_hour: Mapping[str, float]  # RDS for PostgreSQL, Single-AZ, per hour
    ebs_gp3_gb_month: float | None
    rds_gp3_gb_month: float | None  # RDS for PostgreSQL gp3 storage, Single-AZ
    alb_hour: float | None  # Application Load Balancer, per load balancer-hour
    public_ipv4_hour: float | None  # per in-use public IPv4 address
    secret_month: float | None  # Secrets Manager, per secret
    nat_gateway_hour: float | None = None  # per NAT gateway-hour, data processed not included


PRICES: dict[str, RegionPrices] = {
    "ap-south-1": RegionPrices(
        instance_hour={"t3.micro": 0.0112},
        db_instance_hour={"db.t3.micro": 0.021},
        ebs_gp3_gb_month=0.0912,
        rds_gp3_gb_month=0.131,
        alb_hour=0.0239,
        public_ipv4_hour=0.005,
        secret_month=0.40,
        nat_gateway_hour=0.056,
    ),
    "us-east-1": RegionPrices(
        instance_hour={"t3.micro": 0.0104},
        db_instance_hour={"db.t3.micro": 0.018},
        ebs_gp3_gb_month=0.08,
        rds_gp3_gb_month=0.115,
        alb_hour=0.0225,
        public_ipv4_hour=0.005,
        secret_month=0.40,
        nat_gateway_hour=0.045,
    ),
    "eu-west-1": RegionPrices(
        instance_hour={"t3.micro": 0.0114},
        db_instance_hour={},  # no quoted source found: see the RDS pricing page
        ebs_gp3_gb_month=0.088,
        rds_gp3_gb_month=None,  # no quoted source found: see the RDS pricing page
        alb_hour=0.0252,
        public_ipv4_hour=0.005,
        secret_month=0.40,
        nat_gateway_hour=0.048,
    ),
}
# US East (Ohio) lists the same prices as US East (N. Virginia) for every item here.
PRICES["us-east-2"] = PRICES["us-east-1"]

Item = tuple[str, float | None, str]


def _unknown(what: str, region: str) -> str:
    return f"price unknown for {what} in {region}"


def monthly_estimate(settings: StackSettings) -> list[Item]:
    """(item, USD per month or None, note) for everything that costs money while it runs."""
    region = settings.aws_region
    prices = PRICES.get(region)
    instances = settings.app_desired_capacity
    zones = settings.az_count
    app_type, db_class = settings.app_instance_type, settings.db_instance_class

    def priced(amount: float | None, count: float, what: str) -> tuple[float | None, str]:
        if amount is None:
            return None, _unknown(what, region)
        return round(amount * count, 2), ""

    def hourly(table: Mapping[str, float], key: str, count: int) -> tuple[float | None, str]:
        return priced(table.get(key), count * HOURS_PER_MONTH, key)

    if prices is None:
        prices = RegionPrices({}, {}, None, None, None, None, None)
    # A Multi-AZ (one standby) DB instance deployment bills instance hours and storage at
    # twice the Single-AZ rates: the standby is a second instance with its own storage.
    copies = 2 if settings.db_multi_az else 1
    deployment = "Multi-AZ" if settings.db_multi_az else "Single-AZ"
    db_hour = _times(prices.db_instance_hour.get(db_class), copies)
    db_storage = _times(prices.rds_gp3_gb_month, copies)
    items: list[tuple[str, tuple[float | None, str], str]] = [
        (
            f"app instances: {instances} x {app_type}",
            hourly(prices.instance_hour, app_type, instances),
            f"on-demand Linux; the group may run {settings.app_min_size} to "
            f"{settings.app_max_size}",
        ),
        (
            f"app disks: {instances} x {APP_ROOT_VOLUME_GB} GB gp3",
            priced(prices.ebs_gp3_gb_month, instances * APP_ROOT_VOLUME_GB, "EBS gp3 storage"),
            "one encrypted root volume per instance",
        ),
        *_public_ip_or_nat_items(settings, prices, priced),
        (
            "load balancer (ALB)",
            priced(prices.alb_hour, HOURS_PER_MONTH, "Application Load Balancer"),
            "plus LCUs by traffic, not included",
        ),
        (
            f"load balancer public IPv4 addresses: {zones}",
            priced(prices.public_ipv4_hour, zones * HOURS_PER_MONTH, "public IPv4"),
            "at least one per availability zone",
        ),
        (
            f"database: {db_class}, {deployment}",
            priced(db_hour, HOURS_PER_MONTH, db_class),
            "RDS for PostgreSQL",
        ),
        (
            f"database storage: {settings.db_allocated_storage_gb} GB gp3",
            priced(db_storage, settings.db_allocated_storage_gb, "RDS gp3 storage"),
            "backups up to this size are free",
        ),
        (
            "database password secret",
            priced(prices.secret_month, 1, "Secrets Manager"),
            "managed by RDS in Secrets Manager",
        ),
    ]
    return [(item, amount, unknown or note) for item, (amount, unknown), note in items]


def _times(price: float | None, copies: int) -> float | None:
    return None if price is None else price * copies


def _public_ip_or_nat_items(settings: StackSettings, prices: RegionPrices, priced) -> list:
    """How the app instances get out: a public IP each, or NAT gateways with one each."""
    gateways = settings.nat_gateway_count
    if not gateways:
        instances = settings.app_desired_capacity
        return [
            (
                f"app public IPv4 addresses: {instances}",
                priced(prices.public_ipv4_hour, instances * HOURS_PER_MONTH, "public IPv4"),
                "the instances pull their image without a NAT gateway",
            )
        ]
    hours = gateways * HOURS_PER_MONTH
    return [
        (
            f"NAT gateways: {gateways}",
            priced(prices.nat_gateway_hour, hours, "NAT gateway"),
            "plus data processed, by the GB, not included",
        ),
        (
            f"NAT gateway public IPv4 addresses: {gateways}",
            priced(prices.public_ipv4_hour, hours, "public IPv4"),
            "one Elastic IP each; the app instances have no public IP",
        ),
    ]


def total(items: list[Item]) -> float:
    return round(sum(amount for _, amount, _ in items if amount is not None), 2)


def render_estimate(settings: StackSettings) -> list[str]:
    """The lines that end `plan`: each item, then one summary line."""
    items = monthly_estimate(settings)
    width = max(len(item) for item, _, _ in items)
    lines = ["", "Estimated monthly cost while the stack runs (on-demand, before free tier):"]
    for item, amount, note in items:
        shown = f"${amount:.2f}" if amount is not None else "?"
        shown = f"{shown:>8}"
        lines.append(f"  {item:<{width}}  {shown}  {note}")
    lines.append(f"  Not included: {NOT_INCLUDED}.")
    unknown = sum(amount is None for _, amount, _ in items)
    region = settings.aws_region
    if unknown == len(items):
        lines.append(
            f"Estimated cost of this stack: unknown: no prices for {region} in "
            "infra/costs.py (see README)"
        )
        return lines
    extra = f", plus {unknown} item(s) of unknown price" if unknown else ""
    lines.append(
        f"Estimated cost of this stack: about ${total(items):.0f} per month in {region}"
        f"{extra} (prices of {PRICES_AS_OF}; see README)"
    )
    return lines
