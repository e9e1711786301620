"""The hooks: every bad answer is reported at once, clearly, and nothing is generated."""

import os
import subprocess
import sys
import tomllib

import pytest
from cookiecutter.exceptions import FailedHookException
from helpers import TEMPLATE_ROOT, bake_into, load_module


def load_hook(name):
    return load_module(f"hooks/{name}.py")


# (variable, bad value, a fragment of the explanation); other answers keep their defaults.
INVALID_ANSWERS = [
    ("db_multi_az", "maybe", "must be yes, no, true or false"),
    ("db_deletion_protection", "on", "must be yes, no, true or false"),
    ("db_performance_insights", "1", "must be yes, no, true or false"),
    ("vpc_flow_logs", "", "must be yes, no, true or false"),
    ("alb_access_logs", "y e s", "must be yes, no, true or false"),
    ("project_name", "", "must not be empty"),
    ("project_name", "Line one\nline two", "one line"),
    ("project_slug", "Visit-Counter", "lowercase"),
    ("project_slug", "visit--counter", "single hyphens"),
    ("project_slug", "1visits", "starting with a letter"),
    ("project_slug", "a-project-name-that-is-far-too-long", "AWS allows 32"),
    ("package_name", "visit-counter", "Python package name"),
    ("package_name", "class", "keyword"),
    ("package_name", "infra", "a name the project uses"),
    ("github_repository", "no-slash-here", "OWNER/NAME"),
    ("github_repository", "octo--org/x", "single hyphens"),
    ("github_repository", "octo-/x", "not starting or ending with a hyphen"),
    ("github_repository", "-octo/x", "not starting or ending with a hyphen"),
    ("github_repository", "octo/..", "GitHub refuses '.' and '..'"),
    ("github_repository", "octo/.", "GitHub refuses '.' and '..'"),
    ("github_repository", "a" * 40 + "/x", "GitHub allows at most 39"),
    ("stack_name", "Production", "lowercase"),
    ("stack_name", "averyverylongstack", "1 to 10"),
    ("aws_region", "mars-north-1x", "not an AWS region"),
    ("availability_zones", "us-east-1a,us-east-1b", "not an availability zone of ap-south-1"),
    ("availability_zones", "ap-south-1a,ap-south-1a", "same zone twice"),
    ("availability_zones", "ap-south-1a", "each subnet needs a zone"),
    ("vpc_cidr", "10.0.0.1/16", "host bits set; the network is 10.0.0.0/16"),
    ("vpc_cidr", "10.0.0.0/8", "AWS accepts /16 to /28"),
    ("vpc_cidr", "10.0.0.0/29", "AWS accepts /16 to /28"),
    ("vpc_cidr", "not-a-cidr", "not an IPv4 CIDR block"),
    ("public_subnet_cidrs", "10.0.1.0/24", "at least two subnets"),
    ("public_subnet_cidrs", "10.0.1.0/24,10.1.4.0/24", "not inside the VPC"),
    ("public_subnet_cidrs", "10.0.1.0/24,10.0.1.128/25", "overlaps"),
    (
        "private_subnet_cidrs",
        "10.0.1.0/24,10.0.3.0/24",
        "overlaps 10.0.1.0/24 (in public_subnet_cidrs)",
    ),
    ("public_subnet_cidrs", "10.0.1.5/24,10.0.4.0/24", "host bits set"),
    ("public_subnet_cidrs", "10.0.1.0/30,10.0.4.0/24", "AWS accepts /16 to /28"),
    ("private_subnet_cidrs", "10.0.2.0/24,10.0.3.0/24,10.0.5.0/24", "has 3 subnets"),
    ("app_port", "80", "between 1024 and 65535"),
    ("app_port", "5432", "PostgreSQL's port"),
    ("app_port", "five", "whole number"),
    ("app_instance_type", "micro", "not an EC2 instance type"),
    ("app_min_size", "0", "between 1 and 20"),
    (
        "app_desired_capacity",
        "3",
        "app_min_size (1) <= app_desired_capacity (3) <= app_max_size (2)",
    ),
    ("app_max_size", "many", "whole number"),
    ("db_instance_class", "t3.micro", "not an RDS instance class"),
    ("db_allocated_storage_gb", "10", "between 20 and 65536"),
    ("db_allocated_storage_gb", "70000", "between 20 and 65536"),
    ("db_engine_version", "9.6", "major version RDS offers"),
    ("db_name", "my-db", "letters, digits and underscores"),
    ("db_name", "postgres", "reserved"),
    ("db_admin_username", "postgres", "reserved"),
    ("db_admin_username", "a_very_long_admin_name", "at most 16"),
    ("db_backup_retention_days", "0", "between 1 and 35"),
    ("db_backup_retention_days", "36", "between 1 and 35"),
    ("health_check_path", "health", "starting with /"),
    ("health_check_path", "/health?full=1", "made of letters, digits"),
    ("health_check_interval_seconds", "1", "between 5 and 300"),
    ("health_check_timeout_seconds", "30", "shorter than health_check_interval_seconds"),
    ("health_check_healthy_threshold", "1", "between 2 and 10"),
    ("health_check_unhealthy_threshold", "11", "between 2 and 10"),
    ("health_check_success_codes", "ok", "HTTP codes"),
    ("health_check_success_codes", "500", "from 200 to 499"),
    ("deregistration_delay_seconds", "-1", "between 0 and 3600"),
    ("deregistration_delay_seconds", "3601", "between 0 and 3600"),
    ("deregistration_delay_seconds", "abc", "whole number"),
    ("log_retention_days", "10", "retention CloudWatch Logs offers"),
    ("alarm_email", "not-an-email", "not an e-mail address"),
    ("nat_gateway", "two", "must be none (app in the public subnets), single"),
    ("domain_name", "https://app.example.com", "lowercase host name"),
    ("domain_name", "*.example.com", "wildcard"),
    ("domain_name", "App.Example.com", "lowercase host name"),
    ("domain_name", "a" * 60 + ".example.com", "at most 64 are allowed"),
    ("hosted_zone_id", "Z0123456789ABCDEFGHIJ", "domain_name is empty"),
    ("public_subnet_cidrs", ",".join(f"10.0.{i}.0/24" for i in range(5)), "at most 4 fit"),
    ("monthly_budget_usd", "20", "needs alarm_email"),
    ("monthly_budget_usd", "twenty", "whole number"),
    ("monthly_budget_usd", "0", "between 1 and 1000000"),
]


