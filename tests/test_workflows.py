"""The GitHub Actions workflows: the generated project's CI, deploy and destroy, and the
template's own CI. They pass GitHub's workflow schema and zizmor with no findings, keep their
`${{ }}` expressions through baking, and give each job no more than it needs."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import TEMPLATE_ROOT, bake_ok
from variants import VARIANTS

TOOLS = Path(sys.executable).parent
TEMPLATE_GITHUB = TEMPLATE_ROOT / ".github"
TEMPLATE_CI = TEMPLATE_GITHUB / "workflows" / "ci.yml"
# Graviton instances need an arm64 image; every other answer here changes a rendered value.
ARM_ANSWERS = {
    "app_instance_type": "t4g.small",
    "db_engine_version": "17",
    "stack_name": "prod",
    "aws_region": "eu-central-1",
    "health_check_path": "/healthz",
}
PINNED_USES = re.compile(
    r"^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$"
)
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


@pytest.fixture(scope="module")
def default_project(cookies_session) -> Path:
    return bake_ok(cookies_session).project_path


@pytest.fixture(scope="module")
def arm_project(cookies_session) -> Path:
    return bake_ok(cookies_session, **ARM_ANSWERS).project_path


def workflow_files(project: Path) -> list[Path]:
    return sorted((project / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def every_workflow(*projects: Path) -> list[Path]:
    return [TEMPLATE_CI] + [path for project in projects for path in workflow_files(project)]


def steps_of(path: Path):
    for job_id, job in load(path)["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def run_tool(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    tool = TOOLS / args[0]
    assert tool.exists(), f"{args[0]} is missing from {TOOLS}: add it to requirements-dev.txt"
    return subprocess.run(
        [str(tool), *args[1:]],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )


def step_named(path: Path, prefix: str) -> dict:
    matches = [step for _, step in steps_of(path) if step.get("name", "").startswith(prefix)]
    assert len(matches) == 1, f"{path.name}: one step named {prefix!r}"
    return matches[0]


def run_script(script: str, env: dict, stubs: dict[str, str], tmp_path: Path):
    """Run a workflow's `run:` script as GitHub does, with stub commands first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in {"sleep": "exit 0", **stubs}.items():
        stub = bin_dir / name
        stub.write_text(f"#!/usr/bin/env bash\n{body}\n")
        stub.chmod(0o755)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
        env={**os.environ, **env, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )


def test_the_generated_project_has_its_workflows_and_dependabot(default_project):
    names = [path.name for path in workflow_files(default_project)]
    assert names == ["ci.yml", "deploy.yml", "destroy.yml"]
    generated = yaml.safe_load((default_project / ".github" / "dependabot.yml").read_text())
    ecosystems = [update["package-ecosystem"] for update in generated["updates"]]
    assert sorted(ecosystems) == ["docker", "github-actions", "pip"]
    root = yaml.safe_load((TEMPLATE_GITHUB / "dependabot.yml").read_text())["updates"]
    assert sorted(update["package-ecosystem"] for update in root) == ["github-actions", "pip"]


