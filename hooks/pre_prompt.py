"""Stop before the first question when this Python or cookiecutter cannot bake the template."""

import sys
from importlib.metadata import PackageNotFoundError, version

MINIMUM_PYTHON = (3, 11)
MINIMUM_COOKIECUTTER = (2, 4)

ERROR = "\x1b[1;31m"
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


def main() -> int:
    problems = version_problems(sys.version_info[:3], installed_cookiecutter())
    for problem in problems:
        print(f"{ERROR}ERROR:{TERMINATOR} {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
