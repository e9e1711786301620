"""Desired state against actual state: plan, parallel apply in dependency order, destroy.

Every resource of the stack is a `Resource`: it reads what exists (read-only calls), says
what it should look like, and knows how to create, update and delete itself. The engine
compares the two Terraform-style and runs the changes, each resource in its own thread as
soon as the resources it depends on are done, so independent branches (the database and
the load balancer with the instances) are built at the same time.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from infra.aws import Aws, DeployError
from infra.validation import StackSettings


class _Unknown:
    def __repr__(self) -> str:
        return "(known after apply)"


UNKNOWN: Any = _Unknown()

CREATE, UPDATE, REPLACE, DELETE, NOOP = "create", "update", "replace", "delete", "no-op"


@dataclasses.dataclass(frozen=True)
class Change:
    attribute: str
    old: Any
    new: Any
    forces_replacement: bool = False


@dataclasses.dataclass
class Action:
    resource: Resource
    kind: str
    changes: list[Change] = dataclasses.field(default_factory=list)
    desired: dict | None = None
    error: str | None = None


class Printer:
    """Thread-safe output; progress lines come from many threads at once."""

    def __init__(self, write: Callable[[str], None] = print):
        self._write = write
        self._lock = threading.Lock()

    def __call__(self, line: str = "") -> None:
        with self._lock:
            self._write(line)


class Context:
    """What every resource needs: the settings, AWS, and the state the run has seen so far."""

    poll_seconds = 10.0
    progress_seconds = 10.0
    skip_final_snapshot = False
    default_sleep = staticmethod(time.sleep)

    def __init__(
        self,
        settings: StackSettings,
        aws: Aws,
        printer: Printer | None = None,
        image_tag: str | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        self.settings = settings
        self.aws = aws
        self.out = printer or Printer()
        self.image_tag_override = image_tag
        self.sleep = sleep or self.default_sleep
        self.state: dict[str, dict | None] = {}
        self._cache: dict[str, Any] = {}
        self._cache_lock = threading.RLock()

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        with self._cache_lock:
            if key not in self._cache:
                self._cache[key] = compute()
            return self._cache[key]

    def attr(self, address: str, key: str) -> Any:
        """An attribute of another resource as it exists now, or UNKNOWN until it is created."""
        actual = self.state.get(address)
        if actual is None:
            return UNKNOWN
        return actual.get(key, UNKNOWN)

    def wait(
        self,
        address: str,
        verb: str,
        done: Callable[[], bool],
        timeout_seconds: float = 3600,
        timed_out: Callable[[str], str] | None = None,
    ) -> None:
        """Poll `done()` until true, printing Terraform's "Still creating... [30s elapsed]".

        `timed_out(elapsed)` words the error when it takes longer than `timeout_seconds`.
        """
        started = time.monotonic()
        last_report = started
        while not done():
            now = time.monotonic()
            if now - started > timeout_seconds:
                elapsed = _duration(now - started)
                raise DeployError(
                    timed_out(elapsed)
                    if timed_out
                    else f"{address}: still not done after {elapsed}; "
                    "check it in the AWS console, then run the command again."
                )
            if now - last_report >= self.progress_seconds:
                self.out(f"{address}: Still {verb}... [{_duration(now - started)} elapsed]")
                last_report = now
            self.sleep(self.poll_seconds)


class Resource:
    """One AWS resource of the stack. Subclasses fill in the AWS calls."""

    address = ""
    depends_on: tuple[str, ...] = ()
    # Attributes that cannot change in place; a change to them means a new resource.
    immutable: tuple[str, ...] = ()
    # Why replacing this resource is unsafe, and what to do instead (None: replace is fine).
    replace_blocked: str | None = None
    # Shown under an in-place update in the plan, when it does more than the attributes say.
    update_note: str | None = None

    def read(self, ctx: Context) -> dict | None:
        """The resource as it exists (attributes named like `desired`), or None."""
        raise NotImplementedError

    def desired(self, ctx: Context) -> dict | None:
        """The attributes it should have; None when it should not exist."""
        raise NotImplementedError

    def create(self, ctx: Context, desired: dict) -> None:
        raise NotImplementedError

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        raise NotImplementedError

    def delete(self, ctx: Context, actual: dict) -> None:
        raise NotImplementedError

    def check_destroy(self, ctx: Context, actual: dict) -> None:
        """Raise DeployError when destroy must not start, before anything is deleted."""

    def resource_id(self, actual: dict) -> str:
        return str(actual.get("id", ""))


def diff(actual: dict, desired: dict, immutable: Iterable[str]) -> list[Change]:
    changes = []
    for key, new in desired.items():
        if key.startswith("_"):
            continue
        old = actual.get(key)
        if new is UNKNOWN or old != new:
            changes.append(Change(key, old, new, key in immutable))
    return changes


def plan_resource(ctx: Context, resource: Resource) -> Action:
    actual = resource.read(ctx)
    ctx.state[resource.address] = actual
    desired = resource.desired(ctx)
    if desired is None:
        return Action(resource, DELETE if actual is not None else NOOP)
    if actual is None:
        return Action(resource, CREATE, desired=desired)
    changes = diff(actual, desired, resource.immutable)
    if not changes:
        return Action(resource, NOOP, desired=desired)
    if any(change.forces_replacement for change in changes):
        forced = ", ".join(c.attribute for c in changes if c.forces_replacement)
        error = None
        if resource.replace_blocked:
            error = (
                f"{resource.address}: {forced} cannot change in place. {resource.replace_blocked}"
            )
        return Action(resource, REPLACE, changes, desired, error)
    return Action(resource, UPDATE, changes, desired)


def plan(ctx: Context, resources: list[Resource]) -> list[Action]:
    """Read-only: what apply would do, in dependency order."""
    return [plan_resource(ctx, resource) for resource in resources]


def has_changes(actions: list[Action]) -> bool:
    return any(action.kind != NOOP for action in actions)


class DependencyFailed(Exception):
    pass


def _run_graph(
    resources: list[Resource],
    waits_for: Callable[[Resource], list[str]],
    work: Callable[[Resource], None],
) -> list[BaseException]:
    """Run `work(resource)` in threads, each after the resources `waits_for` names."""
    futures: dict[str, Future] = {}
    errors: list[BaseException] = []
    submitted = threading.Event()  # no thread looks a future up before all exist

    def run(resource: Resource) -> None:
        submitted.wait()
        for address in waits_for(resource):
            try:
                futures[address].result()
            except BaseException as error:
                raise DependencyFailed(address) from error
        try:
            work(resource)
        except BaseException as error:
            errors.append(error)
            raise

    with ThreadPoolExecutor(max_workers=max(1, len(resources)), thread_name_prefix="infra") as pool:
        for resource in resources:
            futures[resource.address] = pool.submit(run, resource)
        submitted.set()
    return errors


def apply(ctx: Context, actions: list[Action]) -> tuple[int, int, int]:
    """Carry out a plan; returns (added, changed, destroyed)."""
    by_address = {action.resource.address: action for action in actions}
    counts = {CREATE: 0, UPDATE: 0, DELETE: 0}
    counts_lock = threading.Lock()
    dependents: dict[str, list[str]] = {address: [] for address in by_address}
    for action in actions:
        for dependency in action.resource.depends_on:
            if dependency in dependents:
                dependents[dependency].append(action.resource.address)

    def waits_for(resource: Resource) -> list[str]:
        if by_address[resource.address].kind == DELETE:
            return dependents[resource.address]  # what still uses it changes first
        return [
            address
            for address in resource.depends_on
            if address in by_address and by_address[address].kind != DELETE
        ]

    def work(resource: Resource) -> None:
        kind = _apply_one(ctx, by_address[resource.address])
        if kind in counts:
            with counts_lock:
                counts[kind] += 1

    errors = _run_graph([action.resource for action in actions], waits_for, work)
    if errors:
        raise errors[0]
    return counts[CREATE], counts[UPDATE], counts[DELETE]


def _apply_one(ctx: Context, action: Action) -> str:
    """Re-plans one resource now that its dependencies exist, then changes it."""
    resource = action.resource
    started = time.monotonic()
    if action.kind == DELETE:
        actual = ctx.state.get(resource.address)
        if actual is None:
            return NOOP
        ctx.out(f"{resource.address}: Destroying... [id={resource.resource_id(actual)}]")
        resource.delete(ctx, actual)
        ctx.state[resource.address] = None
        ctx.out(f"{resource.address}: Destruction complete after {_elapsed(started)}")
        return DELETE
    current = plan_resource(ctx, resource) if action.kind != CREATE else action
    if current.kind == CREATE:
        desired = resource.desired(ctx)
        ctx.out(f"{resource.address}: Creating...")
        resource.create(ctx, desired)
        actual = resource.read(ctx)
        ctx.state[resource.address] = actual
        ctx.out(
            f"{resource.address}: Creation complete after {_elapsed(started)} "
            f"[id={resource.resource_id(actual or {})}]"
        )
        return CREATE
    if current.kind == REPLACE:
        raise DeployError(
            current.error
            or f"{resource.address} must be replaced: run "
            "`python -m infra destroy`, then apply again."
        )
    if current.kind == UPDATE:
        actual = ctx.state[resource.address]
        ctx.out(f"{resource.address}: Modifying... [id={resource.resource_id(actual)}]")
        resource.update(ctx, actual, current.desired, current.changes)
        ctx.state[resource.address] = resource.read(ctx)
        ctx.out(f"{resource.address}: Modifications complete after {_elapsed(started)}")
        return UPDATE
    return NOOP


def check_destroy(ctx: Context, resources: list[Resource]) -> None:
    """Raise the first refusal (e.g. deletion protection) of what exists, deleting nothing."""
    for resource in resources:
        actual = ctx.state.get(resource.address)
        if actual is not None:
            resource.check_destroy(ctx, actual)


def destroy(ctx: Context, resources: list[Resource]) -> int:
    """Delete what exists, each resource after everything that depends on it."""
    check_destroy(ctx, resources)  # every refusal comes before the first deletion
    existing = [r for r in resources if ctx.state.get(r.address) is not None]
    addresses = {r.address for r in existing}
    dependents: dict[str, list[str]] = {address: [] for address in addresses}
    for resource in existing:
        for dependency in resource.depends_on:
            if dependency in dependents:
                dependents[dependency].append(resource.address)
    actions = [Action(resource, DELETE) for resource in existing]
    by_address = {action.resource.address: action for action in actions}

    def work(resource: Resource) -> None:
        _apply_one(ctx, by_address[resource.address])

    errors = _run_graph(existing, lambda r: dependents[r.address], work)
    if errors:
        raise errors[0]
    return len(existing)


def _elapsed(started: float) -> str:
    return _duration(time.monotonic() - started)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"
