"""`make dev`: run the app locally with gunicorn and gunicorn.conf.py.

    python -m devtools.dev_server

With DATABASE_URL set, that database is used. Otherwise an embedded PostgreSQL is started
with its data in .dev-postgres/ (so the count survives restarts) and stopped on exit.
PORT chooses the port (default {{ cookiecutter.app_port | int }}); the server listens on 127.0.0.1 only.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / ".dev-postgres"
DEV_DATABASE = {{ cookiecutter.db_name | python }}
DEFAULT_PORT = {{ cookiecutter.app_port | python }}


def main() -> int:
    port = os.environ.get("PORT", DEFAULT_PORT)
    env = dict(os.environ, PORT=port)
    env.setdefault("WEB_CONCURRENCY", "2")

    embedded = None
    if not env.get("DATABASE_URL"):
        from devtools.embedded_postgres import EmbeddedPostgres

        print(f"Starting the embedded PostgreSQL (data in {DATA_DIR.name}/) ...", flush=True)
        embedded = EmbeddedPostgres(DATA_DIR, keep_data=True).start()
        embedded.create_database(DEV_DATABASE)
        env["DATABASE_URL"] = embedded.url(DEV_DATABASE)

    command = [
        sys.executable, "-m", "gunicorn",
        "--config", "gunicorn.conf.py",
        "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip
    print(f"Serving on http://127.0.0.1:{port}/  (Ctrl-C to stop)", flush=True)
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)  # noqa: S603 - fixed command
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.send_signal(signal.SIGTERM)
        try:
            return server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            return server.wait()
    finally:
        if embedded is not None:
            embedded.close()


if __name__ == "__main__":
    sys.exit(main())
