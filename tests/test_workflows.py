"""The GitHub Actions workflows: the generated project's CI, deploy and destroy, and the
template's own CI. They pass GitHub's workflow schema and zizmor with no findings, keep their
`${{ }}` expressions through baking, and give each job no more than it needs."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from helpers import (
    TEMPLATE_ROOT,
    TOOLS,
    bake_ok,
    load_workflow,
    run_tool,
    steps_of,
    workflow_files,
)
from packaging.requirements import Requirement
from variants import VARIANTS

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
# The jobs that can get AWS credentials, and all that they may install: the deploy tool's
# dependencies (boto3 and what it needs), uv.lock's `deploy` group with its hashes, never the
# dev tools. uv, in a venv of its own, only writes that group out for pip.
CREDENTIAL_JOBS = [("deploy.yml", "deploy"), ("destroy.yml", "destroy")]
DEPLOY_REQUIREMENTS = "requirements-deploy.txt"
UV_VENV = '"$RUNNER_TEMP/uv/bin/'
DEPLOY_PACKAGES = {
    "boto3",
    "botocore",
    "jmespath",
    "python-dateutil",
    "s3transfer",
    "six",
    "urllib3",
}
DEPLOY_INSTALL_FLAGS = {"--require-hashes", "--no-deps", "--only-binary=:all:"}
HASHED_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?: --hash=sha256:[0-9a-f]{64})+)")


@pytest.fixture(scope="module")
def default_project(cookies_session) -> Path:
    return bake_ok(cookies_session).project_path


@pytest.fixture(scope="module")
def arm_project(cookies_session) -> Path:
    return bake_ok(cookies_session, **ARM_ANSWERS).project_path


def every_workflow(*projects: Path) -> list[Path]:
    return [TEMPLATE_CI] + [path for project in projects for path in workflow_files(project)]


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
    assert sorted(ecosystems) == ["docker", "github-actions", "uv"]
    root = yaml.safe_load((TEMPLATE_GITHUB / "dependabot.yml").read_text())["updates"]
    assert sorted(update["package-ecosystem"] for update in root) == ["github-actions", "uv"]


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
    ci = load_workflow(workflows / "ci.yml")
    assert ci["jobs"]["test"]["services"]["postgres"]["image"] == "postgres:17"
    deploy = load_workflow(workflows / "deploy.yml")
    assert deploy["on"]["workflow_dispatch"]["inputs"]["stack"]["default"] == "prod"
    assert deploy["jobs"]["deploy"]["environment"]["name"] == "${{ inputs.stack || 'prod' }}"
    smoke = step_named(workflows / "deploy.yml", "Smoke-test")
    assert smoke["env"]["HEALTH_PATH"] == "/healthz"
    destroy = load_workflow(workflows / "destroy.yml")
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
        document = load_workflow(path)
        assert document["permissions"] == {}, path.name
        for job_id, job in document["jobs"].items():
            if "uses" in job:  # a reusable workflow call: its own jobs carry the timeouts
                continue
            assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: {job_id}"


def test_only_the_deploy_and_destroy_jobs_can_get_an_oidc_token(default_project, arm_project):
    with_token = set()
    for path in every_workflow(default_project, arm_project):
        for job_id, job in load_workflow(path)["jobs"].items():
            permissions = job.get("permissions", {})
            assert set(permissions.values()) <= {"read", "write"}, f"{path.name}: {job_id}"
            writes = {scope for scope, level in permissions.items() if level == "write"}
            assert writes <= {"id-token"}, f"{path.name}: {job_id} writes {writes}"
            if writes:
                with_token.add((path.name, job_id))
    assert with_token == {("deploy.yml", "deploy"), ("destroy.yml", "destroy")}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def shell_lines(script: str) -> list[str]:
    """A `run:` script's lines, with backslash continuations joined and comments left out."""
    lines = script.replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def locked(lock: Path) -> dict[tuple[str, str], set[str]]:
    """uv.lock's packages from the index: (name, version) and the sha256 of each file. A name
    can have two versions, each for its own Python versions."""
    packages = {}
    for package in tomllib.loads(lock.read_text())["package"]:
        if "registry" not in package["source"]:
            continue  # the project itself
        files = [*package.get("wheels", []), *filter(None, [package.get("sdist")])]
        assert all(file["hash"].startswith("sha256:") for file in files), package["name"]
        hashes = {file["hash"].removeprefix("sha256:") for file in files}
        packages[package["name"], package["version"]] = hashes
    return packages


