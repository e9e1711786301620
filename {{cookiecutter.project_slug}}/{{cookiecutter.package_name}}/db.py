"""The database tier: a connection pool, the schema, the visit counter and the health ping.

Every database call runs under a client-side deadline (``DB_QUERY_TIMEOUT``) that covers
waiting for a pooled connection, connecting and the query itself. It is enforced by a psycopg2
wait callback, so even a database that stops answering altogether (no reply, no TCP reset)
cannot hold a request for longer. A connection that failed in any way is closed and dropped
from the pool; an idle pooled connection that the server has closed is noticed and dropped
before use. The app therefore recovers by itself when the database comes back.
"""

import contextlib
import logging
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from flask import Flask, current_app

from .config import DatabaseSettings, database_settings
from .db_credentials import CredentialsUnavailable, SecretCredentials

log = logging.getLogger(__name__)

SCHEMA_LOCK_ID = 7_465_231_001  # any constant shared by every instance of this app

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS visit_counter (
    id smallint PRIMARY KEY CHECK (id = 1),
    count bigint NOT NULL DEFAULT 0 CHECK (count >= 0)
)
"""
SEED_SQL = "INSERT INTO visit_counter (id, count) VALUES (1, 0) ON CONFLICT (id) DO NOTHING"
INCREMENT_SQL = "UPDATE visit_counter SET count = count + 1 WHERE id = 1 RETURNING count"
READ_SQL = "SELECT count FROM visit_counter WHERE id = 1"

SCHEMA_TIMEOUT = 10.0  # seconds, at startup: it may wait for another instance's schema lock
HEALTH_TIMEOUT = 2.0  # seconds; the health check answers well within 3 s


class DatabaseUnavailable(Exception):
    """The database could not be reached or did not answer in time."""


class DeadlineExceeded(psycopg2.OperationalError):
    """A database call ran past its client-side deadline."""


class PoolTimeout(Exception):
    """No pooled connection became free in time."""


# ---------------------------------------------------------------------------
# Client-side deadline
# ---------------------------------------------------------------------------

_local = threading.local()


class deadline:
    """``with deadline(seconds):`` gives every database call that this thread makes in the
    block ``seconds`` to finish. (A class: it runs on every request, and is cheaper than a
    generator-based context manager.)"""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self) -> float:
        self.previous = getattr(_local, "deadline", None)
        _local.deadline = until = time.monotonic() + self.seconds
        return until

    def __exit__(self, *exc_info) -> None:
        _local.deadline = self.previous


def wait_with_deadline(conn: psycopg2.extensions.connection) -> None:
    """psycopg2 wait callback: wait for the socket, but never past the thread's deadline.

    On ``DeadlineExceeded`` psycopg2 closes the connection, so it is never reused.
    """
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        until = getattr(_local, "deadline", None)
        timeout_ms = None
        if until is not None:
            remaining = until - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded("the database did not answer in time")
            timeout_ms = max(1, int(remaining * 1000))
        poller = select.poll()
        if state == psycopg2.extensions.POLL_READ:
            poller.register(conn.fileno(), select.POLLIN)
        elif state == psycopg2.extensions.POLL_WRITE:
            poller.register(conn.fileno(), select.POLLOUT)
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        poller.poll(timeout_ms)


def _is_idle_and_open(conn: psycopg2.extensions.connection) -> bool:
    """True if an idle pooled connection still looks usable, without a round trip.

    An idle connection has nothing to read. If its socket is readable, the server has sent
    an error (it was shut down or terminated the session) or closed it: drop it.
    """
    if conn.closed:
        return False
    if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        return False
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return not poller.poll(0)


def _close_quietly(conn: psycopg2.extensions.connection) -> None:
    with contextlib.suppress(psycopg2.Error):  # the connection is being thrown away anyway
        conn.close()


# ---------------------------------------------------------------------------
# Connection pool
# ---------------------------------------------------------------------------


class ConnectionPool:
    """A small thread-safe pool: at most ``size`` connections, LIFO reuse, bounded waits."""

    def __init__(self, connect: Callable[[], psycopg2.extensions.connection], size: int):
        self._connect = connect
        self._size = size
        self._idle: deque[psycopg2.extensions.connection] = deque()
        self._open = 0  # idle + in use
        self._cond = threading.Condition()
        self._closed = False

    def acquire(self, timeout: float) -> psycopg2.extensions.connection:
        """A connection, opened if needed; PoolTimeout if none is free within ``timeout``."""
        until = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise PoolTimeout("the pool is closed")
                while self._idle:
                    conn = self._idle.pop()
                    if _is_idle_and_open(conn):
                        return conn
                    _close_quietly(conn)
                    self._open -= 1
                if self._open < self._size:
                    self._open += 1
                    break
                remaining = until - time.monotonic()
                if remaining <= 0:
                    raise PoolTimeout("no database connection became free in time")
                self._cond.wait(remaining)
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def release(self, conn: psycopg2.extensions.connection, discard: bool = False) -> None:
        """Give a connection back; broken or discarded ones are closed, not pooled."""
        reusable = (
            not discard
            and not self._closed
            and not conn.closed
            and conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        )
        if not reusable:
            _close_quietly(conn)
        with self._cond:
            if reusable:
                self._idle.append(conn)
            else:
                self._open -= 1
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            while self._idle:
                _close_quietly(self._idle.pop())
                self._open -= 1
            self._cond.notify_all()

    @property
    def idle_count(self) -> int:
        return len(self._idle)


# ---------------------------------------------------------------------------
# The database
# ---------------------------------------------------------------------------


def _describe(exc: Exception) -> str:
    """A one-line description of a failure, for the server's log (never for clients)."""
    detail = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {detail[0]}" if detail else type(exc).__name__


