"""`make bench` at the template root: how long a bake takes, a fresh project's first
`make install` and `make test`, and how long the template's suite runs.

Writes its own section of BENCHMARKS.md beside the README, between the markers
`<!-- template-bench:start -->` and `<!-- template-bench:end -->`, and leaves the hand-measured
rest of the file as it is (`--no-suite`: all but the suite). The generated project's own
benchmarks (the app under load, the deploy's API calls and parallelism) are
`make bench` inside a baked project.
"""

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
BAKES = 5
SECTION = "template-bench"


def bake_seconds() -> list[float]:
    timings = []
    for _ in range(BAKES):
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            cookiecutter(str(TEMPLATE_ROOT), no_input=True, output_dir=scratch)
            timings.append(time.perf_counter() - started)
    return timings


def timed(command: list[str], cwd: Path, env: dict) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, check=False, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started, result.returncode


def first_run_seconds() -> dict[str, tuple[float, int]]:
    """A fresh bake's `make install` with empty uv and pip caches, again (a new .venv) with
    the caches now warm, then its first `make test`, as a student runs them."""
    timings = {}
    with tempfile.TemporaryDirectory() as scratch:
        cookiecutter(str(TEMPLATE_ROOT), no_input=True, output_dir=scratch)
        project = next(path for path in Path(scratch).iterdir() if path.is_dir())
        env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
        env |= {"UV_CACHE_DIR": f"{scratch}/uv-cache", "PIP_CACHE_DIR": f"{scratch}/pip-cache"}
        for label in ("`make install`, empty caches", "`make install`, warm caches"):
            shutil.rmtree(project / ".venv", ignore_errors=True)
            timings[label] = timed(["make", "install"], project, env)
        timings["first `make test` (installed)"] = timed(["make", "test"], project, env)
    return timings


def suite_seconds() -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=TEMPLATE_ROOT, check=False)
    return time.perf_counter() - started, result.returncode


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if os.name == "posix" else "?"


def report(bakes: list[float], first_run: dict, suite_row: str, load: str) -> str:
    median = statistics.median(bakes)
    verdict = "met" if median < 1 else "NOT met"
    test, test_code = first_run["first `make test` (installed)"]
    first = first_run["`make install`, empty caches"][0] + test
    first_verdict = "met" if first < 180 and test_code == 0 else "NOT met"
    rows = [
        f"| {label} | {seconds:.0f} s, exit code {code} | |"
        for label, (seconds, code) in first_run.items()
    ]
    return "\n".join(
        [
            "## Bake, first run and suite (`make bench`)",
            "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, by `make bench`; "
            f"load average {load} (1, 5 and 15 minutes: above {os.cpu_count()} means other "
            "work shared the cores).",
            "",
            "| What | Result | Target |",
            "| --- | --- | --- |",
            f"| Bake of the default project (median of {BAKES}) | {median:.2f} s "
            f"(min {min(bakes):.2f}, max {max(bakes):.2f}) | under 1 s: {verdict} |",
            *rows,
            f"| A fresh project's first `make install` (empty caches) and `make test` | "
            f"{first:.0f} s | under 180 s: {first_verdict} |",
            suite_row,
            "",
            "How: each `make install` is that of a freshly baked default project, with uv's and "
            "pip's caches in a folder of their own: empty the first time, then (after removing "
            "`.venv`) warm. The first `make test` follows, as a student's would. The suite runs "
            "the whole template test suite with its default two workers.",
            "",
        ]
    )


def suite_row(suite: float, suite_code: int) -> str:
    suite_verdict = "met" if suite < 300 and suite_code == 0 else "NOT met"
    return (
        f"| Template test suite (`pytest`, every variant baked, tested, deployed to moto) "
        f"| {suite:.0f} s, exit code {suite_code} | under 300 s: {suite_verdict} |"
    )


def unmeasured_suite_row() -> str:
    return "| Template test suite | not measured (`--no-suite`) | under 300 s |"


def write_section(body: str, path: Path) -> None:
    """Replace the text between SECTION's markers, or add the section at the end."""
    start, end = f"<!-- {SECTION}:start -->", f"<!-- {SECTION}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Template benchmarks\n"
    section = f"{start}\n{body.rstrip()}\n{end}"
    if start not in text and end not in text:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    elif text.count(start) == text.count(end) == 1 and text.index(start) < text.index(end):
        before, rest = text.split(start)
        text = before + section + rest.split(end)[1]
    else:  # replacing would guess what a hand edit meant, and could eat hand-written text
        raise SystemExit(f"{path}: one {start} then one {end} expected; fix them by hand")
    path.write_text(text, encoding="utf-8")


def main() -> int:
    print(f"Baking the default project {BAKES} times...", flush=True)
    bakes = bake_seconds()
    print("A fresh project's first make install (empty, then warm caches) and make test...")
    first_run = first_run_seconds()
    code = max(code for _, code in first_run.values())
    if "--no-suite" in sys.argv:
        row = unmeasured_suite_row()
    else:
        print("Running the template test suite...", flush=True)
        suite, suite_code = suite_seconds()
        row, code = suite_row(suite, suite_code), max(code, suite_code)
    text = report(bakes, first_run, row, load_average())
    print(text)
    write_section(text, TEMPLATE_ROOT / "BENCHMARKS.md")
    return code


if __name__ == "__main__":
    sys.exit(main())
