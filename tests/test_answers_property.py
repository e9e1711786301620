"""Any text for any answer of cookiecutter.json: either the bake is refused, naming the
answer, with nothing written in the output folder, or it gives a project whose every TOML,
YAML, JSON and Python file parses, whose shell scripts pass shellcheck, and whose stack.toml
passes the checks `python -m infra validate` makes before it asks AWS anything.

Real bakes with cookiecutter's API; the checks run in-process (shellcheck once per distinct
script), so a few hundred examples fit in about a minute."""

import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from bake_checks import ANY_TEXT, ONE_LINE, snapshot, unparsable_files
from cookiecutter.exceptions import FailedHookException, UndefinedVariableInTemplate
from helpers import DEFAULTS, bake_into, run_tool, steps_of, workflow_files
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

# Answers whose defaults are built from another: changing the first may make these invalid.
DERIVED = {
    "project_name": {"project_slug", "package_name", "github_repository"},
    "project_slug": {"package_name", "github_repository"},
}
# Texts that get past the first rules of the stricter answers too, so that many examples
# bake all the way.
VALUE = st.one_of(
    ANY_TEXT,
    ONE_LINE,
    ONE_LINE.map(lambda text: "/" + re.sub(r"[\s?#]", "", text)),
    ONE_LINE.map(lambda text: re.sub(r"[^A-Za-z0-9.!#$%&'*+/=?^_`|~-]", "", text) + "@x.io"),
)
# Every answer, and the ones that take free text drawn as often again.
FREE_TEXT = ["project_name", "description", "author_name", "health_check_path", "alarm_email"]
KEY = st.one_of(st.sampled_from(FREE_TEXT), st.sampled_from(sorted(DEFAULTS)))
ANSWERS = st.dictionaries(KEY, VALUE, min_size=1, max_size=3)

SHELLCHECKED: dict[str, str] = {}  # the findings for each distinct script, checked once


@pytest.fixture(scope="module")
def stack_file(tmp_path_factory):
    """The deploy tool's stack.toml reader, imported from a baked project: the first thing
    `python -m infra validate` runs, and all of it that needs no AWS."""
    root = tmp_path_factory.mktemp("reader")
    project = bake_into(root / "workspace" / "output", root / "config")
    sys.path.insert(0, str(project))
    sys.dont_write_bytecode = True
    try:
        from infra import stack_file  # noqa: PLC0415

        return stack_file
    finally:
        sys.path.remove(str(project))
        for name in [name for name in sys.modules if name.split(".")[0] == "infra"]:
            del sys.modules[name]


def named_answers(error: Exception, stderr: str) -> set[str]:
    if isinstance(error, UndefinedVariableInTemplate):
        return set(re.findall(r"Unable to render variable '(\w+)'", error.message))
    found = re.findall(r"^(?:  - |Cannot generate the project: )(\w+) = ", stderr, re.MULTILINE)
    return set(found) | set(re.findall(r"project: (\w+) = ", str(error)))


def shell_scripts(project: Path) -> dict[str, str]:
    """The boot script and every workflow step's `run`, by where they are."""
    scripts = {str(path.relative_to(project)): path.read_text() for path in project.rglob("*.sh")}
    for workflow in workflow_files(project):
        for index, (job_id, step) in enumerate(steps_of(workflow)):
            if "run" in step:
                scripts[f"{workflow.name} {job_id} step {index}"] = step["run"]
    return scripts


def shellcheck_problems(project: Path) -> list[str]:
    problems = []
    for where, script in shell_scripts(project).items():
        if script not in SHELLCHECKED:
            result = run_tool("shellcheck", "--shell=bash", "-", input=script)
            SHELLCHECKED[script] = result.stdout if result.returncode else ""
        if SHELLCHECKED[script]:
            problems.append(f"{where}: {SHELLCHECKED[script]}")
    return problems


def check_refusal(error: Exception, stderr: str, answers: dict, workspace: Path) -> None:
    changed = set(answers).union(*(DERIVED.get(key, set()) for key in answers))
    named = named_answers(error, stderr)
    # A rule between two answers (public and private subnets) may name the other one too.
    assert named & changed, f"names no changed answer, only {named}: {error}\n{stderr}"
    assert snapshot(workspace) == {"output": None}, "a refused bake left something behind"


def check_project(project: Path, answers: dict, stack_file) -> None:
    assert unparsable_files(project) == []
    assert shellcheck_problems(project) == []
    settings = stack_file.load(project / "stack.toml")  # raises what validate would print
    raw = stack_file.read_raw(project / "stack.toml")
    for key, value in answers.items():
        if isinstance(raw.get(key), str):
            assert raw[key] == value, f"{key} changed on its way into stack.toml"
    assert settings.project_slug == project.name
    if "description" in answers:
        pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        assert pyproject["project"]["description"] == answers["description"]


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(answers=ANSWERS)
def test_any_answer_is_refused_by_name_or_bakes_valid_files(
    tmp_path_factory, capfd, stack_file, answers
):
    root = tmp_path_factory.mktemp("bake")
    workspace = root / "workspace"
    (workspace / "output").mkdir(parents=True)
    capfd.readouterr()
    try:
        project = bake_into(workspace / "output", root / "config", **answers)
    except (FailedHookException, UndefinedVariableInTemplate) as error:
        event(f"refused: {type(error).__name__}")
        check_refusal(error, capfd.readouterr().err, answers, workspace)
    else:
        event("baked")
        check_project(project, answers, stack_file)
    shutil.rmtree(root)  # kept only when a check fails, to look at
