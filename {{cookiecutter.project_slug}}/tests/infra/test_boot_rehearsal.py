"""The boot rehearsal: the instances' user data, exactly as the deploy put it into the launch
template on moto, run whole with bash before any instance runs it.

What is real: the script (base64-decoded from DescribeLaunchTemplateVersions), bash, curl,
coreutils, and the AWS CLI (awscli from PyPI, on the project's botocore pin), which talks over
HTTP to moto (a moto server on 127.0.0.1 sharing the deployed stack's state; AWS_ENDPOINT_URL).
What stands in for what only an instance has: a local IMDSv2 service that requires the token
(devtools/instance_metadata.py), which also serves the RDS CA bundle; a TCP listener for the
database's endpoint (moto's DB instance is pointed at it); and recording stand-ins on PATH for
dnf, systemctl, docker and chown (the rehearsal does not run as root). The AWS CLI goes
through a recording wrapper that can also fail its first calls of one operation. The stand-ins
and the listener are boot_standins.py's, shared with test_boot_script.py.

The script reads IMDS_ENDPOINT, RDS_CA_BASE_URL, RDS_CA_DIR and its pauses from the
environment only for this rehearsal: cloud-init sets none of them.
"""

from __future__ import annotations

import base64
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from boot_standins import (
    SEPARATOR,
    BashRun,
    DatabaseListener,
    RecordingCommands,
    boot_environment,
    run_bash,
)
from helpers import Project
from moto.rds.models import DBInstance, rds_backends
from moto.server import ThreadedMotoServer

from devtools.emulated_aws import emulated_aws
from devtools.instance_metadata import MetadataService
from devtools.processes import LOOPBACK, free_port

# The module's stack is applied once per worker that runs one of its tests: keep them on one.
pytestmark = pytest.mark.xdist_group("boot_rehearsal")

IMAGE_TAG = "v7"
INSTANCE_ID = "i-0rehearsal0000001"
# Not a certificate anyone trusts: the script only checks that it got a PEM bundle.
CA_BUNDLE = b"-----BEGIN CERTIFICATE-----\nMIIrehearsal\n-----END CERTIFICATE-----\n"
RECORDED = ("dnf", "systemctl", "docker", "chown")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """The stack deployed on moto, and a moto server on loopback sharing its state."""
    folder = tmp_path_factory.mktemp("rehearsal")
    project = Project(folder)
    with emulated_aws():
        assert project.run("apply", "--auto-approve", "--image-tag", IMAGE_TAG).code == 0
        settings = project.settings
        region = settings.aws_region
        ec2 = boto3.client("ec2", region_name=region)
        data = ec2.describe_launch_template_versions(
            LaunchTemplateName=settings.name("lt"), Versions=["$Default"]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        script = folder / "user_data.sh"
        script.write_bytes(base64.b64decode(data["UserData"]))
        rds = boto3.client("rds", region_name=region)
        db = rds.describe_db_instances(DBInstanceIdentifier=settings.name("db"))["DBInstances"][0]
        secret_arn = db["MasterUserSecret"]["SecretArn"]
        secret_value = boto3.client("secretsmanager", region_name=region).get_secret_value(
            SecretId=secret_arn
        )["SecretString"]
        repository = boto3.client("ecr", region_name=region).describe_repositories(
            repositoryNames=[settings.name("app")]
        )["repositories"][0]["repositoryUri"]
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=free_port(), verbose=False)
        server.start()
        try:
            yield SimpleNamespace(
                settings=settings,
                region=region,
                script=script,
                endpoint=f"http://{LOOPBACK}:{server._port}",
                secret_arn=secret_arn,
                secret_value=secret_value,
                repository=repository,
            )
        finally:
            server.stop()


@pytest.fixture
def database(monkeypatch, stack) -> Iterator[DatabaseListener]:
    """moto's DB instance answers with an endpoint on 127.0.0.1; a listener stands for
    PostgreSQL there once `listen()` is called (until then, the port refuses connections)."""
    with DatabaseListener() as listener:
        monkeypatch.setattr(DBInstance, "address", property(lambda _self: LOOPBACK))
        for regions in rds_backends.values():
            instance = regions[stack.region].databases.get(stack.settings.name("db"))
            if instance is not None:
                monkeypatch.setattr(instance, "port", listener.port)
        yield listener


