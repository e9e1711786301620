"""What a deploy to the emulator (`make deploy-local`, the deploy benchmark) leaves out of
stack.toml: only the settings that need something of a real account."""

from __future__ import annotations

from helpers import PROJECT_ROOT

from devtools.emulated_aws import NOT_EMULATED, without_account_only_settings
from infra import stack_file


def test_only_account_only_settings_with_a_value_are_left_out_and_named():
    stack_toml = (
        'domain_name = "app.example.org"\n'
        'hosted_zone_id = "Z0123456789ABCDEFGHIJ"\n'
        "monthly_budget_usd = 50  # dollars\n"
        "[stacks.prod]\n"
        'hosted_zone_id = ""  # empty: nothing to leave out\n'
    )

    text, left_out = without_account_only_settings(stack_toml)

    assert text == 'domain_name = "app.example.org"\n[stacks.prod]\n'
    assert left_out == ["hosted_zone_id", "monthly_budget_usd"]
    assert set(left_out) <= set(NOT_EMULATED)


def test_this_projects_emulator_copy_is_still_a_valid_stack(tmp_path):
    text, _ = without_account_only_settings((PROJECT_ROOT / "stack.toml").read_text())
    copy = tmp_path / "stack.toml"
    copy.write_text(text)

    settings = stack_file.load(copy)

    assert settings.hosted_zone_id == ""
    assert not settings.monthly_budget_usd
