"""The instances' boot script, run in bash with stand-ins for what only an instance has.

The script is rendered as the deploy renders it (`render_user_data`), written to a file and
sourced, so its functions can be called one by one (tests/infra/test_boot_rehearsal.py runs it
whole, against moto and a local metadata service). Every command it
would send to the outside (dnf, systemctl, curl, aws, docker, sleep) is a stand-in on PATH
that records its arguments and answers from a file; PATH holds nothing else but bash and
timeout, so a command without a stand-in fails instead of reaching anything. The only
network use is a TCP listener on 127.0.0.1 standing for the database.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from infra.resources.app import instances

VALUES = {
    "region": "eu-west-1",
    "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/visit-counter-dev:1",
    "image_tag": "1",
    "db_identifier": "visit-counter-dev-db",
    "db_name": "visits",
    "app_port": "5000",
    # Shell metacharacters: quoting must keep this one argument.
    "log_group": "/visit-counter/dev/app; reboot",
    "health_check_path": "/health",
}
# The ARN of the database password's secret, not a password.
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf"  # noqa: S105
DB_QUERY = (
    "DBInstances[0].[DBInstanceStatus,Endpoint.Address,Endpoint.Port,MasterUserSecret.SecretArn]"
)
STAND_INS = ("dnf", "systemctl", "curl", "aws", "docker", "sleep")
SEPARATOR = "\x1f"

# A stand-in: appends its name and arguments to `calls` (one line, fields separated by
# SEPARATOR), reads what is piped into it (as `docker login --password-stdin` does) into
# `stdin.<key>.<N>`, then answers with line N of `answers.<key>` on its Nth call (the last
# line once they run out; none: no output). A line `!fail` makes it fail. The key is the
# name, and for aws also the service and operation (`aws.rds.describe-db-instances`).
STAND_IN = r"""#!/bin/bash
state=__STATE__
name=__NAME__
key="$name"
if [[ "$name" == aws ]]; then key="aws.$1.$2"; fi
line="$name"
for argument in "$@"; do line+=$'\x1f'"$argument"; done
printf '%s\n' "$line" >>"$state/calls"
count=0
if [[ -f "$state/count.$key" ]]; then read -r count <"$state/count.$key"; fi
count=$((count + 1))
echo "$count" >"$state/count.$key"
if [[ -p /dev/stdin ]]; then
  input=""
  while IFS= read -r line || [[ -n "$line" ]]; do input+="$line"$'\n'; done
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
  echo "$name: failing as told (call $count)" >&2
  exit 1
fi
if [[ -n "$answer" ]]; then printf '%s\n' "$answer"; fi
exit 0
"""


class BootScript:
    """The rendered script in a folder with its stand-ins."""

    def __init__(self, folder: Path):
        self.script = folder / "user_data.sh"
        self.script.write_text(instances.render_user_data(VALUES), encoding="utf-8")
        self.state = folder / "state"
        self.state.mkdir()
        stand_ins, tools = folder / "stand-ins", folder / "tools"
        stand_ins.mkdir()
        tools.mkdir()
        for name in STAND_INS:
            program = stand_ins / name
            program.write_text(
                STAND_IN.replace("__STATE__", str(self.state)).replace("__NAME__", name)
            )
            program.chmod(0o755)
        for tool in ("bash", "timeout"):
            (tools / tool).symlink_to(shutil.which(tool))
        self.bash = shutil.which("bash")
        self.env = {"PATH": f"{stand_ins}:{tools}", "LC_ALL": "C"}

    def answer(self, key: str, *lines: str) -> None:
        (self.state / f"answers.{key}").write_text("".join(f"{line}\n" for line in lines))

    def call(self, commands: str) -> subprocess.CompletedProcess:
        """Sources the script (so `main` does not run), then runs `commands`."""
        return subprocess.run(  # noqa: S603 - bash on a file of this test
            [self.bash, "-c", f'source "$1"\n{commands}', "boot-test", str(self.script)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def execute(self) -> subprocess.CompletedProcess:
        """Runs the script as cloud-init does: as a program."""
        return subprocess.run(  # noqa: S603 - bash on a file of this test
            [self.bash, str(self.script)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def calls(self, name: str | None = None) -> list[list[str]]:
        path = self.state / "calls"
        if not path.exists():
            return []
        recorded = [line.split(SEPARATOR) for line in path.read_text().splitlines()]
        return [call[1:] for call in recorded if name is None or call[0] == name]


@pytest.fixture
def boot(tmp_path) -> BootScript:
    return BootScript(tmp_path)


@pytest.fixture
def database() -> Iterator[SimpleNamespace]:
    """A TCP listener on 127.0.0.1 standing for PostgreSQL: it accepts and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    accepted: list[tuple] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            accepted.append(peer)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield SimpleNamespace(port=server.getsockname()[1], accepted=accepted)
    stop.set()
    thread.join()
    server.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that refuses connections: bound for a moment, then let go."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def described(status: str, port: int | str = "None", arn: str = SECRET_ARN) -> str:
    """What `aws rds describe-db-instances --query DB_QUERY --output text` prints."""
    address = "None" if port == "None" else "127.0.0.1"
    return "\t".join([status, address, str(port), arn])


