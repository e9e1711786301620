import json
from pathlib import Path

import pytest

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
COOKIECUTTER_JSON = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())
DEFAULTS = {key: value for key, value in COOKIECUTTER_JSON.items() if not key.startswith("_")}


def bake_ok(cookies, **extra_context):
    """Bake, fail loudly on errors, and prove every answer reached the context.

    A misspelt key would otherwise be ignored by cookiecutter and silently test the defaults.
    """
    result = cookies.bake(extra_context=extra_context)
    assert result.exit_code == 0, result.exception
    assert result.exception is None
    for key, value in extra_context.items():
        assert result.context[key] == value, f"{key} did not reach the context"
    return result


def baked_dirs(cookies) -> list[Path]:
    """Every output folder cookies has made, to check that a failed bake left nothing."""
    root = Path(str(cookies._output_factory.__self__))
    return sorted(root.iterdir())


@pytest.fixture
def bake(cookies):
    return lambda **extra: bake_ok(cookies, **extra)
