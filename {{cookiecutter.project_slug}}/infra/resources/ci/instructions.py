"""What `bootstrap-ci` and `destroy` tell the user about the deploy role."""

from __future__ import annotations

import json

from infra.engine import Context
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
        f"Deploy and Destroy run in the environment {stack!r}; GitHub creates it on the "
        f"first run (Settings > Environments > {stack}: add required reviewers there if "
        "a person should approve each deploy).",
    ]
    return lines
