"""The stack's GitHub environment, limited to the repository's default branch.

The deploy role trusts jobs that run in the repository's environment named after the stack
(`github.subject`). GitHub lets a workflow on any branch name any environment unless the
environment has a deployment-branch rule, so without one, anyone who can push a branch could
get the deploy role. `bootstrap-ci` sets the rule with GitHub's REST API when GH_TOKEN or
GITHUB_TOKEN is set (`restrict_to_default_branch`), and otherwise prints the same calls as
`gh api` commands (`gh_commands`). Standard library only; GITHUB_API_URL (set by GitHub
Actions, default https://api.github.com) says where the API is.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import shlex
import urllib.error
import urllib.parse
import urllib.request

from infra.aws import DeployError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
TOKEN_VARIABLES = ("GH_TOKEN", "GITHUB_TOKEN")  # gh's order
TIMEOUT_SECONDS = 30
ENVIRONMENT_BODY = {
    "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}
}


@dataclasses.dataclass(frozen=True)
class BranchRule:
    """The environment's rule after `restrict_to_default_branch`."""

    branch: str  # the repository's default branch, the one allowed to deploy
    added: bool  # False: the rule was there already
    others: tuple[str, ...]  # branch or tag patterns earlier rules also allow


def token() -> tuple[str, str] | None:
    """(variable, token) from GH_TOKEN or GITHUB_TOKEN, or None when neither is set."""
    for variable in TOKEN_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            return variable, value
    return None


def paths(repository: str, environment: str) -> tuple[str, str, str]:
    """The repository's, the environment's and its branch policies' API paths."""
    environment_path = f"repos/{repository}/environments/{urllib.parse.quote(environment, '')}"
    return f"repos/{repository}", environment_path, f"{environment_path}/deployment-branch-policies"


def gh_commands(repository: str, environment: str) -> list[str]:
    """The GitHub CLI commands that make what `restrict_to_default_branch` makes."""
    repo, env, policies = (shlex.quote(path) for path in paths(repository, environment))
    return [
        f"gh api --method PUT {env}"
        " -F 'deployment_branch_policy[protected_branches]=false'"
        " -F 'deployment_branch_policy[custom_branch_policies]=true'",
        f"gh api --method POST {policies} -f type=branch"
        f' -f name="$(gh api {repo} --jq .default_branch)"',
    ]


def restrict_to_default_branch(
    repository: str, environment: str, credentials: tuple[str, str]
) -> BranchRule:
    """Create or update the environment so that only the default branch may deploy to it.
    Adds the branch policy only when missing; raises DeployError with the fix on failure."""
    api = _Api(credentials)
    repo, env, policies = paths(repository, environment)
    branch = api.call("GET", repo, what=f"read {repository}").get("default_branch")
    if not isinstance(branch, str) or not branch:
        raise DeployError(f"GitHub's answer about {repository} has no default branch.")
    api.call("PUT", env, ENVIRONMENT_BODY, what=f"change the environment {environment!r}")
    listed = api.call("GET", f"{policies}?per_page=100", what="list its branch rules")
    existing = [
        (str(policy.get("name")), policy.get("type", "branch"))
        for policy in listed.get("branch_policies", [])
        if isinstance(policy, dict)
    ]
    added = (branch, "branch") not in existing
    if added:
        body = {"name": branch, "type": "branch"}
        # 303: the same rule exists (beyond the first 100 listed).
        added = api.call("POST", policies, body, what="add the branch rule", seen=303) is not None
    others = tuple(name for name, kind in existing if (name, kind) != (branch, "branch"))
    return BranchRule(branch, added, others)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to send the token to."""

    def redirect_request(self, *_args, **_kwargs):
        return None


class _Api:
    def __init__(self, credentials: tuple[str, str]):
        self.variable, self._token = credentials
        self.base = (os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        if not self.base.startswith(("https://", "http://")):
            raise DeployError(f"GITHUB_API_URL {self.base!r} must start with https://.")
        self.opener = urllib.request.build_opener(_NoRedirects)

    def call(
        self, method: str, path: str, body: dict | None = None, *, what: str, seen: int = 0
    ) -> dict | None:
        """The JSON answer; None for the status `seen`; DeployError for any other failure."""
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self._token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "three-tier-flask",
        }
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            f"{self.base}/{path}", data=data, method=method, headers=headers
        )
        try:
            with self.opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            if error.code == seen:
                return None
            raise DeployError(self._refused(error, what)) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", error)
            raise DeployError(
                f"Could not reach GitHub's API at {self.base} to {what} ({reason}): check the "
                f"network and GITHUB_API_URL, or run the gh api commands above instead."
            ) from None
        try:
            answer = json.loads(text) if text.strip() else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeployError(
                f"GitHub's API at {self.base} did not answer with a JSON object when asked to "
                f"{what}: check GITHUB_API_URL."
            )
        return answer

    def _refused(self, error: urllib.error.HTTPError, what: str) -> str:
        try:
            message = str(json.loads(error.read() or b"{}").get("message", ""))
        except (ValueError, AttributeError, OSError):
            message = ""
        said = " ".join(f"{error.code} {message or error.reason}".split())[:200]
        fix = {
            401: f"the token in {self.variable} is not valid (or expired); set a valid one",
            403: f"the token in {self.variable} needs the repository's Administration "
            "permission (read and write; the repo scope for a classic token)",
            404: f"check --github-repo, and that the token in {self.variable} can see the "
            "repository and has its Administration permission",
        }.get(error.code, "run bootstrap-ci again in a while")
        return (
            f"GitHub refused to {what} ({said}): {fix}, then run bootstrap-ci again; "
            "or run the gh api commands above instead."
        )