def test_the_table_is_long_enough_to_mean_something():
    assert len(INVALID_ANSWERS) >= 30


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    INVALID_ANSWERS,
    ids=[f"{v}={val!r}" for v, val, _ in INVALID_ANSWERS],
)
def test_an_invalid_answer_is_refused_with_a_clear_message(
    tmp_path, capfd, variable, value, reason
):
    output_dir = tmp_path / "output"
    with pytest.raises(FailedHookException):
        bake_into(output_dir, **{variable: value})
    output = capfd.readouterr().err
    assert f"{variable} = {value!r}" in output
    assert reason in output
    assert "for example:" in output
    assert "Traceback" not in output
    assert list(output_dir.iterdir()) == [], "a refused bake left a folder behind"


@pytest.mark.parametrize(
    "repository", ["octo-org/visit-counter", "O-2/.github", "a" * 39 + "/" + "b" * 100]
)
def test_a_real_github_repository_is_accepted(tmp_path, repository):
    """The same rule bootstrap-ci applies to --github-repo: GitHub's own."""
    project = bake_into(tmp_path / "output", github_repository=repository)
    assert f"bootstrap-ci --github-repo {repository}" in (project / "README.md").read_text()


def test_all_problems_are_reported_at_once(cookies, capfd):
    result = cookies.bake(
        extra_context={
            "vpc_cidr": "10.0.0.1/16",
            "app_port": "80",
            "db_admin_username": "postgres",
        }
    )
    output = capfd.readouterr().err
    assert result.exit_code != 0
    assert "3 problem(s)" in output
    for variable in ("vpc_cidr", "app_port", "db_admin_username"):
        assert f"{variable} = " in output


@pytest.mark.parametrize(
    "payload",
    [
        '"""; import pathlib; pathlib.Path(MARKER).touch(); """',
        "'''; import pathlib; pathlib.Path(MARKER).touch(); '''",
        '\\"; __import__("pathlib").Path(MARKER).touch() #',
        "</script>\\\\ & \"quotes\" and 'apostrophes'",
    ],
)
def test_answers_are_data_never_code(cookies, tmp_path, payload):
    marker = tmp_path / "injected"
    value = payload.replace("MARKER", repr(str(marker)))
    result = cookies.bake(extra_context={"description": value})
    assert not marker.exists(), "an answer ran as code"
    assert result.exit_code == 0, result.exception
    pyproject = tomllib.loads((result.project_path / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == value


def test_template_syntax_inside_an_answer_is_not_rendered_twice(cookies):
    # cookiecutter itself renders answers once (that is how defaults refer to each other);
    # what that leaves must reach the files as text, not be rendered again.
    result = cookies.bake(extra_context={"description": "{% raw %}{{ 7 * 7 }}{% endraw %}"})
    assert result.exit_code == 0, result.exception
    project = result.project_path
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == "{{ 7 * 7 }}"


def test_too_old_python_or_cookiecutter_is_refused():
    versions = load_hook("pre_gen_project")
    assert versions.version_problems((3, 11, 0), "2.7.1") == []
    (python,) = versions.version_problems((3, 10, 12), "2.7.1")
    assert "Python 3.10 is too old" in python
    (tool,) = versions.version_problems((3, 12, 0), "2.1.1")
    assert "cookiecutter 2.1.1 is too old" in tool and "pip install --upgrade" in tool


def test_the_pre_generation_hook_checks_versions_too(monkeypatch):
    hook = load_hook("pre_gen_project")
    monkeypatch.setattr(sys, "version_info", (3, 9, 0, "final", 0))
    problems = hook.problems_in({"_repo_dir": str(TEMPLATE_ROOT), "project_slug": "x"})
    assert problems and "Python 3.9 is too old" in problems[0]


@pytest.mark.parametrize("answer", ["vpc_cidr=10.0.0.0/16", "vpc_cidr=10.0.0.1/16"])
def test_the_hooks_find_the_rules_when_the_template_is_given_as_a_relative_path(tmp_path, answer):
    """`cookiecutter .` in a checkout: the hook runs in the new project's folder, yet finds
    the validator, accepting the good answer and refusing the bad one."""
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", ".", "--no-input", "-o", str(tmp_path), answer],
        cwd=TEMPLATE_ROOT,
        env={**os.environ, "PWD": str(TEMPLATE_ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in result.stderr
    if answer.endswith("1/16"):
        assert result.returncode != 0
        assert "host bits set" in result.stderr
        assert list(tmp_path.iterdir()) == []
    else:
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "visit-counter" / "stack.toml").is_file()
