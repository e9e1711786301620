"""Baking: what a user gets for the defaults and for every answer changed."""

import re
import tempfile
import tomllib
from pathlib import Path

from helpers import COOKIECUTTER_JSON, DEFAULTS, TEMPLATE_ROOT

EXPECTED_FILES = [
    "README.md",
    "stack.toml",
    "Makefile",
    "pyproject.toml",
    "uv.lock",
    ".pre-commit-config.yaml",
    "Dockerfile",
    ".dockerignore",
    "docker-compose.yml",
    "gunicorn.conf.py",
    ".gitignore",
    "infra/__main__.py",
    "infra/validation.py",
    "infra/stack_file.py",
    "tests/app/conftest.py",
    "tests/infra/conftest.py",
]

# Every answer changed at once, so each one is proven to reach the generated files.
EVERY_ANSWER_CHANGED = {
    "project_name": "Guest Book",
    "project_slug": "guestbook",
    "package_name": "guestbook_app",
    "description": "Counts the guests of a small hotel.",
    "author_name": "Grace Hopper",
    "github_repository": "grace/guestbook",
    "stack_name": "prod",
    "aws_region": "eu-central-1",
    "availability_zones": "eu-central-1a,eu-central-1c",
    "vpc_cidr": "10.20.0.0/16",
    "public_subnet_cidrs": "10.20.0.0/24,10.20.1.0/24",
    "private_subnet_cidrs": "10.20.10.0/24,10.20.11.0/24",
    "app_port": "8000",
    "app_instance_type": "t4g.small",
    "app_min_size": "2",
    "app_desired_capacity": "2",
    "app_max_size": "4",
    "db_instance_class": "db.t4g.small",
    "db_allocated_storage_gb": "50",
    "db_engine_version": "17",
    "db_name": "guests",
    "db_admin_username": "guest_admin",
    "db_backup_retention_days": "14",
    "health_check_path": "/healthz",
    "health_check_interval_seconds": "15",
    "health_check_timeout_seconds": "10",
    "health_check_healthy_threshold": "3",
    "health_check_unhealthy_threshold": "4",
    "health_check_success_codes": "200-204",
    "deregistration_delay_seconds": "45",
    "log_retention_days": "90",
    "alarm_email": "ops@example.com",
    "db_multi_az": "yes",
    "db_deletion_protection": "yes",
    "db_performance_insights": "yes",
    "vpc_flow_logs": "yes",
    "alb_access_logs": "yes",
    "nat_gateway": "per_az",
    "domain_name": "guests.example.com",
    "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
    "monthly_budget_usd": "30",
}

# Answers that shape the repository but are no deploy parameter.
TEMPLATE_ONLY = {"project_name", "package_name", "description", "author_name", "github_repository"}

UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#")


def stack_values(project: Path) -> dict:
    document = tomllib.loads((project / "stack.toml").read_text())
    document.pop("stacks", None)
    return {key: value for table in document.values() for key, value in table.items()}


def test_default_bake_has_the_documented_tree(bake):
    project = bake().project_path
    assert project.name == "visit-counter"
    for relative in EXPECTED_FILES:
        assert (project / relative).is_file(), relative
    assert (project / "visit_counter" / "__init__.py").is_file()


def test_defaults_reproduce_the_reference_architecture(bake):
    values = stack_values(bake().project_path)
    assert values["aws_region"] == "ap-south-1"
    assert values["vpc_cidr"] == "10.0.0.0/16"
    assert values["public_subnet_cidrs"] == ["10.0.1.0/24", "10.0.4.0/24"]
    assert values["private_subnet_cidrs"] == ["10.0.2.0/24", "10.0.3.0/24"]
    assert values["availability_zones"] == []
    assert values["db_instance_class"] == "db.t3.micro"
    assert values["db_allocated_storage_gb"] == 20
    assert values["health_check_path"] == "/health"
    assert values["health_check_interval_seconds"] == 30
    assert values["health_check_healthy_threshold"] == 2
    assert values["health_check_success_codes"] == "200"
    assert values["db_admin_username"] != "postgres"


def test_every_answer_is_covered_by_this_test():
    assert set(EVERY_ANSWER_CHANGED) == set(DEFAULTS)
    for key, value in EVERY_ANSWER_CHANGED.items():
        assert value != DEFAULTS[key], f"{key} is not changed from its default"


def test_every_answer_reaches_the_generated_project(bake):
    project = bake(**EVERY_ANSWER_CHANGED).project_path
    assert project.name == "guestbook"
    assert (project / "guestbook_app" / "__init__.py").is_file()
    values = stack_values(project)
    assert set(EVERY_ANSWER_CHANGED) - values.keys() == TEMPLATE_ONLY
    for key, value in values.items():
        if key not in EVERY_ANSWER_CHANGED:  # a setting stack.toml adds with its own default
            continue
        given = EVERY_ANSWER_CHANGED[key]
        if isinstance(value, list):
            assert value == given.split(","), key
        elif isinstance(value, bool):  # an option: a TOML switch from a yes/no answer
            assert value is (given in ("yes", "true")), key
        else:
            assert str(value) == given, key
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == EVERY_ANSWER_CHANGED["description"]
    readme = (project / "README.md").read_text()
    for key in ("project_name", "description", "github_repository"):
        assert EVERY_ANSWER_CHANGED[key] in readme, key


def test_every_prompt_is_a_sentence():
    prompts = COOKIECUTTER_JSON["__prompts__"]
    assert set(prompts) == set(DEFAULTS)
    for key, prompt in prompts.items():
        assert prompt[0].isupper() and len(prompt.split()) >= 4, key


def test_no_file_keeps_an_unrendered_template_tag(bake):
    for variant in ({}, EVERY_ANSWER_CHANGED):
        project = bake(**variant).project_path
        for path in project.rglob("*"):
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                match = UNRENDERED.search(text)
                assert match is None, f"{path.relative_to(project)}: {text[match.start() :][:60]!r}"


def test_the_validator_is_copied_byte_for_byte(bake):
    (template_dir,) = TEMPLATE_ROOT.glob("*cookiecutter.project_slug*")
    project = bake().project_path
    source = (template_dir / "infra" / "validation.py").read_bytes()
    assert (project / "infra" / "validation.py").read_bytes() == source


def test_a_bake_leaves_no_copy_of_the_template_behind(cookies):
    # cookiecutter copies the whole checkout (a .venv too) to a temporary folder for a
    # template with a pre_prompt hook, and keeps it when a hook rejects the answers.
    before = set(Path(tempfile.gettempdir()).glob("cookiecutter*"))
    cookies.bake(extra_context={"vpc_cidr": "10.0.0.1/16"})
    cookies.bake()
    assert set(Path(tempfile.gettempdir()).glob("cookiecutter*")) == before
