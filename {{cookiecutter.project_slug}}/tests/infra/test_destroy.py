"""Destroy removes every resource of the stack, keeps a final snapshot, and can run twice."""

from __future__ import annotations

import builtins

from helpers import remaining


def test_destroy_leaves_only_the_final_snapshot(deployed, project, infra, aws_client):
    settings = project.settings
    result = infra("destroy", "--auto-approve")
    assert result.code == 0, result.err
    assert "Destroy complete!" in result.out
    left = [item for item in remaining(aws_client, settings) if ":snapshot:" not in item]
    assert left == [], "\n".join(left)
    snapshots = aws_client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert [
        s["DBSnapshotIdentifier"].startswith(settings.name("db-final-")) for s in snapshots
    ] == [True]


def test_destroy_again_is_harmless(deployed, infra, calls):
    assert infra("destroy", "--auto-approve").code == 0
    calls.clear()
    again = infra("destroy", "--auto-approve")
    assert again.code == 0
    assert "Nothing to destroy" in again.out
    assert calls.mutating == []


def test_destroy_asks_first(deployed, project, infra, monkeypatch, aws_client):
    monkeypatch.setattr(builtins, "input", lambda _prompt="": "no")
    result = infra("destroy")
    assert result.code == 1
    assert "Destroy cancelled." in result.err
    assert "- aws_db_instance.main" in result.out
    assert aws_client("rds").describe_db_instances()["DBInstances"]


def test_apply_asks_first(moto, infra, monkeypatch, calls):
    monkeypatch.setattr(builtins, "input", lambda _prompt="": "yes please")
    result = infra("apply")
    assert result.code == 1
    assert "Apply cancelled." in result.err
    assert {op for _s, op in calls.mutating} == {"PutParameter", "DeleteParameter"}  # the lock


def test_skip_final_snapshot(deployed, infra, aws_client):
    assert infra("destroy", "--auto-approve", "--skip-final-snapshot").code == 0
    assert aws_client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []
