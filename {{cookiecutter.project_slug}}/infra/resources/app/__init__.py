"""The app tier: the image registry, the app's log group, the instances' role, and the
launch template with the Auto Scaling group that runs the image."""

from __future__ import annotations

from infra.engine import Context, Resource
from infra.resources.app import instance_role, instances, registry
from infra.resources.app.registry import Repository
from infra.resources.shared import log_group
from infra.resources.shared.addresses import APP_LOG_GROUP
from infra.resources.shared.log_group import LogGroup


def resources(ctx: Context) -> list[Resource]:
    return [
        Repository(),
        LogGroup(APP_LOG_GROUP, "app"),
        *instance_role.resources(),
        *instances.resources(ctx),
    ]


def deploy_permissions(ctx: Context) -> list[dict]:
    return [
        *registry.deploy_permissions(ctx),
        *log_group.deploy_permissions(ctx),
        *instance_role.deploy_permissions(ctx),
        *instances.deploy_permissions(ctx),
    ]
