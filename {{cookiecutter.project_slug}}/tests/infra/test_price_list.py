"""Prices from the AWS Price List API, its cache, and the fallback to the bundled table.

moto has no Price List API: botocore's Stubber answers GetProducts on the deploy tool's own
pricing client, with PriceList entries shaped as the API returns them: JSON *strings*, each a
product with its attributes and its terms (API Reference, GetProducts example, also in
botocore's examples-1.json for pricing). The Stubber answers at botocore's before-call, after
the request is built, so the service-model checks of conftest.py apply to these calls too.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re

import pytest
from botocore.stub import Stubber

from devtools.processes import free_port
from infra import costs, price_list, prices
from infra.aws import Aws

TODAY = datetime.date(2026, 11, 30)
# What the stub answers for us-west-2; none of these is in the bundled table.
US_WEST_2 = {
    "t3.small": 0.0208,
    "ebs-gp3": 0.08,
    "public-ipv4": 0.005,
    "alb": 0.0225,
    "db.t4g.small": 0.032,
    "rds-gp3": 0.115,
}


def product(region: str, unit: str, usd: float, sku: str = "SKU0EXAMPLE0001") -> str:
    """One PriceList entry, as the API sends it: a JSON string (see the API example)."""
    term = f"{sku}.JRTCKXETXF"
    return json.dumps(
        {
            "product": {
                "productFamily": "Compute Instance",
                "attributes": {"regionCode": region, "servicecode": "AmazonEC2"},
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {
                    term: {
                        "priceDimensions": {
                            f"{term}.6YS6EN2CT7": {
                                "unit": unit,
                                "endRange": "Inf",
                                "description": f"${usd} per {unit}",
                                "appliesTo": [],
                                "rateCode": f"{term}.6YS6EN2CT7",
                                "beginRange": "0",
                                "pricePerUnit": {"USD": f"{usd:.10f}"},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-11-01T00:00:00Z",
                        "offerTermCode": "JRTCKXETXF",
                        "termAttributes": {},
                    }
                }
            },
            "version": "20261101000000",
            "publicationDate": "2026-11-01T00:00:00Z",
        }
    )


def answer(*entries: str) -> dict:
    return {"FormatVersion": "aws_v1", "PriceList": list(entries)}


def expect(stubber: Stubber, key: str, region: str, response: dict) -> None:
    """One GetProducts call for `key`, with exactly the filters price_list.query makes."""
    service, filters, _ = price_list.query(key, region)
    stubber.add_response(
        "get_products",
        response,
        {"ServiceCode": service, "Filters": filters, "FormatVersion": "aws_v1", "MaxResults": 100},
    )


def expect_prices(stubber: Stubber, region: str, found: dict[str, float]) -> None:
    for key, usd in found.items():
        _, _, unit = price_list.query(key, region)
        expect(stubber, key, region, answer(product(region, unit, usd)))


@pytest.fixture
def pricing(moto):
    """The deploy tool's pricing client (clients are shared per region and environment),
    answered by a Stubber; every expected call must have been made by the end."""
    client = price_list.client()
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def west(project):
    """The stack of the issue: us-west-2, a t3.small app, a db.t4g.small database."""
    for key, value in (
        ("aws_region", '"us-west-2"'),
        ("availability_zones", "[]"),
        ("app_instance_type", '"t3.small"'),
        ("db_instance_class", '"db.t4g.small"'),
        ("db_multi_az", "false"),
        ("app_min_size", "1"),
        ("app_desired_capacity", "1"),
        ("app_max_size", "2"),
        ("db_allocated_storage_gb", "20"),
    ):
        project.set(key, value)
    settings = project.settings
    assert not settings.nat_gateway_count
    # The table has only the public IPv4 rate (the same in every region) for us-west-2.
    for key in US_WEST_2.keys() - {"public-ipv4"}:
        assert prices.price("us-west-2", key) is None, f"{key} is in the table now: pick another"
    return settings


def west_total(zones: int) -> float:
    """The stack above by hand: 1 instance, its 16 GB disk and public IP, the ALB and one
    IP in each zone, the database, 20 GB of storage, the secret."""
    p = US_WEST_2
    return round(
        p["t3.small"] * 730
        + 16 * p["ebs-gp3"]
        + (1 + zones) * p["public-ipv4"] * 730
        + p["alb"] * 730
        + p["db.t4g.small"] * 730
        + 20 * p["rds-gp3"]
        + 0.40,
        2,
    )


def test_plan_in_a_region_and_sizes_the_table_lacks_ends_with_the_price_list_total(
    pricing, west, infra, project
):
    expect_prices(pricing, "us-west-2", US_WEST_2)
    result = infra("plan")
    assert result.code == 2, result.err
    last = result.out.splitlines()[-1]
    total = west_total(west.az_count)
    # The date of the oldest price used: the secret's, from the table, is older than today's.
    oldest = min(datetime.date.today().isoformat(), prices.TABLE_AS_OF)
    assert last == (
        f"Estimated cost of this stack: about ${total:.0f} per month in us-west-2 "
        f"(prices of {oldest}; see README)"
    )
    assert "  Prices: 6 from the AWS Price List API, read " in result.out
    assert "1 from the bundled table (infra/prices.py)" in result.out  # the secret
    cached = json.loads((project.path.parent / ".cache/prices/us-west-2.json").read_text())
    assert {key: entry["usd"] for key, entry in cached.items()} == US_WEST_2


def test_offline_plan_says_which_items_have_no_price_and_why(west, moto, infra, monkeypatch):
    """Nothing listens on the pricing endpoint: the plan still ends, from the table."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", f"http://127.0.0.1:{free_port()}")
    result = infra("plan")
    assert result.code == 2, result.err
    last = result.out.splitlines()[-1]
    # Known offline: what costs the same in every region (the public IPv4 addresses, the
    # secret); the other five items have no price for us-west-2 in the table.
    known = (1 + west.az_count) * 0.005 * 730 + 0.40
    assert re.fullmatch(
        rf"Estimated cost of this stack: about \${known:.0f} per month in us-west-2, plus 5 "
        r"item\(s\) of unknown price \(app instances: 1 x t3\.small; app disks: .*; load "
        r"balancer \(ALB\); database: db\.t4g\.small, Single-AZ; database storage: 20 GB "
        r"gp3\) \(prices of \d{4}-\d\d-\d\d; see README\)",
        last,
    ), last
    assert (
        "price unknown for t3.small in us-west-2: not in the bundled table (infra/prices.py) "
        "and the Price List API did not answer (EndpointConnectionError)"
    ) in result.out


