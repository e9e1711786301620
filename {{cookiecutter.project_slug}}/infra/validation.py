"""The one set of rules for this stack's settings.

Used twice: by the template's pre-generation hook on the answers to its questions, and by
`python -m infra` on `stack.toml` before every command. Standard library only, and no
template syntax, so the hook can import this very file from the template checkout.

`validate(raw)` takes a flat mapping of setting name to value. Values may be strings (as
the template's questions give them) or TOML types (ints, lists); it returns the typed
`StackSettings` and every problem found, never just the first.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import keyword
import re
import string
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Problem:
    variable: str
    value: Any
    reason: str
    example: str

    def __str__(self) -> str:
        return f"{self.variable} = {self.value!r}: {self.reason} (for example: {self.example})"


class InvalidSettings(ValueError):
    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclasses.dataclass(frozen=True)
class StackSettings:
    project_slug: str
    stack_name: str
    aws_region: str
    availability_zones: tuple[str, ...]
    vpc_cidr: str
    public_subnet_cidrs: tuple[str, ...]
    private_subnet_cidrs: tuple[str, ...]
    app_port: int
    app_instance_type: str
    app_min_size: int
    app_desired_capacity: int
    app_max_size: int
    db_instance_class: str
    db_allocated_storage_gb: int
    db_engine_version: str
    db_name: str
    db_admin_username: str
    db_backup_retention_days: int
    health_check_path: str
    health_check_interval_seconds: int
    health_check_timeout_seconds: int
    health_check_healthy_threshold: int
    health_check_unhealthy_threshold: int
    health_check_success_codes: str
    log_retention_days: int
    alarm_email: str
    # How long the load balancer lets a leaving instance finish its requests (instance
    # refresh, scale-in). AWS's own default is 300 s; a stack.toml without it gets this.
    deregistration_delay_seconds: int = 30
    # The architecture deploy.yml builds the image for, fixed when the project is generated
    # (None: not recorded, in a stack.toml from before; then not checked).
    image_architecture: str | None = None
    alarm_target_5xx_count: int = 10
    alarm_p99_response_ms: int = 1000
    alarm_db_cpu_percent: int = 80
    alarm_db_free_storage_percent: int = 10
    alarm_db_connections_percent: int = 80
    # Optional components, off unless chosen; each is a switch in stack.toml.
    db_multi_az: bool = False
    db_deletion_protection: bool = False
    db_performance_insights: bool = False
    vpc_flow_logs: bool = False
    alb_access_logs: bool = False
    # HTTPS on this domain when set; the certificate is validated in the hosted zone if given.
    domain_name: str = ""
    hosted_zone_id: str = ""
    # none: app instances in the public subnets; single/per_az: in the private ones.
    nat_gateway: str = "none"
    monthly_budget_usd: int | None = None

    @property
    def https(self) -> bool:
        return bool(self.domain_name)

    @property
    def nat_gateway_count(self) -> int:
        return {"none": 0, "single": 1}.get(self.nat_gateway, self.az_count)

    @property
    def az_count(self) -> int:
        return len(self.public_subnet_cidrs)

    def name(self, role: str) -> str:
        return resource_name(self.project_slug, self.stack_name, role)


# AWS names built from project_slug and stack_name, with the longest role each kind gets and
# the limit real AWS enforces (moto enforces none of them).
NAME_LIMITS = (
    ("load balancer", "alb", 32),
    ("target group", "tg", 32),
    ("RDS instance identifier", "db", 63),
    ("IAM role", "deploy-role", 64),
    ("IAM role", "flow-logs-role", 64),
    # S3 bucket names are global, so the account id (always 12 digits) is part of it.
    ("S3 bucket", "alb-logs-123456789012", 63),
    ("IAM instance profile", "app-profile", 128),
)

SUPPORTED_POSTGRES_MAJORS = ("14", "15", "16", "17")
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
RESERVED_DB_USERS = (
    "postgres",
    "rdsadmin",
    "rdsrepladmin",
    "rds_superuser",
    "admin",
    "root",
    "user",
    "public",
    "pg_signal_backend",
)
RESERVED_DB_NAMES = ("postgres", "template0", "template1", "rdsadmin")
# Top-level names in the generated project that the app package must not shadow.
RESERVED_PACKAGE_NAMES = ("infra", "tests", "devtools", "gunicorn", "flask", "psycopg2")

BOOLEAN_WORDS = {"yes": True, "true": True, "no": False, "false": False}
# The optional components: each is off unless the template answer or stack.toml turns it on.
OPTIONS = (
    "db_multi_az",
    "db_deletion_protection",
    "db_performance_insights",
    "vpc_flow_logs",
    "alb_access_logs",
)
# The optional components set by a value; each is off while its key is absent or empty.
VALUED_OPTIONS = ("domain_name", "hosted_zone_id", "nat_gateway", "monthly_budget_usd")

SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
STACK = re.compile(r"[a-z][a-z0-9]{0,9}")
PACKAGE = re.compile(r"[a-z][a-z0-9_]*")
REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[1-9]")
# The regions of the partitions an account can be opened in (aws, aws-cn, aws-us-gov), from
# botocore's endpoint data: what `aws_region` may be. `python -m devtools.aws_regions` prints
# this block again from the botocore installed; tests/infra/test_region_list.py compares them.
REGIONS_AS_OF = "botocore 1.44.8, 2026-11-30"
AWS_REGIONS = frozenset(
    {
        # aws
        "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2",
        "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2",
        "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
        "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
        "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1",
        "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1",
        "us-west-2",
        # aws-cn
        "cn-north-1", "cn-northwest-1",
        # aws-us-gov
        "us-gov-east-1", "us-gov-west-1",
    }
)  # fmt: skip
# GitHub's rules for OWNER/NAME, as its sign-up and new-repository forms enforce them: an
# owner (user or organization) is 1 to 39 letters, digits and single hyphens, neither first
# nor last; a repository name is 1 to 100 letters, digits, ".", "_" and "-", but not "." or "..".
GITHUB_OWNER = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
GITHUB_OWNER_MAX = 39
GITHUB_NAME = re.compile(r"[A-Za-z0-9._-]+")
GITHUB_NAME_MAX = 100
INSTANCE_TYPE = re.compile(
    r"[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.(nano|micro|small|medium|large|[0-9]*xlarge|metal(-[0-9]+xl)?)"
)
DB_CLASS = re.compile(
    r"db\.[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.(micro|small|medium|large|[0-9]*xlarge)"
)
DB_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`|~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
DOMAIN_NAME = re.compile(r"(?=.{4,64}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
HOSTED_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}")
NAT_GATEWAY_CHOICES = ("none", "single", "per_az")
# Amazon VPC quotas, "Rules per network ACL": 20 inbound and 20 outbound, AWS's own deny-all
# rule included. The private subnets' ACL (resources/network/network_acl.py) takes 4 inbound
# rules per subnet pair and 3 for NAT: 4 pairs fill it.
MAX_SUBNETS_PER_TIER = 4
SUCCESS_CODES = re.compile(r"[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*")

# The characters RFC 3986 allows in a path segment unencoded (unreserved, sub-delims, ":" and
# "@"), without "%": the path is then the same text in every file it is written into and in
# the request the load balancer sends, with no encoding to get right. Quotes, braces and
# spaces stay out, so the path is inert wherever it is written (a workflow expression, a
# shell word, a Dockerfile).
HEALTH_CHECK_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@/-]*")


def resource_name(project_slug: str, stack_name: str, role: str) -> str:
    """`<project>-<stack>-<role>`, the name every AWS resource of the stack gets."""
    return f"{project_slug}-{stack_name}-{role}"


def github_repository_problem(value: str) -> str | None:
    """What is wrong with `value` as a GitHub repository `OWNER/NAME`, or None if nothing.

    The one rule for it: the template's `github_repository` answer and
    `bootstrap-ci --github-repo` both use it."""
    owner, slash, name = value.partition("/")
    if not (owner and slash and name) or "/" in name:
        return "must be OWNER/NAME as on GitHub: an owner, one slash, a repository name"
    if len(owner) > GITHUB_OWNER_MAX:
        return f"the owner is {len(owner)} characters long; GitHub allows at most 39"
    if not GITHUB_OWNER.fullmatch(owner):
        return (
            f"the owner {owner!r} must be letters, digits and single hyphens, "
            "not starting or ending with a hyphen"
        )
    if len(name) > GITHUB_NAME_MAX:
        return f"the name is {len(name)} characters long; GitHub allows at most 100"
    if not GITHUB_NAME.fullmatch(name):
        return f"the name {name!r} may hold only letters, digits, '.', '_' and '-'"
    if name in (".", ".."):
        return f"the name {name!r} is not allowed: GitHub refuses '.' and '..'"
    return None


def as_list(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(item).strip() for item in value]
    text = str(value).strip()
    return [item.strip() for item in text.split(",")] if text else []


class _Checker:
    """Collects problems while reading raw values into typed ones."""

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw
        self.problems: list[Problem] = []

    def fail(self, variable: str, reason: str, example: str, value: Any = None) -> None:
        shown = self.raw.get(variable) if value is None else value
        self.problems.append(Problem(variable, shown, reason, example))

    def text(
        self,
        variable: str,
        pattern: re.Pattern[str] | None,
        reason: str,
        example: str,
        max_length: int = 255,
        allow_empty: bool = False,
    ) -> str:
        value = self.raw.get(variable, "")
        if not isinstance(value, str):
            self.fail(variable, "must be text", example)
            return ""
        if value == "" and allow_empty:
            return value
        if value != value.strip() or not value:
            self.fail(variable, "must not be empty or start or end with spaces", example)
        elif len(value) > max_length:
            self.fail(
                variable,
                f"is {len(value)} characters long; at most {max_length} are allowed",
                example,
            )
        elif not value.isprintable():
            self.fail(variable, "must be one line of printable characters", example)
        elif pattern is not None and not pattern.fullmatch(value):
            self.fail(variable, reason, example)
        return value

    def integer(self, variable: str, low: int, high: int, example: str) -> int | None:
        value = self.raw.get(variable)
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None:
            self.fail(variable, "must be a whole number", example)
        elif not low <= number <= high:
            self.fail(variable, f"must be between {low} and {high}", example)
            return None
        return number

    def boolean(self, variable: str, example: str = "no") -> bool | None:
        """yes/no/true/false as the template's questions give them, or a TOML boolean."""
        value = self.raw.get(variable)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in BOOLEAN_WORDS:
            return BOOLEAN_WORDS[value.strip().lower()]
        self.fail(variable, "must be yes, no, true or false", example)
        return None

    def network(self, variable: str, value: str, example: str) -> ipaddress.IPv4Network | None:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            try:
                corrected = ipaddress.IPv4Network(value, strict=False)
            except ValueError:
                self.fail(variable, f"{value!r} is not an IPv4 CIDR block ({error})", example)
            else:
                self.fail(
                    variable,
                    f"{value!r} has host bits set; the network is {corrected}",
                    str(corrected),
                )
            return None
        if not 16 <= network.prefixlen <= 28:
            self.fail(
                variable,
                f"{value} has a /{network.prefixlen} prefix; AWS accepts /16 to /28",
                example,
            )
            return None
        return network


