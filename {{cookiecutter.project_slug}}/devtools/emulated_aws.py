"""moto in this process, with dummy credentials: nothing here can reach real AWS.

Used by the deploy tests (tests/infra_fixtures.py) and the deploy benchmark. What the
emulator cannot stand in for is listed here for `make deploy-local` too.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Anything that could point boto3 at a real account or endpoint, or change the deploy.
REMOVED_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "IMAGE_TAG",
    # bootstrap-ci would use these to reach GitHub's API.
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
)
# Settings that need something only your real account has. A deploy to the emulator
# (`make deploy-local`, the deploy benchmark) leaves them out of its copy of stack.toml.
NOT_EMULATED = {
    "hosted_zone_id": "your Route 53 zone is not in the emulator; the certificate's DNS "
    "record is printed instead, and the emulator issues the certificate at once",
    "monthly_budget_usd": "moto lacks AWS Budgets calls the deploy tool reads back",
}


def without_account_only_settings(stack_toml: str) -> tuple[str, list[str]]:
    """The text of stack.toml without the NOT_EMULATED settings, and those of them that had
    a value (an empty one, such as `hosted_zone_id = ""`, changes nothing)."""
    kept, left_out = [], []
    for line in stack_toml.splitlines():
        key, _, rest = line.partition("=")
        key = key.strip()
        if key not in NOT_EMULATED:
            kept.append(line)
        elif rest.split("#", 1)[0].strip() not in ('""', "''"):
            left_out.append(key)
    return "\n".join(kept) + "\n", left_out


@contextlib.contextmanager
def emulated_aws() -> Iterator[None]:
    """Dummy credentials, instant polling, and moto in place of AWS; all undone after."""
    from moto import mock_aws
    from moto.core.botocore_stubber import BotocoreStubber

    from devtools import moto_fixes
    from infra import engine

    moto_fixes.install()
    saved_environment = dict(os.environ)
    saved_timing = engine.Context.poll_seconds, engine.Context.default_sleep
    # moto's backends are not thread-safe (a DescribeAlarms can iterate over the alarms
    # while a PutMetricAlarm from another thread adds one: "dictionary changed size during
    # iteration"); AWS is. The deploy tool reads and changes in parallel, so moto answers
    # one call at a time here: the tool's threads still overlap in everything else.
    answer = BotocoreStubber.process_request
    one_at_a_time = threading.RLock()

    def process_request(self, request):
        with one_at_a_time:
            return answer(self, request)

    BotocoreStubber.process_request = process_request
    for name in REMOVED_ENVIRONMENT:
        os.environ.pop(name, None)
    os.environ.update(FAKE_ENVIRONMENT)
    engine.Context.poll_seconds = 0.0
    engine.Context.default_sleep = staticmethod(lambda _seconds: None)
    try:
        with mock_aws():
            yield
    finally:
        BotocoreStubber.process_request = answer
        engine.Context.poll_seconds, engine.Context.default_sleep = saved_timing
        os.environ.clear()
        os.environ.update(saved_environment)
