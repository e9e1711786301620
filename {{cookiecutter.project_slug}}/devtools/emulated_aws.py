"""moto in this process, with dummy credentials: nothing here can reach real AWS.

Used by the deploy tests (tests/infra_fixtures.py) and the deploy benchmark.
"""

from __future__ import annotations

import contextlib
import os
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
)


@contextlib.contextmanager
def emulated_aws() -> Iterator[None]:
    """Dummy credentials, instant polling, and moto in place of AWS; all undone after."""
    from moto import mock_aws

    from infra import engine

    saved_environment = dict(os.environ)
    saved_timing = engine.Context.poll_seconds, engine.Context.default_sleep
    for name in REMOVED_ENVIRONMENT:
        os.environ.pop(name, None)
    os.environ.update(FAKE_ENVIRONMENT)
    engine.Context.poll_seconds = 0.0
    engine.Context.default_sleep = staticmethod(lambda _seconds: None)
    try:
        with mock_aws():
            yield
    finally:
        engine.Context.poll_seconds, engine.Context.default_sleep = saved_timing
        os.environ.clear()
        os.environ.update(saved_environment)