def real_aws_cli() -> Path:
    program = Path(sys.executable).parent / "aws"
    assert program.exists(), "awscli is missing: run make install (uv.lock's dev group has it)"
    return program


class Boot:
    """The user data with its stand-ins, the metadata service and the environment."""

    def __init__(self, folder: Path, stack: SimpleNamespace, imds: MetadataService):
        self.stack = stack
        self.imds = imds
        self.ca_dir = folder / "rds-ca"
        self.commands = RecordingCommands(folder)
        for name in RECORDED:
            self.commands.add(name)
        self.commands.add("aws", wraps=real_aws_cli())
        self.env = boot_environment(
            self.commands,
            "/usr/bin",
            "/bin",
            HOME=str(folder),
            AWS_ENDPOINT_URL=stack.endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            IMDS_ENDPOINT=imds.url,
            RDS_CA_BASE_URL=imds.url,
            RDS_CA_DIR=str(self.ca_dir),
            RETRY_SECONDS="0.1",
            DB_POLL_SECONDS="0.1",
            DNF_FIRST_PAUSE_SECONDS="0",  # whole seconds: the script doubles it
        )

    def run(self, timeout: float = 90) -> BashRun:
        """Runs the script as cloud-init does (a program); one stopped at `timeout` is
        reported as timed_out, with what it printed so far."""
        return run_bash([str(self.stack.script)], self.env, timeout)


@pytest.fixture
def boot(tmp_path, stack) -> Iterator[Boot]:
    region = stack.region
    documents = {f"/{region}/{region}-bundle.pem": CA_BUNDLE}
    with MetadataService({"instance-id": INSTANCE_ID}, documents) as imds:
        yield Boot(tmp_path, stack, imds)


def docker_run_arguments(boot: Boot) -> list[str]:
    (run,) = boot.commands.called("docker", "run")
    return run


def assert_nothing_secret_shown(boot: Boot, result) -> None:
    secrets_seen = [boot.stack.secret_value]
    secrets_seen += boot.commands.piped_into("docker.login")
    arguments = SEPARATOR.join(SEPARATOR.join(call) for call in boot.commands.calls())
    for value in filter(str.strip, secrets_seen):
        assert value.strip() not in result.output
        assert value.strip() not in arguments


def test_the_user_data_fits_what_ec2_accepts(stack):
    """EC2 User Guide, "Work with instance user data": "User data is limited to 16 KB, in raw
    form, before it is base64-encoded"; moto takes any size. Measured on what the deploy put
    into the launch template, its values filled in."""
    assert len(stack.script.read_bytes()) <= 16 * 1024


