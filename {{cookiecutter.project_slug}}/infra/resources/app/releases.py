"""A release: the instance refresh that moves the Auto Scaling group to a new launch template
version, rolled back by Auto Scaling itself when the new instances fail.

AWS rules relied on (Amazon EC2 Auto Scaling User Guide, "Undo changes with a manual or auto
rollback", and the API Reference's RefreshPreferences):

* a rollback needs a desired configuration in the request, and a group saved on a numbered
  launch template version (not `$Default` or `$Latest`): the group names version numbers, and
  the refresh carries the new one in DesiredConfiguration; the group takes it when the refresh
  succeeds, and keeps the old one when it is rolled back;
* with AutoRollback, a refresh that fails (new instances that never pass the load balancer's
  health check) or sees an alarm of its AlarmSpecification go to ALARM is undone: the
  instances replaced so far are replaced again with the previous configuration;
* SkipMatching leaves alone the instances that already run the desired configuration;
* the group takes the desired configuration only "once the instance refresh succeeds"
  (StartInstanceRefresh, DesiredConfiguration): after any other outcome it still names the
  version it had, and a rollback replaces instances with "the configuration that you last
  saved on the Auto Scaling group";
* the launch template's default version is what a launch gets when it names no version
  (EC2 API Reference, ModifyLaunchTemplate: DefaultVersion).

A release that did not take therefore points the template's default back at the version the
group runs (`restore_default_version`). That keeps one truth for everything that reads the
default: `plan` compares the desired configuration with it, `image_tag` calls its tag the one
running now, and anyone launching from the template gets it. So after a broken tag the next
`plan` shows that tag as still to do, from the tag that runs, as Terraform would after a
failed apply, and nothing can launch the broken version by default. The alternative, `plan`
reading the group's version instead of the default, would leave the broken version as the
template's default and make the template's state depend on the group's.
"""

from __future__ import annotations

import os

import botocore.exceptions
import botocore.parsers

from infra.aws import DeployError, error_code, retry
from infra.engine import Context
from infra.resources.shared.addresses import AUTOSCALING_GROUP

INSTANCE_WARMUP_SECONDS = 120
# The alarms that stop a release: the app answering with server errors, an instance failing
# the load balancer's health check.
RELEASE_ALARM_ROLES = ("target-5xx", "unhealthy-hosts")
# Long enough for a refresh that fails after AWS's own hour of attempts, then rolls back.
RELEASE_TIMEOUT_SECONDS = 3 * 3600
# Refresh states (DescribeInstanceRefreshes) of a release still under way.
REFRESHING = ("Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress")
# States in which the new version is not what runs.
REFRESH_STOPPED = ("Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed")


def release_alarms(ctx: Context, state: str | None = None) -> list[str]:
    """The release's alarms that exist (in `state`, when given): an apply that stopped
    before the alarms were made leaves a group without them."""
    found = ctx.aws.client("cloudwatch").describe_alarms(
        AlarmNames=[ctx.settings.name(role) for role in RELEASE_ALARM_ROLES],
        AlarmTypes=["MetricAlarm"],
    )["MetricAlarms"]
    return sorted(alarm["AlarmName"] for alarm in found if state in (None, alarm.get("StateValue")))


def emulator_lacks_it(error: Exception) -> bool:
    """moto answers StartInstanceRefresh with NotImplementedError (in process) or a 500."""
    if not os.environ.get("AWS_ENDPOINT_URL"):
        return False
    return isinstance(error, (NotImplementedError, botocore.parsers.ResponseParserError)) or (
        isinstance(error, botocore.exceptions.ClientError)
        and error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
    )


