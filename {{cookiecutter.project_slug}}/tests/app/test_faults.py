"""Faults against the production server: gunicorn with gunicorn.conf.py, as in the container.

Exactness under load, a stopped database and a frozen one (SIGSTOP: it accepts connections
but never answers). The in-process variants of the outage tests are in test_health.py.
"""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.load_generator import run as generate_load
from devtools.processes import http_get
from {{ cookiecutter.package_name }}.config import HEALTH_CHECK_PATH
from {{ cookiecutter.package_name }}.db import READ_SQL

UNHEALTHY = {"status": "unhealthy", "database": "unreachable"}


def timed_get(url: str) -> tuple[int, str, float]:
    started = time.monotonic()
    status, body = http_get(url, timeout=10)
    return status, body, time.monotonic() - started


def wait_for_health(base_url: str, within: float) -> None:
    """Poll the health check until it passes."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if http_get(base_url + HEALTH_CHECK_PATH, timeout=within)[0] == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"not healthy again within {within} s")


def visits(body: str) -> int:
    return int(body.split()[2])  # "Page visited N times!"


@pytest.mark.exhaustive
def test_20000_requests_from_32_clients_raise_the_count_by_exactly_20000(start_gunicorn, postgres):
    """32 keep-alive clients, 20,000 requests through every worker and thread: the count
    rises by exactly 20,000, and every request is answered 200. (About 7 s on 2 idle CPUs;
    no time limit is asserted, so a busy CI machine cannot make it fail.)"""
    server = start_gunicorn()
    result = generate_load(server.base_url + "/", clients=32, requests=20_000, timeout=10)

    assert result["sent"] == 20_000
    assert (result["ok_total"], result["errors_total"]) == (20_000, 0), result
    assert postgres.query(READ_SQL) == [(20_000,)]


def test_stopped_database_gives_503_and_gunicorn_recovers_without_restart(
    start_gunicorn, embedded, assert_no_internals
):
    server = start_gunicorn(WEB_CONCURRENCY="2")
    status, body = http_get(server.base_url + "/")
    assert (status, visits(body)) == (200, 1)
    workers_before = server.worker_pids(expect=2)

    embedded.stop()
    status, body, elapsed = timed_get(server.base_url + HEALTH_CHECK_PATH)
    assert (status, json.loads(body)) == (503, UNHEALTHY)
    assert elapsed < 3
    status, body, elapsed = timed_get(server.base_url + "/")
    assert status == 503
    assert elapsed < 3
    assert_no_internals(body)

    embedded.restart()
    restarted = time.monotonic()
    wait_for_health(server.base_url, within=5)
    status, body = http_get(server.base_url + "/")
    assert time.monotonic() - restarted < 5
    assert (status, visits(body)) == (200, 2)  # counting on from where it was
    assert server.worker_pids() == workers_before  # recovered in place: no worker restarted


def test_frozen_database_gives_503_in_time_and_no_worker_gets_stuck(
    start_gunicorn, embedded, assert_no_internals
):
    """A SIGSTOPped server: connections and queries hang with no error at all. Only the
    app's own deadline ends each request, so health checks keep answering, in parallel."""
    server = start_gunicorn(WEB_CONCURRENCY="2")
    assert http_get(server.base_url + "/")[0] == 200  # leave pooled connections that will hang
    workers_before = server.worker_pids(expect=2)
    threads = int(os.environ.get("GUNICORN_THREADS", "4"))

    embedded.freeze()
    try:
        # As many concurrent health checks as a worker has threads, twice over: each is
        # answered within 3 s, so no thread stays stuck on the frozen database.
        for _ in range(2):
            with ThreadPoolExecutor(max_workers=threads) as executor:
                results = list(
                    executor.map(lambda _: timed_get(server.base_url + HEALTH_CHECK_PATH),
                                 range(threads))
                )  # fmt: skip
            assert [status for status, _, _ in results] == [503] * threads
            assert all(json.loads(body) == UNHEALTHY for _, body, _ in results)
            assert max(elapsed for _, _, elapsed in results) < 3, results
        status, body, elapsed = timed_get(server.base_url + "/")
        assert status == 503
        assert elapsed < 3
        assert_no_internals(body)
    finally:
        embedded.thaw()
    thawed = time.monotonic()

    wait_for_health(server.base_url, within=5)
    status, body = http_get(server.base_url + "/")
    assert time.monotonic() - thawed < 5
    # At least 2: an UPDATE sent just before its request gave up still runs once thawed.
    assert status == 200 and visits(body) >= 2
    assert server.worker_pids() == workers_before  # gunicorn did not have to kill any worker
