"""The service model's constraints that botocore does not check on a call's parameters.

botocore validates a call's parameters client-side for types and required members only
(and `min` for some shapes). AWS also rejects a value outside its shape's `enum`, a string
longer than `max` or not matching `pattern`, a number outside `min`..`max`, and a list or
map with too few or too many entries. moto rarely checks any of those, so without this a
call that AWS would refuse passes every test. `problems(operation_model, params)` lists
each such violation with its path in the call, e.g.
`AddTags.Tags[1].Value: 300 characters, at most 256`.

What is checked, by shape type (from `shape.metadata` and `StringShape.enum`):
- string: `enum`, `min`/`max` as a length in characters, `pattern` (see below);
- integer, long, float, double: `min`/`max` as values;
- list, map: `min`/`max` as a number of entries, then each member (map keys and values);
- structure: each member present in the parameters.
Blobs, timestamps, booleans and documents are not checked.

Patterns are Java regular expressions. Each is compiled with Python's `re` and must match
the whole value (`fullmatch`, as the Java services' `Matcher.matches()` does); one that does
not compile in Python (`\\p{L}`, `\\z`...) or that Python reads differently (a nested set
`[a-z[0-9]]`, which Python warns about) is skipped and kept in `SKIPPED_PATTERNS`.

`install()` makes every botocore client in the process run `problems` on each call, after
botocore's own validation and before the request is signed, sent or answered by a
`before-call` handler, and raise an AssertionError naming the violations; each violation is
also kept in `VIOLATIONS` for a test fixture to check, in case the code under test caught it.

Each shape is turned once into a checker function, kept per service model and shape name,
and a subtree without any constraint gets none: a call costs one walk over the parameters
that can break a rule, not over the model.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable

from botocore.client import BaseClient
from botocore.model import OperationModel, Shape

# Patterns of the models that Python's `re` cannot read as Java does: not checked.
SKIPPED_PATTERNS: set[str] = set()

Checker = Callable[[object, str, list[str]], None]

_NUMBERS = ("integer", "long", "float", "double")
_PATTERNS: dict[str, re.Pattern[str] | None] = {}
# (service, api version, shape name) -> checker, None when the shape has nothing to check.
_SHAPES: dict[tuple[str, str, str], Checker | None] = {}
# (service, api version, operation) -> checker of its input, None when nothing to check.
_OPERATIONS: dict[tuple[str, str, str], Checker | None] = {}
_LOCK = threading.RLock()

# Every violation since a fixture last took them, as "service Operation.path: what".
VIOLATIONS: list[str] = []


def install() -> None:
    """Checks each call of every botocore client against its model, from now on.

    It wraps `BaseClient._convert_to_request_dict`, which every client calls with the final
    parameters (after the `provide-client-params` and `before-parameter-build` handlers,
    which may add some) and which runs botocore's own validation first: a value of the
    wrong type is botocore's ParamValidationError, as without this check. Installed once for
    the process and never removed, so the calls of module-scoped fixtures are checked too.
    """
    with _LOCK:
        original = BaseClient._convert_to_request_dict
        if getattr(original, "checks_the_model", False):
            return

        def convert(self, api_params, operation_model, *args, **kwargs):
            request = original(self, api_params, operation_model, *args, **kwargs)
            found = problems(operation_model, api_params)
            if found:
                service = operation_model.service_model.service_name
                with _LOCK:
                    VIOLATIONS.extend(f"{service} {problem}" for problem in found)
                raise AssertionError(
                    f"{service} {operation_model.name}: AWS rejects these parameters "
                    f"(moto may not): {'; '.join(found)}"
                )
            return request

        convert.checks_the_model = True  # type: ignore[attr-defined]
        BaseClient._convert_to_request_dict = convert  # type: ignore[method-assign]


def take_violations() -> list[str]:
    """The violations recorded since the last call, forgotten here."""
    with _LOCK:
        taken = list(VIOLATIONS)
        VIOLATIONS.clear()
    return taken


def problems(operation_model: OperationModel, params: dict) -> list[str]:
    """Each violation of the operation's input constraints by `params`, as `path: what`."""
    service = operation_model.service_model
    key = (service.service_name, service.api_version, operation_model.name)
    try:
        check = _OPERATIONS[key]
    except KeyError:
        with _LOCK:
            shape = operation_model.input_shape
            check = None if shape is None else _checker(shape, key[:2], set())
            _OPERATIONS[key] = check
    found: list[str] = []
    if check is not None:
        check(params, operation_model.name, found)
    return found


