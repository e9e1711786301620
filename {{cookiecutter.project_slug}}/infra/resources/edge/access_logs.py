"""Load balancer access logs (option `alb_access_logs`): an S3 bucket of the stack.

The bucket `<project>-<stack>-alb-logs-<account id>` is encrypted (SSE-S3), blocks all
public access, owns every object it holds (no ACLs), refuses plain-HTTP requests, lets
only the region's Elastic Load Balancing log delivery write, under its prefix, and deletes
logs once they are `log_retention_days` old, like the log groups. The load balancer's
`access_logs.s3.*` attributes point at it (load_balancer.py). Destroy, or an apply with the
option off, empties the bucket (every object version) and deletes it.
"""

from __future__ import annotations

from infra import tags
from infra.aws import DeployError, error_code, error_message, retry
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import ACCESS_LOG_BUCKET
from infra.resources.shared.iam import canonical
from infra.resources.shared.names import ACCESS_LOG_PREFIX, access_log_bucket_name
from infra.resources.shared.permissions import allow

# Who writes the access logs, per region. Source: AWS documentation, "Enable access logs
# for your Application Load Balancer" (Elastic Load Balancing User Guide, "Attach a policy
# to your S3 bucket"): regions available before August 2022 name the region's Elastic Load
# Balancing account; newer regions grant the log delivery service principal.
ELB_ACCOUNT_IDS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580",
    "ap-south-1": "718504428378",
    "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-south-1": "635631232127",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-gov-west-1": "048591011584",
    "us-gov-east-1": "190560391635",
    "cn-north-1": "638102146993",
    "cn-northwest-1": "037604701340",
}
LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"
LOG_DELIVERY_SERVICE_REGIONS = (
    "ap-south-2",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-east-2",
    "ca-west-1",
    "eu-central-2",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "mx-central-1",
)
# An upload left unfinished is billed until it is aborted; the stack never resumes one.
ABORT_UPLOADS_AFTER_DAYS = 1
# The tool never turns versioning on, but someone may (tests/infra/test_options.py does):
# a log replaced or expired by the rule below is then kept as a noncurrent version, which
# goes a day later.
NONCURRENT_DAYS = 1
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def log_delivery_principal(region: str) -> dict:
    """The principal that delivers the region's load balancer logs."""
    if region in ELB_ACCOUNT_IDS:
        partition = "aws-us-gov" if region.startswith("us-gov-") else "aws"
        partition = "aws-cn" if region.startswith("cn-") else partition
        return {"AWS": f"arn:{partition}:iam::{ELB_ACCOUNT_IDS[region]}:root"}
    if region in LOG_DELIVERY_SERVICE_REGIONS:
        return {"Service": LOG_DELIVERY_SERVICE}
    raise DeployError(
        f"This tool does not know who delivers load balancer access logs in {region}: "
        "set alb_access_logs = false in stack.toml, or add the region to "
        "infra/resources/edge/access_logs.py from the AWS documentation."
    )


def bucket_policy(ctx: Context, name: str) -> dict:
    bucket = f"arn:{ctx.aws.partition}:s3:::{name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LoadBalancerLogDelivery",
                "Effect": "Allow",
                "Principal": log_delivery_principal(ctx.aws.region),
                "Action": "s3:PutObject",
                "Resource": f"{bucket}/{ACCESS_LOG_PREFIX}/AWSLogs/{ctx.aws.account_id}/*",
            },
            {
                "Sid": "DenyPlainHttp",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket, f"{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def lifecycle_rules(retention_days: int) -> list[dict]:
    """The bucket's lifecycle rules (PutBucketLifecycleConfiguration's `Rules`), one for
    the whole bucket. Amazon S3 User Guide, "Lifecycle configuration elements": `Filter`
    with an empty `Prefix` applies a rule to every object; `Expiration` `Days` expires the
    current version that many days after its creation; `NoncurrentVersionExpiration`
    `NoncurrentDays` deletes a version that many days after it became noncurrent;
    `AbortIncompleteMultipartUpload` `DaysAfterInitiation` aborts uploads left unfinished
    (not allowed with a tag filter, and this rule has none)."""
    return [
        {
            "ID": "expire-access-logs",
            "Filter": {"Prefix": ""},
            "Status": "Enabled",
            "Expiration": {"Days": retention_days},
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_UPLOADS_AFTER_DAYS},
        }
    ]


