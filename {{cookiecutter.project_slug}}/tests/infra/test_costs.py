"""The cost estimate that ends `plan`, from the bundled table: arithmetic on stack.toml, no
AWS. The Price List API and its cache are tested in test_price_list.py."""

import dataclasses
import re

import pytest

from infra import costs, prices
from infra.resources.app import instances
from infra.stack_file import load


@pytest.fixture
def settings():
    """This project's settings, with the options that change prices turned off."""
    return dataclasses.replace(load(), db_multi_az=False, nat_gateway="none")


def with_values(settings, **changes):
    return dataclasses.replace(settings, **changes)


def test_a_priced_region_gives_a_positive_total_with_every_item_known(settings):
    settings = with_values(settings, aws_region="ap-south-1", app_instance_type="t3.micro")
    settings = with_values(settings, db_instance_class="db.t3.micro")
    items = costs.monthly_estimate(settings)
    assert all(amount is not None and amount > 0 for _, amount, _ in items), items
    assert costs.total(items) > 0


def test_the_default_stack_is_priced_from_the_table(settings):
    """1 x t3.micro in ap-south-1, worked out by hand from infra/prices.py."""
    settings = with_values(
        settings,
        aws_region="ap-south-1",
        app_instance_type="t3.micro",
        app_desired_capacity=1,
        db_instance_class="db.t3.micro",
        db_allocated_storage_gb=20,
        public_subnet_cidrs=("10.0.1.0/24", "10.0.4.0/24"),
    )
    amounts = dict((item, amount) for item, amount, _ in costs.monthly_estimate(settings))
    assert amounts["app instances: 1 x t3.micro"] == round(0.0112 * 730, 2)
    assert amounts["load balancer (ALB)"] == round(0.0239 * 730, 2)
    assert amounts["load balancer public IPv4 addresses: 2"] == round(2 * 0.005 * 730, 2)
    assert amounts["database storage: 20 GB gp3"] == round(20 * 0.131, 2)


def test_counts_scale_the_items(settings):
    one = costs.monthly_estimate(with_values(settings, aws_region="us-east-1"))
    three = costs.monthly_estimate(
        with_values(settings, aws_region="us-east-1", app_desired_capacity=3)
    )
    assert three[0][1] == pytest.approx(3 * one[0][1] / settings.app_desired_capacity, abs=0.02)


def test_an_unknown_instance_type_is_none_with_a_note_not_a_guess(settings):
    settings = with_values(settings, aws_region="us-east-1", app_instance_type="m7i.48xlarge")
    item, amount, note = costs.monthly_estimate(settings)[0]
    assert item == f"app instances: {settings.app_desired_capacity} x m7i.48xlarge"
    assert amount is None
    assert note == (
        "price unknown for m7i.48xlarge in us-east-1: not in the bundled table (infra/prices.py)"
    )
    assert (
        "plus 1 item(s) of unknown price (app instances: "
        f"{settings.app_desired_capacity} x m7i.48xlarge)"
    ) in costs.render_estimate(settings)[-1]


def test_an_unknown_region_prices_only_what_costs_the_same_everywhere(settings):
    settings = with_values(settings, aws_region="sa-east-1")
    items = costs.monthly_estimate(settings)
    unknown = [(item, note) for item, amount, note in items if amount is None]
    assert [item for item, amount, _ in items if amount is not None] == ["database password secret"]
    assert all(
        note.endswith("in sa-east-1: not in the bundled table (infra/prices.py)")
        for _, note in unknown
    )
    assert costs.render_estimate(settings)[-1].startswith(
        f"Estimated cost of this stack: about $0 per month in sa-east-1, plus {len(unknown)} "
        "item(s) of unknown price (app instances: "
    )


def test_us_east_2_shows_unknown_items_rather_than_us_east_1_prices(settings):
    """Ohio's prices are not copied from N. Virginia: only its own sourced items are known."""
    settings = with_values(settings, aws_region="us-east-2", nat_gateway="single")
    amounts = {item: amount for item, amount, _ in costs.monthly_estimate(settings)}
    assert amounts["NAT gateways: 1"] == round(0.045 * 730, 2)
    assert amounts["NAT gateway public IPv4 addresses: 1"] == round(0.005 * 730, 2)
    instances = f"app instances: {settings.app_desired_capacity} x {settings.app_instance_type}"
    assert amounts[instances] is None
    assert amounts["load balancer (ALB)"] is None


