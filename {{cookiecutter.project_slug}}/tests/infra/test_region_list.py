"""aws_region is checked against the regions AWS has, at generation time too: the validator
keeps botocore's list (infra/validation.py, standard library only), and this test says when
botocore knows other regions than that copy."""

import pytest

from devtools import aws_regions
from infra import validation


def test_the_validators_regions_are_botocores():
    botocore_regions = {
        region for regions in aws_regions.regions_by_partition().values() for region in regions
    }
    assert botocore_regions == validation.AWS_REGIONS, (
        "botocore's regions changed: replace AWS_REGIONS in infra/validation.py with the "
        "output of `python -m devtools.aws_regions`"
    )


def test_every_listed_region_has_the_shape_of_a_region_name():
    assert all(validation.REGION.fullmatch(region) for region in validation.AWS_REGIONS)


@pytest.mark.parametrize("region", ["eu-north-9", "us-east-3"])
def test_a_region_of_the_right_shape_that_aws_does_not_have_is_refused(project, infra, region):
    project.set("aws_region", f'"{region}"')
    result = infra("validate")
    assert result.code == 1
    assert "Traceback" not in result.err
    assert f"aws_region = '{region}': is not an AWS region (the regions known to" in result.err
