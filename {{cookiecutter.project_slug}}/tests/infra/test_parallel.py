"""apply builds independent branches at the same time, like Terraform's graph walk."""

from __future__ import annotations

import time

from infra import engine
from infra.resources.shared.addresses import DB_INSTANCE, LOAD_BALANCER


def test_slow_waits_overlap_instead_of_adding_up(moto, infra, monkeypatch):
    """The database (5 to 15 minutes on AWS) and the load balancer are waited for in parallel
    branches, so a first apply lasts about the longer wait, not the sum of both.

    Each wait is stretched to 1.5 s, longer than the calls before the database's wait (the
    network ACL, the subnets, the subnet group) take on a loaded machine: run at the same
    time, the two waits overlap; run one after the other, they cannot. BENCHMARKS.md
    measures how close to the longest wait the apply comes.
    """
    slow = (DB_INSTANCE, LOAD_BALANCER)
    spans: dict[str, tuple[float, float]] = {}
    original_wait = engine.Context.wait

    def stretched_wait(self, address, verb, done, *args, **kwargs):
        started = time.monotonic()
        if verb == "creating" and address in slow:
            time.sleep(1.5)
        original_wait(self, address, verb, done, *args, **kwargs)
        spans[address] = (started, time.monotonic())

    monkeypatch.setattr(engine.Context, "wait", stretched_wait)

    assert infra("apply", "--auto-approve").code == 0

    assert set(slow) <= set(spans), f"apply did not wait for both: {sorted(spans)}"
    (db_start, db_end), (lb_start, lb_end) = (spans[address] for address in slow)
    assert db_start < lb_end and lb_start < db_end, spans
