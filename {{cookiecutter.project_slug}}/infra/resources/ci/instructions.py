"""What `bootstrap-ci` and `destroy` tell the user about the deploy role and its environment."""

from __future__ import annotations

import json

from infra.engine import Context
from infra.resources.ci.github_environment import BranchRule, gh_commands
from infra.resources.shared.addresses import DEPLOY_ROLE
from infra.resources.shared.names import deploy_role_name


def kept_after_destroy(ctx: Context) -> str | None:
    """What destroy tells about the deploy role, which it leaves in place on purpose."""
    try:
        ctx.aws.iam.get_role(RoleName=deploy_role_name(ctx))
    except Exception:  # noqa: BLE001 - missing or not readable: nothing to tell
        return None
    return (
        f"Kept the CI deploy role {deploy_role_name(ctx)}: GitHub Actions runs deploy and destroy "
        "with it. Remove it with `python -m infra bootstrap-ci --remove` (admin credentials)."
    )


def repository_variables(ctx: Context) -> dict[str, str]:
    arn = (ctx.actual(DEPLOY_ROLE) or {}).get("arn", "")
    return {"AWS_DEPLOY_ROLE_ARN": arn, "AWS_REGION": ctx.aws.region}


def instructions(ctx: Context, repository: str) -> list[str]:
    variables = repository_variables(ctx)
    stack = ctx.settings.stack_name
    lines = [
        f"Deploy role: {variables['AWS_DEPLOY_ROLE_ARN']}",
        f"It can be assumed only by jobs of {repository} that run in its GitHub "
        f"environment {stack!r}.",
        "",
        f"Set these repository variables (https://github.com/{repository}/settings/"
        "variables/actions: Settings > Secrets and variables > Actions > Variables):",
    ]
    width = max(len(key) for key in variables)
    lines += [f"  {key.ljust(width)} = {value}" for key, value in variables.items()]
    lines += [
        "",
        "or with the GitHub CLI:",
        *(
            f"  gh variable set {key} --repo {repository} --body {json.dumps(value)}"
            for key, value in variables.items()
        ),
        "",
        f"Deploy and Destroy run in the GitHub environment {stack!r} (Settings > Environments "
        f"> {stack}: add required reviewers there if a person should approve each deploy).",
    ]
    return lines


def branch_rule_set(repository: str, stack: str, rule: BranchRule) -> list[str]:
    """What bootstrap-ci tells after limiting the environment through GitHub's API."""
    done = "set" if rule.added else "was already set"
    lines = [
        f"Branch rule {done}: only {rule.branch}, the default branch of {repository}, may "
        f"deploy in the environment {stack!r}."
    ]
    if rule.others:
        lines.append(
            f"Earlier rules of {stack!r} also let these deploy: {', '.join(rule.others)}. "
            f"Remove them under Settings > Environments > {stack} unless they should."
        )
    return lines


def branch_rule_commands(repository: str, stack: str, failed: bool = False) -> list[str]:
    """The gh commands that limit the environment, when bootstrap-ci cannot."""
    if failed:
        intro = ["To set the branch rule with the GitHub CLI instead, run:"]
    else:
        intro = [
            f"Limit the environment {stack!r} to the default branch: without that rule, a "
            "workflow on any branch that names it gets the deploy role. Set GH_TOKEN to a "
            "token with the repository's Administration permission and run bootstrap-ci "
            "again, or run:",
        ]
    return [*intro, *(f"  {command}" for command in gh_commands(repository, stack))]
