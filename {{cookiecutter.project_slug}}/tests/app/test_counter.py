"""The visit counter on a real PostgreSQL: counting, persistence, atomicity, schema setup."""

import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from werkzeug.serving import make_server


def test_counts_visits_one_by_one(client):
    for expected in (1, 2, 3):
        response = client.get("/")
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        assert response.get_data(as_text=True).strip() == f"Page visited {expected} times!"


def test_count_is_kept_in_the_database_not_the_app(make_app):
    first = make_app().test_client()
    first.get("/")
    first.get("/")
    second = make_app().test_client()  # another instance, same database
    assert second.get("/").get_data(as_text=True).strip() == "Page visited 3 times!"


def test_concurrent_requests_are_counted_exactly(make_app):
    """150 requests at once through a threaded HTTP server: every count from 1 to 150 is
    handed out exactly once, so no increment was lost or duplicated."""
    app = make_app(DB_POOL_SIZE=8)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/"

    def visit(_: int) -> str:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local URL
            return response.read().decode()

    try:
        with ThreadPoolExecutor(max_workers=50) as executor:
            bodies = list(executor.map(visit, range(150)))
    finally:
        server.shutdown()
        thread.join(5)

    counts = sorted(int(body.split()[2]) for body in bodies)
    assert counts == list(range(1, 151))
    assert app.extensions["database"].count() == 150


def test_schema_creation_is_safe_when_instances_start_together(make_app, postgres):
    """Eight apps created at the same moment on an empty database all start, and the
    table ends up with exactly one counter row at zero."""
    barrier = threading.Barrier(8)
    errors = []

    def start() -> None:
        barrier.wait()
        try:
            make_app()
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert postgres.execute("SELECT id, count FROM visit_counter") == [(1, 0)]


def test_schema_creation_is_idempotent(app, postgres):
    client = app.test_client()
    client.get("/")
    app.extensions["database"].ensure_schema()
    app.extensions["database"].ensure_schema()
    assert postgres.execute("SELECT id, count FROM visit_counter") == [(1, 1)]
    assert client.get("/").get_data(as_text=True).strip() == "Page visited 2 times!"


def test_recreates_the_table_if_it_disappears(client, postgres):
    client.get("/")
    postgres.execute("DROP TABLE visit_counter")
    response = client.get("/")
    assert response.status_code == 200
    assert response.get_data(as_text=True).strip() == "Page visited 1 times!"


def test_unknown_path_is_404(client):
    assert client.get("/no-such-page").status_code == 404


def test_connections_are_pooled_not_opened_per_request(app):
    database = app.extensions["database"]
    client = app.test_client()

    def backend_pid() -> int:
        with database.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            return cur.fetchone()[0]

    first = backend_pid()
    for _ in range(20):
        client.get("/")
    assert backend_pid() == first


def test_sessions_carry_the_server_side_statement_timeout(app):
    with app.extensions["database"].cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "1500ms"
