"""`make demo`: bake the default project and show it working, with no AWS account.

Steps, each printed as it runs: bake into build/demo, run the project's own tests, serve
the app on localhost against an embedded PostgreSQL and count a few visits, then deploy
the whole stack to moto on 127.0.0.1, print its outputs and destroy it again.

Stopped by Ctrl-C, SIGTERM or SIGHUP, it stops what it started as Ctrl-C would: the step
running gets SIGINT, then the app server and the local AWS emulator are stopped.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
SCRATCH = TEMPLATE_ROOT / "build" / "demo"
VENV = Path(sys.prefix)  # the template's environment already holds the project's pins

BOLD = "\x1b[1m"
TERMINATOR = "\x1b[0m"


def step(message: str) -> None:
    print(f"\n{BOLD}==> {message}{TERMINATOR}", flush=True)


STOP_WITHIN = 60  # seconds a step has to end after SIGINT before it is killed


def interrupt(signum: int, _frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_group(process: subprocess.Popen, first: signal.Signals) -> None:
    """Signal the process group a step runs in, as a terminal's Ctrl-C would; SIGKILL it if
    it still runs STOP_WITHIN seconds later."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    try:
        process.wait(STOP_WITHIN)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run(project: Path, *command: str) -> None:
    print("$", " ".join(command), flush=True)
    process = subprocess.Popen(command, cwd=project, env=project_env(), start_new_session=True)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        stop_group(process, signal.SIGINT)
        raise
    if code != 0:
        raise subprocess.CalledProcessError(code, command)


def project_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.pop("DATABASE_URL", None)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until_healthy(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the app exited early with code {server.returncode}")
        try:
            if fetch(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the app did not answer {url} within {seconds:.0f} s")


def bake() -> Path:
    step(f"Baking the default project into {SCRATCH.relative_to(TEMPLATE_ROOT)}")
    shutil.rmtree(SCRATCH, ignore_errors=True)
    return Path(cookiecutter(str(TEMPLATE_ROOT), no_input=True, output_dir=str(SCRATCH)))


def serve_and_count(project: Path) -> None:
    step("Serving the app on localhost against an embedded PostgreSQL (make dev)")
    port = free_port()
    env = {**project_env(), "PORT": str(port)}
    server = subprocess.Popen(
        [str(VENV / "bin" / "python"), "-m", "devtools.dev_server"],
        cwd=project,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(f"{base}/health", server)
        for _ in range(3):
            status, body = fetch(f"{base}/")
            print(f"GET / -> {status} {body}")
        status, body = fetch(f"{base}/health")
        print(f"GET /health -> {status} {body}")
    finally:
        stop_group(server, signal.SIGTERM)


def stop_local_aws(project: Path) -> None:
    """Stop the emulator if a step left it running (nothing to do when it is not)."""
    subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "devtools.local_aws", "down"],
        cwd=project,
        env=project_env(),
        stdout=subprocess.DEVNULL,
        check=False,
    )


def demonstrate(project: Path) -> None:
    make = ["make", "--no-print-directory", f"VENV={VENV}"]
    step("Running the project's own tests (make test)")
    run(project, *make, "test")
    serve_and_count(project)
    step("Deploying the whole stack to moto on 127.0.0.1 (make deploy-local)")
    run(project, *make, "deploy-local")
    step("Tearing it down again (make destroy-local)")
    run(project, *make, "destroy-local")


def main() -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    project = bake()
    try:
        demonstrate(project)
    except KeyboardInterrupt as stop:
        print(f"\nStopped ({stop or 'SIGINT'}); nothing the demo started is left running.")
        return 130
    except subprocess.CalledProcessError as failed:
        print(f"\nThe demo stopped: make {failed.cmd[-1]} failed (exit {failed.returncode}).")
        return 1
    finally:
        stop_local_aws(project)
    step(f"Done. The baked project is in {project}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
