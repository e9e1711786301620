"""One run at a time per stack, with a lock kept in AWS."""

from __future__ import annotations

import json
import threading

from infra import aws, lock
from infra.resources.shared.log_group import LogGroup


def hold_lock(project, holder: str = "alice on laptop (pid 1)") -> None:
    client = aws.Aws(project.settings.aws_region)
    client.ssm.put_parameter(
        Name=lock.parameter_name(project.settings),
        Type="String",
        Overwrite=False,
        Value=json.dumps(
            {"holder": holder, "command": "apply", "since": "2030-01-02 03:04:05 UTC"}
        ),
    )


def test_held_lock_refuses_apply_and_names_the_holder(moto, project, infra, calls):
    hold_lock(project)
    calls.clear()
    result = infra("apply", "--auto-approve")
    assert result.code == 1
    assert result.err.strip() == (
        f"Error: Stack {project.settings.stack_name} is locked by alice on laptop (pid 1) (apply) "
        "since 2030-01-02 03:04:05 UTC: wait for that run to finish, or if it died, run this "
        "command again with --break-lock."
    )
    assert [op for _service, op in calls.mutating] == ["PutParameter"]


def test_held_lock_refuses_destroy(deployed, project, infra):
    hold_lock(project)
    result = infra("destroy", "--auto-approve")
    assert result.code == 1
    assert "is locked by alice" in result.err


def test_break_lock_removes_a_stale_lock(moto, project, infra):
    hold_lock(project)
    result = infra("apply", "--auto-approve", "--break-lock")
    assert result.code == 0, result.err
    assert "Removed the lock held by alice on laptop (pid 1)" in result.out


def test_lock_is_released_after_apply(deployed, project, aws_client):
    names = [p["Name"] for p in aws_client("ssm").describe_parameters()["Parameters"]]
    assert lock.parameter_name(project.settings) not in names


def test_second_of_two_concurrent_applies_is_refused(moto, project, monkeypatch, capsys):
    inside, release = threading.Event(), threading.Event()
    original = LogGroup.create

    def slow_create(self, ctx, desired):
        inside.set()
        release.wait(timeout=30)
        original(self, ctx, desired)

    monkeypatch.setattr(LogGroup, "create", slow_create)
    first: dict = {}
    thread = threading.Thread(
        target=lambda: first.setdefault("result", project.run("apply", "--auto-approve"))
    )
    thread.start()
    try:
        assert inside.wait(timeout=30)
        second = project.run("apply", "--auto-approve", capsys=capsys)
    finally:
        release.set()
        thread.join(timeout=60)
    assert second.code == 1
    assert "is locked by" in second.err
    assert first["result"].code == 0
