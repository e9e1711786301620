"""`make bench` (scripts/bench.py) rewrites only its own section of the template's
BENCHMARKS.md: the hand-measured sections around it stay byte for byte. No benchmark runs
here: the section writer gets a made-up report."""

import shutil

import pytest
from helpers import TEMPLATE_ROOT, load_module

START, END = "<!-- template-bench:start -->", "<!-- template-bench:end -->"


def made_up_report(bench) -> str:
    first_run = {
        "`make install`, empty caches": (11.0, 0),
        "`make install`, warm caches": (6.0, 0),
        "first `make test` (installed)": (150.0, 0),
    }
    return bench.report([0.5, 0.6, 0.7], first_run, bench.suite_row(250.0, 0), "0.1 0.2 0.3")


@pytest.fixture
def benchmarks(tmp_path):
    copy = tmp_path / "BENCHMARKS.md"
    shutil.copyfile(TEMPLATE_ROOT / "BENCHMARKS.md", copy)
    return copy


def test_the_template_file_has_one_owned_section_after_its_hand_measured_ones(benchmarks):
    text = benchmarks.read_text(encoding="utf-8")
    assert text.count(START) == text.count(END) == 1
    before = text.split(START)[0]
    assert "| What | Before | After | Target |" in before  # the uv before/after table
    assert "## The Docker image" in before


def test_a_report_replaces_only_the_owned_section(benchmarks):
    bench = load_module("scripts/bench.py")
    original = benchmarks.read_text(encoding="utf-8")
    outside_before, rest = original.split(START)
    outside_after = rest.split(END)[1]
    report = made_up_report(bench)

    bench.write_section(report, benchmarks)

    text = benchmarks.read_text(encoding="utf-8")
    assert text == outside_before + START + "\n" + report.rstrip() + "\n" + END + outside_after
    assert "0.60 s (min 0.50, max 0.70) | under 1 s: met" in text
    assert "Not measured by `make bench`" not in text  # the former section is gone

    bench.write_section(report, benchmarks)  # a second run replaces, it does not add
    assert benchmarks.read_text(encoding="utf-8") == text


def test_a_file_without_markers_gets_the_section_at_its_end(tmp_path):
    bench = load_module("scripts/bench.py")
    hand_written = "# Template benchmarks\n\nMeasured by hand.\n\n| What | Result |\n"
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(hand_written, encoding="utf-8")

    bench.write_section("## Made up\n\nA report.\n", path)

    expected = hand_written + "\n" + START + "\n## Made up\n\nA report.\n" + END + "\n"
    assert path.read_text(encoding="utf-8") == expected


def test_markers_out_of_order_are_refused_and_the_file_left_alone(tmp_path):
    bench = load_module("scripts/bench.py")
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Benchmarks\n\n{END}\nHand-written.\n{START}\n", encoding="utf-8")
    original = path.read_text(encoding="utf-8")

    with pytest.raises(SystemExit, match="fix them by hand"):
        bench.write_section("## Made up\n", path)
    assert path.read_text(encoding="utf-8") == original
