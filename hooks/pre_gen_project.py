"""Validate every answer before anything is generated.

First the tools: a Python or cookiecutter too old for the template stops here with the
fix. (This is not a pre_prompt hook on purpose: cookiecutter copies the whole template
checkout, virtual environment included, to a temporary folder for each run that has one.)
Then the answers: all problems are reported at once, each naming the variable, the value
given, what is wrong and an example that would be accepted. The rules are not written here:
they live in the generated project's `infra/validation.py`, which `python -m infra validate`
runs again on `stack.toml`, so the template and the deploy tool can never disagree.

This hook runs inside the project folder cookiecutter has already created from the answer
`project_slug`, and cookiecutter removes only that folder when the hook fails. A slug that
is a path (`a/b`, `../x`, `/tmp/x`) would have created folders this hook cannot know to
remove, some outside the output folder. So the template's Jinja extension
(local_extensions.py) refuses such a slug at the first rendering that knows it, before any
folder exists; every other bad slug is one plain folder name, created and removed again.
(A filter in the folder's own name would do it too, but would rename the template's
folder, which every path in the template and its tests refers to.)
"""

import importlib.util
import json
import shlex
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# The answers arrive as JSON inside a raw string: a value is data, never code.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# The template's folder, in a JSON list: a string last would end the raw string early.
TEMPLATE_CHECKOUT_JSON = r"""[{{ template_checkout() | tojson }}]"""

MINIMUM_PYTHON = (3, 11)
MINIMUM_COOKIECUTTER = (2, 4)

ERROR = "\x1b[1;31m"
HINT = "\x1b[3;33m"
TERMINATOR = "\x1b[0m"


def as_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:2]:
        digits = "".join(char for char in part if char.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def version_problems(python: tuple[int, ...], cookiecutter: str) -> list[str]:
    problems = []
    if python < MINIMUM_PYTHON:
        problems.append(
            f"Python {'.'.join(map(str, python[:2]))} is too old: this template needs "
            f"Python {'.'.join(map(str, MINIMUM_PYTHON))} or newer (it reads TOML with tomllib)."
        )
    if as_tuple(cookiecutter) < MINIMUM_COOKIECUTTER:
        problems.append(
            f"cookiecutter {cookiecutter} is too old: this template needs "
            f"{'.'.join(map(str, MINIMUM_COOKIECUTTER))} or newer. "
            "Fix: pip install --upgrade cookiecutter"
        )
    return problems


def installed_cookiecutter() -> str:
    try:
        return version("cookiecutter")
    except PackageNotFoundError:
        return "0"


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def template_checkout() -> Path:
    """The template's folder: cookiecutter and cruft both render this hook while working in
    it (the template's `local_extensions.TemplateCheckout` gives it to Jinja), whereas only
    cookiecutter passes it in the context, as `_repo_dir`, and cruft does not."""
    (checkout,) = json.loads(TEMPLATE_CHECKOUT_JSON)
    return Path(checkout)


def load_validation(checkout: Path):
    (path,) = checkout.glob("*cookiecutter.project_slug*/infra/validation.py")
    return load_module(path, "three_tier_flask_validation")


def answers(context: dict) -> dict:
    """The user's answers, without cookiecutter's own private keys."""
    return {key: value for key, value in context.items() if not key.startswith("_")}


def problems_in(context: dict) -> list[str]:
    problems = version_problems(sys.version_info[:3], installed_cookiecutter())
    if problems:  # the validator itself needs the newer Python
        return problems
    validation = load_validation(template_checkout())
    _, found = validation.validate(answers(context))
    return [str(problem) for problem in found]


def replay_file(context: dict) -> Path | None:
    """Where cookiecutter saved these answers before running this hook (its replay file,
    named after the template's folder), if it did: cruft, for one, does not, and a
    `--config-file` may have put them elsewhere (then the file found holds other answers)."""
    try:
        from cookiecutter.config import get_user_config  # noqa: PLC0415 - cookiecutter's own

        replay_dir = Path(get_user_config()["replay_dir"]).expanduser()
        path = replay_dir / f"{template_checkout().name}.json"
        saved = json.loads(path.read_text(encoding="utf-8"))["cookiecutter"]
    except Exception:  # noqa: BLE001 - only a hint depends on it
        return None
    return path if answers(saved) == answers(context) else None


def how_to_answer_again(context: dict, problems: list[str]) -> list[str]:
    """How to run again with the same answers, the wrong ones fixed."""
    named = sorted({problem.split(" = ", 1)[0] for problem in problems if " = " in problem})
    if "project_name" in named:  # the slug and package name in the file were made from it
        named += [key for key in ("project_slug", "package_name") if key not in named]
    saved = replay_file(context)
    if saved is None:
        return ["Nothing was generated. Fix the values above and run cookiecutter again."]
    template = shlex.quote(str(context.get("_template") or template_checkout()))
    return [
        f"Nothing was generated. Your answers are saved in {saved}: fix "
        f"{', '.join(named) or 'the values above'} in that file, then run",
        f"  cookiecutter {template} --replay-file {shlex.quote(str(saved))}",
    ]


def main() -> int:
    context = json.loads(ANSWERS_JSON)
    problems = problems_in(context)
    if not problems:
        return 0
    print(
        f"{ERROR}Cannot generate the project: {len(problems)} problem(s) in the answers."
        f"{TERMINATOR}",
        file=sys.stderr,
    )
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    hint = "\n".join(how_to_answer_again(context, problems))
    print(f"{HINT}{hint}{TERMINATOR}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
