"""GitHub Actions as an AWS identity: its OIDC provider, the trust policy of one repository's
environment, and `--github-repo` checked by the one `OWNER/NAME` rule (infra/validation.py)."""

from __future__ import annotations

import json

from infra.aws import DeployError
from infra.engine import Context
from infra.validation import github_repository_problem

GITHUB_ISSUER = "token.actions.githubusercontent.com"


AUDIENCE = "sts.amazonaws.com"


# AWS no longer checks these for GitHub (it trusts GitHub's CA), but the API still takes them.
GITHUB_THUMBPRINTS = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
]


def check_github_repo(value: str) -> str:
    """`value` if it is a GitHub repository OWNER/NAME, by the template's own rule."""
    problem = github_repository_problem(value or "")
    if problem is not None:
        raise DeployError(
            f"--github-repo {value!r}: {problem}; give it as OWNER/NAME, "
            "for example --github-repo octo-org/visit-counter."
        )
    return value


def provider_arn(ctx: Context) -> str:
    return f"arn:{ctx.aws.partition}:iam::{ctx.aws.account_id}:oidc-provider/{GITHUB_ISSUER}"


def subject(repository: str, stack: str) -> str:
    """The `sub` claim of a job that runs in the repository's environment named `stack`."""
    return f"repo:{repository}:environment:{stack}"


def trust_policy(ctx: Context, repository: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsEnvironmentOfThisStack",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn(ctx)},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_ISSUER}:aud": AUDIENCE,
                        f"{GITHUB_ISSUER}:sub": subject(repository, ctx.settings.stack_name),
                    }
                },
            }
        ],
    }


def trusted_subjects(document: str) -> tuple[str, ...]:
    subjects = []
    for statement in json.loads(document).get("Statement", []):
        value = statement.get("Condition", {}).get("StringEquals", {}).get(f"{GITHUB_ISSUER}:sub")
        subjects += [value] if isinstance(value, str) else list(value or [])
    return tuple(subjects)
