"""Each language an answer is written in has one filter in local_extensions.py; whatever the
text, the file's own parser reads back exactly that text. Then the cases that broke before:
characters outside the BMP, and quotes in health_check_path."""

import ast
import html
import json
import re
import shlex
import tomllib

import pytest
import yaml
from bake_checks import ANY_TEXT, ONE_LINE, run_healthcheck, snapshot, unparsable_files
from cookiecutter.exceptions import FailedHookException
from helpers import bake_into, load_module
from hypothesis import given, settings
from markdown_it import MarkdownIt

filters = load_module("local_extensions.py")

FAST = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@FAST
@given(ANY_TEXT)
def test_toml_reads_back_the_text(text):
    assert tomllib.loads(f"value = {filters.toml_string(text)}")["value"] == text


@FAST
@given(ANY_TEXT)
def test_python_reads_back_the_text(text):
    assert ast.literal_eval(filters.python_string(text)) == text


@FAST
@given(ANY_TEXT)
def test_yaml_reads_back_the_text_as_a_value_and_in_a_flow_sequence(text):
    scalar = filters.yaml_string(text)
    assert yaml.safe_load(f"key: {scalar}\nnext: 1\n") == {"key": text, "next": 1}
    assert yaml.safe_load(f'test: ["CMD-SHELL", {scalar}]') == {"test": ["CMD-SHELL", text]}


@pytest.mark.parametrize("word", ["visits", "dev", "postgres:16-alpine", "/health"])
def test_yaml_leaves_plain_words_plain(word):
    assert filters.yaml_string(word) == word


@pytest.mark.parametrize("word", ["yes", "Off", "null", "~", "16", "1e3", "12:30", "#x", "- x"])
def test_yaml_quotes_what_would_read_as_something_else(word):
    assert filters.yaml_string(word).startswith('"')


@FAST
@given(ANY_TEXT)
def test_the_shell_reads_back_one_word(text):
    assert shlex.split(filters.shell_word(text)) == [text]


def paragraph_text(markdown: str) -> str:
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()


@FAST
@given(ONE_LINE)
def test_markdown_shows_the_text_as_written_in_a_paragraph_and_a_heading(text):
    assert paragraph_text(filters.markdown_text(text)) == text
    assert paragraph_text("# " + filters.markdown_text(text)) == text


@FAST
@given(ONE_LINE.filter(bool))  # a code span cannot be empty, and no empty answer is in one
def test_markdown_code_shows_the_text_in_a_code_span_and_a_table_cell(text):
    code = filters.markdown_code(text)
    assert paragraph_text(f"see {code} here") == f"see {text} here"
    table = f"| a | b |\n| --- | --- |\n| {filters.markdown_code(text, in_table=True)} | x |\n"
    rendered = MarkdownIt("commonmark").enable("table").render(table)
    cells = re.findall(r"<td>(.*?)</td>", rendered, re.DOTALL)
    assert [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in cells] == [text, "x"]


@FAST
@given(ANY_TEXT)
def test_a_mermaid_label_holds_no_character_mermaid_reads_and_decodes_back(text):
    label = filters.mermaid_label(text)
    assert re.fullmatch(r"([A-Za-z0-9 ,./:_()+-]|#[0-9]+;)*", label)
    assert re.sub(r"#([0-9]+);", lambda m: chr(int(m.group(1))), label) == text


# --- the cases from the issue, baked ---------------------------------------------------------


def test_a_description_outside_the_bmp_bakes_valid_toml(tmp_path):
    description = 'Counts visits 😀 (and 𝄞 "notes")'
    project = bake_into(
        tmp_path / "workspace" / "output", tmp_path / "config", description=description
    )
    assert tomllib.loads((project / "pyproject.toml").read_text())["project"]["description"] == (
        description
    )
    assert unparsable_files(project) == []


@pytest.mark.parametrize(
    "path",
    ["/h'ealth(x)", "/x');__import__('pathlib').Path('MARKER').touch();('"],
)
def test_an_awkward_health_check_path_bakes_valid_files_and_runs_nothing(tmp_path, path):
    """Quotes used to break the Dockerfile's JSON or run in its health check: the check is
    run here, as Docker runs it, against a port nothing listens on."""
    marker = tmp_path / "ran"
    path = path.replace("MARKER", str(marker))
    project = bake_into(
        tmp_path / "workspace" / "output", tmp_path / "config", health_check_path=path
    )
    assert unparsable_files(project) == []
    stack = tomllib.loads((project / "stack.toml").read_text())
    assert stack["health_check"]["health_check_path"] == path
    config = (project / "visit_counter" / "config.py").read_text()
    (literal,) = re.findall(r"^HEALTH_CHECK_PATH = (.*)$", config, re.MULTILINE)
    assert ast.literal_eval(literal) == path
    dockerfile = (project / "Dockerfile").read_text()
    (healthcheck,) = re.findall(r"^  CMD (\[.*\])$", dockerfile, re.MULTILINE)[:1]
    assert json.loads(healthcheck)[:2] == ["python", "-c"]
    assert path not in dockerfile
    assert run_healthcheck(project, port=1).returncode != 0  # nothing answers
    assert not marker.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/health-😀",
        '/h"ealth',
        '/x"],["sh","-c","touch${IFS}MARKER"],["',
        "/{% raw %}${{ github.token }}{% endraw %}",
    ],
)
def test_a_health_check_path_outside_rfc_3986_is_refused_by_name(tmp_path, path, capfd):
    """The emoji used to crash the post-generation hook; `${{ }}` would be evaluated by GitHub
    Actions in deploy.yml. A path holds only what RFC 3986 allows unencoded in a path."""
    with pytest.raises(FailedHookException):
        bake_into(tmp_path / "workspace" / "output", tmp_path / "config", health_check_path=path)
    assert "health_check_path" in capfd.readouterr().err
    assert snapshot(tmp_path / "workspace") == {"output": None}
