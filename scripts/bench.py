"""`make bench` at the template root: how long a bake takes and how long the suite runs.

Writes BENCHMARKS.md beside the README. The generated project's own benchmarks (the app
under load, the deploy's API calls and parallelism) are `make bench` inside a baked project.
"""

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
BAKES = 5


def bake_seconds() -> list[float]:
    timings = []
    for _ in range(BAKES):
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            cookiecutter(str(TEMPLATE_ROOT), no_input=True, output_dir=scratch)
            timings.append(time.perf_counter() - started)
    return timings


def suite_seconds() -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=TEMPLATE_ROOT, check=False)
    return time.perf_counter() - started, result.returncode


def report(bakes: list[float], suite: float, suite_code: int) -> str:
    median = statistics.median(bakes)
    verdict = "met" if median < 1 else "NOT met"
    suite_verdict = "met" if suite < 600 and suite_code == 0 else "NOT met"
    return "\n".join(
        [
            "# Template benchmarks",
            "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, by `make bench`.",
            "",
            "| What | Result | Target |",
            "| --- | --- | --- |",
            f"| Bake of the default project (median of {BAKES}) | {median:.2f} s "
            f"(min {min(bakes):.2f}, max {max(bakes):.2f}) | under 1 s: {verdict} |",
            f"| Template test suite (`pytest`, every variant baked, tested, deployed to moto) "
            f"| {suite:.0f} s, exit code {suite_code} | under 600 s: {suite_verdict} |",
            "",
        ]
    )


def main() -> int:
    print(f"Baking the default project {BAKES} times...", flush=True)
    bakes = bake_seconds()
    print("Running the template test suite...", flush=True)
    suite, code = suite_seconds()
    text = report(bakes, suite, code)
    (TEMPLATE_ROOT / "BENCHMARKS.md").write_text(text)
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
