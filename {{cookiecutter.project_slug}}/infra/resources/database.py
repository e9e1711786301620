"""The database tier: RDS PostgreSQL in the private subnets, its password kept by RDS.

`ManageMasterUserPassword` makes RDS generate the master password and keep it in a Secrets
Manager secret; this tool never sees, writes or prints it.
"""

from __future__ import annotations

import datetime
import time

from infra import tags
from infra.aws import DeployError, delete_when_free, once_visible
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.shared.addresses import (
    DB_INSTANCE,
    PARAMETER_GROUP,
    SUBNET_GROUP,
    db_log_group_address,
    group_address,
    subnet_address,
)
from infra.resources.shared.ec2 import require_two_zones
from infra.resources.shared.log_group import LogGroup, manage_log_groups
from infra.resources.shared.permissions import allow, arn, reads, service_linked_role

# Every client must use TLS; the app connects with sslmode=verify-full, checking the server's
# certificate against the region's RDS CA bundle (the boot script downloads it).
PARAMETERS = {"rds.force_ssl": "1"}
# The certificate authority that signs the server's certificate, named rather than left to
# the region's default (RDS User Guide, "Using SSL/TLS to encrypt a connection to a DB
# instance": rds-ca-rsa2048-g1 is RSA 2048 with SHA-256, valid until 2061). A database with
# another CA is moved to this one by apply. ModifyDBInstance, CertificateRotationRestart: "By
# default, the DB instance is restarted when you rotate your SSL/TLS certificate. The
# certificate is not updated until the DB instance is restarted. Set this parameter only if
# you are not using SSL/TLS": the app uses TLS, so the default restart is kept (a short
# outage), and the region bundle the app trusts holds the old CA and the new one alike.
CA_CERTIFICATE = "rds-ca-rsa2048-g1"
LOG_EXPORTS = ("postgresql", "upgrade")
# Performance Insights keeps 7 days of data for free; longer retention is billed.
PERFORMANCE_INSIGHTS_RETENTION_DAYS = 7
# Statuses in which the instance is in use and takes further changes. After a storage change
# RDS reports storage-optimization, which "can take several hours"; the instance is
# operational meanwhile, only another storage change has to wait for it to end (RDS User
# Guide, "Increasing DB instance storage capacity"; AWS Knowledge Center, "Why is my Amazon
# RDS DB instance stuck in the storage-optimization state?").
SETTLED_STATUSES = ("available", "storage-optimization")
# The ModifyDBInstance parameters of the stack that RDS queues in PendingModifiedValues and
# then carries out under the status `modifying` ("If you choose to apply the change
# immediately, it occurs immediately", RDS User Guide, "Modifying an Amazon RDS DB instance",
# "Settings for DB instances"), each with how DescribeDBInstances shows it done. The table
# says every other one the stack sets needs no status change: copy tags to snapshots, auto
# minor version upgrade, deletion protection, log exports, Performance Insights and public
# access "occur immediately" (ignoring ApplyImmediately), the parameter group "occurs
# immediately", security groups and the managed master password are "applied asynchronously,
# as soon as possible", and so is the backup retention from one nonzero value to another
# (validation.py keeps it at 1 or more; only 0 <-> nonzero means downtime).
STATUS_CHANGING = {
    "DBInstanceClass": lambda db, new: db["DBInstanceClass"] == new,
    "AllocatedStorage": lambda db, new: db["AllocatedStorage"] >= new,
    "StorageType": lambda db, new: db.get("StorageType") == new,
    "MultiAZ": lambda db, new: bool(db.get("MultiAZ")) == new,
}
# Right after ModifyDBInstance the status can still read `available` for a while; RDS
# starts a change it applies immediately within this, or the second wait catches it.
START_SECONDS = 300
WAIT_SECONDS = 3600
REPLACE_DB = (
    "Replacing the database would lose its data: change it back in stack.toml, or "
    "take a snapshot and run `python -m infra destroy`, then apply."
)


def rds_tags(ctx: Context, arn: str) -> dict:
    listed = ctx.aws.rds.list_tags_for_resource(ResourceName=arn)["TagList"]
    return tags.ours(tags.from_list(listed), tags.stack_tags(ctx.settings))