def test_cached_prices_are_used_without_asking_and_expire_after_a_week(pricing, west, tmp_path):
    expect_prices(pricing, "us-west-2", US_WEST_2)
    aws = Aws("us-west-2")
    first = costs.quote(west, aws, tmp_path, TODAY)
    assert {key: first.usd(key) for key in US_WEST_2} == US_WEST_2
    # No response left: a GetProducts now would fail the test (Stubber raises).
    again = costs.quote(west, aws, tmp_path, TODAY + datetime.timedelta(days=6))
    assert again == first
    expect_prices(pricing, "us-west-2", {key: 2 * usd for key, usd in US_WEST_2.items()})
    later = costs.quote(west, aws, tmp_path, TODAY + datetime.timedelta(days=7))
    assert {key: later.usd(key) for key in US_WEST_2} == {
        key: 2 * usd for key, usd in US_WEST_2.items()
    }


def test_a_product_the_price_list_lacks_falls_back_to_the_table_or_stays_unknown(
    pricing, west, tmp_path
):
    settings = dataclasses.replace(west, aws_region="us-east-1", app_instance_type="t3.nano")
    found = {"ebs-gp3": 0.08, "public-ipv4": 0.005, "alb": 0.0225, "rds-gp3": 0.115}
    expect(pricing, "t3.nano", "us-east-1", answer())
    for key in ("ebs-gp3", "public-ipv4", "alb"):
        expect_prices(pricing, "us-east-1", {key: found[key]})
    expect(pricing, "db.t4g.small", "us-east-1", answer())
    expect_prices(pricing, "us-east-1", {"rds-gp3": found["rds-gp3"]})
    quote = costs.quote(settings, Aws("us-east-1"), tmp_path, TODAY)
    assert quote.usd("t3.nano") is None
    assert quote.missing["t3.nano"] == (
        "not in the bundled table (infra/prices.py) and the Price List API has no on-demand "
        "price for it"
    )
    assert quote.prices["db.t4g.small"] == (0.032, costs.FROM_TABLE, prices.TABLE_AS_OF)


