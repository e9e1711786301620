"""Configuration from the environment, and database credentials from Secrets Manager.

Secrets Manager is moto's in-process emulation (never real AWS); the database is real.
"""

import json
import time

import boto3
import pytest
from moto import mock_aws

from {{ cookiecutter.package_name }} import config
from {{ cookiecutter.package_name }}.config import ConfigError, database_settings, from_environ
from {{ cookiecutter.package_name }}.db_credentials import (
    Credentials,
    CredentialsUnavailable,
    SecretCredentials,
)

REGION = "eu-west-1"


# -- parsing ---------------------------------------------------------------------------


def test_database_url_is_parsed():
    settings = database_settings(
        {"DATABASE_URL": "postgresql://app:s%40cret@db.example.com:6543/shop?sslmode=require"}
    )
    assert (settings.host, settings.port, settings.dbname) == ("db.example.com", 6543, "shop")
    assert (settings.user, settings.password, settings.sslmode) == ("app", "s@cret", "require")


def test_db_variables_are_used_without_database_url():
    settings = database_settings(
        {"DB_HOST": "db.internal", "DB_PORT": "5433", "DB_NAME": "n", "DB_USER": "u",
         "DB_PASSWORD": "p", "DB_SSLMODE": "verify-full", "DB_SSLROOTCERT": "/ca.pem"}
    )  # fmt: skip
    assert (settings.host, settings.port, settings.dbname, settings.user) == (
        "db.internal", 5433, "n", "u",
    )  # fmt: skip
    assert (settings.password, settings.sslmode, settings.sslrootcert) == (
        "p", "verify-full", "/ca.pem",
    )  # fmt: skip


def test_db_variables_have_the_generated_defaults():
    settings = database_settings({"DB_HOST": "db.internal"})
    assert settings.port == 5432
    assert settings.dbname == config.DEFAULT_DB_NAME
    assert settings.user == config.DEFAULT_DB_USER
    assert settings.password is None


def test_database_url_wins_over_db_variables_but_db_sslmode_applies():
    settings = database_settings(
        {
            "DATABASE_URL": "postgresql://a@url-host/url_db",
            "DB_HOST": "other",
            "DB_SSLMODE": "require",
        }
    )
    assert (settings.host, settings.dbname, settings.sslmode) == ("url-host", "url_db", "require")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "set DATABASE_URL, or DB_HOST"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a valid"),
        ({"DB_HOST": "h", "DB_PORT": "http"}, "DB_PORT must be a number"),
        ({"DB_HOST": "h", "DB_PORT": "70000"}, "DB_PORT must be between"),
        ({"DB_HOST": "h", "DB_SSLMODE": "yes"}, "DB_SSLMODE must be one of"),
        ({"DB_HOST": "h", "DB_SECRET_ARN": "my-secret"}, "DB_SECRET_ARN must be the ARN"),
        ({"DB_HOST": "h", "DB_QUERY_TIMEOUT": "0"}, "DB_QUERY_TIMEOUT must be between"),
    ],
)
def test_invalid_configuration_is_one_clear_error(values, message):
    with pytest.raises(ConfigError, match=message):
        database_settings(values)


def test_from_environ_reads_only_known_non_empty_keys():
    environ = {"DB_HOST": "h", "DB_PASSWORD": "", "HOME": "/root", "DB_SECRET_ARN": "arn:x"}
    assert from_environ(environ) == {"DB_HOST": "h", "DB_SECRET_ARN": "arn:x"}


def test_create_app_reads_the_environment(monkeypatch, postgres):
    monkeypatch.setenv("DATABASE_URL", postgres.url)
    monkeypatch.setenv("DB_QUERY_TIMEOUT", "1.5")
    from {{ cookiecutter.package_name }} import create_app

    app = create_app()
    try:
        assert app.extensions["database"].settings.query_timeout == 1.5
        assert app.test_client().get("/").status_code == 200
    finally:
        app.extensions["database"].close()


def test_connection_arguments_bound_every_query():
    tcp = database_settings({"DB_HOST": "db.internal", "DB_PASSWORD": "hunter2"})
    kwargs = tcp.connect_kwargs()
    assert kwargs["options"] == "-c statement_timeout=1500"
    assert kwargs["connect_timeout"] == 2
    assert kwargs["keepalives"] == 1
    assert "hunter2" not in repr(tcp)
    socket = database_settings({"DB_HOST": "/run/postgresql"}).connect_kwargs()
    assert "keepalives" not in socket


def test_db_variables_reach_a_real_database(make_app, postgres):
    url_settings = database_settings({"DATABASE_URL": postgres.url})
    app = make_app(
        DATABASE_URL=None,
        DB_HOST=url_settings.host,
        DB_PORT=str(url_settings.port),
        DB_NAME=url_settings.dbname,
        DB_USER=url_settings.user,
        DB_PASSWORD=url_settings.password,
    )
    assert app.test_client().get("/").get_data(as_text=True).strip() == "Page visited 1 times!"


# -- Secrets Manager -------------------------------------------------------------------