def install_step(project: Path, workflow: str) -> dict:
    return step_named(project / ".github" / "workflows" / workflow, "Install the deploy tool")


def deploy_requirements(project: Path, tmp_path: Path) -> dict[str, tuple[str, list[str]]]:
    """`package: (version, sha256 hashes)` for each entry of the requirements file that the
    deploy job's own `uv export` line writes from the project's uv.lock."""
    (tmp_path / "uv" / "bin").mkdir(parents=True, exist_ok=True)
    (tmp_path / "uv" / "bin" / "uv").unlink(missing_ok=True)
    (tmp_path / "uv" / "bin" / "uv").symlink_to(TOOLS / "uv")
    lines = shell_lines(install_step(project, "deploy.yml")["run"])
    export = [line for line in lines if " export " in line]
    assert len(export) == 1, export
    subprocess.run(
        ["bash", "-euc", export[0]],
        cwd=project,
        env={**os.environ, "RUNNER_TEMP": str(tmp_path)},
        check=True,
        capture_output=True,
    )
    entries = {}
    # Every line that is not a comment is a pin with its hashes: no option can send pip to
    # another index or a local folder, or pull in another file.
    for line in shell_lines((project / DEPLOY_REQUIREMENTS).read_text()):
        line = " ".join(line.split())
        match = HASHED_PIN.fullmatch(line)
        assert match, f"{DEPLOY_REQUIREMENTS}: not an exact pin with sha256 hashes: {line}"
        package = canonical(match[1])
        assert package not in entries, f"{DEPLOY_REQUIREMENTS}: {package} twice"
        entries[package] = (match[2], re.findall(r"sha256:([0-9a-f]{64})", match[3]))
    return entries


def test_jobs_with_aws_credentials_install_only_the_hash_locked_deploy_requirements(
    default_project, arm_project
):
    for project in (default_project, arm_project):
        for name, job_id in CREDENTIAL_JOBS:
            steps = load_workflow(project / ".github" / "workflows" / name)["jobs"][job_id]["steps"]
            where = f"{project.name}/{name}: {job_id}"
            lines = [line for step in steps for line in shell_lines(step.get("run", ""))]
            for line in lines:
                # No make target (`make install` brings every dev tool), no uv sync of the
                # default groups, no dev group.
                assert not re.search(r"(^|[;&|(]\s*)make\b", line), f"{where}: {line}"
                assert not re.search(r"/uv (sync|run|pip)\b", line), f"{where}: {line}"
                assert "--group dev" not in line and "--all-groups" not in line, f"{where}: {line}"
            pip_installs = [line for line in lines if re.search(r"\bpip3?\b.*\binstall\b", line)]
            # uv, pinned, into a venv of its own outside the checkout; then the deploy group.
            uv_installs = [line for line in pip_installs if line.startswith(UV_VENV)]
            assert len(uv_installs) == 1, f"{where}: {pip_installs}"
            assert re.search(r" uv==\d+\.\d+\.\d+$", uv_installs[0]), f"{where}: {uv_installs}"
            installs = [line for line in pip_installs if line not in uv_installs]
            assert len(installs) == 1, f"{where}: one pip install into .venv, not {installs}"
            command = shlex.split(installs[0])
            # The fresh venv's own pip; nothing but the hash-locked file, nothing built from source.
            assert command[:4] == [".venv/bin/python", "-m", "pip", "install"], where
            options = set(command[4:])
            assert options >= DEPLOY_INSTALL_FLAGS, f"{where}: {installs[0]}"
            assert command[command.index("-r") + 1] == DEPLOY_REQUIREMENTS, where
            allowed = {*DEPLOY_INSTALL_FLAGS, "-r", DEPLOY_REQUIREMENTS}
            allowed |= {"--disable-pip-version-check", "--no-input"}
            assert options <= allowed, f"{where}: review these pip options: {options - allowed}"
            install_step = next(
                index
                for index, step in enumerate(steps)
                if installs[0] in shell_lines(step.get("run", ""))
            )
            assert "python -m venv .venv" in shell_lines(steps[install_step]["run"]), where
            credentials = next(
                index
                for index, step in enumerate(steps)
                if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
            )
            assert install_step < credentials, f"{where}: install before there are credentials"
            # The deploy tool runs with that venv's Python and no other.
            infra_calls = [
                line for line in lines if "-m infra" in line and not line.startswith("echo ")
            ]
            assert infra_calls, where
            for line in infra_calls:
                assert re.search(r"(^|[\s(!])\.venv/bin/python -m infra ", line), f"{where}: {line}"
    destroy = step_named(default_project / ".github" / "workflows" / "destroy.yml", "Destroy the")
    assert destroy["run"] == '.venv/bin/python -m infra destroy --auto-approve --stack "$STACK"'


