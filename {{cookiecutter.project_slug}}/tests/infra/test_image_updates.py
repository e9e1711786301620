"""The instances keep their Amazon Linux image until asked (issue #15, AMI drift).

The launch template's image comes from AWS's public SSM parameter
`/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-<arch>`, which AWS points at
every new Amazon Linux 2023 release ("Query for the latest Amazon Linux AMI IDs using AWS
Systems Manager Parameter Store", AWS Compute Blog / EC2 User Guide). Following it would
make every plan show a change and every apply replace every instance; moto's parameter
never changes, so these tests move it.
"""

from __future__ import annotations

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends

from infra.resources.app.instances import AMI_PARAMETER


@pytest.fixture
def newer_image(deployed, project, aws_client):
    """Points the public parameter at another x86_64 image, as an AWS release does."""
    region = project.settings.aws_region
    name = AMI_PARAMETER.format(arch="x86_64")
    running = aws_client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    images = aws_client("ec2").describe_images(
        Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}]
    )["Images"]
    newer = next(image["ImageId"] for image in images if image["ImageId"] != running)
    ssm_backends[DEFAULT_ACCOUNT_ID][region]._parameters[name][-1].value = newer
    return running, newer


def launch_template_image(aws_client, settings) -> str:
    found = aws_client("ec2").describe_launch_template_versions(
        LaunchTemplateName=settings.name("lt"), Versions=["$Default"]
    )["LaunchTemplateVersions"]
    return found[0]["LaunchTemplateData"]["ImageId"]


def test_a_new_image_release_leaves_the_plan_clean_and_says_so(
    newer_image, project, infra, calls, aws_client, instance_refreshes
):
    running, newer = newer_image
    plan = infra("plan")
    assert plan.code == 0, plan.out
    assert plan.plan_summary.startswith("No changes.")
    assert f"A newer Amazon Linux 2023 image is available ({newer}" in plan.out
    assert "--update-image" in plan.out
    calls.clear()
    assert infra("apply", "--auto-approve").code == 0
    assert calls.mutating == []
    assert launch_template_image(aws_client, project.settings) == running
    assert instance_refreshes == []


def test_update_image_rolls_the_instances_onto_it(
    newer_image, project, infra, aws_client, instance_refreshes
):
    _running, newer = newer_image
    plan = infra("plan", "--update-image")
    assert plan.code == 2
    assert f'~ image_id = "{_running}" -> "{newer}"' in plan.out
    result = infra("apply", "--auto-approve", "--update-image")
    assert result.code == 0, result.err
    assert launch_template_image(aws_client, project.settings) == newer
    assert len(instance_refreshes) == 1
    again = infra("plan")
    assert again.code == 0
    assert "A newer Amazon Linux 2023 image" not in again.out
