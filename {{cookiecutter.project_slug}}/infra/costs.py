"""What the stack costs per month while it runs.

`python -m infra plan` ends with `render_estimate(settings, quote(...))`, and README.md
explains the same items. Prices are on-demand list prices in USD for Linux. With AWS
credentials `plan` reads the few it needs from the AWS Price List API (infra/price_list.py,
cached for a week in .cache/prices/ next to stack.toml); what it cannot read there comes
from the bundled table in infra/prices.py, each price with its source and date. A price in
neither is reported as unknown with the reason, never guessed.

A Multi-AZ (one standby) DB instance deployment bills instance hours and storage at twice
the Single-AZ rates (aws.amazon.com/rds/postgresql/pricing); the Price List API is asked for
the Multi-AZ prices themselves.
Each NAT gateway's Elastic IP is an in-use public IPv4 address like any other.
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
import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from infra import prices as table
from infra.validation import StackSettings

if TYPE_CHECKING:  # the post-generation hook imports this module without boto3
    from infra.aws import Aws

HOURS_PER_MONTH = 730  # the AWS Pricing Calculator's month
# Keep in step with infra/resources/app/instances.py (ROOT_VOLUME_GB); a test checks they agree.
APP_ROOT_VOLUME_GB = 16
NOT_INCLUDED = (
    "load balancer capacity units (LCUs), data transfer out, CloudWatch alarms, dashboard "
    "and logs, ECR image storage, backups beyond the free allocation, and VPC flow logs "
    "or load balancer access logs when they are turned on"
)
FROM_TABLE = "the bundled table (infra/prices.py)"
FROM_API = "the AWS Price List API"


@dataclasses.dataclass(frozen=True)
class Quote:
    """The prices one stack needs in its region, by key of infra/prices.py, each with where
    and when it was read; and the keys with no price, each with the reason."""

    prices: Mapping[str, tuple[float, str, str]]  # key: (USD, origin, day read)
    missing: Mapping[str, str]  # key: why there is no price

    def usd(self, key: str) -> float | None:
        found = self.prices.get(key)
        return None if found is None else found[0]

    @property
    def as_of(self) -> str:
        """The day the oldest price used was read."""
        return min((read for _, _, read in self.prices.values()), default=table.TABLE_AS_OF)

    def origins(self) -> str:
        """Where the prices come from, as one sentence fragment."""
        counts: dict[str, int] = {}
        for _, origin, read in self.prices.values():
            label = f"{origin}, read {read}" if origin == FROM_API else f"{origin} of {read}"
            counts[label] = counts.get(label, 0) + 1
        return "; ".join(f"{count} from {label}" for label, count in sorted(counts.items()))


def keys(settings: StackSettings) -> list[str]:
    """The infra/prices.py keys of what this stack runs."""
    return list(dict.fromkeys(use.key for use in usage(settings)))


def quote(
    settings: StackSettings,
    aws: Aws | None = None,
    cache_dir: Path | None = None,
    today: datetime.date | None = None,
) -> Quote:
    """The stack's prices: from the Price List API when `aws` is given and it answers (or
    from its cache), else from the bundled table; unknown with a reason when in neither."""
    region, wanted = settings.aws_region, keys(settings)
    found: dict[str, tuple[float, str, str]] = {}
    listed_none: dict[str, str] = {}
    unavailable = None
    if aws is not None:
        from infra import price_list  # noqa: PLC0415 - boto3 only where AWS is asked

        today = today or datetime.date.today()
        asked, listed_none, unavailable = price_list.read(
            aws, region, wanted, cache_dir or price_list.CACHE_FOLDER, today
        )
        found = {key: (usd, FROM_API, read) for key, (usd, read) in asked.items()}
    missing = {}
    for key in wanted:
        if key in found:
            continue
        bundled = table.price(region, key)
        if bundled is not None:
            found[key] = (bundled[0], FROM_TABLE, table.TABLE_AS_OF)
            continue
        reasons = [f"not in {FROM_TABLE}"]
        if key in listed_none:
            reasons.append(listed_none[key])
        elif unavailable:
            reasons.append(unavailable)
        missing[key] = " and ".join(reasons)
    return Quote(found, missing)


Item = tuple[str, float | None, str]


@dataclasses.dataclass(frozen=True)
class Use:
    """One line of the bill: the item, the infra/prices.py key it is billed by, how many of
    that key's units (hours, GB-months, secrets), what an unknown price is called, a note."""

    item: str
    key: str
    units: float
    what: str
    note: str


