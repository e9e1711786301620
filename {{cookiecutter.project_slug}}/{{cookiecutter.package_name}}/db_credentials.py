"""Database credentials from the Secrets Manager secret that RDS manages for its master user.

The secret's value is JSON with ``username`` and ``password`` keys. It is fetched on first
use and cached; ``refresh()`` fetches it again, which the connection pool does when the
database rejects the cached password (the secret was rotated).
"""

import json
import logging
import threading
import time
from dataclasses import dataclass, field

import boto3
import botocore.config
import botocore.exceptions

log = logging.getLogger(__name__)

# Fail fast: a slow Secrets Manager must not hold a request for long.
_BOTO_CONFIG = botocore.config.Config(
    connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"}
)


class CredentialsUnavailable(Exception):
    """The secret could not be read or does not hold a username and password."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


class SecretCredentials:
    """Cached credentials read from one Secrets Manager secret (thread-safe)."""

    # Never fetch more often than this, even when the database keeps rejecting us.
    min_refresh_interval = 1.0

    def __init__(self, secret_arn: str, client=None):
        self.secret_arn = secret_arn
        self._client = client
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._fetched_at = 0.0
        self.fetch_count = 0

    def get(self) -> Credentials:
        """The cached credentials, fetched on first use."""
        with self._lock:
            if self._credentials is None:
                self._credentials = self._fetch()
            return self._credentials

    def refresh(self, rejected: Credentials | None = None) -> Credentials:
        """Fetch the secret again because the database rejected ``rejected``.

        If another thread already replaced those credentials, its result is used; and the
        secret is read at most once per ``min_refresh_interval`` seconds.
        """
        with self._lock:
            stale = self._credentials is None or self._credentials == rejected or rejected is None
            due = time.monotonic() - self._fetched_at >= self.min_refresh_interval
            if self._credentials is None or (stale and due):
                self._credentials = self._fetch()
            return self._credentials

    def _fetch(self) -> Credentials:
        try:
            response = self._secrets_client().get_secret_value(SecretId=self.secret_arn)
            value = json.loads(response["SecretString"])
            credentials = Credentials(str(value["username"]), str(value["password"]))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            log.error("cannot read the database secret: %s", type(exc).__name__)
            raise CredentialsUnavailable("cannot read the database secret") from exc
        except (KeyError, TypeError, ValueError) as exc:
            log.error("the database secret is not JSON with username and password keys")
            raise CredentialsUnavailable("the database secret has no username/password") from exc
        self._fetched_at = time.monotonic()
        self.fetch_count += 1
        log.info("database credentials read from Secrets Manager")
        return credentials

    def _secrets_client(self):
        if self._client is None:
            # The region is part of the ARN: arn:aws:secretsmanager:<region>:<account>:secret:...
            parts = self.secret_arn.split(":")
            region = parts[3] if len(parts) > 3 and parts[3] else None
            self._client = boto3.client("secretsmanager", region_name=region, config=_BOTO_CONFIG)
        return self._client
