"""moto_server with devtools/moto_fixes.py applied, as `make deploy-local` and the deploy
benchmark run it: `python -m devtools.moto_server -H HOST -p PORT`."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def command(host: str, port: int | str) -> list[str]:
    return [sys.executable, "-m", "devtools.moto_server", "-H", host, "-p", str(port)]


def environment() -> dict[str, str]:
    """This environment, with the project importable from any working directory and
    certificates issued at once (there is no DNS to validate them through)."""
    paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "MOTO_ACM_VALIDATION_WAIT": "0",
        "PYTHONPATH": os.pathsep.join(path for path in paths if path),
    }


def one_call_at_a_time(application_class: type) -> type:
    """moto's WSGI application, answering one call at a time.

    moto's backends are not thread-safe (in process, a DescribeAlarms once iterated over the
    alarms while another thread's PutMetricAlarm added one: "dictionary changed size during
    iteration"), and moto_server answers each connection in a thread of its own, while the
    deploy tool sends its reads and changes in parallel. AWS is safe under parallel calls;
    moto is made so here. moto builds each answer whole before it returns it.
    """
    lock = threading.Lock()

    class OneCallAtATime(application_class):
        def __call__(self, environ, start_response):
            with lock:
                return super().__call__(environ, start_response)

    return OneCallAtATime


if __name__ == "__main__":
    from moto import server

    from devtools import moto_fixes

    moto_fixes.install()
    server.DomainDispatcherApplication = one_call_at_a_time(server.DomainDispatcherApplication)
    server.main(sys.argv[1:])
