"""Checks of the settings against the AWS account and region, run before anything changes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from infra.aws import Aws, DeployError, translate
from infra.engine import Context
from infra.resources.network.nat import present_gateways
from infra.resources.network.subnets import existing_subnets, zone_for
from infra.resources.shared.ec2 import stack_listing
from infra.resources.shared.permissions import reads


def known_regions(aws: Aws) -> set[str]:
    regions: set[str] = set()
    for partition in aws.session.get_available_partitions():
        regions.update(aws.session.get_available_regions("ec2", partition_name=partition))
    return regions


def check_region(aws: Aws) -> None:
    if aws.region not in known_regions(aws):
        raise DeployError(
            f"Unknown AWS region {aws.region!r}: set aws_region in stack.toml to a "
            "region such as us-east-1 or ap-south-1."
        )


def check_credentials(aws: Aws) -> str:
    return aws.caller_identity()["Arn"]


def check_region_enabled(aws: Aws) -> None:
    regions = aws.ec2.describe_regions(AllRegions=True, RegionNames=[aws.region])["Regions"]
    if regions and regions[0].get("OptInStatus") == "not-opted-in":
        raise DeployError(
            f"Region {aws.region} is not enabled for this account: enable it in the "
            "AWS console (Account > AWS Regions) or pick another aws_region."
        )


def all_zones(ctx: Context) -> list[dict]:
    return ctx.cached(
        "all_zones",
        lambda: ctx.aws.ec2.describe_availability_zones(AllAvailabilityZones=True)[
            "AvailabilityZones"
        ],
    )


def read_ahead(ctx: Context) -> None:
    """The reads every command starts with, made at once instead of one after another (at a
    real region's 150 ms a call, seven calls in a row are a second)."""
    ec2 = ctx.aws.ec2
    reads = [
        ctx.aws.caller_identity,
        lambda: all_zones(ctx),
        lambda: existing_subnets(ctx),
        lambda: present_gateways(ctx),
        lambda: stack_listing(ctx, ec2.describe_addresses, "Addresses"),
        lambda: stack_listing(ctx, ec2.describe_route_tables, "RouteTables"),
    ]
    with ThreadPoolExecutor(max_workers=len(reads), thread_name_prefix="read-ahead") as pool:
        for future in [pool.submit(read) for read in reads]:
            future.result()


def check_zones(ctx: Context) -> list[str]:
    """The zones the subnets use; each must exist in the region."""
    settings = ctx.settings
    existing = sorted(z["ZoneName"] for z in all_zones(ctx))
    for zone in settings.availability_zones:
        if zone not in existing:
            raise DeployError(
                f"Availability zone {zone} does not exist in {ctx.aws.region} (it has "
                f"{', '.join(existing)}): fix availability_zones in stack.toml."
            )
    return [zone_for(ctx, index) for index in range(settings.az_count)]


def check_instance_type(ctx: Context, zones: list[str]) -> None:
    instance_type = ctx.settings.app_instance_type
    offerings = ctx.aws.ec2.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": [instance_type]}],
    )["InstanceTypeOfferings"]
    offered = {offering["Location"] for offering in offerings}
    missing = [zone for zone in zones if zone not in offered]
    if missing:
        raise DeployError(
            f"Instance type {instance_type} is not offered in {', '.join(missing)}: "
            "pick another app_instance_type or other availability_zones in stack.toml."
        )


def check_db_class(ctx: Context) -> str | None:
    """None when orderable; a note when the region publishes no data (moto has none)."""
    rds, settings = ctx.aws.rds, ctx.settings
    options = rds.describe_orderable_db_instance_options(
        Engine="postgres", DBInstanceClass=settings.db_instance_class, MaxRecords=100
    )["OrderableDBInstanceOptions"]
    if any(
        option["EngineVersion"].split(".")[0] == settings.db_engine_version for option in options
    ):
        return None
    if (
        options
        or rds.describe_orderable_db_instance_options(Engine="postgres", MaxRecords=20)[
            "OrderableDBInstanceOptions"
        ]
    ):
        # Options are paged by version; an empty match on the first page is checked in full.
        pages = rds.get_paginator("describe_orderable_db_instance_options").paginate(
            Engine="postgres", DBInstanceClass=settings.db_instance_class
        )
        if any(
            option["EngineVersion"].split(".")[0] == settings.db_engine_version
            for page in pages
            for option in page["OrderableDBInstanceOptions"]
        ):
            return None
        raise DeployError(
            f"DB instance class {settings.db_instance_class} is not offered for "
            f"PostgreSQL {settings.db_engine_version} in {ctx.aws.region}: pick "
            "another db_instance_class (for example db.t3.micro) in stack.toml."
        )
    return "the region lists no orderable DB options (an emulator?); DB class not checked"


def preflight(ctx: Context) -> None:
    """The checks every command runs before reading or changing the stack."""
    check_region(ctx.aws)
    read_ahead(ctx)
    check_credentials(ctx.aws)
    zones = check_zones(ctx)
    check_instance_type(ctx, zones)


def validate(ctx: Context, report) -> int:
    """Every AWS check in turn, reporting each; returns the number of failures."""
    failures = 0
    steps = [
        ("region", lambda: check_region(ctx.aws)),
        ("credentials", lambda: f"calling as {check_credentials(ctx.aws)}"),
        ("region enabled", lambda: check_region_enabled(ctx.aws)),
    ]
    zones: list[str] = []

    def zones_step():
        zones.extend(check_zones(ctx))
        return f"subnets in {', '.join(zones)}"

    steps += [
        ("availability zones", zones_step),
        ("instance type", lambda: check_instance_type(ctx, zones) if zones else "skipped"),
        ("DB instance class", lambda: check_db_class(ctx)),
    ]

    for label, step in steps:
        try:
            note = step()
        except Exception as error:  # noqa: BLE001 - every failure is reported, then counted
            message = translate(error)
            if message is None:
                raise
            report(f"  FAIL {label}: {message}")
            failures += 1
            if label in ("region", "credentials"):
                break
            continue
        report(f"  ok   {label}" + (f" ({note})" if note else ""))
    return failures


def deploy_permissions(ctx: Context) -> list[dict]:
    """The checks' reads, which AWS does not scope to a resource."""
    return [
        reads(
            "ec2:DescribeAvailabilityZones",
            "ec2:DescribeInstanceTypeOfferings",
            "ec2:DescribeRegions",
            "rds:DescribeOrderableDBInstanceOptions",
        )
    ]
