"""Plans shown the way Terraform shows them."""

from __future__ import annotations

import json

from infra.engine import CREATE, DELETE, NOOP, REPLACE, UNKNOWN, UPDATE, Action

SYMBOLS = {CREATE: "+", UPDATE: "~", REPLACE: "-/+", DELETE: "-"}
HEADINGS = {
    CREATE: "will be created",
    UPDATE: "will be updated in-place",
    REPLACE: "must be replaced",
    DELETE: "will be destroyed",
}


def show(value) -> str:
    if value is UNKNOWN:
        return "(known after apply)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {show(item)}" for key, item in value.items()) + "}"
    return json.dumps(str(value))


def counts(actions: list[Action]) -> tuple[int, int, int]:
    add = sum(a.kind in (CREATE, REPLACE) for a in actions)
    change = sum(a.kind == UPDATE for a in actions)
    destroy = sum(a.kind in (DELETE, REPLACE) for a in actions)
    return add, change, destroy


def summary(actions: list[Action]) -> str:
    add, change, destroy = counts(actions)
    return f"Plan: {add} to add, {change} to change, {destroy} to destroy."


def render(actions: list[Action], state: dict) -> list[str]:
    changing = [a for a in actions if a.kind != NOOP]
    if not changing:
        return ["No changes. Your infrastructure matches the configuration."]
    lines = [
        "Resource actions are indicated with the following symbols:",
        "  + create",
        "  ~ update in-place",
        "  - destroy",
        "-/+ destroy and then create replacement",
        "",
        "infra will perform the following actions:",
        "",
    ]
    for action in changing:
        address, symbol = action.resource.address, SYMBOLS[action.kind]
        lines.append(f"  # {address} {HEADINGS[action.kind]}")
        lines.append(f"  {symbol} {address}")
        if action.kind == CREATE:
            for key, value in (action.desired or {}).items():
                if not key.startswith("_"):
                    lines.append(f"      + {key} = {show(value)}")
        elif action.kind == DELETE:
            actual = state.get(address) or {}
            lines.append(f"      - id = {show(action.resource.resource_id(actual))}")
        else:
            if action.kind == UPDATE and action.resource.update_note:
                lines.append(f"      # {action.resource.update_note}")
            for change in action.changes:
                note = "  # forces replacement" if change.forces_replacement else ""
                lines.append(
                    f"      ~ {change.attribute} = {show(change.old)} -> {show(change.new)}{note}"
                )
        lines.append("")
    lines.append(summary(actions))
    lines.extend(f"Error: {action.error}" for action in actions if action.error)
    return lines


def render_destroy(addresses: list[tuple[str, str]]) -> list[str]:
    lines = ["infra will destroy the following resources:", ""]
    for address, resource_id in addresses:
        lines += [
            f"  # {address} will be destroyed",
            f"  - {address}",
            f"      - id = {show(resource_id)}",
            "",
        ]
    lines.append(f"Plan: 0 to add, 0 to change, {len(addresses)} to destroy.")
    return lines
