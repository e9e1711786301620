"""`make dev`: run the app locally with gunicorn and gunicorn.conf.py.

    python -m devtools.dev_server

With DATABASE_URL set, that database is used. Otherwise an embedded PostgreSQL is started
with its data in .dev-postgres/ (so the count survives restarts). PORT chooses the port
(default {{ cookiecutter.app_port | int }}); the server listens on 127.0.0.1 only. Ctrl-C, SIGTERM
and SIGHUP stop gunicorn and the embedded PostgreSQL.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

from devtools import stop_signals

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / ".dev-postgres"
DEV_DATABASE = {{ cookiecutter.db_name | python }}
DEFAULT_PORT = {{ cookiecutter.app_port | python }}
HOST = "127.0.0.1"
AIRPLAY_PORT = 5000  # macOS's AirPlay Receiver listens on it


def port_problem(text: str) -> str | None:
    """Why gunicorn could not listen on PORT=`text`, as one line with the fix; None if it can."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        return f"PORT={text!r} is not a port number. Fix: make dev PORT=8000"
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((HOST, int(text)))
        except OSError as error:
            why = error.strerror or str(error)
        else:
            return None
    airplay = " (on macOS, AirPlay Receiver uses 5000)" if int(text) == AIRPLAY_PORT else ""
    return (
        f"Port {text} on {HOST} is not free: {why}{airplay}. Fix: stop what uses it, "
        f"or choose another port: make dev PORT={int(text) + 1}"
    )


def start_embedded_postgres():
    from devtools.embedded_postgres import EmbeddedPostgres

    print(f"Starting the embedded PostgreSQL (data in {DATA_DIR.name}/) ...", flush=True)
    embedded = EmbeddedPostgres(DATA_DIR, keep_data=True).start()
    embedded.create_database(DEV_DATABASE)
    return embedded


def main() -> int:
    stop_signals.stop_on_signals()
    port = os.environ.get("PORT", DEFAULT_PORT)
    problem = port_problem(port)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    env = dict(os.environ, PORT=port)
    env.setdefault("WEB_CONCURRENCY", "2")
    command = [
        sys.executable, "-m", "gunicorn",
        "--config", "gunicorn.conf.py",
        "--bind", f"{HOST}:{port}",
    ]  # fmt: skip

    embedded = server = None
    try:
        with stop_signals.deferred():
            if not env.get("DATABASE_URL"):
                embedded = start_embedded_postgres()
                env["DATABASE_URL"] = embedded.url(DEV_DATABASE)
            print(f"Serving on http://{HOST}:{port}/  (Ctrl-C to stop)", flush=True)
            server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)  # noqa: S603
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        with stop_signals.uninterrupted():
            if server is not None:
                from devtools import processes

                processes.stop(server)
            if embedded is not None:
                embedded.close()


if __name__ == "__main__":
    sys.exit(main())