def converge_rds_tags(ctx: Context, actual: dict, desired: dict) -> None:
    if actual["tags"] != desired["tags"]:
        ctx.aws.rds.add_tags_to_resource(
            ResourceName=actual["arn"], Tags=tags.as_list(desired["tags"])
        )


class SubnetGroup(Resource):
    address = SUBNET_GROUP

    def __init__(self, subnet_count: int):
        self.subnets = [subnet_address("private", index) for index in range(subnet_count)]
        self.depends_on = tuple(self.subnets)

    def read(self, ctx: Context) -> dict | None:
        name = ctx.settings.name("db")
        try:
            group = ctx.aws.rds.describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"][
                0
            ]
        except ctx.aws.rds.exceptions.DBSubnetGroupNotFoundFault:
            return None
        arn = group["DBSubnetGroupArn"]
        return {
            "id": name,
            "name": name,
            "arn": arn,
            "subnet_ids": tuple(sorted(s["SubnetIdentifier"] for s in group["Subnets"])),
            "tags": rds_tags(ctx, arn),
        }

    def desired(self, ctx: Context) -> dict | None:
        ids = [ctx.attr(address, "id") for address in self.subnets]
        return {
            "name": ctx.settings.name("db"),
            "subnet_ids": UNKNOWN if UNKNOWN in ids else tuple(sorted(ids)),
            "tags": tags.stack_tags(ctx.settings),
        }

    def _check_zones(self, ctx):
        require_two_zones(
            [ctx.attr(address, "availability_zone") for address in self.subnets], "DB subnet group"
        )

    def create(self, ctx: Context, desired: dict) -> None:
        self._check_zones(ctx)
        once_visible(
            lambda: ctx.aws.rds.create_db_subnet_group(
                DBSubnetGroupName=desired["name"],
                SubnetIds=list(desired["subnet_ids"]),
                DBSubnetGroupDescription="Private subnets of the stack's database",
                Tags=tags.as_list(desired["tags"]),
            ),
            ctx.sleep,
            f"{self.address}: create the DB subnet group",
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if actual["subnet_ids"] != desired["subnet_ids"]:
            self._check_zones(ctx)
            ctx.aws.rds.modify_db_subnet_group(
                DBSubnetGroupName=actual["name"], SubnetIds=list(desired["subnet_ids"])
            )
        converge_rds_tags(ctx, actual, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        delete_when_free(
            lambda: ctx.aws.rds.delete_db_subnet_group(DBSubnetGroupName=actual["name"]), ctx.sleep
        )


class ParameterGroup(Resource):
    address = PARAMETER_GROUP
    immutable = ("family",)
    replace_blocked = (
        "A new PostgreSQL major version needs a major version upgrade, which this "
        "tool does not run: upgrade in the RDS console, or change it back."
    )

    def _name(self, ctx) -> str:
        return ctx.settings.name(f"db-postgres{ctx.settings.db_engine_version}")

    def read(self, ctx: Context) -> dict | None:
        # The name carries the major version, so read whichever group the instance uses.
        name = ctx.settings.name("db-postgres")
        pages = ctx.aws.rds.get_paginator("describe_db_parameter_groups").paginate()
        groups = [
            g
            for page in pages
            for g in page["DBParameterGroups"]
            if g["DBParameterGroupName"].startswith(name)
        ]
        groups = [
            g
            for g in groups
            if tags.belongs(
                tags.from_list(
                    ctx.aws.rds.list_tags_for_resource(ResourceName=g["DBParameterGroupArn"])[
                        "TagList"
                    ]
                ),
                ctx.settings,
            )
        ]
        if not groups:
            return None
        group = groups[0]
        group_name, arn = group["DBParameterGroupName"], group["DBParameterGroupArn"]
        parameters = ctx.aws.rds.describe_db_parameters(
            DBParameterGroupName=group_name, Source="user"
        )["Parameters"]
        values = {p["ParameterName"]: p.get("ParameterValue") for p in parameters}
        return {
            "id": group_name,
            "name": group_name,
            "arn": arn,
            "family": group["DBParameterGroupFamily"],
            "parameters": {key: values.get(key) for key in PARAMETERS},
            "tags": rds_tags(ctx, arn),
        }

    def desired(self, ctx: Context) -> dict | None:
        return {
            "family": f"postgres{ctx.settings.db_engine_version}",
            "parameters": dict(PARAMETERS),
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        name = self._name(ctx)
        ctx.aws.rds.create_db_parameter_group(
            DBParameterGroupName=name,
            DBParameterGroupFamily=desired["family"],
            Description="PostgreSQL settings of the stack: TLS required",
            Tags=tags.as_list(desired["tags"]),
        )
        self._set_parameters(ctx, name, desired)

    def _set_parameters(self, ctx, name, desired):
        ctx.aws.rds.modify_db_parameter_group(
            DBParameterGroupName=name,
            Parameters=[
                {"ParameterName": key, "ParameterValue": value, "ApplyMethod": "immediate"}
                for key, value in desired["parameters"].items()
            ],
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if actual["parameters"] != desired["parameters"]:
            self._set_parameters(ctx, actual["name"], desired)
        converge_rds_tags(ctx, actual, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        delete_when_free(
            lambda: ctx.aws.rds.delete_db_parameter_group(DBParameterGroupName=actual["name"]),
            ctx.sleep,
        )


def final_snapshot_id(ctx: Context) -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    return ctx.settings.name(f"db-final-{stamp}")


class DbInstance(Resource):
    address = DB_INSTANCE
    # Its log groups first, with the stack's retention: RDS would make them, kept forever.
    depends_on = (
        SUBNET_GROUP,
        PARAMETER_GROUP,
        group_address("db"),
        *(db_log_group_address(log) for log in LOG_EXPORTS),
    )
    immutable = (
        "engine",
        "db_name",
        "master_username",
        "storage_encrypted",
        "engine_major",
        "subnet_group",
    )
    replace_blocked = REPLACE_DB

    def read(self, ctx: Context) -> dict | None:
        identifier = ctx.settings.name("db")
        try:
            db = ctx.aws.rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][
                0
            ]
        except ctx.aws.rds.exceptions.DBInstanceNotFoundFault:
            return None
        endpoint = db.get("Endpoint") or {}
        secret = db.get("MasterUserSecret") or {}
        return {
            "id": identifier,
            "identifier": identifier,
            "arn": db["DBInstanceArn"],
            "status": db["DBInstanceStatus"],
            "address": endpoint.get("Address"),
            "port": endpoint.get("Port"),
            "secret_arn": secret.get("SecretArn"),
            "engine": db["Engine"],
            "engine_major": db["EngineVersion"].split(".")[0],
            "instance_class": db["DBInstanceClass"],
            "allocated_storage": db["AllocatedStorage"],
            "storage_type": db.get("StorageType"),
            "storage_encrypted": db.get("StorageEncrypted"),
            "db_name": db.get("DBName"),
            "master_username": db["MasterUsername"],
            "manage_master_user_password": bool(secret),
            "publicly_accessible": db.get("PubliclyAccessible"),
            "backup_retention_days": db.get("BackupRetentionPeriod"),
            "copy_tags_to_snapshot": db.get("CopyTagsToSnapshot"),
            "auto_minor_version_upgrade": db.get("AutoMinorVersionUpgrade"),
            "deletion_protection": db.get("DeletionProtection"),
            "multi_az": db.get("MultiAZ"),
            "ca_certificate": db.get("CACertificateIdentifier"),
            "performance_insights": self._performance_insights(ctx, db),
            "cloudwatch_logs_exports": tuple(sorted(db.get("EnabledCloudwatchLogsExports", []))),
            "subnet_group": (db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            "parameter_group": ",".join(
                g["DBParameterGroupName"] for g in db.get("DBParameterGroups", [])
            ),
            "security_group_ids": tuple(
                sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", []))
            ),
            "tags": tags.ours(tags.from_list(db.get("TagList")), tags.stack_tags(ctx.settings)),
        }

    def desired(self, ctx: Context) -> dict | None:
        settings = ctx.settings
        sg = ctx.attr(group_address("db"), "id")
        return {
            "identifier": settings.name("db"),
            "engine": "postgres",
            "engine_major": settings.db_engine_version,
            "instance_class": settings.db_instance_class,
            "allocated_storage": settings.db_allocated_storage_gb,
            "storage_type": "gp3",
            "storage_encrypted": True,
            "db_name": settings.db_name,
            "master_username": settings.db_admin_username,
            "manage_master_user_password": True,
            "publicly_accessible": False,
            "backup_retention_days": settings.db_backup_retention_days,
            "copy_tags_to_snapshot": True,
            "auto_minor_version_upgrade": True,
            "deletion_protection": settings.db_deletion_protection,
            "multi_az": settings.db_multi_az,
            "ca_certificate": CA_CERTIFICATE,
            "performance_insights": settings.db_performance_insights,
            "cloudwatch_logs_exports": LOG_EXPORTS,
            "subnet_group": settings.name("db"),
            "parameter_group": ctx.attr(PARAMETER_GROUP, "name"),
            "security_group_ids": UNKNOWN if sg is UNKNOWN else (sg,),
            "tags": tags.stack_tags(settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        once_visible(
            lambda: self._create(ctx, desired),
            ctx.sleep,
            f"{self.address}: create the database",
        )
        self._wait_available(ctx, "creating")

    def _create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.rds.create_db_instance(
            DBInstanceIdentifier=desired["identifier"],
            Engine="postgres",
            EngineVersion=desired["engine_major"],
            DBInstanceClass=desired["instance_class"],
            AllocatedStorage=desired["allocated_storage"],
            StorageType=desired["storage_type"],
            StorageEncrypted=True,
            DBName=desired["db_name"],
            MasterUsername=desired["master_username"],
            ManageMasterUserPassword=True,
            DBSubnetGroupName=desired["subnet_group"],
            DBParameterGroupName=desired["parameter_group"],
            VpcSecurityGroupIds=list(desired["security_group_ids"]),
            PubliclyAccessible=False,
            MultiAZ=desired["multi_az"],
            CACertificateIdentifier=desired["ca_certificate"],
            **self._performance_insights_arguments(desired["performance_insights"]),
            BackupRetentionPeriod=desired["backup_retention_days"],
            CopyTagsToSnapshot=True,
            AutoMinorVersionUpgrade=True,
            EnableCloudwatchLogsExports=list(LOG_EXPORTS),
            DeletionProtection=desired["deletion_protection"],
            Tags=tags.as_list(desired["tags"]),
        )

    @staticmethod
    def _performance_insights(ctx, db: dict) -> bool:
        # AWS always reports it; an endpoint that does not (moto) is taken at its word,
        # since create and modify pass it explicitly.
        if "PerformanceInsightsEnabled" not in db:
            return ctx.settings.db_performance_insights
        return bool(db["PerformanceInsightsEnabled"])

    @staticmethod
    def _performance_insights_arguments(enabled: bool) -> dict:
        if not enabled:
            return {"EnablePerformanceInsights": False}
        return {
            "EnablePerformanceInsights": True,
            "PerformanceInsightsRetentionPeriod": PERFORMANCE_INSIGHTS_RETENTION_DAYS,
        }

    def _describe(self, ctx) -> dict:
        return ctx.aws.rds.describe_db_instances(DBInstanceIdentifier=ctx.settings.name("db"))[
            "DBInstances"
        ][0]

    def _timed_out(self, seen: dict):
        def message(elapsed: str) -> str:
            db = seen.get("db") or {}
            pending = ", ".join(sorted(db.get("PendingModifiedValues") or {}))
            doing = f"still reports `{db.get('DBInstanceStatus', 'unknown')}`"
            if pending:
                doing += f" with changes pending ({pending})"
            return (
                f"{self.address}: RDS {doing} after {elapsed}. RDS goes on with it: run "
                "`python -m infra apply` again to resume waiting, or check the database in "
                "the RDS console."
            )

        return message

    def _wait_available(self, ctx, verb):
        """Until the new instance is `available`: RDS reports creating, then backing-up (the
        first automated backup), then available; anything before that keeps waiting."""
        seen: dict = {}

        def available() -> bool:
            seen["db"] = self._describe(ctx)
            return seen["db"]["DBInstanceStatus"] == "available"

        ctx.wait(
            self.address,
            verb,
            available,
            timeout_seconds=WAIT_SECONDS,
            timed_out=self._timed_out(seen),
        )

    def _wait_settled(self, ctx, verb: str, seen: dict) -> dict:
        """Until RDS has nothing in progress or queued: a settled status, no pending changes."""

        def settled() -> bool:
            seen["db"] = db = self._describe(ctx)
            return db["DBInstanceStatus"] in SETTLED_STATUSES and not db.get(
                "PendingModifiedValues"
            )

        ctx.wait(
            self.address,
            verb,
            settled,
            timeout_seconds=WAIT_SECONDS,
            timed_out=self._timed_out(seen),
        )
        return seen["db"]

    def _wait_modified(self, ctx, modify: dict) -> None:
        """After ModifyDBInstance: until RDS has started what it applies through a status
        change (at most START_SECONDS), then until nothing is in progress or pending."""
        seen: dict = {}
        waited = {key: value for key, value in modify.items() if key in STATUS_CHANGING}
        if waited:
            deadline = time.monotonic() + START_SECONDS

            def started() -> bool:
                seen["db"] = db = self._describe(ctx)
                pending = db.get("PendingModifiedValues") or {}
                return (
                    db["DBInstanceStatus"] not in SETTLED_STATUSES
                    or all(
                        key not in pending and STATUS_CHANGING[key](db, value)
                        for key, value in waited.items()
                    )
                    # Not started visibly in time: the next wait still waits for anything
                    # pending.
                    or time.monotonic() > deadline
                )

            ctx.wait(
                self.address,
                "waiting for RDS to start the change",
                started,
                timeout_seconds=START_SECONDS + 60,
            )
        db = self._wait_settled(ctx, "modifying", seen)
        storage = "AllocatedStorage" in modify or "StorageType" in modify
        if storage and db["DBInstanceStatus"] == "storage-optimization":
            ctx.out(
                f"{self.address}: the new storage is in use; RDS goes on optimizing it "
                "(storage-optimization, which can take hours) and takes the next storage "
                "change after that ends, six hours from now at the earliest"
            )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        db = self._describe(ctx)
        if db["DBInstanceStatus"] not in SETTLED_STATUSES or db.get("PendingModifiedValues"):
            # Mid-change (an apply that stopped waiting, or a change made elsewhere): RDS
            # refuses another one until it is done. Wait, then change what still differs.
            self._wait_settled(ctx, "waiting for the change RDS is making", {})
            actual = self.read(ctx) or actual
            changes = [c for c in changes if actual.get(c.attribute) != desired.get(c.attribute)]
        fields = {
            "instance_class": "DBInstanceClass",
            "allocated_storage": "AllocatedStorage",
            "storage_type": "StorageType",
            "publicly_accessible": "PubliclyAccessible",
            "backup_retention_days": "BackupRetentionPeriod",
            "copy_tags_to_snapshot": "CopyTagsToSnapshot",
            "auto_minor_version_upgrade": "AutoMinorVersionUpgrade",
            "deletion_protection": "DeletionProtection",
            "multi_az": "MultiAZ",
            "parameter_group": "DBParameterGroupName",
            "ca_certificate": "CACertificateIdentifier",
        }
        modify = {fields[c.attribute]: c.new for c in changes if c.attribute in fields}
        if any(c.attribute == "performance_insights" for c in changes):
            modify.update(self._performance_insights_arguments(desired["performance_insights"]))
        if any(c.attribute == "security_group_ids" for c in changes):
            modify["VpcSecurityGroupIds"] = list(desired["security_group_ids"])
        if any(c.attribute == "manage_master_user_password" for c in changes):
            modify["ManageMasterUserPassword"] = True
        if any(c.attribute == "cloudwatch_logs_exports" for c in changes):
            modify["CloudwatchLogsExportConfiguration"] = {
                "EnableLogTypes": sorted(set(LOG_EXPORTS) - set(actual["cloudwatch_logs_exports"])),
                "DisableLogTypes": sorted(
                    set(actual["cloudwatch_logs_exports"]) - set(LOG_EXPORTS)
                ),
            }
        if "CACertificateIdentifier" in modify:
            modify["CertificateRotationRestart"] = True  # AWS's default, said out loud
            ctx.out(
                f"{self.address}: RDS restarts the database to take the new certificate "
                f"({desired['ca_certificate']}): the app cannot reach it for a minute or two"
            )
        if modify:
            ctx.aws.rds.modify_db_instance(
                DBInstanceIdentifier=actual["identifier"], ApplyImmediately=True, **modify
            )
            self._wait_modified(ctx, modify)
        converge_rds_tags(ctx, actual, desired)

    def check_destroy(self, ctx: Context, actual: dict) -> None:
        if actual.get("deletion_protection"):
            raise DeployError(
                f"{self.address} has deletion protection on, so nothing was destroyed: set "
                "db_deletion_protection = false in stack.toml, run `python -m infra apply`, "
                "then destroy again."
            )

    def delete(self, ctx: Context, actual: dict) -> None:
        if actual["status"] != "deleting":
            if ctx.skip_final_snapshot:
                options = {"SkipFinalSnapshot": True}
            else:
                snapshot = final_snapshot_id(ctx)
                options = {"FinalDBSnapshotIdentifier": snapshot}
                ctx.out(f"{self.address}: final snapshot {snapshot} (kept after destroy)")
            ctx.aws.rds.delete_db_instance(DBInstanceIdentifier=actual["identifier"], **options)

        def gone() -> bool:
            try:
                ctx.aws.rds.describe_db_instances(DBInstanceIdentifier=actual["identifier"])
            except ctx.aws.rds.exceptions.DBInstanceNotFoundFault:
                return True
            return False

        ctx.wait(self.address, "destroying", gone, timeout_seconds=3600)


def exported_log_group_name(ctx: Context, log: str) -> str:
    """Where RDS exports a PostgreSQL log (RDS User Guide, "Publishing PostgreSQL logs to
    Amazon CloudWatch Logs"): RDS creates the group on first export, with no expiry, and
    leaves it after the instance is gone, so the stack makes it first and deletes it."""
    return f"/aws/rds/instance/{ctx.settings.name('db')}/{log}"


def resources(ctx: Context) -> list[Resource]:
    log_groups = [
        LogGroup(
            db_log_group_address(log), name=lambda ctx, log=log: exported_log_group_name(ctx, log)
        )
        for log in LOG_EXPORTS
    ]
    return [*log_groups, SubnetGroup(ctx.settings.az_count), ParameterGroup(), DbInstance()]


def deploy_permissions(ctx: Context) -> list[dict]:
    name = ctx.settings.name
    instance = arn(ctx, "rds", f"db:{name('db')}")
    return [
        reads("rds:DescribeDBParameterGroups"),
        manage_log_groups(ctx, exported_log_group_name(ctx, "*")),
        allow(
            [
                "rds:AddTagsToResource",
                "rds:CreateDBInstance",
                "rds:CreateDBParameterGroup",
                "rds:CreateDBSnapshot",
                "rds:CreateDBSubnetGroup",
                "rds:DeleteDBInstance",
                "rds:DeleteDBParameterGroup",
                "rds:DeleteDBSubnetGroup",
                "rds:DescribeDBInstances",
                "rds:DescribeDBParameters",
                "rds:DescribeDBSubnetGroups",
                "rds:ListTagsForResource",
                "rds:ModifyDBInstance",
                "rds:ModifyDBParameterGroup",
                "rds:ModifyDBSubnetGroup",
            ],
            [
                instance,
                arn(ctx, "rds", f"subgrp:{name('db')}"),
                arn(ctx, "rds", f"pg:{name('db-postgres')}*"),
                arn(ctx, "rds", f"snapshot:{name('db-final-')}*"),
                arn(ctx, "rds", "og:default:postgres-*"),
            ],
        ),
        # RDS keeps the master password in a secret it creates (rds!db-...) with the
        # caller's rights and tags with the instance's ARN: this database's secret only,
        # through RDS.
        allow(
            [
                "secretsmanager:CreateSecret",
                "secretsmanager:DeleteSecret",
                "secretsmanager:RotateSecret",
                "secretsmanager:TagResource",
            ],
            arn(ctx, "secretsmanager", "secret:rds!db-*"),
            {
                "Bool": {"aws:ViaAWSService": "true"},
                "StringEqualsIfExists": {
                    f"aws:{kind}/aws:rds:primaryDBInstanceArn": instance
                    for kind in ("RequestTag", "ResourceTag")
                },
            },
        ),
        # CreateDBInstance with ManageMasterUserPassword describes the secret's KMS key, here
        # the aws/secretsmanager key (RDS User Guide, "Permissions required for Secrets
        # Manager integration").
        allow(
            ["kms:DescribeKey"],
            arn(ctx, "kms", "key/*"),
            {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/aws/secretsmanager"}},
        ),
        service_linked_role(ctx, "rds.amazonaws.com"),
    ]