def test_the_deploy_requirements_are_hash_locked_at_the_projects_pins(default_project, tmp_path):
    entries = deploy_requirements(default_project, tmp_path)
    assert set(entries) == DEPLOY_PACKAGES
    pins = locked(default_project / "uv.lock")
    for package, (version, hashes) in entries.items():
        assert (package, version) in pins, package
        assert hashes and len(set(hashes)) == len(hashes), package
        assert set(hashes) == pins[package, version], package


def test_the_lock_is_the_projects_whatever_its_name(cookies_session, tmp_path):
    """uv.lock names the project once, by its Jinja tag: every bake's lock is its own and up to
    date (`uv lock --check` fails on a lock that another project's name or stale groups made)."""
    for slug in ("visit-counter", "the-shop-2"):
        project = bake_ok(cookies_session, project_slug=slug).project_path
        result = subprocess.run(
            [str(TOOLS / "uv"), "lock", "--check", "--offline"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "unused")},
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_template_environment_holds_the_generated_projects_locked_versions(default_project):
    """The template's tests run each baked project in the template's environment, so its
    uv.lock must pin every package of the generated project's at the same version."""
    generated = locked(default_project / "uv.lock")
    template = locked(TEMPLATE_ROOT / "uv.lock")
    missing = sorted(pin for pin in generated if pin not in template)
    assert missing == [], "not in the template's uv.lock: set the same pins, then `make lock`"


def test_the_deploy_requirements_are_exactly_what_boto3_needs(default_project, tmp_path):
    """boto3's dependencies, followed through the installed metadata of these same versions."""
    entries = deploy_requirements(default_project, tmp_path)
    for package, (version, _) in entries.items():
        assert metadata.version(package) == version, f"{package}: the template's venv is stale"
    needed, todo = set(), ["boto3"]
    while todo:
        package = canonical(todo.pop())
        if package not in needed:
            needed.add(package)
            for spec in metadata.requires(package) or []:
                requirement = Requirement(spec)
                if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                    todo.append(requirement.name)
    assert needed == set(entries) == DEPLOY_PACKAGES


# Imports every module of the deploy tool, then runs `python -m infra --help`, with the stdlib
# and the deploy requirements' own modules importable and nothing else.
ONLY_THE_DEPLOY_PACKAGES = """
import importlib, importlib.abc, importlib.machinery, pkgutil, runpy, sys, sysconfig
site_packages = sysconfig.get_paths()["purelib"]
allowed = set(sys.argv[1].split(","))

class OnlyTheDeployPackages(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if "." in name or name in allowed:
            return None  # a submodule of a module already let in, or one of the deploy packages
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        places = [spec.origin or "", *(spec.submodule_search_locations or [])] if spec else []
        if any(place.startswith(site_packages) for place in places):
            raise ModuleNotFoundError(f"{name} is not in requirements-deploy.txt", name=name)

sys.meta_path.insert(0, OnlyTheDeployPackages())
sys.path.append(site_packages)
import infra
for module in pkgutil.walk_packages(infra.__path__, "infra."):
    if module.name != "infra.__main__":
        importlib.import_module(module.name)
sys.argv = ["infra", "--help"]
runpy.run_module("infra", run_name="__main__", alter_sys=True)
"""