def normalized_rules(rules: list[dict]) -> list[dict]:
    """Rules as compared: without `ID` (a name only), and the whole-bucket filter in one
    spelling, whichever S3 echoes (`Filter: {}`, `Filter: {Prefix: ""}`, or the older
    top-level `Prefix: ""`); in a stable order, since the order of rules means nothing."""
    normalized = []
    for rule in rules:
        rule = {key: value for key, value in rule.items() if key != "ID"}
        prefix = rule.pop("Prefix", None)
        found = rule.pop("Filter", None)
        if found in (None, {}) and prefix is not None:
            found = {"Prefix": prefix}
        rule["Filter"] = {"Prefix": ""} if found in (None, {}) else found
        normalized.append({key: rule[key] for key in sorted(rule)})  # plans show one order
    return sorted(normalized, key=canonical)


# On destroy the load balancer goes first, but Elastic Load Balancing can still deliver its
# last log file after that (it publishes each node's file every 5 minutes and "log delivery
# is eventually consistent": ELB User Guide, "Access logs for your Application Load
# Balancer"), so S3 may refuse DeleteBucket with BucketNotEmpty ("The bucket you tried to
# delete is not empty", Amazon S3 API Reference, "Error responses") after the bucket was
# emptied: empty it again and retry, a few times.
NOT_EMPTY_CODE = "BucketNotEmpty"
NOT_EMPTY_MESSAGE = "not empty"
EMPTY_ATTEMPTS = 6
EMPTY_FIRST_DELAY_SECONDS = 5.0


def is_refilled(error: Exception) -> bool:
    """S3 refused DeleteBucket because something was written to the bucket meanwhile."""
    return error_code(error) == NOT_EMPTY_CODE and NOT_EMPTY_MESSAGE in error_message(error)


def _missing(error: Exception, *codes: str) -> bool:
    return error_code(error) in codes


