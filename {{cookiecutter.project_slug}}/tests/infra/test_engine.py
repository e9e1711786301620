"""The engine on its own: order, parallel plan and apply, destroy, the graph's checks.

Pure Python: the resources are small fakes over an in-memory "cloud" dict; nothing here
calls boto3 or moto.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from infra.aws import DeployError
from infra.engine import (
    CREATE,
    DELETE,
    NOOP,
    REPLACE,
    UNKNOWN,
    Context,
    Printer,
    Resource,
    apply,
    check_graph,
    destroy,
    order,
    plan,
    read_all,
)

BARRIER_SECONDS = 2.0  # how long a Barrier waits for its other party before failing the test

Hook = Callable[[], None]


class Cloud:
    """What exists, by address, and a log of every change made to it."""

    def __init__(self) -> None:
        self.items: dict[str, dict] = {}
        self.log: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def put(self, verb: str, address: str, item: dict | None) -> None:
        with self._lock:
            if item is None:
                self.items.pop(address, None)
            else:
                self.items[address] = item
            self.log.append((verb, address))

    def changes(self, verb: str) -> list[str]:
        return [address for logged, address in self.log if logged == verb]


class Fake(Resource):
    """A resource whose desired state holds `value` and the id of each resource it `uses`."""

    def __init__(
        self,
        cloud: Cloud,
        address: str,
        depends_on: tuple[str, ...] = (),
        *,
        value: str = "v1",
        uses: tuple[str, ...] | None = None,
        on_read: Hook | None = None,
        on_create: Hook | None = None,
    ):
        self.cloud = cloud
        self.address = address
        self.depends_on = depends_on
        self.value = value
        self.uses = depends_on if uses is None else uses
        self.on_read = on_read
        self.on_create = on_create

    def read(self, ctx: Context) -> dict | None:
        if self.on_read:
            self.on_read()
        item = self.cloud.items.get(self.address)
        return dict(item) if item is not None else None

    def desired(self, ctx: Context) -> dict | None:
        return {"value": self.value, **{f"{a} id": ctx.attr(a, "id") for a in self.uses}}

    def create(self, ctx: Context, desired: dict) -> None:
        if self.on_create:
            self.on_create()
        self.cloud.put("create", self.address, {"id": f"id-{self.address}", **desired})

    def update(self, ctx: Context, actual: dict, desired: dict, changes) -> None:
        self.cloud.put("update", self.address, {**actual, **desired})

    def delete(self, ctx: Context, actual: dict) -> None:
        self.cloud.put("delete", self.address, None)


def context(max_workers: int | None = None) -> Context:
    # The engine never looks at the settings or at AWS: the fakes need neither.
    ctx = Context(None, None, Printer(lambda _line: None), sleep=lambda _seconds: None)  # type: ignore[arg-type]
    if max_workers is not None:
        ctx.max_workers = max_workers
    return ctx


def web_stack(cloud: Cloud, hooks: dict[str, dict] | None = None) -> list[Fake]:
    """A small 3-tier graph: the database and the load balancer are independent branches."""
    specs = {
        "aws_vpc.main": (),
        "aws_subnet.public[0]": ("aws_vpc.main",),
        "aws_subnet.private[0]": ("aws_vpc.main",),
        "aws_db_instance.main": ("aws_subnet.private[0]",),
        "aws_cloudwatch_metric_alarm.db_cpu": ("aws_db_instance.main",),
        "aws_lb.main": ("aws_subnet.public[0]",),
        "aws_autoscaling_group.app": ("aws_lb.main", "aws_db_instance.main"),
    }
    return [
        Fake(cloud, address, depends_on, **(hooks or {}).get(address, {}))
        for address, depends_on in specs.items()
    ]


def shuffled(resources: list[Fake], seed: int) -> list[Fake]:
    return random.Random(seed).sample(resources, len(resources))  # noqa: S311 - not a secret


def plan_and_apply(resources: list[Fake], ctx: Context | None = None) -> tuple[int, int, int]:
    """Like `python -m infra apply`: one context reads, plans and applies."""
    ctx = ctx or context()
    return apply(ctx, plan(ctx, resources))


def deploy(cloud: Cloud, resources: list[Fake]) -> None:
    plan_and_apply(resources)
    cloud.log.clear()


def test_apply_creates_each_resource_after_its_dependencies():
    cloud = Cloud()
    resources = shuffled(web_stack(cloud), seed=7)

    added, changed, destroyed = plan_and_apply(resources)

    assert (added, changed, destroyed) == (len(resources), 0, 0)
    created = cloud.changes("create")
    for resource in resources:
        for dependency in resource.depends_on:
            assert created.index(dependency) < created.index(resource.address)
    group = cloud.items["aws_autoscaling_group.app"]
    assert group["aws_lb.main id"] == "id-aws_lb.main"  # created with its dependency's real id


def test_a_shuffled_resource_list_gives_the_same_plan_and_the_same_order_of_changes():
    plans, change_orders = [], []
    for seed in range(5):
        cloud = Cloud()
        resources = shuffled(web_stack(cloud), seed)
        ctx = context()
        actions = plan(ctx, resources)
        plans.append([(a.resource.address, a.kind, a.changes, a.desired) for a in actions])
        ctx.max_workers = 1  # one change at a time, so their order can be compared
        apply(ctx, actions)
        change_orders.append(cloud.log)

    assert all(p == plans[0] for p in plans)
    assert all(log == change_orders[0] for log in change_orders)
    addresses = [address for address, *_ in plans[0]]
    assert addresses == [r.address for r in order(web_stack(Cloud()))]
    assert addresses[0] == "aws_vpc.main"
    assert change_orders[0] == [("create", address) for address in addresses]


def test_order_puts_dependencies_first_and_breaks_ties_by_address():
    cloud = Cloud()
    resources = [
        Fake(cloud, "aws_c.c"),
        Fake(cloud, "aws_b.b", ("aws_z.z",)),
        Fake(cloud, "aws_z.z"),
        Fake(cloud, "aws_a.a"),
    ]

    assert [r.address for r in order(resources)] == ["aws_a.a", "aws_c.c", "aws_z.z", "aws_b.b"]
    assert [r.address for r in order(reversed(resources))] == [
        "aws_a.a",
        "aws_c.c",
        "aws_z.z",
        "aws_b.b",
    ]


def test_independent_branches_are_created_at_the_same_time():
    cloud = Cloud()
    both = threading.Barrier(2, timeout=BARRIER_SECONDS)
    resources = web_stack(
        cloud,
        {"aws_db_instance.main": {"on_create": both.wait}, "aws_lb.main": {"on_create": both.wait}},
    )

    plan_and_apply(resources)  # one after the other: BrokenBarrierError

    assert "aws_autoscaling_group.app" in cloud.items


def test_reads_in_plan_run_at_the_same_time():
    cloud = Cloud()
    both = threading.Barrier(2, timeout=BARRIER_SECONDS)
    resources = web_stack(
        cloud,
        {"aws_db_instance.main": {"on_read": both.wait}, "aws_lb.main": {"on_read": both.wait}},
    )

    actions = plan(context(), resources)

    assert [a.kind for a in actions] == [CREATE] * len(resources)


def test_a_failure_skips_only_its_dependents_and_propagates_unchanged():
    cloud = Cloud()
    failure = DeployError("aws_db_instance.main: the database could not start")

    def fail() -> None:
        raise failure

    resources = [
        *web_stack(cloud, {"aws_db_instance.main": {"on_create": fail}}),
        Fake(cloud, "aws_instance.bastion", ("aws_subnet.public[0]",)),
    ]

    with pytest.raises(DeployError) as raised:
        plan_and_apply(resources)

    assert raised.value is failure
    assert {"aws_lb.main", "aws_instance.bastion"} <= set(cloud.items)
    assert "aws_cloudwatch_metric_alarm.db_cpu" not in cloud.items
    assert "aws_autoscaling_group.app" not in cloud.items  # it needs both branches


def test_a_failed_read_propagates_from_plan_and_read_all_and_skips_its_dependents():
    cloud = Cloud()
    failure = RuntimeError("throttled")
    reads: list[str] = []

    def fail() -> None:
        raise failure

    def reading(address: str) -> Hook:
        return lambda: reads.append(address)

    resources = web_stack(
        cloud,
        {
            "aws_db_instance.main": {"on_read": fail},
            "aws_cloudwatch_metric_alarm.db_cpu": {"on_read": reading("alarm")},
            "aws_lb.main": {"on_read": reading("lb")},
        },
    )

    for run in (plan, read_all):
        reads.clear()
        with pytest.raises(RuntimeError) as raised:
            run(context(), resources)
        assert raised.value is failure
        assert reads == ["lb"]


def test_read_all_reads_every_resource_into_state_and_returns_them_in_order():
    cloud = Cloud()
    deploy(cloud, web_stack(cloud))
    resources = shuffled(
        [*web_stack(cloud), Fake(cloud, "aws_instance.never_created", ("aws_vpc.main",))], seed=3
    )
    ctx = context()

    ordered = read_all(ctx, resources)

    assert ordered == order(resources)
    assert ctx.state["aws_vpc.main"] == {"id": "id-aws_vpc.main", "value": "v1"}
    assert ctx.state["aws_instance.never_created"] is None
    assert set(ctx.state) == {r.address for r in resources}
    assert cloud.log == []


def test_replace_blocked_puts_the_error_on_the_action_and_apply_refuses():
    cloud = Cloud()
    database = Fake(cloud, "aws_db_instance.main")
    deploy(cloud, [database])
    database.value = "v2"
    database.immutable = ("value",)
    database.replace_blocked = "Take a snapshot, then restore it into a new stack."

    ctx = context()
    [action] = plan(ctx, [database])

    assert action.kind == REPLACE
    assert action.error == (
        "aws_db_instance.main: value cannot change in place. "
        "Take a snapshot, then restore it into a new stack."
    )
    with pytest.raises(DeployError, match="Take a snapshot"):
        apply(ctx, [action])
    assert cloud.log == []


def test_unknown_values_flow_to_dependents_until_their_dependency_exists():
    cloud = Cloud()
    vpc = Fake(cloud, "aws_vpc.main")
    subnet = Fake(cloud, "aws_subnet.public[0]", ("aws_vpc.main",))

    ctx = context()
    actions = plan(ctx, [subnet, vpc])

    assert [(a.resource.address, a.kind) for a in actions] == [
        ("aws_vpc.main", CREATE),
        ("aws_subnet.public[0]", CREATE),
    ]
    vpc_id = actions[1].desired["aws_vpc.main id"]
    assert vpc_id is UNKNOWN
    assert repr(vpc_id) == "(known after apply)"
    apply(ctx, actions)
    assert cloud.items["aws_subnet.public[0]"]["aws_vpc.main id"] == "id-aws_vpc.main"
    assert [a.kind for a in plan(context(), [vpc, subnet])] == [NOOP, NOOP]


def test_a_resource_no_longer_wanted_is_deleted_after_what_uses_it():
    cloud = Cloud()
    deploy(cloud, web_stack(cloud))

    class Unwanted(Fake):
        def desired(self, ctx: Context) -> dict | None:
            return None

    resources = [
        Unwanted(cloud, r.address, r.depends_on) if r.address.startswith("aws_subnet") else r
        for r in web_stack(cloud)
    ]
    for resource in resources:  # the users move off the subnets, the subnets go afterwards
        if resource.address in ("aws_lb.main", "aws_db_instance.main"):
            resource.value = "v2"
    ctx = context()
    actions = plan(ctx, resources)
    assert sorted(a.resource.address for a in actions if a.kind == DELETE) == [
        "aws_subnet.private[0]",
        "aws_subnet.public[0]",
    ]

    assert apply(ctx, actions) == (0, 2, 2)

    log = cloud.log
    assert log.index(("update", "aws_lb.main")) < log.index(("delete", "aws_subnet.public[0]"))
    assert log.index(("update", "aws_db_instance.main")) < log.index(
        ("delete", "aws_subnet.private[0]")
    )


def test_destroy_deletes_dependents_before_their_dependencies():
    cloud = Cloud()
    deploy(cloud, web_stack(cloud))
    resources = shuffled(web_stack(cloud), seed=11)
    ctx = context()
    read_all(ctx, resources)

    assert destroy(ctx, resources) == len(resources)

    assert cloud.items == {}
    deleted = cloud.changes("delete")
    for resource in resources:
        for dependency in resource.depends_on:
            assert deleted.index(resource.address) < deleted.index(dependency)


def test_a_cycle_is_an_error_naming_its_addresses_in_order():
    cloud = Cloud()
    resources = [
        Fake(cloud, "aws_x.c", ("aws_x.a",)),
        Fake(cloud, "aws_x.b", ("aws_x.c",)),
        Fake(cloud, "aws_x.a", ("aws_x.b",)),
        Fake(cloud, "aws_x.after", ("aws_x.a",)),
        Fake(cloud, "aws_x.free"),
    ]
    message = "dependency cycle: aws_x.a -> aws_x.b -> aws_x.c -> aws_x.a"

    for check in (order, check_graph, lambda r: plan(context(), r)):
        with pytest.raises(DeployError) as raised:
            check(resources)
        assert str(raised.value) == message


def test_a_dependency_outside_the_list_is_an_error_for_the_whole_stack_only():
    cloud = Cloud()
    role = Fake(cloud, "aws_iam_role.deploy", ("aws_iam_openid_connect_provider.github",))
    policy = Fake(cloud, "aws_iam_role_policy.deploy", ("aws_iam_role.deploy",))

    with pytest.raises(DeployError) as raised:
        check_graph([policy, role])

    assert str(raised.value) == (
        "aws_iam_role.deploy depends on aws_iam_openid_connect_provider.github, "
        "which is not part of the stack"
    )
    actions = plan(context(), [policy, role])  # a partial list, such as bootstrap-ci's
    assert [a.resource.address for a in actions] == [role.address, policy.address]
    assert actions[0].desired["aws_iam_openid_connect_provider.github id"] is UNKNOWN


def test_two_resources_with_one_address_are_an_error():
    cloud = Cloud()

    with pytest.raises(DeployError, match=r"aws_vpc\.main is the address of two resources"):
        order([Fake(cloud, "aws_vpc.main"), Fake(cloud, "aws_vpc.main")])


def test_reading_a_resource_outside_the_dependencies_fails_the_plan():
    cloud = Cloud()
    resources = [
        Fake(cloud, "aws_vpc.main"),
        Fake(cloud, "aws_lb.main", ("aws_vpc.main",), uses=("aws_vpc.main", "aws_vpc.other")),
        Fake(cloud, "aws_vpc.other"),
    ]
    message = (
        "aws_lb.main reads aws_vpc.other, which is not among its dependencies: add it to depends_on"
    )

    with pytest.raises(RuntimeError) as raised:
        plan(context(), resources)
    assert str(raised.value) == message


def test_a_plan_read_may_look_at_its_transitive_dependencies_and_itself():
    cloud = Cloud()
    seen: dict[str, object] = {}

    class Group(Fake):
        def desired(self, ctx: Context) -> dict | None:
            seen["vpc"] = ctx.actual("aws_vpc.main")
            seen["self"] = ctx.actual(self.address)
            return super().desired(ctx)

    resources = [
        Fake(cloud, "aws_vpc.main"),
        Fake(cloud, "aws_subnet.public[0]", ("aws_vpc.main",)),
        Group(
            cloud, "aws_autoscaling_group.app", ("aws_subnet.public[0]",), uses=("aws_vpc.main",)
        ),
    ]

    actions = plan(context(), resources)

    assert [a.kind for a in actions] == [CREATE] * 3
    assert seen == {"vpc": None, "self": None}
    assert actions[2].desired["aws_vpc.main id"] is UNKNOWN


def test_outside_plan_reads_any_resource_may_be_looked_at():
    cloud = Cloud()
    created: list[object] = []

    def look_anywhere() -> None:  # during apply: no restriction
        created.append(ctx.attr("aws_vpc.other", "id"))

    resources = [Fake(cloud, "aws_vpc.main", on_create=look_anywhere), Fake(cloud, "aws_vpc.other")]
    ctx = context()
    actions = plan(ctx, resources)
    apply(ctx, actions)

    assert ctx.attr("aws_vpc.main", "id") == "id-aws_vpc.main"
    assert ctx.actual("aws_lb.missing") is None
    assert created in ([UNKNOWN], ["id-aws_vpc.other"])


def test_a_capped_pool_with_a_long_chain_and_many_independent_resources_does_not_deadlock():
    cloud = Cloud()
    lock = threading.Lock()
    running = {"now": 0, "most": 0}

    def count() -> None:
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        time.sleep(0.001)
        with lock:
            running["now"] -= 1

    chain = [
        Fake(
            cloud,
            f"aws_chain.link[{i}]",
            (f"aws_chain.link[{i - 1}]",) if i else (),
            on_create=count,
        )
        for i in range(40)
    ]
    independent = [Fake(cloud, f"aws_free.item[{i}]", on_create=count) for i in range(40)]
    resources = [*reversed(chain), *independent]
    results: dict[str, object] = {}

    def run() -> None:
        ctx = context(max_workers=3)
        results["counts"] = apply(ctx, plan(ctx, resources))
        ctx = context(max_workers=3)
        read_all(ctx, resources)
        results["destroyed"] = destroy(ctx, resources)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=10)

    assert not worker.is_alive(), "the engine deadlocked"
    assert results == {"counts": (80, 0, 0), "destroyed": 80}
    assert running["most"] <= 3


class EventuallyConsistent(Fake):
    """A cloud that lists a new resource only after `hidden_reads` reads have missed it, as
    AWS's eventually consistent APIs do (Amazon EC2 API Reference, "Eventual consistency in
    the Amazon EC2 API")."""

    def __init__(self, *args, hidden_reads: int, not_found: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.hidden_reads = hidden_reads
        self.not_found = not_found

    def read(self, ctx: Context) -> dict | None:
        if self.address in self.cloud.items and self.hidden_reads:
            self.hidden_reads -= 1
            if self.not_found:
                raise ClientError({"Error": {"Code": "InvalidGroup.NotFound"}}, "Describe")
            return None
        return super().read(ctx)


@pytest.mark.parametrize("not_found", [False, True])
def test_a_resource_aws_does_not_list_yet_after_its_create_is_read_again(not_found):
    cloud = Cloud()
    vpc = EventuallyConsistent(cloud, "aws_vpc.main", hidden_reads=3, not_found=not_found)
    subnet = Fake(cloud, "aws_subnet.a", ("aws_vpc.main",))
    assert plan_and_apply([vpc, subnet]) == (2, 0, 0)
    # The subnet got the VPC's real id, not "(known after apply)".
    assert cloud.items["aws_subnet.a"]["aws_vpc.main id"] == "id-aws_vpc.main"


def test_a_resource_aws_never_lists_is_one_clear_error_not_a_second_create():
    cloud = Cloud()
    vpc = EventuallyConsistent(cloud, "aws_vpc.main", hidden_reads=100)
    with pytest.raises(DeployError, match="created, but AWS does not list it yet"):
        plan_and_apply([vpc])
    assert [entry for entry in cloud.log if entry[0] == "create"] == [("create", "aws_vpc.main")]
