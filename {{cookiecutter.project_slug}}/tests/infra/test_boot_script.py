"""The instances' boot script, run in bash with stand-ins for what only an instance has.

The script is rendered as the deploy renders it (`render_user_data`), written to a file and
sourced, so its functions can be called one by one (tests/infra/test_boot_rehearsal.py runs it
whole, against moto and a local metadata service). Every command it would send to the outside
(dnf, systemctl, curl, aws, docker, sleep) is a recording stand-in on PATH
(boot_standins.py) that answers as the test tells it; PATH holds nothing else but bash and
timeout, so a command without a stand-in fails instead of reaching anything. The only network
use is a TCP listener on 127.0.0.1 standing for the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from boot_standins import (
    FAIL,
    BashRun,
    DatabaseListener,
    RecordingCommands,
    boot_environment,
    programs_folder,
    run_bash,
)

from devtools.processes import free_port
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
DESCRIBE_DB = "aws.rds.describe-db-instances"


class BootScript:
    """The rendered script, with the stand-ins and only bash and timeout on PATH."""

    def __init__(self, folder: Path):
        self.script = folder / "user_data.sh"
        self.script.write_text(instances.render_user_data(VALUES), encoding="utf-8")
        self.commands = RecordingCommands(folder)
        for name in STAND_INS:
            self.commands.add(name)
        tools = programs_folder(folder / "tools", "bash", "timeout")
        self.env = boot_environment(self.commands, tools)

    def call(self, commands: str) -> BashRun:
        """Sources the script (so `main` does not run), then runs `commands`."""
        arguments = ["-c", f'source "$1"\n{commands}', "boot-test", str(self.script)]
        result = run_bash(arguments, self.env, timeout=30)
        assert not result.timed_out, result.output
        return result


@pytest.fixture
def boot(tmp_path) -> BootScript:
    return BootScript(tmp_path)


@pytest.fixture
def database() -> Iterator[DatabaseListener]:
    with DatabaseListener() as listener:
        listener.listen()
        yield listener


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
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [VALUES["log_group"], VALUES["db_identifier"]]
    assert boot.commands.calls() == []


def test_dnf_install_is_retried_with_growing_pauses(boot):
    """AWS rule: Amazon EC2 Auto Scaling replaces an instance its (ELB) health checks find
    unhealthy once the health check grace period is over
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html).
    A boot that died on one failed `dnf install` would never start the container and cost a
    whole replacement cycle; a transient mirror error is retried instead."""
    boot.commands.fail_first("dnf.install", 2)
    result = boot.call("install_docker\nstart_docker\necho installed")
    assert result.code == 0, result.stderr
    assert result.stdout.strip().endswith("installed")
    assert boot.commands.called("dnf") == [["install", "-y", "docker"]] * 3
    assert boot.commands.called("sleep") == [["5"], ["10"]]
    assert "attempt 1 of 6" in result.stderr and "attempt 2 of 6" in result.stderr
    assert boot.commands.called("systemctl") == [["enable", "--now", "docker"]]


def test_dnf_install_gives_up_after_a_bounded_number_of_attempts(boot):
    """A repository that stays broken still fails the boot (and says so in the boot log),
    in under three minutes of pauses, well within the 15-minute health check grace period."""
    boot.commands.answer("dnf.install", FAIL)
    result = boot.call("install_docker\necho not reached")
    assert result.code != 0
    assert "not reached" not in result.stdout
    assert len(boot.commands.called("dnf")) == 6
    pauses = [int(call[0]) for call in boot.commands.called("sleep")]
    assert pauses == [5, 10, 20, 40, 80]
    assert sum(pauses) < 180 < instances.HEALTH_CHECK_GRACE_SECONDS
    assert "failed 6 times: giving up" in result.stderr
    assert boot.commands.called("systemctl") == []


def test_database_wait_goes_on_until_the_endpoint_accepts_a_connection(boot, database):
    """AWS rule: RDS reports no endpoint while it creates a DB instance, which is
    inaccessible meanwhile (DB instance status table,
    https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.DBInstance.Status.html),
    and DescribeDBInstances fails until the instance exists. The boot waits through each of
    these, and through an endpoint that refuses connections, saying why each time; it goes
    on when a TCP connection to the endpoint opens."""
    refused = free_port()  # nothing listens there
    boot.commands.answer(
        DESCRIBE_DB,
        FAIL,
        described("creating"),
        described("backing-up", refused, arn="None"),
        described("backing-up", refused),
        described("backing-up", database.port),
    )
    result = boot.call('wait_for_database\necho "ready $DB_HOST $DB_PORT $DB_SECRET_ARN"')
    assert result.code == 0, result.stderr
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
    assert boot.commands.called("aws") == [expected] * 5
    assert boot.commands.called("sleep") == [["15"]] * 4


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
    boot.commands.answer(DESCRIBE_DB, described(status, database.port))
    result = boot.call('wait_for_database\necho "ready $DB_PORT"')
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"ready {database.port}"
    assert f"(status {status})" in result.stdout
    assert len(boot.commands.called("aws")) == 1
    assert boot.commands.called("sleep") == []
