"""cruft, which both READMEs recommend for keeping a project up to date with the template:
`cruft create`, `cruft diff` and `cruft update` run the template's hooks with a context that
has no `_repo_dir`, and still find the validator. Offline: the template is a local git repo."""

import json
import os
import subprocess
import sys

import pytest
from helpers import GIT_IDENTITY, template_repository

TEMPLATE_CHANGE = "# a line added to the template after the project was created\n"


def run(command, cwd, check=True):
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **GIT_IDENTITY},
        capture_output=True,
        text=True,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def cruft(*args, cwd):
    return run([sys.executable, "-m", "cruft", *args], cwd=cwd, check=False)


def commit_all(repo, message):
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", message], cwd=repo)


@pytest.fixture
def template_repo(tmp_path):
    """The template as it is on disk, committed to a git repository of its own."""
    return template_repository(tmp_path)


@pytest.fixture
def created(template_repo, tmp_path):
    """A project made by `cruft create`, committed as its owner would."""
    projects = tmp_path / "projects"
    projects.mkdir()
    result = cruft("create", str(template_repo), "--no-input", cwd=projects)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    project = projects / "visit-counter"
    run(["git", "init", "-q"], cwd=project)
    commit_all(project, "generated")
    return project


def test_cruft_create_generates_the_project_and_records_the_template(created, template_repo):
    assert (created / "stack.toml").is_file()
    assert (created / "infra" / "validation.py").is_file()
    state = json.loads((created / ".cruft.json").read_text())
    assert state["template"] == str(template_repo)
    assert "_repo_dir" not in state["context"]["cookiecutter"]


def test_cruft_create_refuses_a_bad_answer_with_the_templates_rules(template_repo, tmp_path):
    result = cruft(
        "create",
        str(template_repo),
        "--no-input",
        "--extra-context",
        json.dumps({"vpc_cidr": "10.0.0.1/16"}),
        cwd=tmp_path,
    )
    # cruft prints its own traceback for any failed hook; the hook's line comes first.
    assert result.returncode != 0
    assert "host bits set; the network is 10.0.0.0/16" in result.stdout + result.stderr
    assert not (tmp_path / "visit-counter").exists()


def test_cruft_diff_shows_what_the_project_changed_from_its_template(created):
    with (created / "Makefile").open("a") as makefile:
        makefile.write(TEMPLATE_CHANGE)
    diff = cruft("diff", cwd=created)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert "\n-" + TEMPLATE_CHANGE in diff.stdout  # what the template would not have


def test_cruft_update_brings_in_a_template_change(created, template_repo):
    with (template_repo / "{{cookiecutter.project_slug}}" / "Makefile").open("a") as makefile:
        makefile.write(TEMPLATE_CHANGE)
    commit_all(template_repo, "a change to the generated Makefile")
    assert cruft("check", cwd=created).returncode != 0  # the project is now behind

    update = cruft("update", "--skip-apply-ask", cwd=created)
    assert update.returncode == 0, update.stdout + update.stderr
    assert "Traceback" not in update.stderr
    assert (created / "Makefile").read_text().endswith(TEMPLATE_CHANGE)
    assert cruft("check", cwd=created).returncode == 0
