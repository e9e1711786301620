"""Print infra/validation.py's AWS_REGIONS block again from the botocore installed here.

    python -m devtools.aws_regions

The deploy tool's validator is standard library only (the template's hook loads it before
anything is installed), so it keeps its own copy of the regions; tests/infra/test_region_list.py
fails when botocore knows other regions than that copy, and this prints the replacement.
"""

import datetime
import textwrap

import boto3
import botocore

# The partitions an account can be opened in; the others (aws-iso*, ...) are not for this stack.
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")


def regions_by_partition() -> dict[str, list[str]]:
    session = boto3.session.Session()
    return {
        partition: sorted(session.get_available_regions("ec2", partition_name=partition))
        for partition in PARTITIONS
    }


def block() -> str:
    lines = [
        f'REGIONS_AS_OF = "botocore {botocore.__version__}, {datetime.date.today().isoformat()}"',
        "AWS_REGIONS = frozenset(",
        "    {",
    ]
    for partition, regions in regions_by_partition().items():
        lines.append(f"        # {partition}")
        quoted = ", ".join(f'"{region}"' for region in regions) + ","
        lines += textwrap.wrap(
            quoted, 99, initial_indent=" " * 8, subsequent_indent=" " * 8, break_on_hyphens=False
        )
    lines += ["    }", ")  # fmt: skip"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(block())
