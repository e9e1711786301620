"""The database's waits follow the statuses RDS goes through, which moto skips.

moto creates and modifies a DB instance at once: it always answers `available`, with no
PendingModifiedValues. Here `rds_statuses` answers the stack's DescribeDBInstances calls
with moto's own answer, fetched with a plain boto3 client (which the tool's observers do not
see), with each step of RDS's sequence laid over it. Answering through `aws.call_observers`,
the tool's documented hook, rather than a botocore handler on the tool's cached clients:
the test touches no client internals, and one observer sees the triggering call
(CreateDBInstance, ModifyDBInstance) and every answer, in order, across the apply's threads.

RDS's sequences (RDS User Guide, "Modifying an Amazon RDS DB instance", "Increasing DB
instance storage capacity"): create: creating, backing-up, available; a new instance class:
available with the change pending, modifying, available; new storage: ... modifying,
storage-optimization (for hours, the database in use); a change RDS applies at once, such
as the backup retention: no status change at all.
"""

from __future__ import annotations

import threading

import boto3
import pytest

from infra import aws
from infra.resources import database
from infra.resources.shared.addresses import DB_INSTANCE

RETURNED = "returned"


class RdsStatuses:
    """After `trigger` is called (None: from the start), each DescribeDBInstances of the
    stack's instance gets moto's answer with the next step's fields laid over it; the last
    step stays. `log` holds the trigger, each status answered, and RETURNED where the
    tool's create or update returned."""

    def __init__(self, region: str, identifier: str):
        self.moto = boto3.client("rds", region_name=region)
        self.identifier = identifier
        self.trigger: str | None = None
        self.armed = False
        self.steps: list[dict] = []
        self.log: list[str] = []
        self.lock = threading.Lock()

    def script(self, trigger: str | None, *steps: dict) -> None:
        with self.lock:
            self.trigger, self.armed, self.steps = trigger, trigger is None, list(steps)
            self.log.clear()

    def mark(self, entry: str) -> None:
        with self.lock:
            self.log.append(entry)

    def __call__(self, service: str, operation: str, params: dict) -> dict | None:
        if service != "rds" or not self.steps:
            return None
        with self.lock:
            if operation == self.trigger:
                self.armed = True
                self.log.append(operation)
                return None
            if (
                operation != "DescribeDBInstances"
                or not self.armed
                or params.get("DBInstanceIdentifier") != self.identifier
            ):
                return None
            step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
            answer = self.moto.describe_db_instances(DBInstanceIdentifier=self.identifier)
            answer["DBInstances"][0].update(step)
            self.log.append(step["DBInstanceStatus"])
            return answer

    def until_returned(self) -> list[str]:
        return self.log[: self.log.index(RETURNED)]


@pytest.fixture
def rds_statuses(moto, project, monkeypatch):
    statuses = RdsStatuses(project.settings.aws_region, project.settings.name("db"))
    for method in ("create", "update"):
        original = getattr(database.DbInstance, method)

        def marked(*args, _original=original, **kwargs):
            _original(*args, **kwargs)
            statuses.mark(RETURNED)

        monkeypatch.setattr(database.DbInstance, method, marked)
    aws.call_observers.append(statuses)
    yield statuses
    aws.call_observers.remove(statuses)


def status(name: str, **fields) -> dict:
    return {"DBInstanceStatus": name, **fields}


def test_create_waits_through_creating_and_backing_up(
    rds_statuses, instance_refreshes, infra, aws_client, project
):
    rds_statuses.script(
        "CreateDBInstance",
        status("creating"),
        status("creating"),
        status("backing-up"),
        status("available"),
    )
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert rds_statuses.until_returned() == [
        "CreateDBInstance",
        "creating",
        "creating",
        "backing-up",
        "available",
    ]
    assert f"{DB_INSTANCE}: Creation complete" in result.out