def test_an_answer_in_another_shape_is_no_price_not_a_crash(pricing, west, tmp_path):
    settings = dataclasses.replace(west, aws_region="us-east-1")
    expect(pricing, "t3.small", "us-east-1", answer("not a product", '{"terms": []}'))
    expect_prices(pricing, "us-east-1", {"ebs-gp3": 0.08, "public-ipv4": 0.005, "alb": 0.0225})
    expect_prices(pricing, "us-east-1", {"db.t4g.small": 0.032, "rds-gp3": 0.115})
    quote = costs.quote(settings, Aws("us-east-1"), tmp_path, TODAY)
    assert quote.prices["t3.small"] == (0.0208, costs.FROM_TABLE, prices.TABLE_AS_OF)
    assert quote.prices["alb"] == (0.0225, costs.FROM_API, TODAY.isoformat())


def test_access_denied_stops_asking_and_uses_the_table(pricing, west, tmp_path):
    settings = dataclasses.replace(
        west, aws_region="us-east-1", app_instance_type="t3.micro", db_instance_class="db.t3.small"
    )
    pricing.add_client_error(
        "get_products",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: pricing:GetProducts",
        http_status_code=400,
    )
    quote = costs.quote(settings, Aws("us-east-1"), tmp_path, TODAY)
    assert quote.prices["t3.micro"] == (0.0104, costs.FROM_TABLE, prices.TABLE_AS_OF)
    assert quote.missing == {
        "db.t3.small": "not in the bundled table (infra/prices.py) and the Price List API did "
        "not answer (AccessDeniedException)"
    }
    assert not (tmp_path / "us-east-1.json").exists()


def test_multi_az_asks_for_the_multi_az_prices(pricing, west, tmp_path):
    settings = dataclasses.replace(west, db_multi_az=True)
    found = {**US_WEST_2, "db.t4g.small Multi-AZ": 0.064, "rds-gp3 Multi-AZ": 0.23}
    del found["db.t4g.small"], found["rds-gp3"]
    expect_prices(pricing, "us-west-2", found)
    _, filters, _ = price_list.query("db.t4g.small Multi-AZ", "us-west-2")
    assert {"Type": "TERM_MATCH", "Field": "deploymentOption", "Value": "Multi-AZ"} in filters
    items = dict(
        (item, amount)
        for item, amount, _ in costs.monthly_estimate(
            settings, costs.quote(settings, Aws("us-west-2"), tmp_path, TODAY)
        )
    )
    assert items["database: db.t4g.small, Multi-AZ"] == round(0.064 * 730, 2)
    assert items["database storage: 20 GB gp3"] == round(0.23 * 20, 2)


def test_the_prices_of_the_api_example_are_read():
    """The GetProducts example of the API Reference (botocore's examples-1.json)."""
    entry = (
        '{"product":{"productFamily":"Storage","attributes":{"volumeType":"Provisioned IOPS",'
        '"location":"Canada (Central)"},"sku":"WQGC34PB2AWS8R4U"},"serviceCode":"AmazonEC2",'
        '"terms":{"OnDemand":{"WQGC34PB2AWS8R4U.JRTCKXETXF":{"priceDimensions":'
        '{"WQGC34PB2AWS8R4U.JRTCKXETXF.6YS6EN2CT7":{"unit":"GB-Mo","endRange":"Inf",'
        '"pricePerUnit":{"USD":"0.1380000000"}}},"sku":"WQGC34PB2AWS8R4U"}}}}'
    )
    assert price_list.on_demand_prices([entry], "GB-Mo") == {0.138}
    assert price_list.on_demand_prices([entry], "Hrs") == set()


def test_an_emulator_endpoint_is_not_asked(west, moto, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    quote = costs.quote(west, Aws("us-west-2"), tmp_path, TODAY)
    assert "emulator" in quote.missing["t3.small"]


def test_the_deploy_role_may_read_prices_on_any_resource_only():
    """SAR, AWS Price List: GetProducts supports no resource types."""
    assert price_list.deploy_permissions(None) == [
        {"Effect": "Allow", "Action": ["pricing:GetProducts"], "Resource": "*"}
    ]