def validate(raw: Mapping[str, Any]) -> tuple[StackSettings | None, list[Problem]]:
    """Every problem in `raw`, and the typed settings when there are none."""
    check = _Checker(raw)
    for rule in (
        _check_template_texts,
        _check_names,
        _check_network,
        _check_app,
        _check_image_architecture,
        _check_database,
        _check_health_check,
        _check_observability,
        _check_options,
        _check_https,
        _check_nat_gateway,
        _check_budget,
    ):
        rule(check)
    if check.problems:
        return None, _blamed_on_typed_values(raw, check.problems)
    return _settings(raw), []


def _derived_slug(project_name: str) -> str:
    """The template's default project_slug for a project name, as cookiecutter's slugify
    makes it for plain ASCII names (a name it transliterates may differ: then no match)."""
    text = unicodedata.normalize("NFKD", project_name).encode("ascii", "ignore").decode()
    text = re.sub(r"['\"]", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "unnamed"


def _derivations(raw: Mapping[str, Any]) -> dict[str, str]:
    """Which answer each derived answer came from, when the template derived it (the
    template's questions give project_slug from project_name, package_name from the slug)."""
    name, slug, package = (raw.get(key) for key in ("project_name", "project_slug", "package_name"))
    sources = {}
    if isinstance(name, str) and slug == _derived_slug(name):
        sources["project_slug"] = "project_name"
    if isinstance(slug, str) and package == slug.replace("-", "_"):
        sources["package_name"] = sources.get("project_slug", "project_slug")
    return sources


def _blamed_on_typed_values(raw: Mapping[str, Any], problems: list[Problem]) -> list[Problem]:
    """A problem in a value the template derived is reported on the answer it came from,
    saying what that answer produced: the student never typed the derived value."""
    if "project_name" not in raw:  # stack.toml: every value there was written by hand
        return problems
    sources = _derivations(raw)
    blamed = []
    for problem in problems:
        source = sources.get(problem.variable)
        if source is None:
            blamed.append(problem)
            continue
        example = "Visit Counter" if source == "project_name" else "visit-counter"
        blamed.append(
            Problem(
                source,
                raw[source],
                f"gives {problem.variable} {problem.value!r}, which {problem.reason}; "
                f"change {source}, or answer {problem.variable} yourself",
                example,
            )
        )
    return blamed


def parse(raw: Mapping[str, Any]) -> StackSettings:
    settings, problems = validate(raw)
    if settings is None:
        raise InvalidSettings(problems)
    return settings


def _check_template_texts(check: _Checker) -> None:
    if "project_name" in check.raw:
        check.text("project_name", None, "", "Visit Counter", max_length=80)
    if "description" in check.raw:
        check.text("description", None, "", "A visit counter on AWS.", max_length=300)
    if "author_name" in check.raw:
        check.text("author_name", None, "", "Ada Lovelace", max_length=100)
    if "github_repository" in check.raw:
        found = len(check.problems)
        repository = check.text(
            "github_repository", None, "", "octocat/visit-counter", max_length=140
        )
        problem = github_repository_problem(repository)
        if len(check.problems) == found and problem is not None:
            check.fail("github_repository", problem, "octocat/visit-counter")
    if "package_name" in check.raw:
        name = check.text(
            "package_name",
            PACKAGE,
            "must be a Python package name: lowercase letters, digits, underscores",
            "visit_counter",
            max_length=60,
        )
        if name and (keyword.iskeyword(name) or name in RESERVED_PACKAGE_NAMES):
            check.fail(
                "package_name",
                "clashes with a Python keyword or a name the project uses",
                "visit_counter",
            )


def _check_names(check: _Checker) -> None:
    slug = check.text(
        "project_slug",
        SLUG,
        "must be lowercase letters and digits in words joined by single hyphens, "
        "starting with a letter",
        "visit-counter",
        max_length=63,
    )
    stack = check.text(
        "stack_name",
        STACK,
        "must be 1 to 10 lowercase letters or digits, starting with a letter",
        "dev",
    )
    if not (slug and stack) or any(
        p.variable in ("project_slug", "stack_name") for p in check.problems
    ):
        return
    for kind, role, limit in NAME_LIMITS:
        name = resource_name(slug, stack, role)
        if len(name) > limit:
            room = limit - len(name) + len(slug)
            check.fail(
                "project_slug",
                f"the {kind} name {name!r} would be {len(name)} characters; AWS allows {limit}, "
                f"so with stack {stack!r} project_slug may have at most {room}",
                "visit-counter",
            )
            return


def _check_network(check: _Checker) -> None:
    region = check.text("aws_region", REGION, "is not an AWS region name", "ap-south-1")
    if region and REGION.fullmatch(region) and region not in AWS_REGIONS:
        check.fail(
            "aws_region",
            f"is not an AWS region (the regions known to {REGIONS_AS_OF}; a region opened "
            "since: update AWS_REGIONS in infra/validation.py)",
            "ap-south-1",
        )
        region = ""
    zones = as_list(check.raw.get("availability_zones", ""))
    for zone in zones:
        if region and not re.fullmatch(re.escape(region) + r"[a-z]", zone):
            check.fail(
                "availability_zones",
                f"{zone!r} is not an availability zone of {region}",
                f"{region}a,{region}b",
            )
            break
    if len(set(zones)) != len(zones):
        check.fail("availability_zones", "lists the same zone twice", "ap-south-1a,ap-south-1b")

    vpc = None
    if isinstance(check.raw.get("vpc_cidr"), str):
        vpc = check.network("vpc_cidr", check.raw["vpc_cidr"].strip(), "10.0.0.0/16")
    else:
        check.fail("vpc_cidr", "must be a CIDR block as text", "10.0.0.0/16")

    subnets: list[tuple[str, ipaddress.IPv4Network]] = []
    counts = {}
    for variable, example in (
        ("public_subnet_cidrs", "10.0.1.0/24,10.0.4.0/24"),
        ("private_subnet_cidrs", "10.0.2.0/24,10.0.3.0/24"),
    ):
        cidrs = as_list(check.raw.get(variable, ""))
        counts[variable] = len(cidrs)
        if len(cidrs) < 2:
            check.fail(
                variable,
                "needs at least two subnets, one per availability zone "
                "(a load balancer and a DB subnet group each need two zones)",
                example,
            )
        elif len(cidrs) > MAX_SUBNETS_PER_TIER:
            check.fail(
                variable,
                f"has {len(cidrs)} subnets; at most {MAX_SUBNETS_PER_TIER} fit the private "
                "subnets' network ACL, which AWS limits to 20 inbound rules",
                example,
            )
        for cidr in cidrs:
            network = check.network(variable, cidr, example)
            if network is None:
                continue
            if vpc is not None and not network.subnet_of(vpc):
                check.fail(variable, f"{cidr} is not inside the VPC {vpc}", example)
                continue
            for other_variable, other in subnets:
                if network.overlaps(other):
                    check.fail(variable, f"{cidr} overlaps {other} (in {other_variable})", example)
            subnets.append((variable, network))

    public, private = counts["public_subnet_cidrs"], counts["private_subnet_cidrs"]
    if public != private:
        check.fail(
            "private_subnet_cidrs",
            f"has {private} subnets but public_subnet_cidrs has {public}; "
            "each availability zone gets one of each",
            "10.0.2.0/24,10.0.3.0/24",
        )
    if zones and max(public, private) > len(zones):
        check.fail(
            "availability_zones",
            f"lists {len(zones)} zones but there are {max(public, private)} subnets per tier; "
            "each subnet needs a zone of its own",
            "ap-south-1a,ap-south-1b",
        )


def _check_app(check: _Checker) -> None:
    check.integer("app_port", 1024, 65535, "5000")
    if check.raw.get("app_port") is not None and str(check.raw.get("app_port")).strip() == "5432":
        check.fail("app_port", "is PostgreSQL's port; pick another for the app", "5000")
    check.text("app_instance_type", INSTANCE_TYPE, "is not an EC2 instance type", "t3.micro")
    low = check.integer("app_min_size", 1, 20, "1")
    desired = check.integer("app_desired_capacity", 1, 20, "1")
    high = check.integer("app_max_size", 1, 20, "2")
    if None in (low, desired, high):
        return
    if low > high:  # type: ignore[operator]
        check.fail(
            "app_min_size",
            f"is larger than app_max_size ({high})",
            f"{high} with app_max_size {high}, or app_max_size {low} or more",
        )
    elif not low <= desired <= high:  # type: ignore[operator]
        check.fail(
            "app_desired_capacity",
            f"must satisfy app_min_size ({low}) <= app_desired_capacity ({desired}) "
            f"<= app_max_size ({high})",
            "1 with min 1 and max 2",
        )


def instance_architecture(instance_type: str) -> str:
    """arm64 for Graviton families (a `g` after the generation: t4g, m7g, c6gn), else x86_64:
    the rule deploy.yml is generated with."""
    family = instance_type.split(".")[0]
    after_generation = family.lstrip(string.ascii_lowercase).lstrip(string.digits)
    return "arm64" if "g" in after_generation else "x86_64"


def _check_image_architecture(check: _Checker) -> None:
    """An amd64 image does not start on a Graviton instance, nor an arm64 one on x86."""
    image = check.raw.get("image_architecture")
    instance_type = str(check.raw.get("app_instance_type", ""))
    if image is None or not INSTANCE_TYPE.fullmatch(instance_type):
        return
    if image not in ("x86_64", "arm64"):
        check.fail("image_architecture", "must be x86_64 or arm64", "x86_64")
    elif instance_architecture(instance_type) != image:
        check.fail(
            "app_instance_type",
            f"runs {instance_architecture(instance_type)}, but the image is built for {image} "
            "(image_architecture here, --platform in .github/workflows/deploy.yml): pick an "
            f"{image} type, or change both",
            "t4g.micro" if image == "arm64" else "t3.micro",
        )


def _check_database(check: _Checker) -> None:
    check.text("db_instance_class", DB_CLASS, "is not an RDS instance class", "db.t3.micro")
    check.integer("db_allocated_storage_gb", 20, 65536, "20")
    version = str(check.raw.get("db_engine_version", "")).strip()
    if version not in SUPPORTED_POSTGRES_MAJORS:
        offered = ", ".join(SUPPORTED_POSTGRES_MAJORS)
        check.fail(
            "db_engine_version", f"must be a PostgreSQL major version RDS offers: {offered}", "16"
        )
    name = check.text(
        "db_name",
        DB_IDENTIFIER,
        "must start with a letter and hold only letters, digits and underscores",
        "visits",
        max_length=63,
    )
    if name.lower() in RESERVED_DB_NAMES:
        check.fail("db_name", "is reserved by PostgreSQL or RDS", "visits")
    user = check.text(
        "db_admin_username",
        DB_IDENTIFIER,
        "must start with a letter and hold only letters, digits and underscores",
        "visits_admin",
        max_length=16,
    )
    if user.lower() in RESERVED_DB_USERS:
        check.fail(
            "db_admin_username",
            "is reserved by PostgreSQL or RDS; a non-default name is also harder to guess",
            "visits_admin",
        )
    check.integer("db_backup_retention_days", 1, 35, "7")


def _check_health_check(check: _Checker) -> None:
    path = check.text("health_check_path", None, "", "/health", max_length=1024)
    if path and not HEALTH_CHECK_PATH.fullmatch(path):
        check.fail(
            "health_check_path",
            "must be a URL path starting with / made of letters, digits and - . _ ~ ! $ & ' "
            "( ) * + , ; = : @ / only",
            "/health",
        )
    interval = check.integer("health_check_interval_seconds", 5, 300, "30")
    timeout = check.integer("health_check_timeout_seconds", 2, 120, "5")
    if interval is not None and timeout is not None and timeout >= interval:
        check.fail(
            "health_check_timeout_seconds",
            f"must be shorter than health_check_interval_seconds ({interval})",
            "5",
        )
    check.integer("health_check_healthy_threshold", 2, 10, "2")
    check.integer("health_check_unhealthy_threshold", 2, 10, "2")
    if "deregistration_delay_seconds" in check.raw:
        # AWS accepts 0 to 3600 for the target group attribute
        # deregistration_delay.timeout_seconds, and defaults to 300 (Elastic Load Balancing
        # API Reference, TargetGroupAttribute).
        check.integer("deregistration_delay_seconds", 0, 3600, "30")
    codes = check.text(
        "health_check_success_codes",
        SUCCESS_CODES,
        "must be HTTP codes like 200, 200,204 or 200-299",
        "200",
        max_length=100,
    )
    numbers = [int(code) for code in re.findall(r"[0-9]{3}", codes)] if codes else []
    if any(not 200 <= code <= 499 for code in numbers):
        check.fail(
            "health_check_success_codes", "a load balancer accepts codes from 200 to 499", "200"
        )


def _check_observability(check: _Checker) -> None:
    days = check.integer("log_retention_days", 1, 3653, "30")
    if days is not None and days not in LOG_RETENTION_DAYS:
        check.fail(
            "log_retention_days",
            "must be a retention CloudWatch Logs offers: "
            + ", ".join(str(day) for day in LOG_RETENTION_DAYS),
            "30",
        )
    check.text(
        "alarm_email",
        EMAIL,
        "is not an e-mail address",
        "you@example.com",
        max_length=254,
        allow_empty=True,
    )
    for variable, low, high in ALARM_THRESHOLDS:
        if variable in check.raw:
            check.integer(variable, low, high, str(_default(variable)))


def _check_options(check: _Checker) -> None:
    for variable in OPTIONS:
        if variable in check.raw:
            check.boolean(variable)


def _check_https(check: _Checker) -> None:
    domain = check.text(
        "domain_name",
        DOMAIN_NAME,
        "must be a lowercase host name such as app.example.com (no scheme, port, "
        "path, trailing dot or wildcard)",
        "app.example.com",
        max_length=64,  # an ACM certificate's domain name (RFC 5280's common name limit)
        allow_empty=True,
    )
    zone = check.text(
        "hosted_zone_id",
        HOSTED_ZONE_ID,
        "must be a Route 53 hosted zone id: Z and up to 31 capital letters or digits, "
        "without /hostedzone/",
        "Z0123456789ABCDEFGHIJ",
        max_length=32,
        allow_empty=True,
    )
    if zone and not domain:
        check.fail(
            "hosted_zone_id",
            "is set but domain_name is empty; the zone is used for the domain's "
            "certificate and alias records",
            "set domain_name too, or leave hosted_zone_id empty",
        )


def _check_nat_gateway(check: _Checker) -> None:
    if "nat_gateway" not in check.raw:
        return
    value = check.raw["nat_gateway"]
    if not isinstance(value, str) or value not in NAT_GATEWAY_CHOICES:
        check.fail(
            "nat_gateway",
            "must be none (app in the public subnets), single (one NAT gateway) or per_az "
            "(one NAT gateway in each availability zone)",
            "single",
        )


def _check_budget(check: _Checker) -> None:
    value = check.raw.get("monthly_budget_usd", "")
    if isinstance(value, str) and value.strip() == "":
        return
    amount = check.integer("monthly_budget_usd", 1, 1000000, "20")
    if amount is not None and not check.raw.get("alarm_email"):
        check.fail(
            "monthly_budget_usd",
            "needs alarm_email: the budget e-mails it at 80 % and 100 % of the amount",
            'set alarm_email = "you@example.com", or leave monthly_budget_usd empty',
        )


# Alarm thresholds have defaults, so the template does not ask about them; stack.toml
# lists them for the user to tune.
ALARM_THRESHOLDS = (
    ("alarm_target_5xx_count", 1, 100000),
    ("alarm_p99_response_ms", 10, 60000),
    ("alarm_db_cpu_percent", 1, 100),
    ("alarm_db_free_storage_percent", 1, 99),
    ("alarm_db_connections_percent", 1, 100),
)


def _default(variable: str) -> Any:
    (field,) = (field for field in dataclasses.fields(StackSettings) if field.name == variable)
    return field.default


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "availability_zones": lambda value: tuple(as_list(value)),
    "public_subnet_cidrs": lambda value: tuple(as_list(value)),
    "private_subnet_cidrs": lambda value: tuple(as_list(value)),
    "db_engine_version": lambda value: str(value).strip(),
    "monthly_budget_usd": lambda value: int(str(value).strip()) if str(value).strip() else None,
}


def _settings(raw: Mapping[str, Any]) -> StackSettings:
    values = {}
    for field in dataclasses.fields(StackSettings):
        if field.name not in raw and field.default is not dataclasses.MISSING:
            continue
        value = raw.get(field.name, "")
        if field.name in _CONVERTERS:
            values[field.name] = _CONVERTERS[field.name](value)
        elif field.type == "int":
            values[field.name] = int(str(value).strip())
        elif field.type == "bool":
            values[field.name] = (
                value if isinstance(value, bool) else BOOLEAN_WORDS[str(value).strip().lower()]
            )
        else:
            values[field.name] = value
    return StackSettings(**values)
