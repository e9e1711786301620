"""What the template's tests share: where the template is, its answers, ways to bake it, and
ways to read its workflows and run the locked tools.

Test modules import these (`from helpers import ...`); conftest.py holds only fixtures.
pyproject.toml puts this folder on `sys.path` (`pythonpath = ["tests"]`).
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from cookiecutter.main import cookiecutter

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
COOKIECUTTER_JSON = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())
DEFAULTS = {key: value for key, value in COOKIECUTTER_JSON.items() if not key.startswith("_")}
# The locked tools (shellcheck, zizmor, check-jsonschema...) of the environment running the tests.
TOOLS = Path(sys.executable).parent


def load_module(relative_path: str):
    """A Python file of the template (a hook, local_extensions.py, a script) as a module."""
    path = TEMPLATE_ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bake_ok(cookies, **extra_context):
    """Bake, fail loudly on errors, and prove every answer reached the context.

    A misspelt key would otherwise be ignored by cookiecutter and silently test the defaults.
    """
    result = cookies.bake(extra_context=extra_context)
    assert result.exit_code == 0, result.exception
    assert result.exception is None
    for key, value in extra_context.items():
        assert result.context[key] == value, f"{key} did not reach the context"
    return result


def user_config(folder: Path) -> Path:
    """A cookiecutter user config that keeps replay files and cloned templates in `folder`,
    so a bake neither reads nor writes the real user's ~/.cookiecutterrc or replay folder."""
    config = folder / "cookiecutter-config.yaml"
    settings = {
        "cookiecutters_dir": str(folder / "cookiecutters"),
        "replay_dir": str(folder / "replay"),
    }
    config.write_text(yaml.safe_dump(settings))
    return config


def bake_into(output_dir: Path, config_dir: Path | None = None, **extra_context) -> Path:
    """Bake with cookiecutter's own API into `output_dir`, a folder the test owns, so the test
    can see everything a bake leaves behind (cookiecutter creates the folder). Its user config,
    and so its replay file, goes in `config_dir`, by default next to `output_dir`: give one
    outside the folder a test watches. Returns the project; raises what cookiecutter raises
    (`FailedHookException` when a hook refuses the answers)."""
    config_dir = config_dir or output_dir.parent
    config_dir.mkdir(parents=True, exist_ok=True)
    project = cookiecutter(
        str(TEMPLATE_ROOT),
        no_input=True,
        extra_context=extra_context,
        output_dir=str(output_dir),
        config_file=str(user_config(config_dir)),
    )
    return Path(project)


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_IDENTITY}, check=True)


def template_repository(folder: Path) -> Path:
    """The template as it is on disk, committed to a git repository of its own in `folder`:
    what cruft and `cookiecutter git+file://...` clone from."""
    repo = folder / "three-tier-flask"
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".*_cache", "build")
    shutil.copytree(TEMPLATE_ROOT, repo, ignore=ignore)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the template")
    return repo


def cookiecutter_command(*args, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The cookiecutter command line, with its replay folder in `home`, not the user's, and no
    user config."""
    environment = {key: value for key, value in os.environ.items() if key != "COOKIECUTTER_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", *args],
        cwd=cwd,
        env={**environment, "HOME": str(home)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def workflow_files(project: Path) -> list[Path]:
    return sorted((project / ".github" / "workflows").glob("*.yml"))


def load_workflow(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps_of(path: Path):
    for job_id, job in load_workflow(path)["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def run_tool(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    tool = TOOLS / args[0]
    assert tool.exists(), f"{args[0]} is missing from {TOOLS}: add it to pyproject.toml's groups"
    return subprocess.run(
        [str(tool), *args[1:]],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