def release(ctx: Context, name: str, template: dict, replace_all: bool = False) -> None:
    """Replace the group's instances with ones of `template` (launch template id and numbered
    version), one at a time, never below the healthy count; wait for the outcome and fail,
    naming why, when Auto Scaling had to roll it back. `replace_all`: instances already on
    that version are replaced too (the group moved to other subnets)."""
    autoscaling = ctx.aws.autoscaling
    alarms = release_alarms(ctx)
    preferences = {
        "MinHealthyPercentage": 100,
        "MaxHealthyPercentage": 200,
        "InstanceWarmup": INSTANCE_WARMUP_SECONDS,
        "SkipMatching": not replace_all,
        "AutoRollback": True,
    }
    if alarms:
        preferences["AlarmSpecification"] = {"Alarms": alarms}

    def start() -> str:
        return autoscaling.start_instance_refresh(
            AutoScalingGroupName=name,
            Strategy="Rolling",
            DesiredConfiguration={
                "LaunchTemplate": {
                    "LaunchTemplateId": template["id"],
                    "Version": str(template["version"]),
                }
            },
            Preferences=preferences,
        )["InstanceRefreshId"]

    try:
        refresh_id = start()
    except Exception as error:  # noqa: BLE001 - decided by the checks below
        if isinstance(error, autoscaling.exceptions.InstanceRefreshInProgressFault):
            autoscaling.cancel_instance_refresh(AutoScalingGroupName=name)
            refresh_id = retry(
                start,
                lambda e: error_code(e) == "InstanceRefreshInProgress",
                ctx.sleep,
                attempts=10,
                first_delay=5.0,
            )
        elif emulator_lacks_it(error):
            ctx.out(
                f"{AUTOSCALING_GROUP}: the emulator at AWS_ENDPOINT_URL has no instance "
                "refresh; the group takes the new version at once (real AWS replaces the "
                "instances with a refresh it rolls back if they fail)."
            )
            autoscaling.update_auto_scaling_group(
                AutoScalingGroupName=name,
                LaunchTemplate={
                    "LaunchTemplateId": template["id"],
                    "Version": str(template["version"]),
                },
            )
            return
        else:
            raise
    watched = f" or {' or '.join(alarms)} goes to ALARM" if alarms else ""
    ctx.out(
        f"{AUTOSCALING_GROUP}: instance refresh {refresh_id} started; Auto Scaling rolls it "
        f"back if the new instances fail their health check{watched}"
    )
    wait_for_release(ctx, name, refresh_id)


def wait_for_release(ctx: Context, name: str, refresh_id: str) -> None:
    autoscaling = ctx.aws.autoscaling

    def finished() -> bool:
        found = autoscaling.describe_instance_refreshes(
            AutoScalingGroupName=name, InstanceRefreshIds=[refresh_id]
        )["InstanceRefreshes"]
        refresh = found[0] if found else {}
        status = refresh.get("Status")
        if status in REFRESH_STOPPED:
            raise DeployError(why_it_stopped(ctx, refresh, default_put_back(ctx, name)))
        return status == "Successful"

    ctx.wait(
        AUTOSCALING_GROUP,
        "replacing instances",
        finished,
        timeout_seconds=RELEASE_TIMEOUT_SECONDS,
        timed_out=lambda elapsed: (
            f"{AUTOSCALING_GROUP}: instance refresh {refresh_id} still running after "
            f"{elapsed}; follow it with `aws autoscaling describe-instance-refreshes "
            f"--auto-scaling-group-name {name}`."
        ),
    )


def restore_default_version(ctx: Context, name: str) -> str | None:
    """Make the launch template's default the numbered version the group `name` runs (the
    last good one, since the release did not take); that version, or None when the group
    names none."""
    found = ctx.aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    template = (found[0] if found else {}).get("LaunchTemplate") or {}
    version = str(template.get("Version", ""))
    if not version.isdigit():
        return None
    ctx.aws.ec2.modify_launch_template(
        LaunchTemplateId=template["LaunchTemplateId"], DefaultVersion=version
    )
    return version


def default_put_back(ctx: Context, name: str) -> str:
    """restore_default_version, told in a sentence; a refused call is told too, so that it
    does not hide why the release stopped."""
    try:
        version = restore_default_version(ctx, name)
    except botocore.exceptions.ClientError as error:
        return (
            " The launch template's default could not be put back on the version the group "
            f"runs ({error_code(error)}): the next plan names the release that did not take."
        )
    if version is None:
        return ""
    return f" The launch template is back on version {version}, the one the group runs."


def why_it_stopped(ctx: Context, refresh: dict, put_back: str = "") -> str:
    """One line: the outcome, what stopped it (an alarm of the release, else the health
    check), AWS's own reason, the version the launch template is back on, and what to do."""
    status = refresh.get("Status")
    firing = release_alarms(ctx, state="ALARM")
    if firing:
        noun = "the alarm" if len(firing) == 1 else "the alarms"
        cause = f"{noun} {' and '.join(firing)} went to ALARM"
    else:
        cause = (
            "the new instances did not pass the load balancer's health check "
            f"({ctx.settings.health_check_path})"
        )
    details = refresh.get("RollbackDetails") or {}
    reason = (details.get("RollbackReason") or refresh.get("StatusReason") or "").rstrip(".")
    outcome = {
        "RollbackSuccessful": "was rolled back: the previous version runs again",
        "RollbackFailed": "failed and its rollback failed too: old and new instances may be mixed",
        "Cancelled": "was cancelled",
        "Failed": "failed",
    }[status]
    return (
        f"{AUTOSCALING_GROUP}: the release {outcome} ({status}); {cause}. "
        f"AWS says: {reason or 'no reason given'}.{put_back} Fix the image (see the app's "
        f"logs in CloudWatch), then deploy a new image tag."
    )
