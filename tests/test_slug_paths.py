"""project_slug names the project's folder: whatever it is, no folder appears outside the
output folder, and a refused slug leaves the output folder, and the one around it, exactly
as they were."""

import pytest
from bake_checks import snapshot
from cookiecutter.exceptions import FailedHookException
from helpers import TEMPLATE_ROOT, bake_into, cookiecutter_command

# Slugs that are paths: refused before cookiecutter creates any folder.
PATH_SLUGS = [
    "a/b",
    "../escape",
    "../../escape/deeper",
    "a/../../escape",
    "..",
    ".",
    "a\\b",
    "c:escape",
    "x" * 300,
]


@pytest.fixture
def workspace(tmp_path):
    """An output folder with a project already in it, inside a folder with a file of its own."""
    root = tmp_path / "workspace"
    (root / "output" / "earlier-project").mkdir(parents=True)
    (root / "output" / "earlier-project" / "keep.txt").write_text("kept\n")
    (root / "notes.txt").write_text("kept\n")
    return root


@pytest.mark.parametrize("slug", PATH_SLUGS, ids=lambda slug: repr(slug[:20]))
def test_a_slug_that_is_a_path_creates_nothing_anywhere(tmp_path, workspace, slug):
    before = snapshot(workspace)
    with pytest.raises(FailedHookException) as refused:
        bake_into(workspace / "output", tmp_path / "config", project_slug=slug)
    assert f"project_slug = {slug!r}" in str(refused.value)
    assert "for example: visit-counter" in str(refused.value)
    assert snapshot(workspace) == before
    assert not (tmp_path / "escape").exists()
    assert not list((tmp_path / "config").glob("replay/*")), "refused before the replay file"


def test_an_absolute_slug_creates_nothing_at_that_path(tmp_path, workspace):
    target = tmp_path / "elsewhere" / "project"
    before = snapshot(tmp_path)
    with pytest.raises(FailedHookException):
        bake_into(workspace / "output", tmp_path / "config", project_slug=str(target))
    assert not target.parent.exists()
    after = snapshot(tmp_path)
    assert {key: value for key, value in after.items() if not key.startswith("config")} == before


@pytest.mark.parametrize("slug", ["Visit Counter", "visit--counter", "émigré"])
def test_a_refused_slug_that_is_a_folder_name_leaves_the_output_folder_as_it_was(
    tmp_path, workspace, slug
):
    """Such a slug is refused by the pre-generation hook, in the one folder cookiecutter
    created for it, which cookiecutter then removes."""
    before = snapshot(workspace)
    with pytest.raises(FailedHookException):
        bake_into(workspace / "output", tmp_path / "config", project_slug=slug)
    assert snapshot(workspace) == before


def test_the_command_line_says_which_answer_and_why_in_one_message(tmp_path):
    result = cookiecutter_command(
        str(TEMPLATE_ROOT),
        "--no-input",
        "-o",
        str(tmp_path / "output"),
        "project_slug=../escape",
        home=tmp_path,
    )
    assert result.returncode == 1
    assert "project_slug = '../escape': must be one folder name" in result.stdout
    assert "Nothing was generated." in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "output").exists()
