"""What the tests of hostile answers share: everything a bake leaves behind (snapshot), the
parsers that say whether a generated file is still valid in its language, and the image's
health check run as Docker runs it."""

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from hypothesis import strategies as st

# Any text (hypothesis leaves out lone surrogates, which no UTF-8 file can hold), with the
# characters that break quoting drawn often.
NASTY = st.sampled_from(list("\"'\\`$#|<>&*_[]{}%\n\r\t\x00\x7f\x85\u2028\ufeff") + ["😀", "${{"])
ANY_TEXT = st.lists(st.one_of(st.characters(), NASTY)).map("".join)
# What the pre-generation hook lets through for free text: one line, printable, no spaces
# around it.
ONE_LINE = ANY_TEXT.map(lambda text: "".join(c for c in text if c.isprintable()).strip())


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder (None) under `folder`, by relative path."""
    return {
        str(path.relative_to(folder)): None if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
    }


def run_healthcheck(project: Path, port: int, **env: str) -> subprocess.CompletedProcess:
    """The image's HEALTHCHECK command, run as Docker runs its JSON form (no shell), with
    this Python, against 127.0.0.1:`port`."""
    dockerfile = (project / "Dockerfile").read_text()
    (command,) = re.findall(r"^HEALTHCHECK .*\\\n  CMD (\[.*\])$", dockerfile, re.MULTILINE)
    program, *arguments = json.loads(command)
    assert program == "python"
    environment = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    environment.update(PORT=str(port), **env)
    return subprocess.run(
        [sys.executable, *arguments], cwd=project, env=environment, capture_output=True, check=False
    )


PARSERS = {
    ".toml": lambda text: tomllib.loads(text),
    ".json": lambda text: json.loads(text),
    ".yml": lambda text: list(yaml.safe_load_all(text)),
    ".yaml": lambda text: list(yaml.safe_load_all(text)),
    ".py": lambda text: ast.parse(text),
}


def unparsable_files(project: Path) -> list[str]:
    """Each TOML, JSON, YAML and Python file of the project that its language rejects,
    with the parser's reason."""
    failures = []
    for path in sorted(project.rglob("*")):
        parse = PARSERS.get(path.suffix)
        if parse is None or not path.is_file():
            continue
        try:
            parse(path.read_text(encoding="utf-8"))
        except Exception as error:  # each parser has its own error class
            failures.append(f"{path.relative_to(project)}: {type(error).__name__}: {error}")
    return failures
