"""Stand-ins for what only an instance has, shared by the boot script's tests:
test_boot_script.py sources infra/user_data.sh and calls its functions one by one,
test_boot_rehearsal.py runs it whole against moto.

- RecordingCommands: programs on PATH (dnf, systemctl, docker, aws...) that record each call
  and what is piped into it, and fail or answer as a test tells them (the faults injected).
- DatabaseListener: a port on 127.0.0.1 standing for the database's endpoint.
- boot_environment and run_bash: the script runs in bash with nothing of the tests' own
  environment, and is stopped, not waited for forever, when it hangs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from devtools.processes import LOOPBACK, free_port

# Between a call's name and arguments in the record: no argument of the script holds it.
SEPARATOR = "\x1f"
# An answer that makes the call fail.
FAIL = "!fail"
# How many leading arguments name what a command is asked to do, in its key: `aws` takes a
# service and an operation (`aws.rds.describe-db-instances`), the others a subcommand
# (`docker.login`, `dnf.install`).
OPERATION_WORDS = {"aws": 2}

# The program of a stand-in. Per call: appends its name and arguments to `calls`, counts the
# call under its key in `count.<key>`, saves what is piped into it in `stdin.<key>.<N>`
# (unless it wraps a real program, which then reads it), then takes line N of
# `answers.<key>` (the last line once they run out; no file: an empty answer). FAIL exits 1;
# otherwise the wrapped program runs, or the answer is printed. Bash only: in
# test_boot_script.py PATH has no coreutils.
STAND_IN = r"""#!/bin/bash
state=__STATE__
name=__NAME__
wrapped=__WRAPPED__
key="$name"
for word in "${@:1:__OPERATION_WORDS__}"; do key+=".$word"; done
record="$name"
for argument in "$@"; do record+=$'\x1f'"$argument"; done
printf '%s\n' "$record" >>"$state/calls"
count=0
if [[ -f "$state/count.$key" ]]; then read -r count <"$state/count.$key"; fi
count=$((count + 1))
echo "$count" >"$state/count.$key"
if [[ -z "$wrapped" && -p /dev/stdin ]]; then
  input=""
  while IFS= read -r piped || [[ -n "$piped" ]]; do input+="$piped"$'\n'; done
  printf '%s' "$input" >"$state/stdin.$key.$count"
fi
answer=""
if [[ -f "$state/answers.$key" ]]; then
  seen=0
  while IFS= read -r line || [[ -n "$line" ]]; do
    seen=$((seen + 1))
    answer="$line"
    if ((seen == count)); then break; fi
  done <"$state/answers.$key"
fi
if [[ "$answer" == "!fail" ]]; then
  echo "$name: failing as told (call $count of $key)" >&2
  exit 1
