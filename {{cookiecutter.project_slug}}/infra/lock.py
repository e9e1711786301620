"""One run at a time per stack: a lock kept in AWS, so it holds across laptops and CI.

The lock is an SSM parameter created with Overwrite=False, which AWS creates atomically:
of two runs, exactly one succeeds and the other learns who holds the lock.
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import json
import os
import socket

from infra import tags
from infra.aws import Aws, DeployError
from infra.resources.shared.permissions import allow
from infra.validation import StackSettings


class LockHeld(DeployError):
    pass


def parameter_name(settings: StackSettings) -> str:
    return f"/three-tier-flask/{settings.project_slug}/{settings.stack_name}/lock"


def holder() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    who = os.environ.get("GITHUB_ACTOR")
    where = (
        f"GitHub Actions run {os.environ['GITHUB_RUN_ID']}"
        if os.environ.get("GITHUB_RUN_ID")
        else socket.gethostname()
    )
    return f"{who or user} on {where} (pid {os.getpid()})"


class StackLock:
    def __init__(self, aws: Aws, settings: StackSettings, command: str):
        self.aws = aws
        self.settings = settings
        self.command = command
        self.name = parameter_name(settings)
        self.held = False

    def describe(self) -> dict | None:
        try:
            value = self.aws.ssm.get_parameter(Name=self.name)["Parameter"]["Value"]
        except self.aws.ssm.exceptions.ParameterNotFound:
            return None
        try:
            return json.loads(value)
        except ValueError:
            return {"holder": value}

    def acquire(self) -> None:
        value = json.dumps(
            {
                "holder": holder(),
                "command": self.command,
                "since": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            }
        )
        try:
            self.aws.ssm.put_parameter(
                Name=self.name,
                Value=value,
                Type="String",
                Overwrite=False,
                Description="Held while a deploy tool run changes the stack",
                Tags=tags.as_list(tags.stack_tags(self.settings)),
            )
        except self.aws.ssm.exceptions.ParameterAlreadyExists:
            raise self._held_error() from None
        self.held = True

    def _held_error(self) -> LockHeld:
        info = self.describe() or {}
        holder = info.get("holder", "another run")
        command = info.get("command", "unknown command")
        since = info.get("since", "an unknown time")
        return LockHeld(
            f"Stack {self.settings.stack_name} is locked by {holder} ({command}) since {since}: "
            f"wait for that run to finish, or if it died, run this command again with --break-lock."
        )

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(self.aws.ssm.exceptions.ParameterNotFound):
                self.aws.ssm.delete_parameter(Name=self.name)
            self.held = False

    def break_lock(self) -> dict | None:
        """Removes a lock left by a run that died; returns what it said."""
        info = self.describe()
        if info is not None:
            with contextlib.suppress(self.aws.ssm.exceptions.ParameterNotFound):
                self.aws.ssm.delete_parameter(Name=self.name)
        return info

    def __enter__(self) -> StackLock:
        self.acquire()
        return self

    def __exit__(self, *_exc) -> None:
        self.release()


def deploy_permissions(ctx) -> list[dict]:
    return [
        allow(
            [
                "ssm:AddTagsToResource",
                "ssm:DeleteParameter",
                "ssm:GetParameter",
                "ssm:PutParameter",
            ],
            ctx.aws.arn("ssm", f"parameter{parameter_name(ctx.settings)}"),
        )
    ]
