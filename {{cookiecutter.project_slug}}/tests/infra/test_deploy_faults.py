"""Deploys under faults: throttling, a run killed at a random call, destroy of a half stack.

test_resume.py proves resume after a failure at chosen steps; here the points are
random (seeded, so a failure reproduces), AWS throttles a share of all calls, and destroy
cleans up after an apply that died half way.
"""

from __future__ import annotations

import random
import threading
from urllib.parse import urlsplit

import botocore.config
import pytest
from helpers import EXPECTED, count_stack, remaining
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from infra import aws

SEED = 20240607
THROTTLED_SHARE = 0.2
# What AWS answers when a caller goes too fast, by the API's protocol.
THROTTLE_BODIES = {
    "ec2": (
        b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
        b"exceeded.</Message></Error></Errors><RequestID>throttled</RequestID></Response>"
    ),
    "query": (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate "
        b"exceeded</Message></Error><RequestId>throttled</RequestId></ErrorResponse>"
    ),
    "json": b'{"__type":"ThrottlingException","message":"Rate exceeded"}',
}


class Killed(KeyboardInterrupt):
    """Ctrl-C, or the CI runner cancelling the job: every later call fails too."""


@pytest.fixture
def fast_retries(moto, monkeypatch):
    """botocore's own retries, with its backoff sleeps made instant (tests only).

    The tool's clients use adaptive mode, whose rate limiter would really wait after
    throttling; standard mode retries the same errors without it.
    """
    retries = aws.RETRY_CONFIG.retries  # botocore turns max_attempts into total_max_attempts
    assert retries.get("total_max_attempts", retries.get("max_attempts", 0) + 1) >= 5
    monkeypatch.setattr(
        aws,
        "RETRY_CONFIG",
        botocore.config.Config(retries={"mode": "standard", "max_attempts": 10}),
    )
    monkeypatch.setattr(aws, "_CLIENTS", {})  # new clients, with that configuration
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _seconds: None)


def protocol(request) -> str | None:
    """The API protocol of a request, as far as the throttling answer needs it."""
    headers = {key.lower(): value for key, value in request.headers.items()}
    if "smithy-protocol" in headers:
        return None  # CBOR (CloudWatch): not throttled here
    if "x-amz-target" in headers:
        return "json"
    return "ec2" if urlsplit(request.url).hostname.startswith("ec2.") else "query"


@pytest.fixture
def throttling(fast_retries, monkeypatch) -> dict:
    """AWS refuses a seeded random share of requests with a throttling error, unexecuted,
    until the test sets `on` to False (its own checks use clients without our retries)."""
    chance = random.Random(SEED)  # noqa: S311 - reproducible faults, not secrets
    seen = {"throttled": 0, "requests": 0, "on": True}
    lock = threading.Lock()
    original = BotocoreStubber.__call__

    def call(self, event_name, request, **kwargs):
        body = THROTTLE_BODIES.get(protocol(request))
        with lock:
            seen["requests"] += 1
            throttle = seen["on"] and body is not None and chance.random() < THROTTLED_SHARE
            seen["throttled"] += throttle
        if throttle:
            return botocore.awsrequest.AWSResponse(request.url, 400, {}, MockRawResponse(body))
        return original(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", call)
    return seen


def kill_after(calls: int) -> dict:
    """An observer that lets `calls` AWS calls through, then fails all the others."""
    state = {"left": calls, "armed": True}

    def observer(_service: str, _operation: str, _params: dict) -> None:
        if not state["armed"]:
            return
        if state["left"] <= 0:
            raise Killed
        state["left"] -= 1

    state["observer"] = observer
    return state


@pytest.fixture
def kill():
    installed = []

    def install(calls: int) -> dict:
        state = kill_after(calls)
        aws.call_observers.insert(0, state["observer"])
        installed.append(state["observer"])
        return state

    yield install
    for observer in installed:
        aws.call_observers.remove(observer)


def test_throttled_calls_are_retried_and_the_stack_converges(
    throttling, project, infra, aws_client
):
    applied = infra("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert throttling["throttled"] > 10, throttling
    assert infra("plan").code == 0
    throttling["on"] = False
    counts = count_stack(aws_client, project.settings)
    assert {key: counts[key] for key in EXPECTED} == EXPECTED
    assert counts["subnets"] == 2 * project.settings.az_count


# Call counts at which the first apply dies. A first apply makes about 200 calls: the
# checks, two plans and the lock take the first ~80, so every point falls among the
# creates (network, then database, load balancer and instances in parallel).
_points = random.Random(SEED)  # noqa: S311 - reproducible faults, not secrets
KILL_POINTS = [_points.randrange(low, low + 40) for low in (85, 125, 165)]


@pytest.mark.parametrize("calls", KILL_POINTS)
def test_killed_apply_is_finished_by_the_next_one(moto, project, infra, kill, aws_client, calls):
    state = kill(calls)
    died = infra("apply", "--auto-approve")
    assert died.code == 1
    assert "Run the same command again" in died.err or "resume" in died.err
    state["armed"] = False
    # The killed run could not release its lock: the re-run breaks it, as its message says.
    resumed = infra("apply", "--auto-approve", "--break-lock")
    assert resumed.code == 0, resumed.err
    counts = count_stack(aws_client, project.settings)
    assert {key: counts[key] for key in EXPECTED} == EXPECTED
    assert counts["subnets"] == 2 * project.settings.az_count
    assert infra("plan").code == 0


def test_destroy_after_a_half_finished_apply_removes_everything(
    moto, project, infra, kill, aws_client
):
    state = kill(KILL_POINTS[1])
    assert infra("apply", "--auto-approve").code == 1
    state["armed"] = False
    assert aws_client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:Project", "Values": [project.settings.project_slug]}]
    )["Vpcs"], "the apply died before it created anything"
    destroyed = infra("destroy", "--auto-approve", "--break-lock")
    assert destroyed.code == 0, destroyed.err
    left = [item for item in remaining(aws_client, project.settings) if ":snapshot:" not in item]
    assert left == [], "\n".join(left)
