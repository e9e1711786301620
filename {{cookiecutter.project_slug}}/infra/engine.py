"""Desired state against actual state: order, parallel plan, parallel apply, destroy.

Every resource of the stack is a `Resource`: it reads what exists (read-only calls), says
what it should look like, and knows how to create, update and delete itself. The engine
sorts the resources by their `depends_on` (`order`), so the order of any list given to it
does not matter, and walks that graph on a bounded pool of threads: a resource is read,
created, changed or deleted as soon as the resources it waits for are done, so independent
branches (the database, and the load balancer with the instances) go at the same time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from infra.aws import VISIBILITY_DELAYS, Aws, DeployError, is_not_found
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
    """What every resource needs: the settings, AWS, and the state the run has seen so far.

    `state` maps an address to what `read()` returned (None: it does not exist). Resource
    code reads it through `attr()` and `actual()`, which check, during the parallel reads of
    `plan` and `read_all`, that the resource only looks at its own dependencies.
    """

    poll_seconds = 10.0
    progress_seconds = 10.0
    skip_final_snapshot = False
    default_sleep = staticmethod(time.sleep)
    # Threads that read and change resources at once; each makes its own AWS calls.
    max_workers = 16

    def __init__(
        self,
        settings: StackSettings,
        aws: Aws,
        printer: Printer | None = None,
        image_tag: str | None = None,
        sleep: Callable[[float], None] | None = None,
        update_image: bool = False,
    ):
        self.settings = settings
        self.aws = aws
        self.out = printer or Printer()
        self.image_tag_override = image_tag
        self.update_image = update_image
        # Lines for the user after the plan (`note`), each once.
        self.notes: list[str] = []
        self.sleep = sleep or self.default_sleep
        self.state: dict[str, dict | None] = {}
        self._state_lock = threading.Lock()
        self._cache: dict[str, Any] = {}
        self._cache_locks: dict[str, threading.Lock] = {}
        self._cache_lock = threading.Lock()
        self._listings: dict[str, Any] = {}
        self._changing = False
        # In a thread of a parallel read: (address being read, addresses it may look at).
        self._reading = threading.local()

    def note(self, line: str) -> None:
        with self._cache_lock:
            if line not in self.notes:
                self.notes.append(line)

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """`compute()` once per run: for what a run does not change (the region's zones)."""
        return self._once(self._cache, key, compute)

    def listing(self, key: str, read: Callable[[], Any]) -> Any:
        """One read shared by sibling resources (all the stack's subnets in one call), until
        this run changes something; from then on every call reads AWS again."""
        if self._changing:
            return read()
        return self._once(self._listings, key, read)

    def changing(self) -> None:
        """Called before the run's first change: shared listings are out of date from now."""
        self._changing = True

    def _once(self, store: dict[str, Any], key: str, compute: Callable[[], Any]) -> Any:
        # One lock per key: threads wanting other keys are not held up by this AWS call.
        with self._cache_lock:
            lock = self._cache_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in store:
                store[key] = compute()
            return store[key]

    def attr(self, address: str, key: str) -> Any:
        """An attribute of another resource as it exists now, or UNKNOWN until it is created."""
        actual = self.actual(address)
        if actual is None:
            return UNKNOWN
        return actual.get(key, UNKNOWN)

    def actual(self, address: str) -> dict | None:
        """The whole state of another resource as read so far; None when it does not exist."""
        scope = getattr(self._reading, "scope", None)
        if scope is not None and address not in scope[1]:
            raise RuntimeError(
                f"{scope[0]} reads {address}, which is not among its dependencies: "
                "add it to depends_on"
            )
        return self.state.get(address)

    def _store(self, address: str, actual: dict | None) -> None:
        """Record what a resource looks like now (None: gone); safe from any thread."""
        with self._state_lock:
            self.state[address] = actual

    @contextlib.contextmanager
    def _read_scope(self, address: str, allowed: frozenset[str]) -> Iterator[None]:
        self._reading.scope = (address, allowed)
        try:
            yield
        finally:
            self._reading.scope = None

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
        While creating or changing, NotFound means AWS does not list the resource yet (its
        APIs are eventually consistent): not done. A wait for a deletion handles NotFound
        itself, as done.
        """
        started = time.monotonic()
        last_report = started

        def finished() -> bool:
            try:
                return done()
            except Exception as error:
                if verb == "destroying" or not is_not_found(error):
                    raise
                return False

        while not finished():
            now = time.monotonic()
            if now - started > timeout_seconds:
                elapsed = duration(now - started)
                raise DeployError(
                    timed_out(elapsed)
                    if timed_out
                    else f"{address}: still not done after {elapsed}; "
                    "check it in the AWS console, then run the command again."
                )
            if now - last_report >= self.progress_seconds:
                self.out(f"{address}: Still {verb}... [{duration(now - started)} elapsed]")
                last_report = now
            self.sleep(self.poll_seconds)


class Resource:
    """One AWS resource of the stack. A subclass fills in the AWS calls and keeps this contract.

    address       Unique, Terraform-style: `aws_<type>.<name>`, or `aws_<type>.<name>[<i>]`
                  for one of several (`aws_subnet.public[0]`).
    depends_on    The address of every resource whose state read() or desired() use, each a
                  resource of the stack (check_graph). It alone gives the order: a resource is
                  read and created after these, deleted before them. While reading (plan,
                  read_all), looking at any resource but these, their own dependencies and
                  itself (ctx.attr, ctx.actual) raises RuntimeError: it may be mid-read.
    read          What exists, with read-only calls; None when it does not exist. Attributes
                  are named like desired()'s, plus `id` (progress lines show resource_id()).
    desired       What it should be; None when it should not exist (an existing one is then
                  deleted). A value known only once a dependency is created is UNKNOWN, which
                  is what ctx.attr() gives for a dependency that does not exist yet; the plan
                  shows "(known after apply)", and apply calls desired() again before create.
    `_` keys      In read() or desired(): carried along for the resource's own calls, never
                  compared, never shown in plans.
    immutable     Attributes that cannot change in place: a change to one means replacement,
                  which apply does not do (destroy, then apply).
    replace_blocked  Why replacing it is unsafe and what to do instead: the plan carries this
                  as the action's error and apply refuses.
    update_note   Shown under an in-place update in the plan, when it does more than the
                  changed attributes say (e.g. replaces the instances).
    create        Make it from `desired` and wait until dependents can use it.
    update        Change in place what `changes` lists (never an immutable attribute).
                  The engine reads the resource again after create and update.
    delete        Delete it and wait until what it depends on can be deleted. It must tolerate
                  the resource being half-gone (deleting already, parts of it deleted): an
                  interrupted destroy runs again.
    check_destroy Raise DeployError, read-only, when destroy must not start (e.g. deletion
                  protection); every check runs before the first deletion.

    Every method runs in a worker thread, at the same time as other resources': share data
    only through ctx (ctx.cached for lookups made once).
    """

    address = ""
    depends_on: tuple[str, ...] = ()
    immutable: tuple[str, ...] = ()
    replace_blocked: str | None = None
    update_note: str | None = None

    def read(self, ctx: Context) -> dict | None:
        raise NotImplementedError

    def desired(self, ctx: Context) -> dict | None:
        raise NotImplementedError

    def create(self, ctx: Context, desired: dict) -> None:
        raise NotImplementedError

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        raise NotImplementedError

    def delete(self, ctx: Context, actual: dict) -> None:
        raise NotImplementedError

    def check_destroy(self, ctx: Context, actual: dict) -> None:
        return None

    def resource_id(self, actual: dict) -> str:
        return str(actual.get("id", ""))


def order(resources: Iterable[Resource], *, strict: bool = False) -> list[Resource]:
    """The resources in dependency order, ties broken by address: the same for any input order.

    Raises DeployError for two resources with one address and for a dependency cycle
    ("dependency cycle: a -> b -> a", each depending on the next). A depends_on entry that
    names no resource of `resources` is ignored, so a partial list works (bootstrap-ci's role
    without the OIDC provider it depends on); with `strict` it is an error (see check_graph).
    """
    by_address: dict[str, Resource] = {}
    for resource in resources:
        if resource.address in by_address:
            raise DeployError(f"{resource.address} is the address of two resources of the stack")
        by_address[resource.address] = resource
    dependencies: dict[str, set[str]] = {}
    for address in sorted(by_address):
        for dependency in by_address[address].depends_on:
            if strict and dependency not in by_address:
                raise DeployError(
                    f"{address} depends on {dependency}, which is not part of the stack"
                )
        dependencies[address] = {d for d in by_address[address].depends_on if d in by_address}
    dependents: dict[str, list[str]] = {address: [] for address in by_address}
    for address, uses in dependencies.items():
        for dependency in uses:
            dependents[dependency].append(address)
    waiting = {address: len(uses) for address, uses in dependencies.items()}
    ready = [address for address, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    result = []
    while ready:  # Kahn's algorithm, taking the smallest address that is ready
        address = heapq.heappop(ready)
        result.append(by_address[address])
        for dependent in dependents[address]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    if len(result) < len(by_address):
        stuck = {address for address, count in waiting.items() if count}
        raise DeployError("dependency cycle: " + " -> ".join(_cycle(dependencies, stuck)))
    return result


def _cycle(dependencies: dict[str, set[str]], stuck: set[str]) -> list[str]:
    """One cycle among the resources Kahn's algorithm could not order, from its first address."""
    path: list[str] = []
    seen: dict[str, int] = {}
    address = min(stuck)
    while address not in seen:  # every stuck resource depends on another stuck one
        seen[address] = len(path)
        path.append(address)
        address = min(dependencies[address] & stuck)
    cycle = path[seen[address] :]
    first = cycle.index(min(cycle))
    cycle = cycle[first:] + cycle[:first]
    return [*cycle, cycle[0]]


def check_graph(resources: Iterable[Resource]) -> None:
    """The whole stack's graph is sound: unique addresses, no cycle, and every depends_on
    names a resource of the stack. Raises DeployError naming the addresses."""
    order(resources, strict=True)


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
    """Reads one resource into ctx.state and compares it with what it should be."""
    actual = resource.read(ctx)
    ctx._store(resource.address, actual)
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
    """Read-only: what apply would do, in `order()`. Reads run in parallel along the graph."""
    actions: dict[str, Action] = {}

    def work(resource: Resource) -> None:
        actions[resource.address] = plan_resource(ctx, resource)

    ordered = _read_graph(ctx, resources, work)
    return [actions[resource.address] for resource in ordered]


def read_all(ctx: Context, resources: list[Resource]) -> list[Resource]:
    """Reads every resource into ctx.state, in parallel along the graph; returns `order()`."""
    return _read_graph(ctx, resources, lambda r: ctx._store(r.address, r.read(ctx)))


def _read_graph(
    ctx: Context, resources: list[Resource], work: Callable[[Resource], None]
) -> list[Resource]:
    """Runs `work` on each resource after its dependencies, allowing it to look only at the
    state of itself and its transitive dependencies; raises the first error."""
    ordered = order(resources)
    allowed: dict[str, frozenset[str]] = {}
    for resource in ordered:  # dependencies first, so theirs are known
        seen = {resource.address}
        for dependency in resource.depends_on:
            seen |= allowed.get(dependency, {dependency})
        allowed[resource.address] = frozenset(seen)

    def guarded(resource: Resource) -> None:
        with ctx._read_scope(resource.address, allowed[resource.address]):
            work(resource)

    errors = _run_graph(ordered, lambda r: list(r.depends_on), guarded, ctx.max_workers)
    if errors:
        raise errors[0]
    return ordered


def has_changes(actions: list[Action]) -> bool:
    return any(action.kind != NOOP for action in actions)


def _run_graph(
    resources: list[Resource],
    waits_for: Callable[[Resource], list[str]],
    work: Callable[[Resource], None],
    max_workers: int,
) -> list[BaseException]:
    """Run `work(resource)` on at most `max_workers` threads, each resource once those named
    by `waits_for` (among `resources`) have succeeded; returns the errors, first raised first.

    This thread schedules: it submits a resource only when it can start, so no worker ever
    waits for another and a small pool cannot deadlock. What a failure would unblock never
    runs; independent branches go on. Among ready resources, the earliest in the list starts
    first.
    """
    rank = {resource.address: index for index, resource in enumerate(resources)}
    waiting = {
        resource.address: {a for a in waits_for(resource) if a in rank and a != resource.address}
        for resource in resources
    }
    unblocks: dict[str, list[str]] = {address: [] for address in rank}
    for address, blockers in waiting.items():
        for blocker in blockers:
            unblocks[blocker].append(address)
    errors: list[BaseException] = []
    errors_lock = threading.Lock()

    def run(resource: Resource) -> None:
        try:
            work(resource)
        except BaseException as error:
            with errors_lock:
                errors.append(error)
            raise

    ready = [rank[address] for address, blockers in waiting.items() if not blockers]
    heapq.heapify(ready)
    running: dict[Future, int] = {}
    finished = 0
    workers = max(1, min(max_workers, len(resources)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="infra")
    try:
        while ready or running:
            while ready and len(running) < workers:
                index = heapq.heappop(ready)
                running[pool.submit(run, resources[index])] = index
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=running.__getitem__):
                address = resources[running.pop(future)].address
                finished += 1
                if future.exception() is not None:
                    continue
                for dependent in unblocks[address]:
                    waiting[dependent].discard(address)
                    if not waiting[dependent]:
                        heapq.heappush(ready, rank[dependent])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if not errors and finished < len(resources):
        raise RuntimeError("the resources wait for each other in a cycle")
    return errors


def apply(ctx: Context, actions: list[Action]) -> tuple[int, int, int]:
    """Carry out a plan, in parallel along the graph; returns (added, changed, destroyed)."""
    by_address = {action.resource.address: action for action in actions}
    ordered = order(action.resource for action in actions)
    counts = {CREATE: 0, UPDATE: 0, DELETE: 0}
    counts_lock = threading.Lock()
    dependents = _dependents(ordered)

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

    errors = _run_graph(ordered, waits_for, work, ctx.max_workers)
    if errors:
        raise errors[0]
    return counts[CREATE], counts[UPDATE], counts[DELETE]


def _dependents(resources: list[Resource]) -> dict[str, list[str]]:
    dependents: dict[str, list[str]] = {resource.address: [] for resource in resources}
    for resource in resources:
        for dependency in resource.depends_on:
            if dependency in dependents:
                dependents[dependency].append(resource.address)
    return dependents


def _apply_one(ctx: Context, action: Action) -> str:
    """Re-plans one resource now that its dependencies exist, then changes it."""
    resource = action.resource
    started = time.monotonic()
    if action.kind == DELETE:
        actual = ctx.state.get(resource.address)
        if actual is None:
            return NOOP
        ctx.out(f"{resource.address}: Destroying... [id={resource.resource_id(actual)}]")
        ctx.changing()
        resource.delete(ctx, actual)
        ctx._store(resource.address, None)
        ctx.out(f"{resource.address}: Destruction complete after {_elapsed(started)}")
        return DELETE
    current = plan_resource(ctx, resource) if action.kind != CREATE else action
    if current.kind == CREATE:
        desired = resource.desired(ctx)
        ctx.out(f"{resource.address}: Creating...")
        ctx.changing()
        resource.create(ctx, desired)
        actual = _read_back(ctx, resource)
        ctx._store(resource.address, actual)
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
        ctx.changing()
        resource.update(ctx, actual, current.desired, current.changes)
        ctx._store(resource.address, resource.read(ctx))
        ctx.out(f"{resource.address}: Modifications complete after {_elapsed(started)}")
        return UPDATE
    return NOOP


def _read_back(ctx: Context, resource: Resource) -> dict:
    """The resource as AWS lists it after its create, waiting while AWS does not list it yet
    (an empty answer or NotFound; aws.VISIBILITY_DELAYS says why and how long)."""
    for delay in (*VISIBILITY_DELAYS, None):
        try:
            actual = resource.read(ctx)
        except Exception as error:
            if not is_not_found(error) or delay is None:
                raise
            actual = None
        if actual is not None:
            return actual
        if delay is not None:
            ctx.sleep(delay)
    raise DeployError(
        f"{resource.address}: created, but AWS does not list it yet after "
        f"{sum(VISIBILITY_DELAYS)} s: run the same command again in a few minutes; it is "
        "found then, not created twice."
    )


def check_destroy(ctx: Context, resources: list[Resource]) -> None:
    """Raise the first refusal (e.g. deletion protection) of what exists, deleting nothing."""
    for resource in order(resources):
        actual = ctx.state.get(resource.address)
        if actual is not None:
            resource.check_destroy(ctx, actual)


def destroy(ctx: Context, resources: list[Resource]) -> int:
    """Delete what exists (as read into ctx.state), each after everything that depends on it."""
    check_destroy(ctx, resources)  # every refusal comes before the first deletion
    existing = [r for r in order(resources) if ctx.state.get(r.address) is not None]
    dependents = _dependents(existing)
    by_address = {resource.address: Action(resource, DELETE) for resource in existing}

    def work(resource: Resource) -> None:
        _apply_one(ctx, by_address[resource.address])

    errors = _run_graph(existing, lambda r: dependents[r.address], work, ctx.max_workers)
    if errors:
        raise errors[0]
    return len(existing)


def _elapsed(started: float) -> str:
    return duration(time.monotonic() - started)


def duration(seconds: float) -> str:
    """Terraform's way of saying how long: 45s, 3m5s."""
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"