def test_sourcing_defines_the_functions_and_runs_nothing(boot):
    """Sourced, the script only defines its functions; `main` runs when it is executed."""
    result = boot.call(
        "declare -F main install_docker wait_for_database accepts_connections >/dev/null\n"
        'printf "%s\\n" "$LOG_GROUP" "$DB_IDENTIFIER"'
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [VALUES["log_group"], VALUES["db_identifier"]]
    assert boot.calls() == []


def test_dnf_install_is_retried_with_growing_pauses(boot):
    """AWS rule: Amazon EC2 Auto Scaling replaces an instance its (ELB) health checks find
    unhealthy once the health check grace period is over
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html).
    A boot that died on one failed `dnf install` would never start the container and cost a
    whole replacement cycle; a transient mirror error is retried instead."""
    boot.answer("dnf", "!fail", "!fail", "")
    result = boot.call("install_docker\nstart_docker\necho installed")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("installed")
    assert boot.calls("dnf") == [["install", "-y", "docker"]] * 3
    assert boot.calls("sleep") == [["5"], ["10"]]
    assert "attempt 1 of 6" in result.stderr and "attempt 2 of 6" in result.stderr
    assert boot.calls("systemctl") == [["enable", "--now", "docker"]]


def test_dnf_install_gives_up_after_a_bounded_number_of_attempts(boot):
    """A repository that stays broken still fails the boot (and says so in the boot log),
    in under three minutes of pauses, well within the 15-minute health check grace period."""
    boot.answer("dnf", "!fail")
    result = boot.call("install_docker\necho not reached")
    assert result.returncode != 0
    assert "not reached" not in result.stdout
    assert len(boot.calls("dnf")) == 6
    pauses = [int(call[0]) for call in boot.calls("sleep")]
    assert pauses == [5, 10, 20, 40, 80]
    assert sum(pauses) < 180 < instances.HEALTH_CHECK_GRACE_SECONDS
    assert "failed 6 times: giving up" in result.stderr
    assert boot.calls("systemctl") == []


def test_database_wait_goes_on_until_the_endpoint_accepts_a_connection(boot, database):
    """AWS rule: RDS reports no endpoint while it creates a DB instance, which is
    inaccessible meanwhile (DB instance status table,
    https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.DBInstance.Status.html),
    and DescribeDBInstances fails until the instance exists. The boot waits through each of
    these, and through an endpoint that refuses connections, saying why each time; it goes
    on when a TCP connection to the endpoint opens."""
    refused = closed_port()
    boot.answer(
        "aws.rds.describe-db-instances",
        "!fail",
        described("creating"),
        described("backing-up", refused, arn="None"),
        described("backing-up", refused),
        described("backing-up", database.port),
    )
    result = boot.call('wait_for_database\necho "ready $DB_HOST $DB_PORT $DB_SECRET_ARN"')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    db = VALUES["db_identifier"]
    assert lines == [
        f"waiting for database {db}: RDS does not describe it yet",
        f"waiting for database {db}: status creating, no endpoint yet",
        f"waiting for database {db}: status backing-up, no password secret yet",
        f"waiting for database {db}: status backing-up, 127.0.0.1:{refused} "
        "does not accept connections yet",
        f"database {db} accepts connections at 127.0.0.1:{database.port} (status backing-up)",
        f"ready 127.0.0.1 {database.port} {SECRET_ARN}",
    ]
    assert len(database.accepted) == 1
    expected = [
        "rds",
        "describe-db-instances",
        "--region",
        VALUES["region"],
        "--db-instance-identifier",
        db,
        "--query",
        DB_QUERY,
        "--output",
        "text",
    ]
    assert boot.calls("aws") == [expected] * 5
    assert boot.calls("sleep") == [["15"]] * 4


@pytest.mark.parametrize(
    "status",
    [
        "storage-optimization",
        "backing-up",
        "modifying",
        "configuring-enhanced-monitoring",
        "upgrading",
        "maintenance",
    ],
)
def test_database_wait_does_not_require_the_status_available(boot, database, status):
    """AWS rule: a DB instance in storage-optimization is operational and applications need
    not wait for `available` (https://repost.aws/knowledge-center/rds-stuck-in-storage-optimization);
    RDS's status table lists backing-up, modifying, configuring-enhanced-monitoring,
    upgrading and maintenance as states of a running, billed instance
    (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.DBInstance.Status.html).
    A reachable endpoint is what the app needs, whatever the status."""
    boot.answer("aws.rds.describe-db-instances", described(status, database.port))
    result = boot.call('wait_for_database\necho "ready $DB_PORT"')
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"ready {database.port}"
    assert f"(status {status})" in result.stdout
    assert len(boot.calls("aws")) == 1
    assert boot.calls("sleep") == []
