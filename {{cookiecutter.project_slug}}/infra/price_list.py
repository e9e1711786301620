"""Prices from the AWS Price List API (`pricing` GetProducts), cached on disk per region.

`plan` asks for the few prices the stack's settings need (infra/prices.py names the keys),
in any region and size. The Price List Query API is served from a few endpoint regions
only, whatever the region priced (AWS SDK documentation of the Price List Service:
https://api.pricing.us-east-1.amazonaws.com and https://api.pricing.ap-south-1.amazonaws.com);
products are picked by their `regionCode` attribute. Each PriceList entry is a JSON
*string*: a product, its attributes and its terms (API Reference, GetProducts example).

Answers are kept in `.cache/prices/<region>.json` next to stack.toml (ignored by git), each
price with the day it was read, and asked again after MAX_AGE. Whatever goes wrong (no
credentials, an emulator, offline, access denied) the caller falls back to the bundled
table; nothing here raises past `read`.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterable
from pathlib import Path

import botocore.config
import botocore.exceptions

from infra.aws import Aws, error_code
from infra.engine import Context
from infra.prices import EVERY_REGION, MULTI_AZ
from infra.resources.shared.permissions import reads

PRICE_LIST_REGION = "us-east-1"
CACHE_FOLDER = Path(".cache") / "prices"
MAX_AGE = datetime.timedelta(days=7)
# A plan waits a few seconds at most for prices: short timeouts, one retry.
CONFIG = botocore.config.Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 2},
    user_agent_extra="three-tier-flask",
)
MAX_PAGES = 3

Filters = list[dict[str, str]]


class Unavailable(Exception):
    """The Price List API cannot be asked: the reason, as a sentence fragment."""


def _match(field: str, value: str, kind: str = "TERM_MATCH") -> dict[str, str]:
    return {"Type": kind, "Field": field, "Value": value}


def query(key: str, region: str) -> tuple[str, Filters, str] | None:
    """(service code, filters, price unit) of one key of infra/prices.py in `region`; None
    for a price that is the same in every region (infra/prices.py EVERY_REGION)."""
    if key in EVERY_REGION:
        return None
    where = _match("regionCode", region)
    deployment = "Multi-AZ" if key.endswith(MULTI_AZ) else "Single-AZ"
    item = key.removesuffix(MULTI_AZ)
    if item.startswith("db."):
        return (
            "AmazonRDS",
            [
                where,
                _match("productFamily", "Database Instance"),
                _match("instanceType", item),
                _match("databaseEngine", "PostgreSQL"),
                _match("deploymentOption", deployment),
            ],
            "Hrs",
        )
    if item == "rds-gp3":
        return (
            "AmazonRDS",
            [
                where,
                _match("productFamily", "Database Storage"),
                _match("volumeType", "General Purpose-GP3"),
                _match("databaseEngine", "PostgreSQL"),
                _match("deploymentOption", deployment),
            ],
            "GB-Mo",
        )
    fixed: dict[str, tuple[str, Filters, str]] = {
        "ebs-gp3": ("AmazonEC2", [_match("volumeApiName", "gp3")], "GB-Mo"),
        "alb": (
            "AWSELB",
            [
                _match("productFamily", "Load Balancer-Application"),
                _match("usagetype", "LoadBalancerUsage", "CONTAINS"),
            ],
            "Hrs",
        ),
        # VPC User Guide, "Understand codes for Amazon VPC in billing and usage reports".
        "public-ipv4": (
            "AmazonVPC",
            [_match("usagetype", "PublicIPv4:InUseAddress", "CONTAINS")],
            "Hrs",
        ),
        "nat-gateway": (
            "AmazonEC2",
            [
                _match("productFamily", "NAT Gateway"),
                _match("usagetype", "NatGateway-Hours", "CONTAINS"),
            ],
            "Hrs",
        ),
    }
    if item in fixed:
        service, filters, unit = fixed[item]
        return service, [where, *filters], unit
    return (
        "AmazonEC2",
        [
            where,
            _match("instanceType", item),
            _match("operatingSystem", "Linux"),
            _match("tenancy", "Shared"),
            _match("preInstalledSw", "NA"),
            _match("capacitystatus", "Used"),
            _match("licenseModel", "No License required"),
        ],
        "Hrs",
    )


def on_demand_prices(price_list: Iterable[str], unit: str) -> set[float]:
    """The distinct non-zero on-demand USD prices per `unit` in GetProducts' PriceList."""
    found = set()
    for entry in price_list:
        for term in json.loads(entry).get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = float(dimension.get("pricePerUnit", {}).get("USD", 0))
                if dimension.get("unit") == unit and usd > 0:
                    found.add(usd)
    return found


