"""Servers that the tools and the tests start on this machine: gunicorn on a free port, and
ending any process we started without leaving its children behind.

    with start_gunicorn(database_url, free_port(), log_path) as server:
        status, body = http_get(server.base_url + "/")
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

import psutil  # a development dependency, like the embedded server

from {{ cookiecutter.package_name }} import config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
READY_WITHIN = 30.0  # seconds for a server to answer after it was started
# Longer than gunicorn.conf.py's graceful_timeout, so gunicorn can end its workers itself.
STOP_TIMEOUT = 30.0


class ServerFailed(RuntimeError):
    """A server exited or did not answer in time."""


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    """Status and body of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_until_ready(process: subprocess.Popen, url: str, within: float = READY_WITHIN) -> None:
    """Return once a GET of `url` answers 200; ServerFailed if `process` exits first or
    `within` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        if process.poll() is not None:
            raise ServerFailed("exited early")
        with contextlib.suppress(OSError):
            if http_get(url, timeout=2)[0] == 200:
                return
        if time.monotonic() > deadline:
            raise ServerFailed("did not become ready")
        time.sleep(0.2)


def stop(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, SIGKILL if it still runs after `timeout` seconds, then SIGKILL for any child
    it left behind."""
    if process.poll() is not None:
        return
    # Taken while it runs: once it has exited, its children are no longer listed as its own.
    children = _children(psutil.Process(process.pid))
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        children |= _children(psutil.Process(process.pid))
        process.kill()
        process.wait()
    _kill(children, timeout)


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT) -> bool:
    """stop() for a process known only by its pid, such as a server an earlier command
    started; False if it was not running."""
    try:
        process = psutil.Process(pid)
        children = _children(process)
        process.terminate()
    except psutil.NoSuchProcess:
        return False
    try:
        process.wait(timeout)
    except psutil.TimeoutExpired:
        children |= _children(process)
        _kill([process], timeout)
    _kill(children, timeout)
    return True


def _children(process: psutil.Process) -> set[psutil.Process]:
    try:
        return set(process.children(recursive=True))
    except psutil.NoSuchProcess:
        return set()


def _kill(processes: Iterable[psutil.Process], timeout: float) -> None:
    killed = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
            killed.append(process)
    psutil.wait_procs(killed, timeout)


def server_environment(database_url: str, port: int, env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment for a server of the app on `database_url`."""
    # The app would also read DB_HOST, DB_PASSWORD... from the caller's shell.
    environment = {key: value for key, value in os.environ.items() if key not in config.ENV_KEYS}
    environment.update(DATABASE_URL=database_url, PORT=str(port), **env)
    return environment


class Gunicorn:
    """gunicorn started the way the container starts it (the project's gunicorn.conf.py),
    bound to 127.0.0.1, with its output in `log_path`.

    `app_spec` serves another app than gunicorn.conf.py's; `env` adds environment variables
    (WEB_CONCURRENCY="2", ...). Stopped on leaving a `with` block.
    """

    def __init__(
        self,
        database_url: str,
        port: int,
        log_path: Path,
        app_spec: str | None = None,
        env: Mapping[str, str] | None = None,
    ):
        self.base_url = f"http://{LOOPBACK}:{port}"
        self.log_path = log_path
        command = [
            sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
            "--bind", f"{LOOPBACK}:{port}", *([app_spec] if app_spec else []),
        ]  # fmt: skip
        environment = server_environment(database_url, port, env or {})
        with open(log_path, "w") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 - fixed command
                command,
                cwd=PROJECT_ROOT,
                env=environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, path: str, within: float = READY_WITHIN) -> None:
        try:
            wait_until_ready(self.process, self.base_url + path, within)
        except ServerFailed as exc:
            raise ServerFailed(f"gunicorn {exc}:\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def worker_pids(self, expect: int | None = None) -> set[int]:
        """The worker processes; with `expect`, waits (10 s at most) until that many run,
        since gunicorn may answer from its first worker while the others still boot."""
        deadline = time.monotonic() + 10
        while True:
            pids = {child.pid for child in psutil.Process(self.process.pid).children()}
            if expect is None or len(pids) == expect or time.monotonic() > deadline:
                return pids
            time.sleep(0.1)

    def stop(self) -> None:
        stop(self.process)

    def __enter__(self) -> "Gunicorn":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_gunicorn(
    database_url: str,
    port: int,
    log_path: Path,
    *,
    app_spec: str | None = None,
    ready_path: str = config.HEALTH_CHECK_PATH,
    env: Mapping[str, str] | None = None,
) -> Gunicorn:
    """A Gunicorn that answers 200 on `ready_path`; stopped again if it does not."""
    server = Gunicorn(database_url, port, log_path, app_spec, env)
    try:
        server.wait_ready(ready_path)
    except BaseException:
        server.stop()
        raise
    return server