def usage(settings: StackSettings) -> list[Use]:
    """Everything that costs money while the stack runs, in the order `plan` prints it."""
    instances = settings.app_desired_capacity
    zones = settings.az_count
    app_type, db_class = settings.app_instance_type, settings.db_instance_class
    multi_az = table.MULTI_AZ if settings.db_multi_az else ""
    deployment = "Multi-AZ" if settings.db_multi_az else "Single-AZ"
    return [
        Use(
            f"app instances: {instances} x {app_type}",
            app_type,
            instances * HOURS_PER_MONTH,
            app_type,
            f"on-demand Linux; the group may run {settings.app_min_size} to "
            f"{settings.app_max_size}",
        ),
        Use(
            f"app disks: {instances} x {APP_ROOT_VOLUME_GB} GB gp3",
            "ebs-gp3",
            instances * APP_ROOT_VOLUME_GB,
            "EBS gp3 storage",
            "one encrypted root volume per instance",
        ),
        *_public_ip_or_nat_usage(settings),
        Use(
            "load balancer (ALB)",
            "alb",
            HOURS_PER_MONTH,
            "Application Load Balancer",
            "plus LCUs by traffic, not included",
        ),
        Use(
            f"load balancer public IPv4 addresses: {zones}",
            "public-ipv4",
            zones * HOURS_PER_MONTH,
            "public IPv4",
            "at least one per availability zone",
        ),
        Use(
            f"database: {db_class}, {deployment}",
            f"{db_class}{multi_az}",
            HOURS_PER_MONTH,
            f"{db_class} {deployment}",
            "RDS for PostgreSQL",
        ),
        Use(
            f"database storage: {settings.db_allocated_storage_gb} GB gp3",
            f"rds-gp3{multi_az}",
            settings.db_allocated_storage_gb,
            f"RDS gp3 storage {deployment}",
            "backups up to this size are free",
        ),
        Use(
            "database password secret",
            "secret",
            1,
            "Secrets Manager",
            "managed by RDS in Secrets Manager",
        ),
    ]


def _public_ip_or_nat_usage(settings: StackSettings) -> list[Use]:
    """How the app instances get out: a public IP each, or NAT gateways with one each."""
    gateways = settings.nat_gateway_count
    if not gateways:
        instances = settings.app_desired_capacity
        return [
            Use(
                f"app public IPv4 addresses: {instances}",
                "public-ipv4",
                instances * HOURS_PER_MONTH,
                "public IPv4",
                "the instances pull their image without a NAT gateway",
            )
        ]
    hours = gateways * HOURS_PER_MONTH
    return [
        Use(
            f"NAT gateways: {gateways}",
            "nat-gateway",
            hours,
            "NAT gateway",
            "plus data processed, by the GB, not included",
        ),
        Use(
            f"NAT gateway public IPv4 addresses: {gateways}",
            "public-ipv4",
            hours,
            "public IPv4",
            "one Elastic IP each; the app instances have no public IP",
        ),
    ]


def monthly_estimate(settings: StackSettings, prices: Quote | None = None) -> list[Item]:
    """(item, USD per month or None, note) for everything that costs money while it runs."""
    prices = prices or quote(settings)
    items: list[Item] = []
    for use in usage(settings):
        amount = prices.usd(use.key)
        if amount is None:
            reason = prices.missing[use.key]
            unknown = f"price unknown for {use.what} in {settings.aws_region}: {reason}"
            items.append((use.item, None, unknown))
        else:
            items.append((use.item, round(amount * use.units, 2), use.note))
    return items


def total(items: list[Item]) -> float:
    return round(sum(amount for _, amount, _ in items if amount is not None), 2)


def render_estimate(settings: StackSettings, prices: Quote | None = None) -> list[str]:
    """The lines that end `plan`: each item, where the prices come from, one summary line."""
    prices = prices or quote(settings)
    items = monthly_estimate(settings, prices)
    width = max(len(item) for item, _, _ in items)
    lines = ["", "Estimated monthly cost while the stack runs (on-demand, before free tier):"]
    for item, amount, note in items:
        shown = f"${amount:.2f}" if amount is not None else "?"
        shown = f"{shown:>8}"
        lines.append(f"  {item:<{width}}  {shown}  {note}")
    lines.append(f"  Not included: {NOT_INCLUDED}.")
    region = settings.aws_region
    unknown = [item for item, amount, _ in items if amount is None]
    lines.append(f"  Prices: {prices.origins()}.")
    extra = f", plus {len(unknown)} item(s) of unknown price ({'; '.join(unknown)})"
    extra = extra if unknown else ""
    lines.append(
        f"Estimated cost of this stack: about ${total(items):.0f} per month in {region}"
        f"{extra} (prices of {prices.as_of}; see README)"
    )
    return lines
