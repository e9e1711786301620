"""Reads `stack.toml` into validated settings for one stack."""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from pathlib import Path
from typing import Any

from infra.validation import InvalidSettings, Problem, StackSettings, parse

DEFAULT_PATH = Path(__file__).parent.parent / "stack.toml"


def read_raw(path: Path = DEFAULT_PATH, stack: str | None = None) -> dict[str, Any]:
    """The file's tables merged into one flat mapping, with `[stacks.<stack>]` on top."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidSettings(
            [
                Problem(
                    "stack.toml",
                    str(path),
                    "the file does not exist",
                    "run commands from the project root",
                )
            ]
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidSettings(
            [Problem("stack.toml", str(path), f"is not valid TOML: {error}", 'key = "value"')]
        ) from None
    overrides = document.pop("stacks", {})
    flat: dict[str, Any] = {}
    for table in document.values():
        if isinstance(table, dict):
            flat.update(table)
    if stack is not None:
        flat["stack_name"] = stack
        flat.update(overrides.get(stack, {}))
    return flat


def unknown_keys(raw: dict[str, Any]) -> list[Problem]:
    """Keys no setting has: most often a typo that would otherwise be silently ignored."""
    known = [field.name for field in dataclasses.fields(StackSettings)]
    problems = []
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            problems.append(
                Problem(
                    key,
                    raw[key],
                    "is not a setting this tool knows",
                    close[0] if close else "see the comments in stack.toml",
                )
            )
    return problems


def load(path: Path = DEFAULT_PATH, stack: str | None = None) -> StackSettings:
    """Validated settings; raises `InvalidSettings` listing every problem."""
    raw = read_raw(path, stack)
    problems = unknown_keys(raw)
    if problems:
        raise InvalidSettings(problems)
    return parse(raw)