def _is_auth_failure(exc: psycopg2.OperationalError) -> bool:
    return getattr(exc, "pgcode", None) in ("28P01", "28000") or (
        "authentication failed" in str(exc).lower()
    )


class Database:
    """The app's database: pooled connections, schema creation, counter and ping."""

    def __init__(self, settings: DatabaseSettings):
        self.settings = settings
        self.credentials = SecretCredentials(settings.secret_arn) if settings.secret_arn else None
        self.pool = ConnectionPool(self._connect, settings.pool_size)
        self._schema_ready = False
        # Process-wide: every psycopg2 connection now waits through our deadline-aware callback.
        psycopg2.extensions.set_wait_callback(wait_with_deadline)

    def _open_connection(self, user: str | None, password: str | None):
        conn = psycopg2.connect(**self.settings.connect_kwargs(user=user, password=password))
        # Each single statement is its own transaction: one round trip per visit instead of three
        # (psycopg2 would send BEGIN, the UPDATE and COMMIT apart). Blocks that need a real
        # transaction use cursor(transaction=True).
        conn.autocommit = True
        return conn

    def _connect(self) -> psycopg2.extensions.connection:
        if self.credentials is None:
            return self._open_connection(None, None)
        current = self.credentials.get()
        try:
            return self._open_connection(current.username, current.password)
        except psycopg2.OperationalError as exc:
            if not _is_auth_failure(exc):
                raise
            log.warning("the database rejected the stored password; reading the secret again")
            fresh = self.credentials.refresh(rejected=current)
            if fresh == current:
                raise
            return self._open_connection(fresh.username, fresh.password)

    @contextlib.contextmanager
    def cursor(
        self, timeout: float | None = None, transaction: bool = False
    ) -> Iterator[psycopg2.extensions.cursor]:
        """A cursor whose statements each commit on their own (autocommit), or, with
        ``transaction=True``, all in one transaction that commits at the end of the block.

        The whole block (pool wait, connect, queries, commit) must finish within ``timeout``
        seconds. Any failure raises DatabaseUnavailable and drops the connection, which
        rolls back an unfinished transaction.
        """
        timeout = self.settings.query_timeout if timeout is None else timeout
        with deadline(timeout):
            try:
                conn = self.pool.acquire(min(timeout, self.settings.pool_timeout))
            except (psycopg2.Error, PoolTimeout, CredentialsUnavailable) as exc:
                raise DatabaseUnavailable(_describe(exc)) from exc
            ok = False
            try:
                with conn.cursor() as cur:
                    if transaction:
                        cur.execute("BEGIN")
                    yield cur
                    if transaction:
                        cur.execute("COMMIT")
                ok = True
            except psycopg2.Error as exc:
                raise DatabaseUnavailable(_describe(exc)) from exc
            finally:
                self.pool.release(conn, discard=not ok)

    def ensure_schema(self, timeout: float | None = None) -> None:
        """Create the table and its single row if missing.

        Safe when many instances start together: the advisory lock serialises them, and
        each step is a no-op when already done.
        """
        with self.cursor(timeout=timeout, transaction=True) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
            cur.execute(SCHEMA_SQL)
            cur.execute(SEED_SQL)
        self._schema_ready = True

    def start(self) -> None:
        """Prepare the schema at startup; if the database is down, retry on first use."""
        try:
            self.ensure_schema(timeout=max(SCHEMA_TIMEOUT, self.settings.query_timeout))
            log.info("database schema ready")
        except DatabaseUnavailable as exc:
            log.warning("database unreachable at startup (%s); will retry on first request", exc)

    def increment(self) -> int:
        """Count one visit atomically and return the new total."""
        for attempt in (1, 2):
            if not self._schema_ready:
                self.ensure_schema()
            try:
                with self.cursor() as cur:
                    cur.execute(INCREMENT_SQL)
                    row = cur.fetchone()
            except DatabaseUnavailable as exc:
                # The table was dropped under us: the UPDATE did nothing, so retrying is safe.
                if attempt == 1 and isinstance(exc.__cause__, psycopg2.errors.UndefinedTable):
                    self._schema_ready = False
                    continue
                raise
            if row is not None:
                return int(row[0])
            self._schema_ready = False  # the row was deleted: seed it again
        raise DatabaseUnavailable("the counter row is missing")

    def count(self) -> int:
        """The current total, without counting a visit."""
        with self.cursor() as cur:
            cur.execute(READ_SQL)
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def ping(self) -> None:
        """One real round trip to the database; DatabaseUnavailable if it fails."""
        with self.cursor(timeout=min(HEALTH_TIMEOUT, self.settings.query_timeout)) as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def close(self) -> None:
        self.pool.close()


def init_app(app: Flask) -> Database:
    """Create the app's database from its config and prepare the schema."""
    database = Database(database_settings(app.config))
    app.extensions["database"] = database
    database.start()
    return database


def get_db() -> Database:
    """The current app's database."""
    return current_app.extensions["database"]
