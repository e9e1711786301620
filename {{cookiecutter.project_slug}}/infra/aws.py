"""AWS access: one boto3 session per run, retrying clients, and errors people can act on."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence

import boto3
import botocore.awsrequest
import botocore.config
import botocore.exceptions

# Every client retries throttling and transient errors with botocore's adaptive mode, which
# also slows the whole run down when AWS keeps throttling.
RETRY_CONFIG = botocore.config.Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    user_agent_extra="three-tier-flask",
)

READ_ONLY_PREFIXES = ("Describe", "Get", "List")

# Called as observer(service, operation, params) before every API call. Tests use it to
# count mutations and inject failures; an observer that returns a response dict answers
# the call in place of AWS (botocore's before-call short-circuit).
call_observers: list[Callable[[str, str, dict], dict | None]] = []


class DeployError(Exception):
    """An expected failure: printed as one line with the fix, no traceback."""


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_ONLY_PREFIXES)


_CLIENTS: dict[tuple, object] = {}
_CLIENTS_LOCK = threading.Lock()


def _environment_key() -> tuple:
    """Clients depend on the AWS_* variables (credentials, endpoint, profile)."""
    return tuple(
        sorted((key, value) for key, value in os.environ.items() if key.startswith("AWS_"))
    )


class Aws:
    """Clients for one region, shared by the threads of a run.

    Clients are kept for the life of the process (creating one takes tens of ms), keyed by
    region and the AWS_* environment, so a changed credential or endpoint gets new ones.
    """

    def __init__(self, region: str):
        self.region = region
        self.session = boto3.session.Session(region_name=region)
        self._identity: dict | None = None
        self._identity_lock = threading.Lock()

    def client(self, service: str, config: botocore.config.Config | None = None):
        config = config or RETRY_CONFIG  # read at each call: tests swap RETRY_CONFIG
        key = (self.region, service, id(config), _environment_key())
        with _CLIENTS_LOCK:
            if key not in _CLIENTS:
                client = self.session.client(service, config=config)
                client.meta.events.register("before-parameter-build", _keep_parameters)
                client.meta.events.register("before-call", _notify_observers)
                _CLIENTS[key] = client
            return _CLIENTS[key]

    @property
    def ec2(self):
        return self.client("ec2")

    @property
    def elbv2(self):
        return self.client("elbv2")

    @property
    def rds(self):
        return self.client("rds")

    @property
    def iam(self):
        return self.client("iam")

    @property
    def ssm(self):
        return self.client("ssm")

    @property
    def autoscaling(self):
        return self.client("autoscaling")

    def caller_identity(self) -> dict:
        """Who is calling, asked once however many threads want to know."""
        with self._identity_lock:
            if self._identity is None:
                self._identity = self.client("sts").get_caller_identity()
            return self._identity

    @property
    def account_id(self) -> str:
        return self.caller_identity()["Account"]

    @property
    def partition(self) -> str:
        return self.session.get_partition_for_region(self.region)

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{self.account_id}:{resource}"


def _keep_parameters(params, context, **_kwargs) -> None:
    context["infra_parameters"] = dict(params)


def _notify_observers(model, context, **_kwargs):
    params = context.get("infra_parameters", {})
    for observer in list(call_observers):
        response = observer(model.service_model.service_name, model.name, params)
        if response is not None:
            return botocore.awsrequest.AWSResponse("", 200, {}, None), response
    return None


def error_code(error: Exception) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return error.response.get("Error", {}).get("Code", "")
    return ""


def error_message(error: Exception) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return error.response.get("Error", {}).get("Message", "") or str(error)
    return str(error)


def is_not_found(error: Exception) -> bool:
    code = error_code(error)
    return "NotFound" in code or code in (
        "NoSuchEntity",
        "RepositoryNotFoundException",
        "ResourceNotFoundException",
        "ParameterNotFound",
    )


CREDENTIAL_CODES = (
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "AuthFailure",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "IncompleteSignature",
)
EXPIRED_CODES = ("ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired")
DENIED_CODES = (
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
)
# AWS refusing calls for their rate, not for what they ask. botocore's retry handler retries
# these (botocore/retries/standard.py, ThrottledRetryableChecker), so by the time one reaches
# `translate` the retries are spent. Its list has LimitExceededException too, but in every
# service this stack calls (IAM, ECR, ACM, CloudWatch Logs, Secrets Manager) that code means a
# quota, so it stays one here unless the message says "Rate exceeded". SNS says `Throttled`,
# SSM `TooManyUpdates` (another update of the same parameter is under way).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "Throttled",
        "TooManyRequests",
        "TooManyUpdates",
    }
)
THROTTLING_PATTERN = re.compile(r"Throttl")
# What a limit code says when the limit is a rate (checked only on codes like QUOTA_PATTERN's).
RATE_MESSAGE = re.compile(r"(?i)\brate exceeded\b|\bthrottl")
# HTTP 429 Too Many Requests, whatever the code says.
THROTTLING_STATUS = 429
# The account's quotas: VpcLimitExceeded, LimitExceeded (IAM), TooManyLoadBalancers,
# TooManyBuckets, InstanceQuotaExceeded (RDS), LimitExceededException... Checked after throttling,
# so RequestLimitExceeded and TooManyRequestsException never land here.
QUOTA_PATTERN = re.compile(r"LimitExceeded|LimitsExceeded|QuotaExceeded|TooMany|LimitReached")
# AWS has no spare machines of that kind in that zone right now: not a quota of the account.
CAPACITY_PATTERN = re.compile(r"^Insufficient\w*Capacity")


def is_throttling(error: Exception) -> bool:
    """AWS refused the call because of the rate of calls (after botocore's own retries)."""
    if not isinstance(error, botocore.exceptions.ClientError):
        return False
    code = error_code(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return (
        code in THROTTLING_CODES
        or bool(THROTTLING_PATTERN.search(code))
        or status == THROTTLING_STATUS
        or bool(QUOTA_PATTERN.search(code) and RATE_MESSAGE.search(error_message(error)))
    )


def translate(error: BaseException) -> DeployError | None:
    """The one-line message for an error people can fix themselves, or None."""
    if isinstance(error, DeployError):
        return error
    if isinstance(
        error, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)
    ):
        return DeployError(
            "No AWS credentials found: set AWS_PROFILE (after `aws configure` or "
            "`aws sso login`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
        )
    if isinstance(error, botocore.exceptions.TokenRetrievalError):
        return DeployError(f"Cannot get AWS credentials ({error}): run `aws sso login` again.")
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return DeployError(
            f"Cannot reach {error.kwargs.get('endpoint_url', 'AWS')}: check the "
            "network, aws_region in stack.toml and AWS_ENDPOINT_URL."
        )
    if not isinstance(error, botocore.exceptions.ClientError):
        return None
    code, message = error_code(error), error_message(error)
    operation = getattr(error, "operation_name", "the call")
    if code in CREDENTIAL_CODES:
        return DeployError(
            f"AWS rejected the credentials ({code}): check AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
        )
    if code in EXPIRED_CODES:
        return DeployError(
            "The AWS credentials have expired: log in again "
            "(`aws sso login`) or refresh the session token."
        )
    if code in DENIED_CODES:
        return DeployError(
            f"Not allowed to call {operation} ({message}): give the deploying "
            "identity that permission."
        )
    if code == "OptInRequired":
        return DeployError(
            f"The region is not enabled for this account ({message}): enable it "
            "in the AWS console (Account > AWS Regions) or pick another aws_region."
        )
    if is_throttling(error):
        return DeployError(
            f"AWS kept refusing {operation} because of the rate of calls ({code}), even "
            "after retries: wait a minute and run the same command again; it carries on "
            "from where it stopped and creates nothing twice."
        )
    if CAPACITY_PATTERN.search(code):
        return DeployError(
            f"AWS has no spare capacity for {operation} right now ({code}: {message}): "
            "wait a few minutes and run the same command again, or pick another instance "
            "type or class (or availability_zones) in stack.toml."
        )
    if QUOTA_PATTERN.search(code):
        return DeployError(
            f"AWS quota reached in {operation} ({code}: {message}): delete unused "
            "resources or request an increase in the Service Quotas console."
        )
    return None


def retry(
    call: Callable[[], object],
    should_retry: Callable[[Exception], bool],
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = 8,
    first_delay: float = 2.0,
    delays: Sequence[float] | None = None,
):
    """`call()` again while `should_retry(error)` says so: after each of `delays`, or by
    default with exponential backoff from `first_delay` (capped at 30 s), `attempts` calls."""
    if delays is None:
        delays = [min(first_delay * 2**attempt, 30.0) for attempt in range(attempts - 1)]
    for delay in (*delays, None):
        try:
            return call()
        except botocore.exceptions.ClientError as error:
            if delay is None or not should_retry(error):
                raise
            sleep(delay)
    raise AssertionError("unreachable")


# Waits, in seconds, for AWS to know a resource it has just created: about two minutes.
# Amazon EC2 API Reference, "Eventual consistency in the Amazon EC2 API": a resource just
# created "might not be immediately visible to all subsequent API calls", reads and changes
# alike, which then fail with a NotFound error such as InvalidGroup.NotFound; "retry the
# request using an exponential backoff algorithm". IAM (IAM User Guide, "Changes that I make
# are not always immediately visible"), ELB and RDS behave the same.
VISIBILITY_DELAYS = (1, 2, 4, 8, 15, 30, 30, 30)
# What AWS answers, besides a *NotFound code, for an id it gave out a moment ago: RDS's
# CreateDBSubnetGroup calls a subnet it does not know yet InvalidSubnet, ELB's
# CreateLoadBalancer a security group InvalidSecurityGroup.
NOT_YET_VISIBLE_CODES = ("InvalidSubnet", "InvalidSecurityGroup")


def is_not_yet_visible(error: Exception) -> bool:
    return (
        is_not_found(error)
        or error_code(error) in NOT_YET_VISIBLE_CODES
        or is_iam_propagation_delay(error)
    )


def once_visible(call: Callable[[], object], sleep: Callable[[float], None], doing: str):
    """`call()`, a change that names resources this run has just created, again while AWS
    answers that one of them does not exist (VISIBILITY_DELAYS); then a one-line DeployError
    saying what to do, never a traceback. `doing` names the change in that line."""
    try:
        return retry(call, is_not_yet_visible, sleep, delays=VISIBILITY_DELAYS)
    except botocore.exceptions.ClientError as error:
        if not is_not_yet_visible(error):
            raise
        raise DeployError(
            f"{doing}: AWS still answers {error_code(error)} ({error_message(error)}) "
            f"{sum(VISIBILITY_DELAYS)} s after creating what it names: run the same command "
            "again in a few minutes; it carries on from where it stopped."
        ) from None


IAM_PROPAGATION = re.compile(
    r"(?i)iam ?instance ?profile|instance profile|not authorized to perform: iam:PassRole"
)


def is_iam_propagation_delay(error: Exception) -> bool:
    """AWS rejects a new instance profile or role for a few seconds after IAM creates it."""
    return error_code(error) in ("ValidationError", "InvalidParameterValue") and bool(
        IAM_PROPAGATION.search(error_message(error))
    )


def unless_gone(call: Callable[[], object]) -> None:
    """`call()`, a delete: NotFound means it is gone already (an earlier run, or AWS), which
    is what the delete was for."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - only NotFound is swallowed
        if not is_not_found(error):
            raise


def delete_when_free(call: Callable[[], object], sleep: Callable[[float], None]) -> None:
    """Deleting retries while AWS still detaches things (ENIs of a just-deleted load balancer,
    a DB subnet group while its instance is still being deleted)."""
    retry(call, is_dependency_violation, sleep, attempts=12, first_delay=5.0)


def is_dependency_violation(error: Exception) -> bool:
    """Deleting a VPC part while an ENI of a deleted load balancer still lingers in it."""
    return error_code(error) in (
        "DependencyViolation",
        "ResourceInUse",
        "InvalidDBSubnetGroupStateFault",
        "InvalidDBParameterGroupState",
        "ResourceInUseException",
    )