def test_the_deploy_tool_needs_nothing_but_the_deploy_requirements(default_project):
    modules = {
        top
        for top, distributions in metadata.packages_distributions().items()
        if {canonical(distribution) for distribution in distributions} & DEPLOY_PACKAGES
    }
    assert {"boto3", "botocore", "dateutil", "jmespath", "s3transfer", "six", "urllib3"} <= modules
    result = subprocess.run(
        # -S: no site-packages and no .pth files; the script adds site-packages itself, behind
        # a finder that refuses every module there that requirements-deploy.txt does not install.
        [sys.executable, "-S", "-c", ONLY_THE_DEPLOY_PACKAGES, ",".join(sorted(modules))],
        cwd=default_project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("usage: python -m infra"), result.stdout


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
    assert "workflow_call" in load_workflow(workflows / "ci.yml")["on"]
    deploy = load_workflow(workflows / "deploy.yml")
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
    destroy = load_workflow(workflows / "destroy.yml")
    assert destroy["concurrency"]["group"] == "stack-${{ inputs.stack }}"
    assert destroy["concurrency"]["cancel-in-progress"] is False


def test_destroy_refuses_unless_the_stack_name_is_typed(default_project, tmp_path):
    workflows = default_project / ".github" / "workflows"
    destroy = load_workflow(workflows / "destroy.yml")
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


def test_ci_runs_the_built_image_and_a_compose_smoke_test(default_project):
    ci = default_project / ".github" / "workflows" / "ci.yml"
    runs = [step.get("run", "") for step in load_workflow(ci)["jobs"]["image"]["steps"]]
    build = next(i for i, run in enumerate(runs) if run.startswith("docker build"))
    assert runs.index("make image-test") > build
    compose = step_named(ci, "Smoke-test docker compose up")["run"]
    assert "docker compose up --build --detach --wait" in compose
    assert "docker compose down --volumes" in compose


@pytest.mark.parametrize(("counts", "succeeds"), [(True, True), (False, False)])
def test_the_compose_smoke_test_fails_unless_the_page_counts(
    default_project, tmp_path, counts, succeeds
):
    ci = default_project / ".github" / "workflows" / "ci.yml"
    compose = step_named(ci, "Smoke-test docker compose up")["run"]
    calls = tmp_path / "calls"
    visits = f'echo "$@" >> {calls}; echo "Page visited $(wc -l < {calls}) times!"'
    same = 'echo "Page visited 1 times!"'
    docker = f'echo "docker $*" >> {tmp_path / "docker"}'
    result = run_script(
        compose, {}, {"curl": visits if counts else same, "docker": docker}, tmp_path
    )
    assert (result.returncode == 0) == succeeds, result.stdout + result.stderr
    # The stack is taken down whatever happened.
    assert "docker compose down --volumes" in (tmp_path / "docker").read_text()


def test_template_ci_runs_the_suite_and_one_job_per_variant():
    ci = load_workflow(TEMPLATE_CI)
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
        ("app_url", ""),
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


def test_setup_python_caches_nothing_the_project_does_not_have(default_project):
    """actions/setup-python stops the job when its cache-dependency-path matches no file
    (the requirements*.txt that uv.lock replaced, for one); uv keeps its own cache."""
    for path in workflow_files(default_project):
        for job_id, step in steps_of(path):
            if "actions/setup-python" not in step.get("uses", ""):
                continue
            inputs = step.get("with", {})
            assert "cache" not in inputs, f"{path.name}: {job_id}"
            assert "cache-dependency-path" not in inputs, f"{path.name}: {job_id}"


@pytest.mark.parametrize("where", ["template", "generated"])
def test_the_git_hooks_run_exactly_make_lints_checks(where, default_project):
    """Each pre-commit hook is one `make lint-...` target from .venv's tools, and together
    they are `make lint`: the two cannot drift apart."""
    root = {"template": TEMPLATE_ROOT, "generated": default_project}[where]
    config = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    assert {hook["language"] for hook in hooks} == {"system"}
    targets = []
    for hook in hooks:
        command = shlex.split(hook["entry"])
        assert command[:2] == ["make", "--no-print-directory"] and len(command) == 3, hook
        assert hook["pass_filenames"] is False, hook["id"]
        targets.append(command[2])
    makefile = (root / "Makefile").read_text()
    lints = re.search(r"^LINTS := (.+)$", makefile, re.MULTILINE)[1].split()
    assert re.search(r"^lint: \$\(LINTS\) ##", makefile, re.MULTILINE)
    assert sorted(targets) == sorted(lints)