class AccessLogBucket(Resource):
    address = ACCESS_LOG_BUCKET

    def read(self, ctx: Context) -> dict | None:
        s3, name = ctx.aws.client("s3"), access_log_bucket_name(ctx)
        try:  # Get*, not HeadBucket: reading never calls an operation that could change things
            listed = tags.from_list(s3.get_bucket_tagging(Bucket=name)["TagSet"])
        except s3.exceptions.ClientError as error:
            if _missing(error, "NoSuchBucket", "404"):
                return None
            if not _missing(error, "NoSuchTagSet"):
                raise
            listed = {}
        if not tags.belongs(listed, ctx.settings):
            raise DeployError(
                f"An S3 bucket named {name} exists but is not tagged as part of this stack: "
                "delete it, or set alb_access_logs = false in stack.toml."
            )
        return {
            "id": name,
            "name": name,
            "encryption": self._get(
                lambda: s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"][
                    "Rules"
                ][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
                "ServerSideEncryptionConfigurationNotFoundError",
            ),
            "public_access_block": self._get(
                lambda: s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"],
                "NoSuchPublicAccessBlockConfiguration",
            ),
            "ownership": self._get(
                lambda: s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"][
                    0
                ]["ObjectOwnership"],
                "OwnershipControlsNotFoundError",
            ),
            "policy": self._get(
                lambda: canonical(s3.get_bucket_policy(Bucket=name)["Policy"]),
                "NoSuchBucketPolicy",
            ),
            "lifecycle": self._get(
                lambda: normalized_rules(
                    s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
                ),
                "NoSuchLifecycleConfiguration",
            ),
            "tags": tags.ours(listed, tags.stack_tags(ctx.settings)),
        }

    @staticmethod
    def _get(call, missing_code: str):
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - only "not configured" means None
            if _missing(error, missing_code):
                return None
            raise

    def desired(self, ctx: Context) -> dict | None:
        if not ctx.settings.alb_access_logs:
            return None
        name = access_log_bucket_name(ctx)
        return {
            "name": name,
            "encryption": "AES256",
            "public_access_block": dict(PUBLIC_ACCESS_BLOCK),
            "ownership": "BucketOwnerEnforced",
            "policy": canonical(bucket_policy(ctx, name)),
            "lifecycle": normalized_rules(lifecycle_rules(ctx.settings.log_retention_days)),
            "tags": tags.stack_tags(ctx.settings),
            "_retention_days": ctx.settings.log_retention_days,
        }

    def create(self, ctx: Context, desired: dict) -> None:
        s3, name = ctx.aws.client("s3"), desired["name"]
        options = {}
        if ctx.aws.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": ctx.aws.region}
        s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced", **options)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags.as_list(desired["tags"])})
        self.update(ctx, {"tags": desired["tags"]}, desired, [])

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        s3, name = ctx.aws.client("s3"), desired["name"]
        if actual.get("public_access_block") != desired["public_access_block"]:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=desired["public_access_block"]
            )
        if actual.get("ownership") != desired["ownership"]:
            s3.put_bucket_ownership_controls(
                Bucket=name,
                OwnershipControls={"Rules": [{"ObjectOwnership": desired["ownership"]}]},
            )
        if actual.get("encryption") != desired["encryption"]:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
        if actual.get("policy") != desired["policy"]:
            s3.put_bucket_policy(Bucket=name, Policy=desired["policy"])
        if actual.get("lifecycle") != desired["lifecycle"]:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={"Rules": lifecycle_rules(desired["_retention_days"])},
            )
        if actual.get("tags") != desired["tags"]:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags.as_list(desired["tags"])})

    def delete(self, ctx: Context, actual: dict) -> None:
        s3, name = ctx.aws.client("s3"), actual["name"]

        def empty_then_delete() -> None:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
                objects = [
                    {"Key": item["Key"], "VersionId": item["VersionId"]}
                    for item in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
                ]
                for start in range(0, len(objects), 1000):  # DeleteObjects takes 1000 at most
                    refused = s3.delete_objects(
                        Bucket=name,
                        Delete={"Objects": objects[start : start + 1000], "Quiet": True},
                    ).get("Errors", [])
                    if refused:  # Quiet: only the objects S3 did not delete come back
                        first = refused[0]
                        raise DeployError(
                            f"{self.address}: S3 refused to delete {len(refused)} object(s) of "
                            f"bucket {name} ({first.get('Code')}: {first.get('Message')}, "
                            f"{first.get('Key')}): check the bucket's policy and your "
                            "permissions, then run the same command again."
                        )
            s3.delete_bucket(Bucket=name)

        try:
            retry(
                empty_then_delete,
                is_refilled,
                ctx.sleep,
                attempts=EMPTY_ATTEMPTS,
                first_delay=EMPTY_FIRST_DELAY_SECONDS,
            )
        except s3.exceptions.ClientError as error:
            if not is_refilled(error):
                raise
            raise DeployError(
                f"{self.address}: S3 still refuses to delete bucket {name} after emptying it "
                f"{EMPTY_ATTEMPTS} times ({error_code(error)}: {error_message(error)}): "
                "something keeps writing to it; check that no other load balancer or service "
                "logs to it, empty it in the S3 console, then run `python -m infra destroy` "
                "again."
            ) from None


def resources() -> list[Resource]:
    return [AccessLogBucket()]


def deploy_permissions(ctx: Context) -> list[dict]:
    """Plan looks for the bucket even with the option off (one left from it)."""
    bucket = f"arn:{ctx.aws.partition}:s3:::{ctx.settings.name('alb-logs')}-{ctx.aws.account_id}"
    # IAM names differ from some API names (Service Authorization Reference, Amazon S3):
    # Get/PutBucketLifecycleConfiguration are s3:Get/PutLifecycleConfiguration, and
    # Get/PutBucketEncryption are s3:Get/PutEncryptionConfiguration.
    return [
        allow(
            [
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:GetBucketOwnershipControls",
                "s3:GetBucketPolicy",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetBucketTagging",
                "s3:GetEncryptionConfiguration",
                "s3:GetLifecycleConfiguration",
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:PutBucketOwnershipControls",
                "s3:PutBucketPolicy",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketTagging",
                "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration",
            ],
            [bucket, f"{bucket}/*"],
        )
    ]
