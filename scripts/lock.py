"""Re-lock the generated project's dependencies and the template's own: `make lock`.

The generated project's pyproject.toml holds Jinja tags, so uv cannot read it in the
template folder. This bakes the default project, runs `uv lock` there (starting from the
committed lock, so only what the groups changed moves), and copies the lock back with the
project's name turned into its Jinja tag again: the one place where uv.lock names the project.
Then it locks the template's own pyproject.toml, which repeats the generated project's pins.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PROJECT = ROOT / "{{cookiecutter.project_slug}}"
UV = Path(sys.prefix) / "bin" / "uv"
SLUG_TAG = "{{ cookiecutter.project_slug }}"


def root_entry(slug: str) -> str:
    return f'[[package]]\nname = "{slug}"\nversion = "0.1.0"\nsource = {{ virtual = "." }}\n'


def lock_generated_project() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "cookiecutter", str(ROOT), "--no-input", "-o", scratch],
            check=True,
        )
        project = next(Path(scratch).iterdir())
        slug = project.name
        subprocess.run([str(UV), "lock"], cwd=project, check=True)
        text = (project / "uv.lock").read_text()
        if text.count(root_entry(slug)) != 1:
            sys.exit(f"uv.lock does not name the project {slug!r} exactly once: update {__file__}")
        lock = text.replace(root_entry(slug), root_entry(SLUG_TAG))
        (TEMPLATE_PROJECT / "uv.lock").write_text(lock)


def lock_template() -> None:
    subprocess.run([str(UV), "lock"], cwd=ROOT, check=True)


if __name__ == "__main__":
    if not UV.exists():
        sys.exit(f"{UV} is missing: run `make install` first")
    lock_generated_project()
    lock_template()
