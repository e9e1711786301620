"""The database names its certificate authority, and apply moves one with another CA to it.

RDS User Guide, "Using SSL/TLS to encrypt a connection to a DB instance": a new instance gets
the region's default CA unless CreateDBInstance names one; the stack names
rds-ca-rsa2048-g1, the CA whose root the app's region bundle holds (the app connects with
sslmode=verify-full). RDS API Reference, ModifyDBInstance, CertificateRotationRestart: "By
default, the DB instance is restarted when you rotate your SSL/TLS certificate. The
certificate is not updated until the DB instance is restarted. Set this parameter only if you
are not using SSL/TLS to connect": the app always uses TLS (rds.force_ssl), so the restart
is kept, and the change is applied at once (ApplyImmediately) rather than left pending.
"""

from __future__ import annotations

from helpers import stack_db

from infra.resources.database import CA_CERTIFICATE


def test_the_database_is_created_with_the_named_ca(deployed, project, aws_client):
    assert CA_CERTIFICATE == "rds-ca-rsa2048-g1"
    assert stack_db(aws_client, project.settings)["CACertificateIdentifier"] == CA_CERTIFICATE


def test_another_ca_shows_in_plan_and_apply_rotates_it_with_the_restart(
    deployed, project, infra, aws_client, requests
):
    settings = project.settings
    aws_client("rds").modify_db_instance(
        DBInstanceIdentifier=settings.name("db"),
        CACertificateIdentifier="rds-ca-rsa4096-g1",
        ApplyImmediately=True,
    )

    plan = infra("plan")
    assert plan.code == 2, plan.err
    assert "ca_certificate" in plan.out
    assert "rds-ca-rsa4096-g1" in plan.out and CA_CERTIFICATE in plan.out

    result = infra("apply", "--auto-approve")
    assert result.code == 0, result.err
    (modify,) = [params for operation, params in requests if operation == "ModifyDBInstance"]
    assert modify["CACertificateIdentifier"] == CA_CERTIFICATE
    assert modify["CertificateRotationRestart"] is True
    assert modify["ApplyImmediately"] is True
    assert "RDS restarts the database to take the new certificate" in result.out
    assert stack_db(aws_client, settings)["CACertificateIdentifier"] == CA_CERTIFICATE
    assert infra("plan").code == 0
