"""The app tier: a launch template running the image with Docker, and the Auto Scaling group.

A new image tag or instance type makes a new launch template version; the group then
replaces its instances with an instance refresh that never drops below the healthy count.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import string
from pathlib import Path

from infra import tags
from infra.aws import DeployError, error_code, is_iam_propagation_delay, retry
from infra.engine import UNKNOWN, Change, Context, Resource
from infra.resources.app.releases import REFRESH_STOPPED, REFRESHING, release
from infra.resources.shared.addresses import (
    APP_LOG_GROUP,
    APP_POLICY,
    AUTOSCALING_GROUP,
    INSTANCE_PROFILE,
    LAUNCH_TEMPLATE,
    PRIVATE_RT,
    PUBLIC_RT,
    REPOSITORY,
    TARGET_GROUP,
    group_address,
    rules_address,
    subnet_address,
)
from infra.resources.shared.ec2 import only_one
from infra.resources.shared.names import log_group_name
from infra.resources.shared.permissions import (
    allow,
    arn,
    ec2,
    ec2_changes,
    ec2_creates,
    reads,
    service_linked_role,
    stack_tags,
)

USER_DATA = Path(__file__).parents[2] / "user_data.sh"
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"
IMAGE_TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Long enough for a first boot that waits for a database still being created (5 to 15
# minutes); before that, failing health checks do not make the group replace the instance.
HEALTH_CHECK_GRACE_SECONDS = 900
# Room for Docker images and container logs; within the free tier for one instance.
ROOT_VOLUME_GB = 16
# What the group's `launch_template.version` says of a version number.
NUMBERED = "a version number"
# What the group's `instances` attribute says when every instance runs the default version.
ROLLED_OUT = "on the launch template's default version"


class UserDataTemplate(string.Template):
    delimiter = "@"


def image_tag(ctx: Context) -> str:
    """--image-tag, else IMAGE_TAG, else the tag running now, else `latest`."""
    tag = (
        ctx.image_tag_override
        or os.environ.get("IMAGE_TAG")
        or (ctx.actual(LAUNCH_TEMPLATE) or {}).get("image_tag")
        or "latest"
    )
    if not IMAGE_TAG_PATTERN.fullmatch(tag):
        raise DeployError(
            f"Image tag {tag!r} is not a valid Docker tag: use letters, digits, "
            "'_', '.' and '-' (at most 128), for example v1.2.0."
        )
    return tag


def render_user_data(values: dict[str, str]) -> str:
    template = UserDataTemplate(USER_DATA.read_text(encoding="utf-8"))
    return template.substitute({key: shlex.quote(str(value)) for key, value in values.items()})


def deployed_image_tag(user_data: str) -> str | None:
    match = re.search(r"^IMAGE_TAG=(.+)$", user_data, re.MULTILINE)
    return shlex.split(match.group(1))[0] if match else None


def architecture(ctx: Context) -> str:
    def read() -> str:
        try:
            found = ctx.aws.ec2.describe_instance_types(
                InstanceTypes=[ctx.settings.app_instance_type]
            )["InstanceTypes"]
        except Exception as error:  # noqa: BLE001 - reported as one line below
            if error_code(error) != "InvalidInstanceType":
                raise
            found = []
        if not found:
            raise DeployError(
                f"Instance type {ctx.settings.app_instance_type} does not exist in "
                f"{ctx.aws.region}: pick another app_instance_type in stack.toml."
            )
        architectures = found[0]["ProcessorInfo"]["SupportedArchitectures"]
        return "arm64" if "arm64" in architectures else "x86_64"

    return ctx.cached("architecture", read)


def latest_ami(ctx: Context) -> dict:
    """The newest Amazon Linux 2023 image, from the public parameter AWS keeps up to date."""

    def read() -> dict:
        name = AMI_PARAMETER.format(arch=architecture(ctx))
        try:
            image_id = ctx.aws.ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ctx.aws.ssm.exceptions.ParameterNotFound:
            raise DeployError(
                f"The public parameter {name} does not exist in {ctx.aws.region}: "
                "is the region enabled and correct?"
            ) from None
        return describe_image(ctx, image_id)

    return ctx.cached("latest_ami", read)


def describe_image(ctx: Context, image_id: str) -> dict:
    def read() -> dict:
        images = ctx.aws.ec2.describe_images(ImageIds=[image_id])["Images"]
        image = images[0] if images else {}
        return {
            "id": image_id,
            "root_device": image.get("RootDeviceName", "/dev/xvda"),
            "architecture": image.get("Architecture"),
        }

    return ctx.cached(f"image:{image_id}", read)


def image_to_run(ctx: Context, running: str | None) -> dict:
    """The image the instances keep running until `--update-image`: AWS publishes a new
    Amazon Linux 2023 image every few weeks, and following it would make every plan show a
    change and every apply, even of an alarm threshold, replace every instance. Not kept
    when the instance type needs another architecture."""
    latest = latest_ami(ctx)
    if running is None or running == latest["id"] or ctx.update_image:
        return latest
    kept = describe_image(ctx, running)
    if kept["architecture"] not in (None, architecture(ctx)):
        return latest
    ctx.note(
        f"A newer Amazon Linux 2023 image is available ({latest['id']}; the instances run "
        f"{running}): `python -m infra apply --update-image` replaces them onto it."
    )
    return kept


def instance_tags(ctx: Context) -> dict:
    return tags.stack_tags(ctx.settings, ctx.settings.name("app"))


def app_tier(settings) -> str:
    """The subnets of the app instances: private behind a NAT gateway, else public."""
    return "public" if settings.nat_gateway == "none" else "private"


def app_subnet_ids(ctx: Context) -> tuple:
    ids = [
        ctx.attr(subnet_address(app_tier(ctx.settings), index), "id")
        for index in range(ctx.settings.az_count)
    ]
    return UNKNOWN if UNKNOWN in ids else tuple(sorted(ids))


def running_specs(group: dict) -> list[dict]:
    """The launch template (id and version) of each instance not terminating."""
    return [
        instance.get("LaunchTemplate") or {}
        for instance in group.get("Instances", [])
        if not instance.get("LifecycleState", "").startswith("Terminat")
    ]


def on_old_version(spec: dict, template: dict) -> bool:
    version = str(spec.get("Version", ""))
    # A version AWS did not resolve ($Default) cannot be compared: trust it.
    return spec.get("LaunchTemplateId") != template.get("id") or (
        version.isdigit() and version != str(template.get("version"))
    )


def refreshed_version(refresh: dict) -> str | None:
    """The launch template version an instance refresh was to: DescribeInstanceRefreshes
    lists each refresh with its DesiredConfiguration (API Reference, InstanceRefresh)."""
    desired = refresh.get("DesiredConfiguration") or {}
    return (desired.get("LaunchTemplate") or {}).get("Version")


def rollout_status(ctx: Context, group: dict) -> str:
    """ROLLED_OUT, or which instances still run an older launch template version.

    AWS records on each instance the version number it was launched with, `$Default`
    resolved. Instances on an older version than the template's default, with no instance
    refresh started since that version was made, mean an earlier apply made the version but
    died before it started the refresh: this apply starts it. The latest refresh, to this
    very version, ended without it (rolled back, failed, cancelled) means the apply that
    started it did not live to see the end and put the default back (releases.py): the plan
    says so, and this apply releases the version again.
    """
    template = ctx.actual(LAUNCH_TEMPLATE)
    if not template:
        return ROLLED_OUT
    current = str(template["version"])
    running = running_specs(group)
    old = sorted({str(spec.get("Version")) for spec in running if on_old_version(spec, template)})
    if not old:
        return ROLLED_OUT
    refreshes = ctx.aws.autoscaling.describe_instance_refreshes(
        AutoScalingGroupName=group["AutoScalingGroupName"], MaxRecords=1
    )["InstanceRefreshes"]
    latest = refreshes[0] if refreshes else {}
    created, started = template.get("_version_created"), latest.get("StartTime")
    # Under way or done: a successful refresh (SkipMatching) left no instance behind.
    if latest.get("Status") in (*REFRESHING, "Successful") and (
        created is None or started is None or started >= created
    ):
        return ROLLED_OUT  # a refresh to this version is under way
    stale = sum(
        1
        for spec in running
        if spec.get("LaunchTemplateId") != template["id"] or str(spec.get("Version")) in old
    )
    if latest.get("Status") in REFRESH_STOPPED and refreshed_version(latest) == current:
        return (
            f"{stale} of {len(running)} run version {', '.join(old)}: the release of version "
            f"{current} ended {latest['Status']} with no apply left to see it; apply releases "
            f"version {current} again"
        )
    return (
        f"{stale} of {len(running)} run version {', '.join(old)}; the template is at "
        f"version {current}: roll them"
    )


class LaunchTemplate(Resource):
    address = LAUNCH_TEMPLATE
    update_note = (
        "a new default version; the Auto Scaling group then replaces its instances "
        "(instance refresh, never below 100 % healthy; rolled back, default included, if the "
        "new ones fail)"
    )

    def __init__(self, tier: str = "public"):
        # Behind NAT, a version without public IPs waits for the routes out: the group
        # may launch from it at any time.
        routes = (PRIVATE_RT,) if tier == "private" else ()
        self.depends_on = (
            group_address("app"),
            INSTANCE_PROFILE,
            REPOSITORY,
            APP_LOG_GROUP,
            *routes,
        )

    def read(self, ctx: Context) -> dict | None:
        name = ctx.settings.name("lt")
        found = ctx.aws.ec2.describe_launch_templates(
            Filters=[
                *tags.ec2_filters(ctx.settings),
                {"Name": "launch-template-name", "Values": [name]},
            ]
        )["LaunchTemplates"]
        template = only_one(found, "launch template", name)
        if template is None:
            return None
        version = template["DefaultVersionNumber"]
        described = ctx.aws.ec2.describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"],
            Versions=[str(version)],
        )["LaunchTemplateVersions"][0]
        data = described["LaunchTemplateData"]
        user_data = base64.b64decode(data.get("UserData", "")).decode()
        interface = (data.get("NetworkInterfaces") or [{}])[0]
        metadata = data.get("MetadataOptions", {})
        disk = (data.get("BlockDeviceMappings") or [{}])[0]
        return {
            "id": template["LaunchTemplateId"],
            "name": name,
            "version": version,
            "image_id": data.get("ImageId"),
            "instance_type": data.get("InstanceType"),
            "instance_profile": data.get("IamInstanceProfile", {}).get("Name"),
            "security_group_ids": tuple(sorted(interface.get("Groups", []))),
            "associate_public_ip": bool(interface.get("AssociatePublicIpAddress")),
            "metadata": {
                "http_tokens": metadata.get("HttpTokens"),
                "hop_limit": metadata.get("HttpPutResponseHopLimit"),
                "http_endpoint": metadata.get("HttpEndpoint"),
            },
            "root_volume": {
                "device": disk.get("DeviceName"),
                "type": disk.get("Ebs", {}).get("VolumeType"),
                "encrypted": disk.get("Ebs", {}).get("Encrypted"),
                "size_gb": disk.get("Ebs", {}).get("VolumeSize"),
            },
            "key_name": data.get("KeyName"),
            "image_tag": deployed_image_tag(user_data),
            "user_data_sha256": hashlib.sha256(user_data.encode()).hexdigest()[:12],
            "_user_data": user_data,
            "_version_created": described.get("CreateTime"),
            "tags": tags.ours(tags.from_list(template.get("Tags")), tags.stack_tags(ctx.settings)),
        }

    def desired(self, ctx: Context) -> dict | None:
        settings = ctx.settings
        ami = image_to_run(ctx, (ctx.actual(self.address) or {}).get("image_id"))
        repository = ctx.attr(REPOSITORY, "uri")
        sg = ctx.attr(group_address("app"), "id")
        tag = image_tag(ctx)
        desired = {
            "name": settings.name("lt"),
            "image_id": ami["id"],
            "instance_type": settings.app_instance_type,
            "instance_profile": settings.name("app-profile"),
            "security_group_ids": UNKNOWN if sg is UNKNOWN else (sg,),
            # In the public subnets, with no NAT, the instances need a public IP to reach ECR.
            "associate_public_ip": app_tier(settings) == "public",
            # IMDSv2 only; two hops so the container can reach the instance role too.
            "metadata": {"http_tokens": "required", "hop_limit": 2, "http_endpoint": "enabled"},
            "root_volume": {
                "device": ami["root_device"],
                "type": "gp3",
                "encrypted": True,
                "size_gb": ROOT_VOLUME_GB,
            },
            "key_name": None,
            "image_tag": tag,
            "user_data_sha256": UNKNOWN,
            "tags": tags.stack_tags(settings),
        }
        if repository is not UNKNOWN:
            user_data = render_user_data(
                {
                    "region": ctx.aws.region,
                    "registry": repository.split("/")[0],
                    "image": f"{repository}:{tag}",
                    "image_tag": tag,
                    "db_identifier": settings.name("db"),
                    "db_name": settings.db_name,
                    "app_port": str(settings.app_port),
                    "health_check_path": settings.health_check_path,
                    "log_group": log_group_name(ctx),
                }
            )
            desired["_user_data"] = user_data
            desired["user_data_sha256"] = hashlib.sha256(user_data.encode()).hexdigest()[:12]
        return desired

    def _data(self, ctx, desired) -> dict:
        side_tags = tags.as_list(instance_tags(ctx))
        return {
            "ImageId": desired["image_id"],
            "InstanceType": desired["instance_type"],
            "IamInstanceProfile": {"Name": desired["instance_profile"]},
            "NetworkInterfaces": [
                {
                    "DeviceIndex": 0,
                    "AssociatePublicIpAddress": desired["associate_public_ip"],
                    "DeleteOnTermination": True,
                    "Groups": list(desired["security_group_ids"]),
                }
            ],
            "MetadataOptions": {
                "HttpTokens": "required",
                "HttpPutResponseHopLimit": 2,
                "HttpEndpoint": "enabled",
            },
            "BlockDeviceMappings": [
                {
                    "DeviceName": desired["root_volume"]["device"],
                    "Ebs": {
                        "VolumeType": "gp3",
                        "Encrypted": True,
                        "VolumeSize": ROOT_VOLUME_GB,
                        "DeleteOnTermination": True,
                    },
                }
            ],
            "UserData": base64.b64encode(desired["_user_data"].encode()).decode(),
            # Instances get their tags from the Auto Scaling group; disks and ENIs from here.
            "TagSpecifications": [
                {"ResourceType": "volume", "Tags": side_tags},
                {"ResourceType": "network-interface", "Tags": side_tags},
            ],
        }

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.ec2.create_launch_template(
            LaunchTemplateName=desired["name"],
            VersionDescription=f"image {desired['image_tag']}",
            LaunchTemplateData=self._data(ctx, desired),
            TagSpecifications=tags.ec2_tag_specification("launch-template", desired["tags"]),
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if any(change.attribute != "tags" for change in changes):
            version = ctx.aws.ec2.create_launch_template_version(
                LaunchTemplateId=actual["id"],
                VersionDescription=f"image {desired['image_tag']}",
                LaunchTemplateData=self._data(ctx, desired),
            )["LaunchTemplateVersion"]["VersionNumber"]
            # The release puts the default back if the new version does not take.
            ctx.aws.ec2.modify_launch_template(
                LaunchTemplateId=actual["id"], DefaultVersion=str(version)
            )
            new = {"id": actual["id"], "version": str(version)}
            self._release(ctx, new, running=str(actual["version"]))
        if actual["tags"] != desired["tags"]:
            ctx.aws.ec2.create_tags(Resources=[actual["id"]], Tags=tags.as_list(desired["tags"]))

    def _release(self, ctx: Context, template: dict, running: str) -> None:
        """Move the group to the new version: by an instance refresh that Auto Scaling rolls
        back if the new instances fail, or at once when it has no instances yet. `running`:
        the default version before this one, what a group on `$Default` runs."""
        group = ctx.actual(AUTOSCALING_GROUP)
        if group is None:
            return
        # A group about to move to other subnets releases the version itself, after the
        # move: instances launched before it would land where they cannot get out.
        if group["subnet_ids"] != app_subnet_ids(ctx):
            return

        def save_on_group(version: str) -> None:
            ctx.aws.autoscaling.update_auto_scaling_group(
                AutoScalingGroupName=group["name"],
                LaunchTemplate={"LaunchTemplateId": template["id"], "Version": version},
            )

        if not group["instance_ids"]:
            save_on_group(template["version"])
            return
        # A rollback goes back to the configuration last saved on the group (EC2 Auto Scaling
        # User Guide, "Undo changes with a manual or auto rollback"), which must name a
        # version number: a group still on $Default is saved on the version it runs.
        if group["launch_template"]["version"] != NUMBERED:
            save_on_group(running)
        release(ctx, group["name"], template)

    def delete(self, ctx: Context, actual: dict) -> None:
        ctx.aws.ec2.delete_launch_template(LaunchTemplateId=actual["id"])


class AutoScalingGroup(Resource):
    address = AUTOSCALING_GROUP

    def __init__(self, subnet_count: int, tier: str = "public"):
        self.tier = tier
        self.subnets = [subnet_address(tier, index) for index in range(subnet_count)]
        # The policy and routes first: a booting instance needs them to pull its image (in
        # the private subnets, the routes come after the NAT gateways they lead to).
        self.depends_on = (
            LAUNCH_TEMPLATE,
            TARGET_GROUP,
            APP_POLICY,
            PUBLIC_RT if tier == "public" else PRIVATE_RT,
            rules_address("app"),
            *self.subnets,
        )

    def read(self, ctx: Context) -> dict | None:
        name = ctx.settings.name("asg")
        found = ctx.aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        if not found:
            return None
        group = found[0]
        group_tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
        if not tags.belongs(group_tags, ctx.settings):
            raise DeployError(
                f"An Auto Scaling group named {name} exists but is not tagged as part "
                "of this stack: delete or rename it."
            )
        template = group.get("LaunchTemplate", {})
        return {
            "id": name,
            "name": name,
            "min_size": group["MinSize"],
            "max_size": group["MaxSize"],
            "desired_capacity": group["DesiredCapacity"],
            "launch_template": {
                "id": template.get("LaunchTemplateId"),
                # Which number is the launch template's business (a new one is released
                # by its update); here, only whether it is one.
                "version": NUMBERED
                if str(template.get("Version")).isdigit()
                else template.get("Version"),
            },
            "subnet_ids": tuple(
                sorted(filter(None, group.get("VPCZoneIdentifier", "").split(",")))
            ),
            "target_group_arns": tuple(sorted(group.get("TargetGroupARNs", []))),
            "health_check_type": group["HealthCheckType"],
            "health_check_grace_period": group.get("HealthCheckGracePeriod"),
            "instance_ids": tuple(sorted(i["InstanceId"] for i in group.get("Instances", []))),
            "instances": rollout_status(ctx, group),
            "tags": {
                t["Key"]: t["Value"]
                for t in group.get("Tags", [])
                if t["Key"] in instance_tags(ctx) and t.get("PropagateAtLaunch")
            },
        }

    def desired(self, ctx: Context) -> dict | None:
        settings = ctx.settings
        subnet_ids = [ctx.attr(address, "id") for address in self.subnets]
        template_id = ctx.attr(LAUNCH_TEMPLATE, "id")
        tg = ctx.attr(TARGET_GROUP, "arn")
        return {
            "name": settings.name("asg"),
            "min_size": settings.app_min_size,
            "max_size": settings.app_max_size,
            "desired_capacity": settings.app_desired_capacity,
            # A version number, not $Default: Auto Scaling rolls a release back only to a
            # numbered version.
            "launch_template": UNKNOWN
            if template_id is UNKNOWN
            else {"id": template_id, "version": NUMBERED},
            "subnet_ids": UNKNOWN if UNKNOWN in subnet_ids else tuple(sorted(subnet_ids)),
            "target_group_arns": UNKNOWN if tg is UNKNOWN else (tg,),
            "health_check_type": "ELB",
            "health_check_grace_period": HEALTH_CHECK_GRACE_SECONDS,
            # Still on an older version when an earlier apply died before it started the
            # instance refresh: this update starts it.
            "instances": ROLLED_OUT,
            "tags": instance_tags(ctx),
        }

    def _tags(self, ctx, desired) -> list[dict]:
        return [
            {
                "ResourceId": desired["name"],
                "ResourceType": "auto-scaling-group",
                "Key": key,
                "Value": value,
                "PropagateAtLaunch": True,
            }
            for key, value in desired["tags"].items()
        ]

    def create(self, ctx: Context, desired: dict) -> None:
        # AWS rejects a just-created instance profile for a few seconds; moto never does.
        retry(
            lambda: ctx.aws.autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=desired["name"],
                MinSize=desired["min_size"],
                MaxSize=desired["max_size"],
                DesiredCapacity=desired["desired_capacity"],
                LaunchTemplate={
                    "LaunchTemplateId": desired["launch_template"]["id"],
                    "Version": str(ctx.attr(LAUNCH_TEMPLATE, "version")),
                },
                VPCZoneIdentifier=",".join(desired["subnet_ids"]),
                TargetGroupARNs=list(desired["target_group_arns"]),
                HealthCheckType="ELB",
                HealthCheckGracePeriod=desired["health_check_grace_period"],
                Tags=self._tags(ctx, desired),
            ),
            is_iam_propagation_delay,
            ctx.sleep,
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        autoscaling, name = ctx.aws.autoscaling, actual["name"]
        fields = {
            "min_size": "MinSize",
            "max_size": "MaxSize",
            "desired_capacity": "DesiredCapacity",
            "health_check_type": "HealthCheckType",
            "health_check_grace_period": "HealthCheckGracePeriod",
        }
        arguments = {fields[c.attribute]: c.new for c in changes if c.attribute in fields}
        new_template = actual["launch_template"] != desired["launch_template"]
        moved = actual["subnet_ids"] != desired["subnet_ids"]
        template = ctx.actual(LAUNCH_TEMPLATE) or {}
        current = {"id": template.get("id"), "version": str(template.get("version"))}
        if new_template or moved:
            arguments["LaunchTemplate"] = {
                "LaunchTemplateId": current["id"],
                "Version": current["version"],
            }
        if moved:
            arguments["VPCZoneIdentifier"] = ",".join(desired["subnet_ids"])
        if arguments:
            retry(
                lambda: autoscaling.update_auto_scaling_group(
                    AutoScalingGroupName=name, **arguments
                ),
                is_iam_propagation_delay,
                ctx.sleep,
            )
        wanted, present = set(desired["target_group_arns"]), set(actual["target_group_arns"])
        if wanted - present:
            autoscaling.attach_load_balancer_target_groups(
                AutoScalingGroupName=name, TargetGroupARNs=sorted(wanted - present)
            )
        if present - wanted:
            autoscaling.detach_load_balancer_target_groups(
                AutoScalingGroupName=name, TargetGroupARNs=sorted(present - wanted)
            )
        if actual["tags"] != desired["tags"]:
            autoscaling.create_or_update_tags(Tags=self._tags(ctx, desired))
        stale = actual["instances"] != ROLLED_OUT
        if (new_template or stale or moved) and actual["instance_ids"]:
            # Waits for the outcome: back from the private subnets, their NAT gateways go
            # once this is done, and instances still there would lose their way out.
            release(ctx, name, current, replace_all=moved)

    def delete(self, ctx: Context, actual: dict) -> None:
        autoscaling = ctx.aws.autoscaling
        autoscaling.delete_auto_scaling_group(AutoScalingGroupName=actual["name"], ForceDelete=True)

        def gone() -> bool:
            return not autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=[actual["name"]]
            )["AutoScalingGroups"]

        ctx.wait(self.address, "destroying", gone, timeout_seconds=1800)


def resources(ctx: Context) -> list[Resource]:
    tier = app_tier(ctx.settings)
    return [LaunchTemplate(tier), AutoScalingGroup(ctx.settings.az_count, tier)]


def deploy_permissions(ctx: Context) -> list[dict]:
    aws = ctx.aws
    launch_templates = ec2(ctx, "launch-template")
    from_a_template = {"ArnLike": {"ec2:LaunchTemplate": launch_templates}}
    launched = [ec2(ctx, kind) for kind in ("instance", "network-interface", "volume")]
    return [
        reads(
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeInstanceRefreshes",
            "ec2:DescribeImages",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:DescribeLaunchTemplates",
        ),
        allow(
            ["ssm:GetParameter"],
            f"arn:{aws.partition}:ssm:{aws.region}::parameter{AMI_PARAMETER.split('{')[0]}*",
        ),
        *ec2_creates(ctx, {"ec2:CreateLaunchTemplate": "launch-template"}, {}),
        ec2_changes(
            ctx,
            [
                "ec2:CreateLaunchTemplateVersion",
                "ec2:DeleteLaunchTemplate",
                "ec2:ModifyLaunchTemplate",
            ],
        ),
        # The Auto Scaling group checks RunInstances with the caller's rights when it is
        # given a launch template: only the stack's template...
        ec2_changes(ctx, ["ec2:RunInstances"], launch_templates),
        # ...creating instances, disks and ENIs, tagged as it says...
        allow(
            ["ec2:RunInstances"],
            [*launched, f"arn:{aws.partition}:ec2:{aws.region}::image/*"],
            from_a_template,
        ),
        allow(
            ["ec2:CreateTags"],
            launched,
            {"StringEquals": {**stack_tags(ctx, "RequestTag"), "ec2:CreateAction": "RunInstances"}},
        ),
        # ...into the stack's subnets, with the stack's security groups only.
        ec2_changes(ctx, ["ec2:RunInstances"], [ec2(ctx, "subnet"), ec2(ctx, "security-group")]),
        allow(
            [
                "autoscaling:AttachLoadBalancerTargetGroups",
                "autoscaling:CancelInstanceRefresh",
                "autoscaling:CreateAutoScalingGroup",
                "autoscaling:CreateOrUpdateTags",
                "autoscaling:DeleteAutoScalingGroup",
                "autoscaling:DetachLoadBalancerTargetGroups",
                "autoscaling:StartInstanceRefresh",
                "autoscaling:UpdateAutoScalingGroup",
            ],
            arn(
                ctx,
                "autoscaling",
                f"autoScalingGroup:*:autoScalingGroupName/{ctx.settings.name('asg')}",
            ),
        ),
        service_linked_role(ctx, "autoscaling.amazonaws.com"),
    ]
