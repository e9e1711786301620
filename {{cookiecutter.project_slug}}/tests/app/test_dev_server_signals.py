"""`make dev` (devtools/dev_server.py) leaves nothing running however it is stopped: Ctrl-C,
SIGTERM (what `make demo` and process managers send) or SIGHUP (a closed terminal) each stop
gunicorn, its workers and the embedded PostgreSQL, and free the port. On a busy port it says
so in one line and starts nothing."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from devtools import processes

# dev_server's own main(), with the embedded PostgreSQL's data in the test's folder rather
# than the project's .dev-postgres/, so the test neither shares nor leaves a server.
RUN_DEV_SERVER = (
    "import sys; from pathlib import Path; from devtools import dev_server; "
    "dev_server.DATA_DIR = Path(sys.argv[1]); sys.exit(dev_server.main())"
)
STOPPED_WITHIN = 60  # seconds: gunicorn's graceful timeout, then PostgreSQL's fast shutdown


@pytest.fixture
def data_dir():
    """Outside pytest's tmp_path, whose parent other pytest runs may make private again: the
    embedded PostgreSQL runs as another user when the tests run as root (as conftest.py)."""
    workdir = tempfile.mkdtemp(prefix="dev-server-test-")
    yield Path(workdir) / "dev-postgres"
    shutil.rmtree(workdir, ignore_errors=True)


class DevServer:
    """dev_server run as `make dev` runs it; its output goes to files, not pipes, which a
    process it left behind would hold open."""

    def __init__(self, data_dir: Path, port: int):
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        self.output = data_dir.parent / "output.log"
        self.errors = data_dir.parent / "errors.log"
        with self.output.open("w") as output, self.errors.open("w") as errors:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter
                [sys.executable, "-c", RUN_DEV_SERVER, str(data_dir)],
                cwd=processes.PROJECT_ROOT,
                env={**env, "PORT": str(port)},
                stdout=output,
                stderr=errors,
            )

    def printed(self) -> tuple[str, str]:
        return self.output.read_text(), self.errors.read_text()


def postmaster_pid(data_dir) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((processes.LOOPBACK, port))
        except OSError:
            return False
    return True


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_running(pids, within: float = 10) -> set[int]:
    """The pids among `pids` still running after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        alive = {pid for pid in pids if running(pid)}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda sig: sig.name
)
def test_a_stop_signal_to_make_dev_leaves_no_server_and_no_port(data_dir, stop_signal):
    port = processes.free_port()
    server = DevServer(data_dir, port)
    dev = server.process
    started: set[int] = set()
    try:
        try:
            processes.wait_until_ready(dev, f"http://{processes.LOOPBACK}:{port}/health", 120)
        except processes.ServerFailed as failure:
            pytest.fail(f"make dev {failure}: {server.printed()[1]}")
        gunicorn = {child.pid for child in psutil.Process(dev.pid).children(recursive=True)}
        database = postmaster_pid(data_dir)
        started = gunicorn | {database}

        dev.send_signal(stop_signal)  # to dev_server alone, not to its process group
        dev.wait(STOPPED_WITHIN)
        left = still_running(started)
    finally:
        processes.stop(dev)
        for pid in still_running(started, within=0):  # the test leaves nothing either
            processes.stop_pid(pid)
    _, errors = server.printed()

    assert dev.returncode == 0, errors
    assert "Traceback" not in errors
    assert not left & gunicorn, "gunicorn or a worker still runs"
    assert database not in left, "the embedded PostgreSQL still runs"
    assert not (data_dir / "postmaster.pid").exists()
    assert port_is_free(port)


def test_make_dev_on_a_busy_port_says_so_in_one_line_and_starts_nothing(data_dir):
    with socket.socket() as taken:
        taken.bind((processes.LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        data_dir.parent.mkdir(exist_ok=True)
        server = DevServer(data_dir, port)
        dev = server.process
        dev.wait(60)
        output, errors = server.printed()

    assert dev.returncode == 1
    assert output == ""
    (line,) = errors.splitlines()
    assert f"Port {port} on 127.0.0.1 is not free" in line
    assert f"make dev PORT={port + 1}" in line
    assert not data_dir.exists()  # no database was started for a server that cannot listen