def test_the_boot_runs_the_exact_image_with_its_settings_in_order(boot, database, stack):
    """AWS rules: with HttpTokens=required, metadata needs a session token from PUT
    /latest/api/token (EC2 User Guide, "Use IMDSv2"); the RDS CA bundle of the region is at
    https://truststore.pki.rds.amazonaws.com/<region>/<region>-bundle.pem (RDS User Guide,
    "Certificate bundles for specific AWS Regions"); `aws ecr get-login-password` piped to
    `docker login --username AWS --password-stdin` (ECR User Guide, "Registry
    authentication"); the awslogs log driver's awslogs-group and awslogs-region options."""
    # The database starts accepting connections once the boot has asked RDS about it twice.
    opens = threading.Thread(
        target=boot.commands.when_called, args=("aws.rds.describe-db-instances", 2, database.listen)
    )
    opens.start()
    result = boot.run()
    opens.join()
    assert result.code == 0, result.output
    db = stack.settings.name("db")
    waiting = result.output.index(f"waiting for database {db}: status available, 127.0.0.1:")
    assert waiting < result.output.index(f"database {db} accepts connections")
    settings = stack.settings
    order = boot.commands.order()
    assert order[:2] == ["dnf install", "systemctl enable"]
    # The metadata token first; the value asked with it.
    assert boot.imds.requests[:2] == [
        ("PUT", "/latest/api/token", False),
        ("GET", "/latest/meta-data/instance-id", True),
    ]
    wait = order.index("aws rds describe-db-instances")
    secret = order.index("aws secretsmanager get-secret-value")
    # `aws ecr get-login-password | docker login ...`: the two start together.
    login = max(order.index("aws ecr get-login-password"), order.index("docker login"))
    assert wait < secret < login < order.index("docker pull")
    (password,) = boot.commands.piped_into("docker.login")
    assert password.strip(), "docker login got no password on its stdin"
    assert order[-2:] == ["docker rm", "docker run"]
    assert f"database {settings.name('db')} accepts connections at 127.0.0.1:{database.port}" in (
        result.output
    )
    (login_call,) = boot.commands.called("docker", "login")
    assert login_call == [
        "login",
        "--username",
        "AWS",
        "--password-stdin",
        stack.repository.split("/")[0],
    ]
    image = f"{stack.repository}:{IMAGE_TAG}"
    assert boot.commands.called("docker", "pull") == [["pull", image]]
    run = docker_run_arguments(boot)
    assert run[-1] == image
    ca_file = boot.ca_dir / f"{stack.region}-bundle.pem"
    for argument in (
        f"PORT={settings.app_port}",
        "DB_HOST=127.0.0.1",
        f"DB_PORT={database.port}",
        f"DB_NAME={settings.db_name}",
        f"DB_SECRET_ARN={stack.secret_arn}",
        "DB_SSLMODE=verify-full",
        "DB_SSLROOTCERT=/etc/rds-ca/bundle.pem",
        f"{ca_file}:/etc/rds-ca/bundle.pem:ro",
        f"HEALTH_CHECK_PATH={settings.health_check_path}",
        "awslogs",
        f"awslogs-group=/{settings.project_slug}/{settings.stack_name}/app",
        f"awslogs-region={stack.region}",
        f"awslogs-stream={INSTANCE_ID}",
        "--read-only",
    ):
        assert argument in run, argument
    # The bundle: what the region's URL served, read-only, handed to root.
    assert ca_file.read_bytes() == CA_BUNDLE
    assert ca_file.stat().st_mode & 0o777 == 0o444
    assert ["root:root", str(boot.ca_dir), f"{ca_file}.download"] in boot.commands.called("chown")
    assert_nothing_secret_shown(boot, result)


def test_a_database_that_never_accepts_connections_is_waited_for_saying_why(boot, database):
    """RDS reports an endpoint before the instance accepts connections (DB instance status
    table, RDS User Guide): the boot keeps waiting, never reads the secret, never starts the
    container, and says why on every round."""
    result = boot.run(timeout=8)
    assert result.timed_out, result.output
    waits = [line for line in result.output.splitlines() if line.startswith("waiting for database")]
    assert len(waits) >= 3
    assert all("does not accept connections yet" in line for line in waits)
    assert boot.commands.called("aws", "secretsmanager") == []
    assert boot.commands.called("docker") == []


@pytest.mark.parametrize(
    ("fault", "times", "retried_by"),
    [
        ("dnf.install", 1, "dnf install -y docker failed (attempt 1 of 6)"),
        ("docker.login", 2, "retrying in 0.1s: ecr_login"),
        ("aws.secretsmanager.get-secret-value", 3, "retrying in 0.1s: secret_readable"),
    ],
)
def test_passing_faults_are_retried_and_the_boot_completes(
    boot, database, stack, fault, times, retried_by
):
    """A repository mirror's blip, a registry login refused twice (the role's policy not yet
    effective), a secret the role may not read yet: each is retried, then the container
    runs; none shows a secret."""
    database.listen()
    boot.commands.fail_first(fault, times)
    result = boot.run()
    assert result.code == 0, result.output
    assert result.output.count(retried_by) == (1 if fault == "dnf.install" else times)
    name, first = fault.split(".")[:2]
    assert len(boot.commands.called(name, first)) == times + 1
    assert docker_run_arguments(boot)[-1] == f"{stack.repository}:{IMAGE_TAG}"
    assert_nothing_secret_shown(boot, result)


def test_no_container_starts_without_the_rds_ca_bundle(boot, database):
    """verify-full needs the bundle: a download that fails (here a 404) is retried, and the
    container, which could not check the database's certificate, never starts."""
    database.listen()
    boot.env["RDS_CA_BASE_URL"] = f"{boot.imds.url}/not-there"
    result = boot.run(timeout=6)
    assert result.timed_out, result.output
    assert result.output.count("retrying in 0.1s: download_rds_ca") >= 3
    assert boot.commands.called("docker", "run") == []