def ask(client, service: str, filters: Filters, unit: str) -> float | str:
    """The one on-demand price the Price List gives for these filters, or why there is none."""
    arguments = {"ServiceCode": service, "Filters": filters, "FormatVersion": "aws_v1"}
    found: set[float] = set()
    for _ in range(MAX_PAGES):
        try:
            answer = client.get_products(**arguments, MaxResults=100)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise Unavailable(
                f"the Price List API did not answer ({error_code(error) or type(error).__name__})"
            ) from error
        try:
            found |= on_demand_prices(answer.get("PriceList", []), unit)
        except (ValueError, TypeError, AttributeError):
            return "the Price List API answered in a shape this tool does not read"
        if not answer.get("NextToken"):
            break
        arguments["NextToken"] = answer["NextToken"]
    if len(found) == 1:
        return found.pop()
    if not found:
        return "the Price List API has no on-demand price for it"
    return f"the Price List API gives {len(found)} different prices for it"


def client():
    """The pricing client, in the endpoint region, with the deploy tool's observers."""
    return Aws(PRICE_LIST_REGION).client("pricing", CONFIG)


def why_not_asked(aws: Aws) -> str | None:
    if os.environ.get("AWS_ENDPOINT_URL"):
        return "AWS_ENDPOINT_URL points the deploy tool at an emulator, which has no Price List"
    if aws.session.get_credentials() is None:
        return "there are no AWS credentials to ask the Price List API with"
    return None


def read(
    aws: Aws, region: str, keys: list[str], cache_dir: Path, today: datetime.date
) -> tuple[dict[str, tuple[float, str]], dict[str, str], str | None]:
    """({key: (USD, day read)}, {key: why the Price List has none}, why the API was not
    asked or stopped answering, or None). Cached prices first; new answers are cached."""
    cached = _load(cache_dir / f"{region}.json", today)
    prices = {key: cached[key] for key in keys if key in cached}
    missing: dict[str, str] = {}
    queries = {key: query(key, region) for key in keys if key not in prices}
    wanted = {key: spec for key, spec in queries.items() if spec is not None}
    if not wanted:
        return prices, missing, None
    unavailable = why_not_asked(aws)
    if unavailable:
        return prices, missing, unavailable
    pricing = client()
    fresh: dict[str, tuple[float, str]] = {}
    try:
        for key, spec in wanted.items():
            answer = ask(pricing, *spec)
            if isinstance(answer, str):
                missing[key] = answer
            else:
                fresh[key] = (answer, today.isoformat())
    except Unavailable as problem:
        unavailable = str(problem)
    if fresh:
        _save(cache_dir / f"{region}.json", {**cached, **fresh})
    return {**prices, **fresh}, missing, unavailable


def _load(path: Path, today: datetime.date) -> dict[str, tuple[float, str]]:
    """The cached prices read less than MAX_AGE ago; a missing or broken file is empty."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {
            key: (float(entry["usd"]), entry["read"])
            for key, entry in entries.items()
            if today - datetime.date.fromisoformat(entry["read"]) < MAX_AGE
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _save(path: Path, prices: dict[str, tuple[float, str]]) -> None:
    entries = {key: {"usd": usd, "read": read} for key, (usd, read) in sorted(prices.items())}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
        partial.replace(path)
    except OSError:
        pass  # a read-only checkout: the next plan asks again


def deploy_permissions(_ctx: Context) -> list[dict]:
    """`plan` reads prices. Service Authorization Reference, AWS Price List: GetProducts has
    no resource types, so it is allowed on "*" only."""
    return [reads("pricing:GetProducts")]