def compiled_pattern(pattern: str) -> re.Pattern[str] | None:
    """The model's Java pattern as a Python one, or None (and kept in SKIPPED_PATTERNS)."""
    if pattern not in _PATTERNS:
        if _has_nested_set(pattern):
            _PATTERNS[pattern] = None
            SKIPPED_PATTERNS.add(pattern)
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # FutureWarning: a set Python reads differently
                _PATTERNS[pattern] = re.compile(pattern)
        except (re.error, FutureWarning, DeprecationWarning):
            _PATTERNS[pattern] = None
            SKIPPED_PATTERNS.add(pattern)
    return _PATTERNS[pattern]


def _has_nested_set(pattern: str) -> bool:
    """Whether a character class holds another (`[a-z[0-9]]`, a union in Java): Python reads
    the inner `[` as a character and ends the class at the first `]`."""
    first = None  # where the open class's first member is, None outside a class
    escaped = False
    for position, character in enumerate(pattern):
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif first is None:
            if character == "[":
                first = position + 1 + (pattern[position + 1 : position + 2] == "^")
        elif character == "[":
            return True
        elif character == "]" and position != first:  # a `]` first in a class is a member
            first = None
    return False


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _checker(shape: Shape, service: tuple[str, str], building: set[str]) -> Checker | None:
    key = (*service, shape.name)
    if key in _SHAPES:
        return _SHAPES[key]
    if key in building:  # a recursive shape: look its checker up when it is called
        return lambda value, path, found: _call(_SHAPES.get(key), value, path, found)
    building.add(key)
    check = _build(shape, service, building)
    building.discard(key)
    _SHAPES[key] = check
    return check


def _call(check: Checker | None, value: object, path: str, found: list[str]) -> None:
    if check is not None:
        check(value, path, found)


def _build(shape: Shape, service: tuple[str, str], building: set[str]) -> Checker | None:
    kind = shape.type_name
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if kind == "structure":
        members = [
            (name, check)
            for name, member in shape.members.items()
            if (check := _checker(member, service, building)) is not None
        ]
        return _structure(members) if members else None
    if kind == "list":
        return _collection(low, high, _checker(shape.member, service, building), None)
    if kind == "map":
        keys = _checker(shape.key, service, building)
        values = _checker(shape.value, service, building)
        return _collection(low, high, keys, values)
    if kind == "string":
        enum = list(getattr(shape, "enum", None) or [])
        pattern = shape.metadata.get("pattern")
        compiled = None if pattern is None else compiled_pattern(pattern)
        return _string(low, high, enum, pattern, compiled)
    if kind in _NUMBERS and (low is not None or high is not None):
        return _number(low, high)
    return None


def _structure(members: list[tuple[str, Checker]]) -> Checker:
    def check(value, path, found):
        if isinstance(value, dict):
            for name, member in members:
                if name in value:
                    member(value[name], f"{path}.{name}", found)

    return check


def _collection(
    low: int | None, high: int | None, first: Checker | None, second: Checker | None
) -> Checker | None:
    """A list (`first` checks each item) or a map (`first` its keys, `second` its values)."""
    if low is None and high is None and first is None and second is None:
        return None

    def check(value, path, found):
        if not isinstance(value, list | tuple | dict):
            return
        count = len(value)
        noun = "entries" if isinstance(value, dict) else "items"
        if low is not None and count < low:
            found.append(f"{path}: {count} {noun}, at least {low}")
        if high is not None and count > high:
            found.append(f"{path}: {count} {noun}, at most {high}")
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}[{key!r}]"
                if first is not None:
                    first(key, f"{where} (key)", found)
                if second is not None:
                    second(item, where, found)
        elif first is not None:
            for index, item in enumerate(value):
                first(item, f"{path}[{index}]", found)

    return check


def _string(
    low: int | None,
    high: int | None,
    enum: list[str],
    pattern: str | None,
    compiled: re.Pattern[str] | None,
) -> Checker | None:
    if low is None and high is None and not enum and compiled is None:
        return None
    allowed = frozenset(enum)

    def check(value, path, found):
        if not isinstance(value, str):
            return
        if allowed and value not in allowed:
            listed = ", ".join(repr(item) for item in enum[:12])
            more = f" (and {len(enum) - 12} more)" if len(enum) > 12 else ""
            found.append(f"{path}: {_show(value)} is not one of {listed}{more}")
        if low is not None and len(value) < low:
            found.append(f"{path}: {len(value)} characters, at least {low}")
        if high is not None and len(value) > high:
            found.append(f"{path}: {len(value)} characters, at most {high}")
        if compiled is not None and compiled.fullmatch(value) is None:
            found.append(f"{path}: {_show(value)} does not match the pattern {pattern}")

    return check


def _number(low: float | None, high: float | None) -> Checker:
    def check(value, path, found):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        if low is not None and value < low:
            found.append(f"{path}: {value}, at least {low}")
        if high is not None and value > high:
            found.append(f"{path}: {value}, at most {high}")

    return check
