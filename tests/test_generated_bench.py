"""The generated project's benchmarks (`make bench`) run end to end and report what they
measured. The app's is shortened to one round of one second at two clients, and does not
wait for the machine to calm down (the suite keeps it busy), so the suite stays fast; the
numbers themselves are judged by BENCHMARKS.md, not here."""

import subprocess
import sys
from pathlib import Path

from helpers import bake_ok
from variants import VARIANTS


def run_bench(project: Path, *args: str, module: str = "devtools.bench"):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the table under ``heading``, as lists of cell texts."""
    section = markdown.split(heading, 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_app_benchmark_measures_the_app_the_ceiling_and_the_naive_baseline(cookies, tmp_path):
    project = bake_ok(cookies).project_path
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\nNotes of our own, kept.\n")

    shortened = ["--duration", "1", "--clients", "2", "--rounds", "1", "--quiet-wait", "0"]
    result = run_bench(project, *shortened, "--output", str(output))

    assert result.returncode == 0, result.stdout + result.stderr
    text = output.read_text()
    assert "Notes of our own, kept." in text
    assert text.count("<!-- app-bench:start -->") == 1
    [throughput] = table_rows(text, "### Throughput and latency")
    clients, app_rate, _, _, ceiling_tps, _, ratio, *_ = throughput
    assert clients == "2"
    assert float(app_rate) > 0 and float(ceiling_tps) > 0
    assert 0 < float(ratio.strip("*")) < 2
    [exactness] = table_rows(text, "### Exactness")
    _, app_ok, app_errors, app_rise, app_lost, naive_ok, *_ = exactness
    assert app_errors == "0" and app_lost == "**0**" and app_ok == app_rise
    assert int(naive_ok) > 0
    assert "Exactness check passed" in result.stdout


def test_app_benchmark_refuses_a_bad_option_with_one_line(cookies):
    project = bake_ok(cookies).project_path

    result = run_bench(project, "--rounds", "0")

    assert result.returncode == 2
    assert "--rounds must be between 1 and 9" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_benchmark_runs_with_every_option_on(cookies):
    """The hardened variant chooses a hosted zone and a budget, which moto cannot stand in
    for: the benchmark leaves them out, says so, and measures the rest."""
    project = bake_ok(cookies, **VARIANTS["hardened"]).project_path

    result = run_bench(project, "--runs", "1", module="devtools.deploy_bench")

    assert result.returncode == 0, result.stdout + result.stderr
    text = (project / "BENCHMARKS.md").read_text()
    section = text.split("<!-- deploy-bench:start -->", 1)[1].split("<!-- deploy-bench:end -->")[0]
    assert "Left out of stack.toml, as moto cannot stand in for them: `hosted_zone_id`" in section
    for measurement in ("apply, no changes", "plan, no changes"):
        row = next(line for line in section.splitlines() if line.startswith(f"| {measurement} |"))
        assert row.endswith("| 0 | 0 mutating |"), row
    assert "**wall time / longest branch**" in section
