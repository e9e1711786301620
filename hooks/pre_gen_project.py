"""Validate every answer before anything is generated.

All problems are reported at once, each naming the variable, the value given, what is
wrong and an example that would be accepted. The rules are not written here: they live in
the generated project's `infra/validation.py`, which `python -m infra validate` runs again
on `stack.toml`, so the template and the deploy tool can never disagree.
"""

import importlib.util
import json
import sys
from pathlib import Path

# The answers arrive as JSON inside a raw string: a value is data, never code.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""

ERROR = "\x1b[1;31m"
HINT = "\x1b[3;33m"
TERMINATOR = "\x1b[0m"


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def load_validation(repo_dir: Path):
    (path,) = repo_dir.glob("*cookiecutter.project_slug*/infra/validation.py")
    return load_module(path, "three_tier_flask_validation")


def load_version_check(repo_dir: Path):
    return load_module(repo_dir / "hooks" / "pre_prompt.py", "three_tier_flask_versions")


def answers(context: dict) -> dict:
    """The user's answers, without cookiecutter's own private keys."""
    return {key: value for key, value in context.items() if not key.startswith("_")}


def problems_in(context: dict) -> list[str]:
    repo_dir = Path(context["_repo_dir"])
    versions = load_version_check(repo_dir)
    problems = versions.version_problems(sys.version_info[:3], versions.installed_cookiecutter())
    if problems:  # the validator itself may need the newer Python
        return problems
    validation = load_validation(repo_dir)
    _, found = validation.validate(answers(context))
    return [str(problem) for problem in found]


def main() -> int:
    problems = problems_in(json.loads(ANSWERS_JSON))
    if not problems:
        return 0
    print(
        f"{ERROR}Cannot generate the project: {len(problems)} problem(s) in the answers."
        f"{TERMINATOR}",
        file=sys.stderr,
    )
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    print(
        f"{HINT}Nothing was generated. Fix the values above and run cookiecutter again."
        f"{TERMINATOR}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