def test_new_instance_class_waits_for_the_change_to_start_and_end(
    deployed, rds_statuses, infra, aws_client, project, requests
):
    old = project.settings.db_instance_class
    project.set("db_instance_class", '"db.t3.small"')
    pending = {"PendingModifiedValues": {"DBInstanceClass": "db.t3.small"}, "DBInstanceClass": old}
    rds_statuses.script(
        "ModifyDBInstance",
        status("available", **pending),  # accepted, not started yet
        status("modifying", **pending),
        status("available"),
    )
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    # It returned neither before RDS started the change nor while it was modifying.
    assert rds_statuses.until_returned() == [
        "ModifyDBInstance",
        "available",
        "modifying",
        "available",
    ]
    modify = [params for operation, params in requests if operation == "ModifyDBInstance"]
    assert modify == [
        {
            "DBInstanceIdentifier": project.settings.name("db"),
            "ApplyImmediately": True,
            "DBInstanceClass": "db.t3.small",
        }
    ]
    db = aws_client("rds").describe_db_instances()["DBInstances"][0]
    assert db["DBInstanceClass"] == "db.t3.small"
    assert infra("plan").code == 0


def test_new_storage_is_done_in_storage_optimization(deployed, rds_statuses, infra, project):
    """Storage optimization can last hours with the database in use: not waited for."""
    old = project.settings.db_allocated_storage_gb
    project.set("db_allocated_storage_gb", "30")
    pending = {"PendingModifiedValues": {"AllocatedStorage": 30}, "AllocatedStorage": old}
    rds_statuses.script(
        "ModifyDBInstance",
        status("available", **pending),
        status("modifying", **pending),
        status("storage-optimization"),  # from here on, for the rest of the test
    )
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert rds_statuses.until_returned() == [
        "ModifyDBInstance",
        "available",
        "modifying",
        "storage-optimization",
    ]
    assert f"{DB_INSTANCE}: Modifications complete" in result.out
    assert "storage-optimization, which can take hours" in result.out
    # Still optimizing: the stack matches stack.toml.
    assert infra("plan").code == 0
    assert rds_statuses.log[-1] == "storage-optimization"
    assert "available" not in rds_statuses.log[rds_statuses.log.index("modifying") :]


def test_a_change_rds_applies_at_once_waits_for_no_status_change(
    deployed, rds_statuses, infra, project
):
    """Backup retention between nonzero values never shows a status change: one look that
    RDS has nothing in progress, no wait for a start that never shows."""
    project.set("db_backup_retention_days", "14")
    rds_statuses.script("ModifyDBInstance", status("available"))
    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert rds_statuses.until_returned() == ["ModifyDBInstance", "available"]
    assert "waiting for RDS to start" not in result.out


def test_an_apply_that_timed_out_resumes_the_wait(
    deployed, rds_statuses, infra, project, requests, monkeypatch
):
    """The error says what RDS is doing; the next apply waits for it instead of asking RDS
    for the same change again (RDS refuses a change while one is in progress)."""
    old = project.settings.db_instance_class
    project.set("db_instance_class", '"db.t3.small"')
    busy = status(
        "modifying",
        PendingModifiedValues={"DBInstanceClass": "db.t3.small"},
        DBInstanceClass=old,
    )
    rds_statuses.script("ModifyDBInstance", busy)
    monkeypatch.setattr(database, "WAIT_SECONDS", 0)
    failed = infra("apply", "--auto-approve")
    assert failed.code == 1
    assert "RDS still reports `modifying` with changes pending (DBInstanceClass)" in failed.err
    assert "run `python -m infra apply` again to resume waiting" in failed.err

    monkeypatch.setattr(database, "WAIT_SECONDS", 3600)
    # Still modifying for the reads before the update and a few polls, then done.
    rds_statuses.script(None, *[busy] * 10, status("available"))
    requests.clear()
    resumed = infra("apply", "--auto-approve")
    assert resumed.code == 0, resumed.err
    assert f"{DB_INSTANCE}: Modifying..." in resumed.out
    assert "ModifyDBInstance" not in [operation for operation, _ in requests]
    assert rds_statuses.until_returned()[-1] == "available"
    assert infra("plan").code == 0
