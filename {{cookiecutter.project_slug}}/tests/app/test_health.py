"""The health check and behaviour during database outages (stopped or frozen server)."""

import time
from concurrent.futures import ThreadPoolExecutor

from {{ cookiecutter.package_name }}.config import HEALTH_CHECK_PATH

HEALTHY = {"status": "healthy", "database": "connected"}
UNHEALTHY = {"status": "unhealthy", "database": "unreachable"}


def timed_get(client, path):
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def wait_for_health(client, within: float) -> float:
    """Poll the health check until it passes; return how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if client.get(HEALTH_CHECK_PATH).status_code == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not healthy again within {within} s")


def test_health_reports_a_reachable_database(client):
    response = client.get(HEALTH_CHECK_PATH)
    assert response.status_code == 200
    assert response.get_json() == HEALTHY
    assert response.headers["Cache-Control"] == "no-store"


def test_health_does_not_count_as_a_visit(client):
    client.get(HEALTH_CHECK_PATH)
    client.get(HEALTH_CHECK_PATH)
    assert client.get("/").get_data(as_text=True).strip() == "Page visited 1 times!"


def test_stopped_database_gives_503_quickly_and_recovers(client, embedded, assert_no_internals):
    client.get("/")
    embedded.stop()

    response, elapsed = timed_get(client, HEALTH_CHECK_PATH)
    assert response.status_code == 503
    assert response.get_json() == UNHEALTHY
    assert elapsed < 3
    assert_no_internals(response.get_data(as_text=True))

    response, elapsed = timed_get(client, "/")
    assert response.status_code == 503
    assert response.mimetype == "text/plain"
    assert elapsed < 3
    assert_no_internals(response.get_data(as_text=True))

    embedded.restart()
    assert wait_for_health(client, within=5) < 5
    # The same app (no restart) counts on from where it was.
    assert client.get("/").get_data(as_text=True).strip() == "Page visited 2 times!"


def test_frozen_database_gives_503_within_3_seconds(client, embedded, assert_no_internals):
    """A SIGSTOPped server accepts nothing and answers nothing; only the app's own
    client-side deadline can end the wait."""
    client.get("/")  # leave a pooled connection that will hang
    embedded.freeze()

    response, elapsed = timed_get(client, HEALTH_CHECK_PATH)
    assert response.status_code == 503
    assert response.get_json() == UNHEALTHY
    assert elapsed < 3
    assert_no_internals(response.get_data(as_text=True))

    response, elapsed = timed_get(client, "/")  # needs a new connection: connecting hangs
    assert response.status_code == 503
    assert elapsed < 3
    assert_no_internals(response.get_data(as_text=True))

    embedded.thaw()
    assert wait_for_health(client, within=5) < 5
    assert client.get("/").get_data(as_text=True).strip() == "Page visited 2 times!"


def test_parallel_health_checks_on_a_frozen_database_all_answer_in_time(make_app, embedded):
    """More callers than pooled connections: waiting for the pool is inside the deadline."""
    app = make_app(DB_POOL_SIZE=2)
    embedded.freeze()

    def check(_: int):
        return timed_get(app.test_client(), HEALTH_CHECK_PATH)

    with ThreadPoolExecutor(max_workers=6) as executor:
        results = list(executor.map(check, range(6)))
    embedded.thaw()

    assert [response.status_code for response, _ in results] == [503] * 6
    assert max(elapsed for _, elapsed in results) < 3


def test_app_starts_while_the_database_is_down(make_app, embedded):
    """The app comes up without its database and creates the schema once it appears."""
    embedded.stop()
    client = make_app().test_client()
    assert client.get(HEALTH_CHECK_PATH).status_code == 503
    assert client.get("/").status_code == 503

    embedded.restart()
    assert wait_for_health(client, within=5) < 5
    assert client.get("/").get_data(as_text=True).strip() == "Page visited 1 times!"