@pytest.fixture
def secrets():
    """moto's Secrets Manager, in process; no request leaves this machine."""
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def create_secret(secrets, username: str, password: str) -> str:
    value = json.dumps({"username": username, "password": password, "engine": "postgres"})
    return secrets.create_secret(Name="rds!db-test", SecretString=value)["ARN"]


def test_secret_credentials_are_read_once_and_cached(secrets):
    arn = create_secret(secrets, "admin", "first")
    provider = SecretCredentials(arn)
    assert provider.get() == Credentials("admin", "first")
    assert provider.get() == Credentials("admin", "first")
    assert provider.fetch_count == 1
    assert "first" not in repr(provider.get())


def test_secret_region_comes_from_the_arn(secrets):
    arn = create_secret(secrets, "admin", "first")
    assert f":{REGION}:" in arn
    provider = SecretCredentials(arn)
    provider.get()
    assert provider._secrets_client().meta.region_name == REGION


def test_refresh_reads_the_rotated_secret(secrets, monkeypatch):
    monkeypatch.setattr(SecretCredentials, "min_refresh_interval", 0)
    arn = create_secret(secrets, "admin", "first")
    provider = SecretCredentials(arn)
    old = provider.get()
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(
        {"username": "admin", "password": "second"}))  # fmt: skip
    assert provider.get() == old  # cached until the database says otherwise
    assert provider.refresh(rejected=old) == Credentials("admin", "second")


def test_refresh_is_rate_limited(secrets):
    arn = create_secret(secrets, "admin", "first")
    provider = SecretCredentials(arn)
    old = provider.get()
    for _ in range(5):
        provider.refresh(rejected=old)
    assert provider.fetch_count == 1


@pytest.mark.parametrize("value", ["not json", json.dumps({"user": "x"})])
def test_malformed_secret_is_reported(secrets, value):
    arn = secrets.create_secret(Name="broken", SecretString=value)["ARN"]
    with pytest.raises(CredentialsUnavailable):
        SecretCredentials(arn).get()


def test_missing_secret_gives_503_without_details(secrets, make_app, assert_no_internals):
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:nope-AbCdEf"
    client = make_app(DB_SECRET_ARN=arn).test_client()
    response = client.get("/")
    assert response.status_code == 503
    assert_no_internals(response.get_data(as_text=True))
    assert client.get(config.HEALTH_CHECK_PATH).status_code == 503


def end_sessions(postgres, role: str) -> None:
    """Terminate the role's sessions and wait until they are gone."""
    postgres.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
    )
    deadline = time.monotonic() + 5
    while postgres.query("SELECT 1 FROM pg_stat_activity WHERE usename = %s", (role,)):
        assert time.monotonic() < deadline, "sessions did not end"
        time.sleep(0.05)


@pytest.fixture
def password_role(embedded, postgres):
    """A role that must log in with a password (the embedded server trusts everyone else)."""
    role = "rotating_app"
    hba = embedded.data_dir / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"local all {role} scram-sha-256\n" + original)
    postgres.execute(
        f"CREATE ROLE {role} LOGIN PASSWORD 'first-password'",
        f"GRANT CREATE, USAGE ON SCHEMA public TO {role}",
        "SELECT pg_reload_conf()",
    )
    yield role
    hba.write_text(original)
    end_sessions(postgres, role)
    postgres.execute(
        f"DROP OWNED BY {role}",
        f"DROP ROLE {role}",
        "SELECT pg_reload_conf()",
    )


def test_app_reconnects_after_the_password_is_rotated(
    secrets, password_role, make_app, postgres, monkeypatch
):
    """The app logs in with the secret's credentials; after the password changes in both
    PostgreSQL and the secret, and the old sessions end, it reads the secret again and
    carries on without a restart."""
    monkeypatch.setattr(SecretCredentials, "min_refresh_interval", 0)
    arn = create_secret(secrets, password_role, "first-password")
    app = make_app(DB_SECRET_ARN=arn)  # DATABASE_URL names user postgres: the secret wins
    client = app.test_client()
    assert client.get("/").get_data(as_text=True).strip() == "Page visited 1 times!"
    assert postgres.execute(
        "SELECT tableowner FROM pg_tables WHERE tablename = 'visit_counter'"
    ) == [(password_role,)]

    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(
        {"username": password_role, "password": "second-password"}))  # fmt: skip
    postgres.execute(f"ALTER ROLE {password_role} PASSWORD 'second-password'")
    end_sessions(postgres, password_role)

    response = client.get("/")
    assert response.status_code == 200
    assert response.get_data(as_text=True).strip() == "Page visited 2 times!"
    assert app.extensions["database"].credentials.fetch_count == 2


def test_wrong_password_in_the_secret_gives_503(
    secrets, password_role, make_app, assert_no_internals
):
    arn = create_secret(secrets, password_role, "not-the-password")
    client = make_app(DB_SECRET_ARN=arn).test_client()
    response = client.get("/")
    assert response.status_code == 503
    assert_no_internals(response.get_data(as_text=True))
