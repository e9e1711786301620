"""Answers are rendered as templates by cookiecutter itself (so that one default can use
another), in jinja2's sandbox: the known ways out of a Jinja template are refused, naming
the answer, and never run. Each payload below would create a marker file if it ran."""

import pytest
import yaml
from bake_checks import snapshot
from cookiecutter.environment import StrictEnvironment
from cookiecutter.exceptions import UndefinedVariableInTemplate
from cookiecutter.main import cookiecutter
from helpers import COOKIECUTTER_JSON, TEMPLATE_ROOT, bake_into, cookiecutter_command
from jinja2 import StrictUndefined

TOUCH = "touch MARKER"
ESCAPES = {
    "cycler globals": "{{ cycler.__init__.__globals__.os.popen('TOUCH').read() }}",
    "joiner globals": "{{ joiner.__init__.__globals__.os.popen('TOUCH').read() }}",
    "namespace globals": "{{ namespace.__init__.__globals__.os.popen('TOUCH').read() }}",
    "lipsum globals": "{{ lipsum.__globals__['os'].popen('TOUCH').read() }}",
    "self builtins": (
        "{{ self.__init__.__globals__.__builtins__.__import__('os').system('TOUCH') }}"
    ),
    "attr filter": (
        "{{ (cycler | attr('__init__') | attr('__globals__'))['os'].popen('TOUCH').read() }}"
    ),
    "subclasses": (
        "{% for c in ''.__class__.__mro__[1].__subclasses__() %}"
        "{% if c.__name__ == 'Popen' %}{{ c(['touch', 'MARKER']) }}{% endif %}{% endfor %}"
    ),
    "format string": "{{ '{0.__init__.__globals__[os].popen}'.format(cycler) }}",
    "format_map": "{{ '{c.__init__.__globals__}'.format_map({'c': cycler}) }}",
    "changing another answer": "{{ cookiecutter.update({'project_slug': '../MARKER'}) }}",
    "changing a list": "{{ cookiecutter._extensions.append('os') }}",
}


def payload(name: str, marker) -> str:
    return ESCAPES[name].replace("TOUCH", TOUCH).replace("MARKER", str(marker))


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_a_command_line_answer_cannot_escape_the_sandbox(tmp_path, name):
    marker = tmp_path / "ran"
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    with pytest.raises(UndefinedVariableInTemplate) as refused:
        bake_into(workspace / "output", tmp_path / "config", description=payload(name, marker))
    assert refused.value.message == "Unable to render variable 'description'"
    assert not marker.exists(), "the payload ran"
    assert snapshot(workspace) == {}


@pytest.mark.parametrize("name", ["cycler globals", "subclasses", "format string"])
def test_a_default_from_the_user_config_cannot_escape_the_sandbox(tmp_path, name):
    """cookiecutter's `default_context` (~/.cookiecutterrc) overrides defaults, rendered the
    same way."""
    marker = tmp_path / "ran"
    config = tmp_path / "config.yaml"
    settings = {
        "default_context": {"author_name": payload(name, marker)},
        "replay_dir": str(tmp_path / "replay"),
        "cookiecutters_dir": str(tmp_path / "cookiecutters"),
    }
    config.write_text(yaml.safe_dump(settings))
    with pytest.raises(UndefinedVariableInTemplate) as refused:
        cookiecutter(
            str(TEMPLATE_ROOT),
            no_input=True,
            output_dir=str(tmp_path / "output"),
            config_file=str(config),
        )
    assert refused.value.message == "Unable to render variable 'author_name'"
    assert "is unsafe" in refused.value.error.message
    assert not marker.exists(), "the payload ran"
    assert not (tmp_path / "output").exists()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("50% off {{ everything", "template syntax error"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ not_an_answer }}", "'not_an_answer' is undefined"),
    ],
)
def test_an_answer_that_fails_to_render_is_refused_by_name(tmp_path, answer, reason):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    with pytest.raises(UndefinedVariableInTemplate) as refused:
        bake_into(workspace / "output", tmp_path / "config", project_name=answer)
    assert refused.value.message == "Unable to render variable 'project_name'"
    assert reason in refused.value.error.message
    assert snapshot(workspace) == {}


def test_an_answer_may_still_use_the_answers_before_it(tmp_path):
    project = bake_into(
        tmp_path / "workspace" / "output",
        tmp_path / "config",
        description="{{ cookiecutter.project_name | upper }}, by {{ cookiecutter.project_slug }}",
    )
    assert "VISIT COUNTER, by visit-counter" in (project / "pyproject.toml").read_text()


def test_every_environment_cookiecutter_builds_for_this_template_is_the_sandbox():
    environment = StrictEnvironment(context={"cookiecutter": COOKIECUTTER_JSON})
    assert environment.sandboxed
    assert environment.undefined is StrictUndefined
    assert environment.from_string("{{ range(3) | list }}").render() == "[0, 1, 2]"


def test_the_command_from_the_issue_runs_nothing_and_names_the_answer(tmp_path):
    marker = tmp_path / "ran"
    answer = "description=" + payload("cycler globals", marker)
    result = cookiecutter_command(
        str(TEMPLATE_ROOT), "--no-input", "-o", str(tmp_path / "output"), answer, home=tmp_path
    )
    assert result.returncode == 1
    assert "Unable to render variable 'description'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not marker.exists(), "the payload ran"
    assert not (tmp_path / "output").exists()
