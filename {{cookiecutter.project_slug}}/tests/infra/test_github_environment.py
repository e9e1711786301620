"""`bootstrap-ci` limits the stack's GitHub environment to the default branch, and checks
`--github-repo` with the template's own OWNER/NAME rule.

GitHub is a small fake of its REST API on 127.0.0.1 (GITHUB_API_URL points at it), which
records every request; nothing here reaches github.com.
"""

from __future__ import annotations

import http.server
import json
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from infra.resources.ci import github_environment
from infra.validation import github_repository_problem, validate

REPO = "octo-org/visit-counter"
SHUTDOWN_POLL_SECONDS = 0.01
TOKEN = "ghp_fakeTokenThatMustNeverBePrinted"  # noqa: S105 - a fake, for the fake API
# GitHub's REST API, version 2022-11-28.
ENVIRONMENT_BODY = {
    "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}
}


class FakeGitHub:
    """The four endpoints bootstrap-ci calls, for one repository, with a request log."""

    def __init__(self, default_branch: str = "trunk"):
        self.default_branch = default_branch
        self.environments: dict[str, dict] = {}
        self.policies: list[dict] = []
        self.requests: list[dict] = []
        self.fail: dict[str, tuple[int, str]] = {}  # method -> (status, message)
        self.listed = True  # False: the list shows none (as if beyond its first page)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def calls(self) -> list[tuple[str, str, dict | None]]:
        return [(r["method"], r["path"], r["body"]) for r in self.requests]

    def _answer(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        if method in self.fail:
            status, message = self.fail[method]
            return status, {"message": message}
        repo = f"/repos/{REPO}"
        if (method, path) == ("GET", repo):
            return 200, {"full_name": REPO, "default_branch": self.default_branch}
        prefix = f"{repo}/environments/"
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}
        name, _, rest = path[len(prefix) :].partition("/")
        if method == "PUT" and not rest:
            self.environments[name] = body["deployment_branch_policy"]
            return 200, {"name": name, "deployment_branch_policy": self.environments[name]}
        if not rest.startswith("deployment-branch-policies"):
            return 404, {"message": "Not Found"}
        if not self.environments.get(name, {}).get("custom_branch_policies"):
            return 404, {"message": "custom_branch_policies is false"}
        if method == "GET":
            listed = self.policies if self.listed else []
            return 200, {"total_count": len(self.policies), "branch_policies": listed}
        if any(p["name"] == body["name"] and p["type"] == body["type"] for p in self.policies):
            return 303, {}
        self.policies.append({"id": len(self.policies) + 1, **body})
        return 200, self.policies[-1]

    def _handler(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "body": body,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    }
                )
                status, answer = fake._answer(self.command, self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                if status == 303:
                    self.send_header("Location", f"{fake.url}/somewhere-else")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _serve

            def log_message(self, *_args) -> None:
                pass

        return Handler


@pytest.fixture
def github(moto, monkeypatch) -> Iterator[FakeGitHub]:
    """A fake GitHub API on loopback (set after moto, which clears GITHUB_API_URL)."""
    fake = FakeGitHub()
    # shutdown() returns when the loop next looks, every poll_interval (0.5 s by default).
    serve = {"poll_interval": SHUTDOWN_POLL_SECONDS}
    thread = threading.Thread(target=fake.server.serve_forever, kwargs=serve, daemon=True)
    thread.start()
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    thread.join()


@pytest.fixture
def token(moto, monkeypatch) -> str:
    """GH_TOKEN set (after moto, which restores the environment when it ends)."""
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def no_token(moto, monkeypatch) -> None:
    for variable in ("GH_TOKEN", "GITHUB_TOKEN"):
        monkeypatch.delenv(variable, raising=False)


def policies_path(stack: str) -> str:
    return f"/repos/{REPO}/environments/{stack}/deployment-branch-policies"


def test_with_a_token_only_the_default_branch_may_deploy(github, token, infra, project):
    stack = project.settings.stack_name
    result = infra("bootstrap-ci", "--github-repo", REPO)
    assert result.code == 0, result.err
    assert github.calls() == [
        ("GET", f"/repos/{REPO}", None),
        ("PUT", f"/repos/{REPO}/environments/{stack}", ENVIRONMENT_BODY),
        ("GET", f"{policies_path(stack)}?per_page=100", None),
        ("POST", policies_path(stack), {"name": "trunk", "type": "branch"}),
    ]
    for request in github.requests:
        assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
        assert request["headers"]["accept"] == "application/vnd.github+json"
        assert request["headers"]["x-github-api-version"] == "2022-11-28"
    assert f"only trunk, the default branch of {REPO}, may deploy" in result.out
    assert TOKEN not in result.out + result.err


def test_a_second_run_adds_no_second_rule(github, token, infra, project):
    assert infra("bootstrap-ci", "--github-repo", REPO).code == 0
    github.requests.clear()
    again = infra("bootstrap-ci", "--github-repo", REPO)
    assert again.code == 0, again.err
    assert [method for method, _path, _body in github.calls()] == ["GET", "PUT", "GET"]
    assert github.policies == [{"id": 1, "name": "trunk", "type": "branch"}]
    assert "Branch rule was already set: only trunk" in again.out


def test_a_rule_the_list_missed_is_not_added_twice_and_no_redirect_is_followed(
    github, token, infra
):
    assert infra("bootstrap-ci", "--github-repo", REPO).code == 0
    github.listed = False
    github.requests.clear()
    again = infra("bootstrap-ci", "--github-repo", REPO)
    assert again.code == 0, again.err
    assert [method for method, _path, _body in github.calls()] == ["GET", "PUT", "GET", "POST"]
    assert len(github.policies) == 1  # GitHub's 303: the same rule exists; not followed
    assert "Branch rule was already set" in again.out


def test_rules_added_by_hand_are_kept_and_shown(github, token, infra, project):
    github.environments[project.settings.stack_name] = {"custom_branch_policies": True}
    github.policies.append({"id": 7, "name": "release/*", "type": "branch"})
    result = infra("bootstrap-ci", "--github-repo", REPO)
    assert result.code == 0, result.err
    assert [p["name"] for p in github.policies] == ["release/*", "trunk"]
    assert "also let these deploy: release/*" in result.out


@pytest.mark.parametrize(
    ("method", "status", "message", "fix"),
    [
        ("PUT", 403, "Resource not accessible by personal access token", "Administration"),
        ("GET", 401, "Bad credentials", "is not valid"),
        ("GET", 404, "Not Found", "check --github-repo"),
        ("POST", 422, "Validation Failed", "run bootstrap-ci again"),
    ],
)
def test_a_refusal_is_one_line_with_the_fix(
    github, token, infra, project, method, status, message, fix
):
    github.fail[method] = (status, message)
    result = infra("bootstrap-ci", "--github-repo", REPO)
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("Error: GitHub refused to ")
    assert f"({status} {message})" in line and fix in line
    assert "Traceback" not in result.err
    assert TOKEN not in result.out + result.err
    # The role is in place; the gh commands are offered instead.
    assert "AWS_DEPLOY_ROLE_ARN = arn:aws:iam::" in result.out
    assert "gh api --method PUT" in result.out
    if method == "PUT":
        assert "POST" not in [m for m, _path, _body in github.calls()]


def test_the_token_in_the_403_message_is_named_never_shown(github, token, infra):
    github.fail["PUT"] = (403, "Resource not accessible by integration")
    result = infra("bootstrap-ci", "--github-repo", REPO)
    assert "the token in GH_TOKEN needs the repository's Administration permission" in result.err
    assert TOKEN not in result.out + result.err


def test_an_unreachable_api_is_one_line(moto, token, infra, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{port}")
    result = infra("bootstrap-ci", "--github-repo", REPO)
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith(f"Error: Could not reach GitHub's API at http://127.0.0.1:{port}")
    assert TOKEN not in result.out + result.err


def expected_commands(stack: str) -> list[str]:
    environment = f"repos/{REPO}/environments/{stack}"
    return [
        f"  gh api --method PUT {environment}"
        " -F 'deployment_branch_policy[protected_branches]=false'"
        " -F 'deployment_branch_policy[custom_branch_policies]=true'",
        f"  gh api --method POST {environment}/deployment-branch-policies -f type=branch"
        f' -f name="$(gh api repos/{REPO} --jq .default_branch)"',
    ]


def test_without_a_token_it_prints_the_gh_commands_and_calls_nothing(
    github, no_token, infra, project
):
    stack = project.settings.stack_name
    result = infra("bootstrap-ci", "--github-repo", REPO)
    assert result.code == 0, result.err
    assert github.requests == []
    lines = result.out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Limit the environment"))
    assert "a workflow on any branch that names it gets the deploy role" in lines[start]
    assert lines[start + 1 : start + 3] == expected_commands(stack)


def test_the_gh_commands_are_valid_shell_making_the_same_calls():
    put, post = github_environment.gh_commands(REPO, "dev")
    for command in (put, post):
        subprocess.run(["bash", "-n", "-c", command], check=True)  # noqa: S603, S607
    assert shlex.split(put) == [
        "gh",
        "api",
        "--method",
        "PUT",
        f"repos/{REPO}/environments/dev",
        "-F",
        "deployment_branch_policy[protected_branches]=false",
        "-F",
        "deployment_branch_policy[custom_branch_policies]=true",
    ]
    assert shlex.split(post) == [
        "gh",
        "api",
        "--method",
        "POST",
        f"repos/{REPO}/environments/dev/deployment-branch-policies",
        "-f",
        "type=branch",
        "-f",
        f"name=$(gh api repos/{REPO} --jq .default_branch)",
    ]


def test_gh_token_comes_before_github_token(monkeypatch):
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", "from-actions")
    assert github_environment.token() == ("GITHUB_TOKEN", "from-actions")
    monkeypatch.setenv("GH_TOKEN", "from-gh")
    assert github_environment.token() == ("GH_TOKEN", "from-gh")
    monkeypatch.setenv("GH_TOKEN", " ")
    monkeypatch.delenv("GITHUB_TOKEN")
    assert github_environment.token() is None


# What the template refuses as github_repository, bootstrap-ci refuses as --github-repo.
NOT_REPOSITORIES = ["octo--org/x", "octo-/x", "-octo/x", "octo/..", "octo/.", "a" * 40 + "/x"]


@pytest.mark.parametrize("repository", NOT_REPOSITORIES)
def test_bootstrap_ci_refuses_what_the_template_refuses(github, no_token, infra, calls, repository):
    result = infra("bootstrap-ci", f"--github-repo={repository}")  # "-octo/x" is no option
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    reason = github_repository_problem(repository)
    assert line == (
        f"Error: --github-repo {repository!r}: {reason}; give it as OWNER/NAME, "
        "for example --github-repo octo-org/visit-counter."
    )
    assert calls.all == [] and github.requests == []
    _, problems = validate({"github_repository": repository})
    assert [p.reason for p in problems if p.variable == "github_repository"] == [reason]


@pytest.mark.parametrize("repository", ["a/b", "Octo-Org-2/.github", "a" * 39 + "/" + "b" * 100])
def test_both_accept_a_real_repository(repository):
    assert github_repository_problem(repository) is None
    _, problems = validate({"github_repository": repository})
    assert [p for p in problems if p.variable == "github_repository"] == []
