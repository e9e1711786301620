"""Configuration of the app, read from the environment.

The database is reached with either

* ``DATABASE_URL`` (``postgresql://user:password@host:5432/dbname?sslmode=require``), or
* ``DB_HOST``, ``DB_PORT``, ``DB_NAME``, ``DB_USER``, ``DB_PASSWORD``,

plus ``DB_SSLMODE`` and ``DB_SSLROOTCERT`` (for ``verify-full`` against RDS: the path of the
RDS CA bundle, or ``system``). When ``DB_SECRET_ARN`` is set, the user name and password come
from that Secrets Manager secret (the one RDS manages for its master user) instead, and are
fetched again when the database rejects them, so a rotated password is picked up without a
restart.

Timeouts (all optional): ``DB_CONNECT_TIMEOUT`` and ``DB_QUERY_TIMEOUT`` in seconds (the
client-side deadline of one database call, connecting included), ``DB_STATEMENT_TIMEOUT_MS``
(server side), ``DB_POOL_SIZE`` and ``DB_POOL_TIMEOUT`` (seconds to wait for a free
connection).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions

# Values chosen when the project was generated. HEALTH_CHECK_PATH is only the default of
# health_check_path(): the environment variable of that name wins.
HEALTH_CHECK_PATH = {{ cookiecutter.health_check_path | python }}
DEFAULT_DB_NAME = {{ cookiecutter.db_name | python }}
DEFAULT_DB_USER = {{ cookiecutter.db_admin_username | python }}
DEFAULT_DB_PORT = 5432

ENV_KEYS = (
    "DATABASE_URL",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_USER",
    "DB_PASSWORD",
    "DB_SSLMODE",
    "DB_SSLROOTCERT",
    "DB_SECRET_ARN",
    "DB_CONNECT_TIMEOUT",
    "DB_QUERY_TIMEOUT",
    "DB_STATEMENT_TIMEOUT_MS",
    "DB_POOL_SIZE",
    "DB_POOL_TIMEOUT",
    "LOG_LEVEL",
    "HEALTH_CHECK_PATH",
)

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class ConfigError(ValueError):
    """The configuration is missing or invalid; the message says what to set."""


@dataclass(frozen=True)
class DatabaseSettings:
    """Everything needed to open connections to the database."""

    host: str
    port: int
    dbname: str
    user: str | None
    password: str | None = field(default=None, repr=False)
    sslmode: str | None = None
    sslrootcert: str | None = None
    secret_arn: str | None = None
    connect_timeout: float = 2.0
    query_timeout: float = 2.0
    statement_timeout_ms: int = 1500
    pool_size: int = 5
    pool_timeout: float = 1.0

    def connect_kwargs(self, user: str | None = None, password: str | None = None) -> dict:
        """Keyword arguments for ``psycopg2.connect``; ``user``/``password`` override ours."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": user if user is not None else self.user,
            "password": password if password is not None else self.password,
            "sslmode": self.sslmode,
            "sslrootcert": self.sslrootcert,
            # libpq counts whole seconds and treats anything below 2 as 2.
            "connect_timeout": max(2, int(self.connect_timeout)),
            "application_name": "web",
            "options": f"-c statement_timeout={self.statement_timeout_ms}",
            # TCP keepalives notice a dead peer on an idle pooled connection.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        if self.host.startswith("/"):  # Unix socket: keepalives do not apply
            for key in ("keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count"):
                del kwargs[key]
        return {key: value for key, value in kwargs.items() if value not in (None, "")}


def from_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The configuration keys present in the environment, as strings."""
    environ = os.environ if environ is None else environ
    return {key: environ[key] for key in ENV_KEYS if environ.get(key, "") != ""}


def health_check_path(config: Mapping[str, Any] | None = None) -> str:
    """The path the load balancer checks and the app answers: ``HEALTH_CHECK_PATH`` from the
    environment (or a Flask config), which the instances' boot script sets from
    ``health_check_path`` in stack.toml, else the one chosen when the project was generated.
    One value for both, so editing stack.toml cannot leave the app answering another path."""
    config = os.environ if config is None else config
    path = str(config.get("HEALTH_CHECK_PATH") or HEALTH_CHECK_PATH)
    if not path.startswith("/"):
        raise ConfigError(f"HEALTH_CHECK_PATH must be a URL path starting with /, not {path!r}")
    return path


def database_settings(config: Mapping[str, Any]) -> DatabaseSettings:
    """Build the database settings from a Flask config (or any mapping of the keys above)."""

    def get(key: str) -> str | None:
        value = config.get(key)
        return None if value is None or str(value) == "" else str(value)

    url = get("DATABASE_URL")
    if url is not None:
        try:
            parsed = psycopg2.extensions.parse_dsn(url)
        except psycopg2.ProgrammingError:
            raise ConfigError(
                "DATABASE_URL is not a valid PostgreSQL URL; "
                "use postgresql://user:password@host:5432/dbname"
            ) from None
        host = parsed.get("host") or "localhost"
        port = parsed.get("port") or DEFAULT_DB_PORT
        dbname = parsed.get("dbname") or DEFAULT_DB_NAME
        user = parsed.get("user")
        password = parsed.get("password")
        sslmode = get("DB_SSLMODE") or parsed.get("sslmode")
        sslrootcert = get("DB_SSLROOTCERT") or parsed.get("sslrootcert")
    else:
        host = get("DB_HOST")
        if host is None:
            raise ConfigError("No database configured: set DATABASE_URL, or DB_HOST and DB_NAME")
        port = get("DB_PORT") or DEFAULT_DB_PORT
        dbname = get("DB_NAME") or DEFAULT_DB_NAME
        user = get("DB_USER") or DEFAULT_DB_USER
        password = get("DB_PASSWORD")
        sslmode = get("DB_SSLMODE")
        sslrootcert = get("DB_SSLROOTCERT")

    if sslmode is not None and sslmode not in SSL_MODES:
        raise ConfigError(f"DB_SSLMODE must be one of {', '.join(SSL_MODES)}, not {sslmode!r}")

    secret_arn = get("DB_SECRET_ARN")
    if secret_arn is not None and not secret_arn.startswith("arn:"):
        raise ConfigError("DB_SECRET_ARN must be the ARN of a Secrets Manager secret (arn:...)")

    return DatabaseSettings(
        host=host,
        port=_number(port, "DB_PORT", int, 1, 65535),
        dbname=dbname,
        user=user,
        password=password,
        sslmode=sslmode,
        sslrootcert=sslrootcert,
        secret_arn=secret_arn,
        connect_timeout=_number(get("DB_CONNECT_TIMEOUT") or 2, "DB_CONNECT_TIMEOUT", float, 1, 60),
        query_timeout=_number(get("DB_QUERY_TIMEOUT") or 2, "DB_QUERY_TIMEOUT", float, 0.1, 60),
        statement_timeout_ms=_number(
            get("DB_STATEMENT_TIMEOUT_MS") or 1500, "DB_STATEMENT_TIMEOUT_MS", int, 1, 600_000
        ),
        pool_size=_number(get("DB_POOL_SIZE") or 5, "DB_POOL_SIZE", int, 1, 100),
        pool_timeout=_number(get("DB_POOL_TIMEOUT") or 1, "DB_POOL_TIMEOUT", float, 0, 60),
    )


def _number(value: Any, name: str, kind: type, low: float, high: float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, not {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {value!r}")
    return number
