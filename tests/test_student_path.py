"""The student's first run of cookiecutter: a Python too old is refused before the first
question; a wrong answer is blamed on what the student typed, and the message says how to run
again with the answers cookiecutter saved, which then works."""

import json
import os
import shlex
import subprocess
import sys

from helpers import TEMPLATE_ROOT, cookiecutter_command, template_repository

# A cookiecutter that believes it runs on Python 3.10: everything else is real.
COOKIECUTTER_ON_OLD_PYTHON = (
    "import sys; sys.version_info = (3, 10, 4, 'final', 0); "
    "from cookiecutter.cli import main; main()"
)
FIRST_QUESTION = "What is your project called?"


def test_a_python_too_old_is_refused_before_the_first_question(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", COOKIECUTTER_ON_OLD_PYTHON, str(TEMPLATE_ROOT), "-o", str(tmp_path)],
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 1
    assert FIRST_QUESTION not in result.stdout + result.stderr
    (line,) = (result.stdout + result.stderr).splitlines()
    assert "three-tier-flask needs Python 3.11 or newer" in line
    assert "runs on Python 3.10.4" in line
    assert list(tmp_path.glob("*/stack.toml")) == []


def test_a_wrong_answer_names_what_was_typed_and_the_saved_answers_make_it_again(tmp_path):
    home, out = tmp_path / "home", tmp_path / "out"
    home.mkdir()
    out.mkdir()
    typed = ["project_name=123 Go", "app_min_size=3", "app_max_size=2"]
    refused = cookiecutter_command(str(TEMPLATE_ROOT), "--no-input", *typed, home=home, cwd=out)
    assert refused.returncode != 0
    errors = refused.stdout + refused.stderr
    assert "Traceback" not in errors
    assert list(out.iterdir()) == []

    # Blamed on what the student typed, saying what it produced.
    problems = [line for line in errors.splitlines() if line.startswith("  - ")]
    assert "app_desired_capacity" not in errors
    assert any(
        line.startswith("  - app_min_size = '3': is larger than app_max_size (2)")
        for line in problems
    )
    assert any(
        line.startswith("  - project_name = '123 Go': gives project_slug '123-go', which must")
        for line in problems
    )
    assert any("gives package_name '123_go'" in line for line in problems)
    assert not any(line.startswith(("  - project_slug", "  - package_name")) for line in problems)

    # The way back: the replay file cookiecutter wrote, and the command to run.
    replay = home / ".cookiecutter_replay" / f"{TEMPLATE_ROOT.name}.json"
    assert f"Your answers are saved in {replay}: fix " in errors
    assert "app_min_size, project_name, project_slug, package_name in that file" in errors
    (command,) = [line.strip() for line in errors.splitlines() if "--replay-file" in line]
    assert command.startswith("cookiecutter ")

    answers = json.loads(replay.read_text())
    assert answers["cookiecutter"]["app_max_size"] == "2"  # everything the student answered
    answers["cookiecutter"].update(
        project_name="Go 123", project_slug="go-123", package_name="go_123", app_min_size="1"
    )
    replay.write_text(json.dumps(answers))
    again = cookiecutter_command(*shlex.split(command)[1:], home=home, cwd=out)
    assert again.returncode == 0, again.stdout + again.stderr
    stack_toml = (out / "go-123" / "stack.toml").read_text()
    assert "app_min_size = 1" in stack_toml and "app_max_size = 2" in stack_toml


def test_a_region_aws_does_not_have_is_refused_when_generating(tmp_path):
    refused = cookiecutter_command(
        str(TEMPLATE_ROOT), "--no-input", "aws_region=eu-north-9", home=tmp_path, cwd=tmp_path
    )
    assert refused.returncode != 0
    assert "aws_region = 'eu-north-9': is not an AWS region" in refused.stderr
    assert list(tmp_path.glob("*/stack.toml")) == []


def test_the_generated_readme_updates_from_the_address_the_template_came_from(tmp_path):
    """From a git address, the update commands name it; from a folder of the machine that
    generated the project, they say what to put instead."""
    repo = template_repository(tmp_path)
    address = f"git+file://{repo}"
    made = cookiecutter_command(address, "--no-input", home=tmp_path, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    readme = (tmp_path / "visit-counter" / "README.md").read_text()
    assert f"cookiecutter {address} --replay-file .cookiecutter.json" in readme
    assert f"cruft link {address}`" in readme
    assert "<template>" not in readme

    from_folder = tmp_path / "from-folder"
    from_folder.mkdir()
    made = cookiecutter_command(str(TEMPLATE_ROOT), "--no-input", home=tmp_path, cwd=from_folder)
    assert made.returncode == 0, made.stderr
    readme = (from_folder / "visit-counter" / "README.md").read_text()
    assert "cookiecutter <template> --replay-file .cookiecutter.json" in readme
    assert "the address you got the template from" in readme
    assert str(TEMPLATE_ROOT) not in readme
