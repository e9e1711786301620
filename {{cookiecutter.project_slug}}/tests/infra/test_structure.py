"""The deploy tool's shape: tiers that do not reach into each other, and an order that comes
from the dependency graph alone, not from how stack.py lists the resources."""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path

from helpers import PROJECT_ROOT

from infra import engine, stack
from infra.aws import Aws
from infra.engine import Resource

RESOURCES = PROJECT_ROOT / "infra" / "resources"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_resource_modules(path: Path) -> set[str]:
    """The infra.resources modules a file imports (`from X import name` counts X.name when
    that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("infra.resources"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PROJECT_ROOT / Path(*candidate.split("."))).with_suffix(".py").exists()
                found.add(candidate if is_module else node.module)
    return found


def defines_resources(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.ClassDef)
        and any(getattr(base, "id", None) == "Resource" for base in node.bases)
        for node in tree.body
    )


def test_no_resource_module_imports_a_sibling_resource_module():
    """A tier module may use shared/ and helper modules that define no resource; a tier's
    __init__ only assembles its own modules."""
    modules = {module_name(p): p for p in RESOURCES.rglob("*.py")}
    offences = []
    for name, path in modules.items():
        if path.name == "__init__.py":
            continue
        for imported in imported_resource_modules(path):
            target = modules.get(imported)
            shared = imported.startswith("infra.resources.shared")
            if target is not None and not shared and defines_resources(target):
                offences.append(f"{name} imports {imported}")
            if name.startswith("infra.resources.shared") and not shared:
                offences.append(f"{name} (shared) imports the tier module {imported}")
    assert offences == []
    # The rule is not vacuous: the tiers do define resources, and use shared/.
    assert sum(defines_resources(p) for p in modules.values()) >= 10


def shuffled(seed: int):
    def resources(ctx) -> list[Resource]:
        items = ORIGINAL(ctx)
        random.Random(seed).shuffle(items)  # noqa: S311 - a reproducible order, not a secret
        return items

    return resources


ORIGINAL = stack.resources


def without_costs(text: str) -> str:
    return text.split("Estimated monthly cost")[0]


def test_shuffling_the_stack_list_changes_neither_the_plan_nor_the_order_of_changes(
    moto, infra, monkeypatch
):
    reference = infra("plan")
    assert reference.code == 2, reference.err
    for seed in (1, 2, 3):
        monkeypatch.setattr(stack, "resources", shuffled(seed))
        again = infra("plan")
        assert without_costs(again.out) == without_costs(reference.out)


def test_a_shuffled_stack_applies_each_resource_after_everything_it_depends_on(
    moto, infra, monkeypatch, project
):
    monkeypatch.setattr(stack, "resources", shuffled(7))
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    started = [
        match.group(1) for match in re.finditer(r"^(\S+): Creating\.\.\.$", result.out, re.M)
    ]
    completed = [
        match.group(1) for match in re.finditer(r"^(\S+): Creation complete", result.out, re.M)
    ]
    ctx = engine.Context(project.settings, Aws(project.settings.aws_region))
    graph = {resource.address: resource.depends_on for resource in ORIGINAL(ctx)}
    assert sorted(started) == sorted(completed)
    assert len(started) > 30
    for address in started:
        began = result.out.index(f"{address}: Creating...")
        for dependency in graph[address]:
            if dependency in completed:
                assert result.out.index(f"{dependency}: Creation complete") < began, (
                    f"{address} started before {dependency} was created"
                )