fi
if [[ -n "$wrapped" ]]; then exec "$wrapped" "$@"; fi
if [[ -n "$answer" ]]; then printf '%s\n' "$answer"; fi
exit 0
"""


def stand_in_program(state: Path, name: str, wraps: Path | None) -> str:
    return (
        STAND_IN.replace("__STATE__", shlex.quote(str(state)))
        .replace("__NAME__", shlex.quote(name))
        .replace("__WRAPPED__", shlex.quote(str(wraps or "")))
        .replace("__OPERATION_WORDS__", str(OPERATION_WORDS.get(name, 1)))
    )


class RecordingCommands:
    """A folder of stand-ins to put first on PATH, and what they recorded.

    A call's key is the command's name and the words naming its operation (OPERATION_WORDS):
    faults are injected per key, and calls counted per key."""

    def __init__(self, folder: Path):
        self.folder = folder / "stand-ins"
        self.state = folder / "state"
        self.folder.mkdir()
        self.state.mkdir()

    def add(self, name: str, wraps: Path | None = None) -> None:
        """A stand-in for `name`; one that `wraps` a real program runs it on each call not
        told to fail."""
        program = self.folder / name
        program.write_text(stand_in_program(self.state, name, wraps), encoding="utf-8")
        program.chmod(0o755)

    def answer(self, key: str, *answers: str) -> None:
        """Call N of `key` prints answers[N-1] (FAIL: fails); the last answer stands for
        every call after."""
        text = "".join(f"{answer}\n" for answer in answers)
        (self.state / f"answers.{key}").write_text(text, encoding="utf-8")

    def fail_first(self, key: str, times: int) -> None:
        """The first `times` calls of `key` fail, the others succeed: a passing fault."""
        self.answer(key, *[FAIL] * times, "")

    def calls(self) -> list[list[str]]:
        """Every call in the order made: the name, then the arguments."""
        path = self.state / "calls"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return [line.split(SEPARATOR) for line in lines]

    def called(self, name: str, first: str | None = None) -> list[list[str]]:
        """The arguments of each call of `name` (only those whose first is `first`, if given)."""
        return [
            call[1:]
            for call in self.calls()
            if call[0] == name and (first is None or call[1:2] == [first])
        ]

    def order(self) -> list[str]:
        """Each call as its name and operation words: `dnf install`, `aws rds describe-...`."""
        return [" ".join(call[: 1 + OPERATION_WORDS.get(call[0], 1)]) for call in self.calls()]

    def piped_into(self, key: str) -> list[str]:
        """What was piped into each call of `key`, in call order (calls with no pipe: none)."""
        saved = self.state.glob(f"stdin.{key}.*")
        by_call = sorted(saved, key=lambda path: int(path.suffix.removeprefix(".")))
        return [path.read_text(encoding="utf-8") for path in by_call]

    def times_called(self, key: str) -> int:
        # The stand-in rewrites the count in place: read while it writes, it may be empty.
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int((self.state / f"count.{key}").read_text(encoding="utf-8"))
        return 0

    def when_called(
        self, key: str, times: int, then: Callable[[], None], within: float = 60
    ) -> None:
        """Runs `then()` once `key` has been called `times` times (gives up after `within`
        seconds). Meant for a thread beside the script."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.times_called(key) >= times:
                then()
                return
            time.sleep(0.02)


def programs_folder(folder: Path, *names: str) -> Path:
    """A folder with links to these programs of the machine, to put on PATH alone."""
    folder.mkdir()
    for name in names:
        (folder / name).symlink_to(shutil.which(name))
    return folder


def boot_environment(
    commands: RecordingCommands, *path: Path | str, **variables: str
) -> dict[str, str]:
    """The script's whole environment: the stand-ins first on PATH, then `path`; messages in
    the C locale; `variables`. Nothing comes from the tests' own environment (no AWS
    credentials, no PATH to programs without a stand-in)."""
    return {"PATH": os.pathsep.join(map(str, (commands.folder, *path))), "LC_ALL": "C", **variables}


@dataclasses.dataclass
class BashRun:
    code: int
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def output(self) -> str:
        """Both streams, stdout then stderr (not interleaved)."""
        return self.stdout + self.stderr


def run_bash(arguments: list[str], env: dict[str, str], timeout: float) -> BashRun:
    """Runs bash with `arguments` in `env`, its stdin empty. One still running at `timeout`
    is killed with all it started and reported as timed out, with what it printed so far."""
    process = subprocess.Popen(  # noqa: S603 - bash on the tests' own files
        [shutil.which("bash"), *arguments],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        timed_out = True
    return BashRun(process.returncode, stdout, stderr, timed_out)


class DatabaseListener:
    """A port on 127.0.0.1 standing for PostgreSQL's endpoint: it refuses connections until
    `listen()`, then accepts each one and hangs up, recording who connected in `accepted`.

        with DatabaseListener() as database:
            database.listen()
    """

    def __init__(self):
        self.port = free_port()
        self.accepted: list[tuple] = []
        self._stop = threading.Event()
        self._running: list[tuple[socket.socket, threading.Thread]] = []

    def listen(self) -> None:
        server = socket.create_server((LOOPBACK, self.port))
        server.settimeout(0.05)
        thread = threading.Thread(target=self._accept_until_stopped, args=(server,), daemon=True)
        thread.start()
        self._running.append((server, thread))

    def _accept_until_stopped(self, server: socket.socket) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                connection, peer = server.accept()
                self.accepted.append(peer)
                connection.close()

    def close(self) -> None:
        self._stop.set()
        for server, thread in self._running:
            thread.join()
            server.close()

    def __enter__(self) -> DatabaseListener:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