def test_workflows_and_dependabot_match_githubs_schemas(default_project, arm_project):
    workflows = every_workflow(default_project, arm_project)
    result = run_tool(
        "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, workflows)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dependabot = [TEMPLATE_GITHUB / "dependabot.yml", default_project / ".github/dependabot.yml"]
    result = run_tool(
        "check-jsonschema", "--builtin-schema", "vendor.dependabot", *map(str, dependabot)
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("where", ["template", "default", "arm"])
def test_zizmor_finds_nothing(where, default_project, arm_project):
    target = {"template": TEMPLATE_GITHUB, "default": default_project, "arm": arm_project}[where]
    result = run_tool("zizmor", "--offline", "--no-progress", "--format", "json", str(target))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_github_expressions_survive_baking(default_project):
    deploy = (default_project / ".github" / "workflows" / "deploy.yml").read_text()
    for expression in (
        "${{ vars.AWS_DEPLOY_ROLE_ARN }}",
        "${{ github.sha }}",
        "${{ inputs.stack || 'dev' }}",
        "${{ vars.AWS_REGION || 'ap-south-1' }}",
        "${{ steps.outputs.outputs.app_url }}",
    ):
        assert expression in deploy
    for path in workflow_files(default_project):
        text = GITHUB_EXPRESSION.sub("", path.read_text())
        for tag in ("{{", "}}", "{%", "%}", "{#", "#}"):
            assert tag not in text, f"{path.name}: unrendered {tag}"


def test_answers_reach_the_workflows(arm_project):
    workflows = arm_project / ".github" / "workflows"
    ci = load(workflows / "ci.yml")
    assert ci["jobs"]["test"]["services"]["postgres"]["image"] == "postgres:17"
    deploy = load(workflows / "deploy.yml")
    assert deploy["on"]["workflow_dispatch"]["inputs"]["stack"]["default"] == "prod"
    assert deploy["jobs"]["deploy"]["environment"]["name"] == "${{ inputs.stack || 'prod' }}"
    smoke = step_named(workflows / "deploy.yml", "Smoke-test")
    assert smoke["env"]["HEALTH_PATH"] == "/healthz"
    destroy = load(workflows / "destroy.yml")
    assert destroy["on"]["workflow_dispatch"]["inputs"]["stack"]["default"] == "prod"


def test_the_image_is_built_for_the_instances_architecture(default_project, arm_project):
    for project, platform in ((default_project, "linux/amd64"), (arm_project, "linux/arm64")):
        deploy = project / ".github" / "workflows" / "deploy.yml"
        assert f"--platform {platform}" in step_named(deploy, "Build the image")["run"]
        qemu = [
            step
            for _, step in steps_of(deploy)
            if step.get("uses", "").startswith("docker/setup-qemu-action@")
        ]
        assert len(qemu) == (platform == "linux/arm64")


def test_every_job_has_a_timeout_and_top_level_permissions_grant_nothing(default_project):
    for path in every_workflow(default_project):
        document = load(path)
        assert document["permissions"] == {}, path.name
        for job_id, job in document["jobs"].items():
            if "uses" in job:  # a reusable workflow call: its own jobs carry the timeouts
                continue
            assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: {job_id}"


def test_only_the_deploy_and_destroy_jobs_can_get_an_oidc_token(default_project, arm_project):
    with_token = set()
    for path in every_workflow(default_project, arm_project):
        for job_id, job in load(path)["jobs"].items():
            permissions = job.get("permissions", {})
            assert set(permissions.values()) <= {"read", "write"}, f"{path.name}: {job_id}"
            writes = {scope for scope, level in permissions.items() if level == "write"}
            assert writes <= {"id-token"}, f"{path.name}: {job_id} writes {writes}"
            if writes:
                with_token.add((path.name, job_id))
    assert with_token == {("deploy.yml", "deploy"), ("destroy.yml", "destroy")}


def test_every_action_is_pinned_by_sha_and_has_one_pin(default_project, arm_project):
    pins: dict[str, set[str]] = {}
    for path in every_workflow(default_project, arm_project):
        for line in path.read_text().splitlines():
            if re.match(r"^\s*(?:-\s+)?uses:", line):
                if line.split("uses:", 1)[1].strip() == "$/.github/workflows/ci.yml":
                    continue  # this repository's own CI, at the commit that is running
                match = PINNED_USES.match(line)
                assert match, f"{path.name}: not pinned by SHA with a version comment: {line}"
                pins.setdefault(match[1], set()).add(match[2])
    assert {action for action, shas in pins.items() if len(shas) > 1} == set()
    assert "aws-actions/configure-aws-credentials" in pins


def test_checkouts_keep_no_credentials_and_scripts_interpolate_nothing(default_project):
    for path in every_workflow(default_project):
        for job_id, step in steps_of(path):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{path.name}: {job_id}"
            assert "${{" not in step.get("run", ""), f"{path.name}: {job_id}: use env: instead"


def test_deploy_runs_after_ci_one_at_a_time_behind_an_environment(default_project):
    workflows = default_project / ".github" / "workflows"
    assert "workflow_call" in load(workflows / "ci.yml")["on"]
    deploy = load(workflows / "deploy.yml")
    assert set(deploy["on"]) == {"push", "workflow_dispatch"}
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert deploy["jobs"]["ci"]["uses"] == "$/.github/workflows/ci.yml"
    job = deploy["jobs"]["deploy"]
    assert job["needs"] == "ci"
    assert job["concurrency"] == {
        "group": "stack-${{ inputs.stack || 'dev' }}",
        "cancel-in-progress": False,
    }
    assert job["environment"]["name"] == "${{ inputs.stack || 'dev' }}"
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    credentials = steps["aws-actions/configure-aws-credentials"]["with"]
    assert credentials["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert not any("aws-access-key-id" in step.get("with", {}) for step in job["steps"])
    assert "aws-actions/amazon-ecr-login" in steps
    apply = step_named(workflows / "deploy.yml", "Apply")["run"]
    assert 'infra apply --auto-approve --stack "$STACK" --image-tag "$IMAGE_TAG"' in apply
    destroy = load(workflows / "destroy.yml")
    assert destroy["concurrency"]["group"] == "stack-${{ inputs.stack }}"
    assert destroy["concurrency"]["cancel-in-progress"] is False


def test_destroy_refuses_unless_the_stack_name_is_typed(default_project, tmp_path):
    workflows = default_project / ".github" / "workflows"
    destroy = load(workflows / "destroy.yml")
    assert set(destroy["on"]) == {"workflow_dispatch"}
    assert destroy["jobs"]["destroy"]["needs"] == "confirm"
    check = step_named(workflows / "destroy.yml", "Refuse unless")
    for stack, typed, refused in (
        ("dev", "dev", False),
        ("dev", "dve", True),
        ("dev", "", True),
        ("", "", True),
    ):
        result = run_script(check["run"], {"STACK": stack, "CONFIRM": typed}, {}, tmp_path)
        assert (result.returncode != 0) == refused, (stack, typed)


def test_the_smoke_test_retries_a_bounded_number_of_times(default_project, tmp_path):
    smoke = step_named(default_project / ".github" / "workflows" / "deploy.yml", "Smoke-test")
    env = {**smoke["env"], "APP_URL": "http://app.example/"}
    calls = tmp_path / "calls"
    failing = f'echo "$@" >> {calls}; exit 22'
    result = run_script(smoke["run"], env, {"curl": failing}, tmp_path)
    assert result.returncode != 0
    attempts = calls.read_text().splitlines()
    assert len(attempts) == int(re.search(r"attempts=(\d+)", smoke["run"])[1]) <= 100
    assert attempts[0].endswith("http://app.example/health")
    calls.unlink()
    healthy_on_third = (
        f'echo "$@" >> {calls}; [ "$(wc -l < {calls})" -ge 3 ] && echo healthy || exit 22'
    )
    result = run_script(smoke["run"], env, {"curl": healthy_on_third}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Healthy after 3 attempt(s)" in result.stdout


@pytest.mark.parametrize(
    ("statuses", "succeeds"),
    [
        (["None"], True),
        (["Pending", "InProgress", "Successful"], True),
        (["InProgress", "Failed"], False),
        (["InProgress", "RollbackSuccessful"], False),
    ],
)
def test_the_deploy_waits_for_the_instance_refresh(default_project, tmp_path, statuses, succeeds):
    wait = step_named(default_project / ".github" / "workflows" / "deploy.yml", "Wait for")
    script = tmp_path / "statuses"
    script.write_text("\n".join(statuses) + "\n")
    aws = f"head -n 1 {script}; sed -i 1d {script}"
    result = run_script(
        wait["run"],
        {"GROUP": "visit-counter-dev-asg", "REGION": "ap-south-1"},
        {"aws": aws},
        tmp_path,
    )
    assert (result.returncode == 0) == succeeds, result.stdout + result.stderr


def test_template_ci_runs_the_suite_and_one_job_per_variant():
    ci = load(TEMPLATE_CI)
    assert set(ci["on"]) == {"push", "pull_request"}
    runs = [step.get("run", "") for _, step in steps_of(TEMPLATE_CI)]
    assert "bash .ci/run" in runs
    lister_id, lister = next(
        (job_id, job)
        for job_id, job in ci["jobs"].items()
        if any("python tests/variants.py" in step.get("run", "") for step in job.get("steps", []))
    )
    matrix_jobs = [job for job in ci["jobs"].values() if "strategy" in job]
    assert len(matrix_jobs) == 1
    job = matrix_jobs[0]
    assert job["needs"] == lister_id
    assert job["strategy"]["fail-fast"] is False
    assert "names" in lister["outputs"]
    assert job["strategy"]["matrix"]["variant"] == (
        "${{ fromJSON(needs." + lister_id + ".outputs.names) }}"
    )
    step = job["steps"][-1]
    assert step["env"]["VARIANT"] == "${{ matrix.variant }}"
    node_id = re.search(r'"(tests/test_variants\.py::[^"]+)"', step["run"])[1]
    assert step["run"].startswith("make install && .venv/bin/python -m pytest")

    printed = subprocess.run(
        [sys.executable, "tests/variants.py"],
        cwd=TEMPLATE_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert json.loads(printed) == sorted(VARIANTS)
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-o",
            "addopts=",
            "-p",
            "no:cacheprovider",
            "tests/test_variants.py",
        ],
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    node_ids = {line for line in collected.stdout.splitlines() if "::" in line}
    # Each variant's node id names exactly one collected test.
    assert node_ids == {node_id.replace("$VARIANT", name) for name in VARIANTS}, collected.stdout


def fake_infra(tmp_path: Path, outputs: dict | None) -> dict[str, str]:
    """A `.venv/bin/python` whose `-m infra outputs --json` prints `outputs` (None: none)."""
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    if outputs is None:
        python.write_text(
            "#!/usr/bin/env bash\necho 'Error: stack dev is not deployed' >&2\nexit 1\n"
        )
    else:
        python.write_text(f"#!/usr/bin/env bash\ncat <<'JSON'\n{json.dumps(outputs)}\nJSON\n")
    python.chmod(0o755)
    (tmp_path / "github_output").write_text("")
    return {
        "STACK": "dev",
        "IMAGE_TAG": "abc123",
        "LOCAL_IMAGE": "visit-counter:abc123",
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
    }


DEPLOYED = {
    "app_url": "http://visit-counter-dev-alb-1.ap-south-1.elb.amazonaws.com",
    "ecr_repository_uri": "123456789012.dkr.ecr.ap-south-1.amazonaws.com/visit-counter-dev-app",
    "autoscaling_group_name": "visit-counter-dev-asg",
    "aws_region": "ap-south-1",
}


@pytest.mark.skipif(
    shutil.which("jq") is None, reason="jq is not installed (GitHub's runners have it)"
)
@pytest.mark.parametrize("deployed", [True, False], ids=["update", "first-deploy"])
def test_the_image_is_pushed_before_apply_unless_apply_creates_its_repository(
    default_project, tmp_path, deployed
):
    deploy = default_project / ".github" / "workflows" / "deploy.yml"
    names = [step.get("name", "") for _, step in steps_of(deploy)]
    early, apply, late = (
        names.index(step_named(deploy, prefix)["name"])
        for prefix in ("Push the image, if", "Apply", "Push the image to the repository")
    )
    assert early < apply < late
    assert step_named(deploy, "Push the image to the repository")["if"] == (
        "steps.early-push.outputs.pushed != 'true'"
    )
    env = fake_infra(tmp_path, DEPLOYED if deployed else None)
    docker = f'echo "$@" >> {tmp_path / "docker_calls"}'
    result = run_script(
        step_named(deploy, "Push the image, if")["run"], env, {"docker": docker}, tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pushed = (tmp_path / "docker_calls").read_text() if deployed else ""
    assert (f"push {DEPLOYED['ecr_repository_uri']}:abc123" in pushed) == deployed
    assert ("pushed=true" in (tmp_path / "github_output").read_text()) == deployed


@pytest.mark.skipif(
    shutil.which("jq") is None, reason="jq is not installed (GitHub's runners have it)"
)
def test_the_stack_outputs_are_checked_before_they_become_step_outputs(default_project, tmp_path):
    read = step_named(default_project / ".github" / "workflows" / "deploy.yml", "Read the stack")
    env = fake_infra(tmp_path, DEPLOYED)
    result = run_script(read["run"], env, {}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    written = (tmp_path / "github_output").read_text().splitlines()
    assert written == [f"{key}={value}" for key, value in DEPLOYED.items()]
    for key, bad in (
        ("app_url", "http://x\nenv=evil"),
        ("autoscaling_group_name", ""),
        ("ecr_repository_uri", None),
    ):
        env = fake_infra(tmp_path, {**DEPLOYED, key: bad})
        result = run_script(read["run"], env, {}, tmp_path)
        assert result.returncode != 0, key
        assert f"no usable {key}" in result.stdout


def test_every_run_script_passes_shellcheck(default_project, arm_project):
    for path in every_workflow(default_project, arm_project):
        for job_id, step in steps_of(path):
            if "run" in step:
                result = run_tool("shellcheck", "--shell=bash", "-", input=step["run"])
                assert result.returncode == 0, f"{path.name}: {job_id}: {result.stdout}"
