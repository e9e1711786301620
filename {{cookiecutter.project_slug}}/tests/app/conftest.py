"""Fixtures for the app tests, which run against a real PostgreSQL.

Without DATABASE_URL, a throwaway embedded PostgreSQL is started for the session (see
devtools/embedded_postgres.py). With DATABASE_URL set, that database is used instead, as a
scratch database: the tests drop and recreate the visit_counter table in it. Tests that
stop, freeze or reconfigure the server need the embedded one and are skipped otherwise.
"""

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest

from devtools import processes
from {{ cookiecutter.package_name }} import config, create_app

TEST_DATABASE = "app_test"

# Words that must never reach an HTTP client: they would mean an exception leaked.
LEAK_MARKERS = (
    "Traceback",
    "psycopg2",
    "OperationalError",
    "DeadlineExceeded",
    "PoolTimeout",
    "Exception",
    "Error:",
    "FATAL",
    "connection",
    "socket",
)


class PostgresTarget:
    """Where the tests' database lives, and (if embedded) a handle to control the server."""

    def __init__(self, url: str, embedded=None):
        self.url = url
        self.embedded = embedded

    def execute(self, *statements: str, url: str | None = None) -> list:
        """Run statements as the admin user in autocommit mode; rows of the last one."""
        conn = psycopg2.connect(url or self.url)
        try:
            conn.autocommit = True
            rows: list = []
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
                    rows = cur.fetchall() if cur.description else []
            return rows
        finally:
            conn.close()

    def query(self, statement: str, params: tuple = ()) -> list:
        """Run one parameterised query as the admin user; its rows."""
        conn = psycopg2.connect(self.url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run in parallel (pytest-xdist, `make test`), each worker starts its own embedded server;
    but workers would share the one database of DATABASE_URL, so then the app tests all run
    on one worker (`--dist loadgroup`), one after another."""
    if os.environ.get("DATABASE_URL"):
        here = Path(__file__).parent
        for item in items:
            if here in item.path.parents:
                item.add_marker(pytest.mark.xdist_group("database_url"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresTarget]:
    external = os.environ.get("DATABASE_URL")
    if external:
        yield PostgresTarget(external)
        return
    from devtools.embedded_postgres import EmbeddedPostgres

    workdir = tempfile.mkdtemp(prefix="pgtest-")
    server = EmbeddedPostgres(Path(workdir) / "pgdata").start()
    try:
        server.create_database(TEST_DATABASE)
        yield PostgresTarget(server.url(TEST_DATABASE), embedded=server)
    finally:
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure the app explicitly; nothing leaks in from the caller's shell."""
    for key in (*config.ENV_KEYS, "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def database_url(postgres: PostgresTarget) -> Iterator[str]:
    """The test database, with no visit_counter table: every test starts from scratch."""
    postgres.execute("DROP TABLE IF EXISTS visit_counter")
    yield postgres.url


@pytest.fixture
def embedded(postgres: PostgresTarget) -> Iterator:
    """The embedded server, for tests that stop or freeze it; running again afterwards."""
    if postgres.embedded is None:
        pytest.skip("needs the embedded PostgreSQL (DATABASE_URL is set)")
    yield postgres.embedded
    postgres.embedded.ensure_running()


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable]:
    """Build apps on the test database; their connection pools are closed afterwards."""
    apps = []
    lock = threading.Lock()

    def factory(**overrides):
        settings = {"TESTING": True, "DATABASE_URL": database_url, **overrides}
        app = create_app(settings)
        with lock:
            apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["database"].close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def assert_no_internals() -> Callable[[str], None]:
    """Check that a response body shows no exception text or driver details."""

    def check(body: str) -> None:
        for marker in LEAK_MARKERS:
            assert marker.lower() not in body.lower(), f"{marker!r} leaked into: {body!r}"

    return check


@pytest.fixture
def free_port() -> int:
    return processes.free_port()


@pytest.fixture
def start_gunicorn(database_url: str, free_port: int, tmp_path: Path) -> Iterator[Callable]:
    """Start gunicorn on the test database and wait until it is healthy; stopped afterwards.
    Keyword arguments are extra environment variables (WEB_CONCURRENCY="2", ...)."""
    servers: list[processes.Gunicorn] = []

    def start(**env: str) -> processes.Gunicorn:
        log_path = tmp_path / "gunicorn.log"
        server = processes.start_gunicorn(database_url, free_port, log_path, env=env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