def test_every_source_says_when_it_was_read_and_the_table_is_dated_by_the_newest():
    read = [re.findall(r"read (\d{4}-\d{2}-\d{2})", text) for text in prices.SOURCES.values()]
    assert all(read), prices.SOURCES
    assert max(day for days in read for day in days) == prices.TABLE_AS_OF


def test_the_plan_ending_line(settings):
    settings = with_values(settings, aws_region="us-east-1", app_instance_type="t3.micro")
    settings = with_values(settings, db_instance_class="db.t3.micro")
    lines = costs.render_estimate(settings)
    expected = round(costs.total(costs.monthly_estimate(settings)))
    assert re.fullmatch(
        r"Estimated cost of this stack: about \$(\d+) per month in us-east-1 "
        r"\(prices of \d{4}-\d{2}-\d{2}; see README\)",
        lines[-1],
    )
    assert f"about ${expected} per month" in lines[-1]
    assert prices.TABLE_AS_OF in lines[-1]
    assert "  Prices: 7 from the bundled table (infra/prices.py) of " in lines[-2]
    assert any(line.strip().startswith("Not included:") for line in lines)


def test_every_price_in_the_table_is_positive_and_names_its_source():
    for region, table in prices.TABLE.items():
        assert re.fullmatch(r"[a-z]{2}-[a-z]+-\d", region)
        for key, (usd, source) in {**table, **prices.EVERY_REGION}.items():
            assert usd > 0, (region, key)
            assert source in prices.SOURCES, (region, key)


def test_the_table_covers_the_regions_students_use_most():
    assert set(prices.TABLE) >= {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-south-1",
        "ap-southeast-1",
        "ap-northeast-1",
    }


def test_the_disk_size_matches_what_the_launch_template_asks_for():
    assert costs.APP_ROOT_VOLUME_GB == instances.ROOT_VOLUME_GB


def test_a_multi_az_database_costs_twice_the_single_az_one(settings):
    """One standby: a second instance with its own storage, at the same rates."""

    def database_items(multi_az: bool) -> list[float]:
        changed = with_values(settings, aws_region="ap-south-1", db_multi_az=multi_az)
        return [
            amount
            for item, amount, _ in costs.monthly_estimate(changed)
            if item.startswith("database") and "secret" not in item
        ]

    single, multi = database_items(False), database_items(True)
    assert len(single) == 2 and None not in single
    assert multi == [round(2 * amount, 2) for amount in single]


def test_nat_gateways_replace_the_app_public_ips_and_per_az_costs_twice_single(settings):
    """Two zones: per_az runs two gateways, each with its Elastic IP, where single runs one."""
    settings = with_values(
        settings, aws_region="us-east-1", public_subnet_cidrs=("10.0.1.0/24", "10.0.4.0/24")
    )

    def nat_items(mode: str) -> dict:
        items = costs.monthly_estimate(with_values(settings, nat_gateway=mode))
        return {item: amount for item, amount, _ in items if "NAT" in item or "app public" in item}

    assert nat_items("none") == {
        f"app public IPv4 addresses: {settings.app_desired_capacity}": round(
            settings.app_desired_capacity * 0.005 * 730, 2
        )
    }
    single = nat_items("single")
    assert single == {
        "NAT gateways: 1": round(0.045 * 730, 2),
        "NAT gateway public IPv4 addresses: 1": round(0.005 * 730, 2),
    }
    per_az = nat_items("per_az")
    assert per_az == {
        "NAT gateways: 2": 2 * single["NAT gateways: 1"],
        "NAT gateway public IPv4 addresses: 2": 2 * single["NAT gateway public IPv4 addresses: 1"],
    }
    totals = {
        mode: costs.total(costs.monthly_estimate(with_values(settings, nat_gateway=mode)))
        for mode in ("single", "per_az")
    }
    assert totals["per_az"] - totals["single"] == pytest.approx(sum(single.values()), abs=0.02)


def test_the_regions_with_nat_prices_price_the_nat_gateways(settings):
    for region in ("us-east-1", "us-east-2", "ap-south-1", "ap-southeast-1", "eu-west-1"):
        items = costs.monthly_estimate(
            with_values(settings, aws_region=region, nat_gateway="single")
        )
        (amount,) = [amount for item, amount, _ in items if item == "NAT gateways: 1"]
        assert amount is not None and amount > 0, region
