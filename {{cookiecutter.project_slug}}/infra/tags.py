"""The tags that mark a resource as part of one stack, and how each service spells them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from infra.validation import StackSettings

MANAGED_BY = "three-tier-flask"
STACK_KEYS = ("Project", "Stack", "ManagedBy")


def stack_tags(settings: StackSettings, name: str | None = None) -> dict[str, str]:
    tags = {"Project": settings.project_slug, "Stack": settings.stack_name, "ManagedBy": MANAGED_BY}
    if name is not None:
        tags["Name"] = name
    return tags


def as_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def from_list(tag_list: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tag_list or ()}


def ours(actual: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    """The managed subset of a resource's tags; tags others added are left alone."""
    return {key: actual[key] for key in wanted if key in actual}


def belongs(actual: Mapping[str, str], settings: StackSettings) -> bool:
    return all(actual.get(key) == value for key, value in stack_tags(settings).items())


def ec2_filters(settings: StackSettings, name: str | None = None) -> list[dict]:
    return [
        {"Name": f"tag:{key}", "Values": [value]}
        for key, value in stack_tags(settings, name).items()
    ]


def ec2_tag_specification(resource_type: str, tags: Mapping[str, str]) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": as_list(tags)}]
