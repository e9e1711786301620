"""Deploy measurements on moto: API calls, parallelism of apply, a plan at a region's latency.

    python -m devtools.deploy_bench [--delay-ms 150] [--runs 3] [--output BENCHMARKS.md]

Prints Markdown tables and writes them into BENCHMARKS.md between the markers
`<!-- deploy-bench:start -->` and `<!-- deploy-bench:end -->`, leaving the rest of the
file alone. No AWS account: dummy credentials, and every call goes to moto, in this process
or as moto_server on 127.0.0.1. Like `make deploy-local`, it deploys stack.toml without the
settings moto cannot stand in for.

1. API calls of a first apply, of an apply with nothing to do, and of a plan; the last two
   should make no mutating call (the lock's PutParameter/DeleteParameter would count).
2. Parallelism: the waits for the database, the load balancer and the instances get fixed
   simulated durations. Run one after another they would make the apply last their sum;
   built in parallel, it lasts about the longest of them (target: within 1.2x).
3. Latency: moto_server answers in about a millisecond, a real region from a laptop in about
   150 ms. devtools/latency_proxy.py adds that delay to every call; a no-change
   `python -m infra plan` through it should take at most 3 s (issue #13). The proxy also
   counts the calls of a first apply, a no-change plan and a destroy, each to be at most
   what Terraform needed for the default stack of issue #13 (TERRAFORM_CALLS).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from devtools import benchmarks_file
from devtools.emulated_aws import (
    FAKE_ENVIRONMENT,
    REMOVED_ENVIRONMENT,
    emulated_aws,
    without_account_only_settings,
)
from devtools.latency_proxy import LatencyProxy
from devtools.moto_server import command as moto_server_command
from devtools.moto_server import environment as moto_server_environment
from devtools.processes import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Simulated time each branch waits for AWS, in about real AWS's proportions (the database
# takes 5 to 15 minutes, the load balancer about 3, instances 1 to 2). Long enough that
# moto's own second of API calls does not hide what the waits add.
BRANCH_SECONDS = {"database": 8.0, "load balancer": 4.0, "instances": 2.0}
TARGET_RATIO = 1.2
# A real region's round trip from a laptop, and how long a no-change plan may take at it.
DELAY_SECONDS = 0.150
PLAN_TARGET_SECONDS = 3.0
# The API calls Terraform (AWS provider 5.100) made for the default stack as it was in
# issue #13, "Plan at real-world latency". Not measured here.
TERRAFORM_CALLS = {"first apply": 178, "plan, no changes": 68, "destroy": 145}
HOST = "127.0.0.1"
# Anything that would not go to AWS_ENDPOINT_URL goes to this closed port, not the internet.
NOWHERE = f"http://{HOST}:9"
DELETION_PROTECTION = re.compile(r"(?m)^(\s*db_deletion_protection\s*=\s*)true\b")


class Recorder:
    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, _service: str, operation: str, _params: dict) -> None:
        self.calls.append(operation)

    def take(self) -> tuple[int, int]:
        from infra.aws import is_mutating

        total, mutating = len(self.calls), sum(is_mutating(op) for op in self.calls)
        self.calls.clear()
        return total, mutating


def run(config: Path, *args: str) -> int:
    from infra import cli

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return cli.main([*args, "--config", str(config)])


@contextlib.contextmanager
def simulated_waits() -> Iterator[None]:
    """The database, load balancer and instance waits take BRANCH_SECONDS each."""
    from infra import engine
    from infra.resources.app.instances import AutoScalingGroup
    from infra.resources.shared.addresses import DB_INSTANCE, LOAD_BALANCER

    original_wait = engine.Context.wait
    original_group_create = AutoScalingGroup.create

    def wait(self, address, verb, done, *args, **kwargs):
        if verb == "creating" and address == DB_INSTANCE:
            time.sleep(BRANCH_SECONDS["database"])
        elif verb == "creating" and address == LOAD_BALANCER:
            time.sleep(BRANCH_SECONDS["load balancer"])
        return original_wait(self, address, verb, done, *args, **kwargs)

    def group_create(self, ctx, desired):
        original_group_create(self, ctx, desired)
        time.sleep(BRANCH_SECONDS["instances"])  # the first instances booting

    engine.Context.wait = wait
    AutoScalingGroup.create = group_create
    try:
        yield
    finally:
        engine.Context.wait = original_wait
        AutoScalingGroup.create = original_group_create


@contextlib.contextmanager
def certificates_issued_at_once() -> Iterator[None]:
    """moto issues a certificate 60 s after it was requested; at once here, as in
    `make deploy-local`: there is no DNS to validate it through."""
    from moto import settings

    saved = settings.ACM_VALIDATION_WAIT
    settings.ACM_VALIDATION_WAIT = 0
    try:
        yield
    finally:
        settings.ACM_VALIDATION_WAIT = saved


def emulator_config(path: Path) -> list[str]:
    """Write the project's stack.toml for the emulator to ``path``; the settings left out."""
    text, left_out = without_account_only_settings(
        (PROJECT_ROOT / "stack.toml").read_text(encoding="utf-8")
    )
    path.write_text(text, encoding="utf-8")
    return left_out


def timed_first_apply(directory: Path, waits: bool) -> float:
    config = directory / f"stack-{'waits' if waits else 'plain'}.toml"
    emulator_config(config)
    with (
        emulated_aws(),
        certificates_issued_at_once(),
        simulated_waits() if waits else contextlib.nullcontext(),
    ):
        started = time.monotonic()
        code = run(config, "apply", "--auto-approve")
        elapsed = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"apply failed with exit code {code}")
    return elapsed


@contextlib.contextmanager
def moto_server(directory: Path) -> Iterator[str]:
    """moto_server in its own process on a free loopback port: its URL; stopped after."""
    url = f"http://{HOST}:{free_port(HOST)}"
    log = directory / "moto_server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            moto_server_command(HOST, url.rpartition(":")[2]),
            env=moto_server_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=directory,
        )
    try:
        deadline = time.monotonic() + 30
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"moto_server did not start: {log.read_text()[-500:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):  # noqa: S310 - loopback
            return True
    except (urllib.error.URLError, OSError):
        return False


def tool_environment(endpoint: str) -> dict[str, str]:
    """This environment without AWS or proxy settings of its own: dummy credentials, and
    `endpoint` the only address the deploy tool can reach."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_")
        and key not in REMOVED_ENVIRONMENT
        and not key.lower().endswith("_proxy")
    }
    env.update(FAKE_ENVIRONMENT)
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        HTTP_PROXY=NOWHERE,
        HTTPS_PROXY=NOWHERE,
        NO_PROXY=f"{HOST},localhost",
    )
    return env


def infra_command(env: dict[str, str], config: Path, *args: str, expected: int = 0) -> float:
    """Run `python -m infra ARGS` as a user does, in its own process: its wall time."""
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "infra", *args, "--config", str(config)],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    if result.returncode != expected:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
        raise SystemExit(
            f"python -m infra {' '.join(args)}: exit code {result.returncode}, expected "
            f"{expected}: {last[0] if last else 'no output'}"
        )
    return elapsed


def measure_latency(directory: Path, delay: float, runs: int) -> dict:
    """On moto_server behind the latency proxy: the plan's time at `delay` and at none, and
    the calls of a first apply, a no-change plan and a destroy (applied without the delay)."""
    config = directory / "stack-server.toml"
    emulator_config(config)
    # The destroy must be able to delete what the apply made.
    text, protected = DELETION_PROTECTION.subn(r"\1false", config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")
    results: dict = {"delay": delay, "runs": runs, "calls": {}, "protection off": protected > 0}
    with moto_server(directory) as target, LatencyProxy(target, delay_seconds=0.0) as proxy:
        env = tool_environment(proxy.url)
        infra_command(env, config, "apply", "--auto-approve")
        results["calls"]["first apply"] = proxy.take().total()
        # Alternately without and with the delay, so that other work on the machine slows
        # both about alike; the difference is what the delay cost.
        plans: dict[float, list[tuple[float, collections.Counter[str]]]] = {0.0: [], delay: []}
        load = os.getloadavg()[0]
        for _ in range(runs):
            for seconds in plans:
                proxy.delay_seconds = seconds
                plans[seconds].append((infra_command(env, config, "plan"), proxy.take()))
        results["load"] = max(load, os.getloadavg()[0])
        proxy.delay_seconds = 0.0
        infra_command(env, config, "destroy", "--auto-approve")
        results["calls"]["destroy"] = proxy.take().total()
    delayed_times = [elapsed for elapsed, _ in plans[delay]]
    most = max((calls for _, calls in plans[delay]), key=lambda counter: counter.total())
    results["calls"]["plan, no changes"] = most.total()
    results["plan operations"] = most
    results["plan seconds"] = statistics.median(delayed_times)
    results["plan seconds all"] = delayed_times
    results["plan seconds without delay"] = statistics.median([t for t, _ in plans[0.0]])
    return results


def measure(delay: float = DELAY_SECONDS, runs: int = 3) -> dict:
    from infra import aws

    results: dict = {}
    recorder = Recorder()
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        config = directory / "stack.toml"
        results["left out"] = emulator_config(config)
        aws.call_observers.append(recorder)
        try:
            with emulated_aws(), certificates_issued_at_once():
                steps = (
                    ("first apply", ("apply", "--auto-approve"), 0),
                    ("apply, no changes", ("apply", "--auto-approve"), 0),
                    ("plan, no changes", ("plan",), 0),
                )
                for label, args, expected in steps:
                    code = run(config, *args)
                    if code != expected:
                        raise SystemExit(f"{label}: exit code {code}, expected {expected}")
                    results[label] = recorder.take()
        finally:
            aws.call_observers.remove(recorder)
        # Once without the simulated waits (moto's own time), once with them.
        timed_first_apply(directory, waits=False)  # warm-up: imports, client creation
        plain = min(timed_first_apply(directory, waits=False) for _ in range(2))
        waited = timed_first_apply(directory, waits=True)
        results["latency"] = measure_latency(directory, delay, runs)
    longest, total = max(BRANCH_SECONDS.values()), sum(BRANCH_SECONDS.values())
    added = waited - plain
    results["parallel"] = {
        "plain": plain,
        "waited": waited,
        "added": added,
        "longest": longest,
        "sum": total,
        "ratio": waited / longest,
    }
    return results


def render(results: dict) -> str:
    p = results["parallel"]
    branches = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in BRANCH_SECONDS.items())
    verdict = "met" if p["ratio"] <= TARGET_RATIO else "NOT met"
    lines = [
        "## Deploy tool (`python -m devtools.deploy_bench`)",
        "",
        f"Measured {datetime.date.today().isoformat()} on moto ({os.cpu_count()} CPUs): in "
        "one process, then as moto_server. Re-run the command to refresh this section.",
        "",
    ]
    if results["left out"]:
        left_out = ", ".join(f"`{key}`" for key in results["left out"])
        lines += [f"Left out of stack.toml, as moto cannot stand in for them: {left_out}.", ""]
    lines += [
        "| Measurement | API calls | Mutating calls | Target |",
        "| --- | ---: | ---: | --- |",
    ]
    targets = {
        "first apply": "-",
        "apply, no changes": "0 mutating",
        "plan, no changes": "0 mutating",
    }
    for label in ("first apply", "apply, no changes", "plan, no changes"):
        total, mutating = results[label]
        lines.append(f"| {label} | {total} | {mutating} | {targets[label]} |")
    lines += [
        "",
        f"Parallelism of a first apply, with simulated waits ({branches}):",
        "",
        "| Measurement | Seconds |",
        "| --- | ---: |",
        f"| longest branch | {p['longest']:.2f} |",
        f"| sum of the branches (a sequential apply would wait this long) | {p['sum']:.2f} |",
        f"| apply with the simulated waits (wall time) | {p['waited']:.2f} |",
        f"| **wall time / longest branch** | **{p['ratio']:.2f}x** (target <= {TARGET_RATIO}x: "
        f"{verdict}) |",
        f"| apply without the simulated waits (moto's own time) | {p['plain']:.2f} |",
        f"| time the waits added / longest branch | {p['added'] / p['longest']:.2f}x |",
        *render_latency(results),
    ]
    return "\n".join(lines)


def render_latency(results: dict) -> list[str]:
    latency = results["latency"]
    delay_ms, runs = round(latency["delay"] * 1000), latency["runs"]
    seconds, idle = latency["plan seconds"], latency["plan seconds without delay"]
    calls = latency["calls"]
    plan_verdict = "met" if seconds <= PLAN_TARGET_SECONDS else "NOT met"
    if latency["delay"] != DELAY_SECONDS:
        plan_verdict = f"set for {DELAY_SECONDS * 1000:.0f} ms per call, not measured here"
    times = ", ".join(f"{t:.2f}" for t in latency["plan seconds all"])
    lines = [
        "",
        f"### At a real region's latency: {delay_ms} ms per call",
        "",
        f"moto_server on {HOST}, behind `devtools/latency_proxy.py`, which waits {delay_ms} ms "
        "before it forwards each call (a real region's round trip from a laptop). Every "
        "command runs as `python -m infra ...` in its own process, as a user runs it, and "
        "the proxy counts its calls; the apply and the destroy run without the delay."
        + (
            " The stack is applied with `db_deletion_protection = false`, so that it can be "
            "destroyed."
            if latency["protection off"]
            else ""
        ),
        "",
        "| Measurement | Value |",
        "| --- | ---: |",
        f"| **no-change `plan`, wall time at {delay_ms} ms per call** (median of {runs}: "
        f"{times} s) | **{seconds:.2f} s** (target <= {PLAN_TARGET_SECONDS:.0f} s: "
        f"{plan_verdict}) |",
        f"| the same plan at 0 ms per call (start-up, imports, moto's own time) | {idle:.2f} s |",
        f"| calls it made | {calls['plan, no changes']} |",
        f"| calls it waited for one after another: (wall time - time at 0 ms) / {delay_ms} ms "
        f"| {(seconds - idle) / latency['delay']:.1f} |",
        f"| load average while the plans ran (other work slows them) | {latency['load']:.1f} "
        f"on {os.cpu_count()} CPUs |",
        "",
        "| Command | API calls | Terraform | At most Terraform's |",
        "| --- | ---: | ---: | --- |",
    ]
    for label in ("first apply", "plan, no changes", "destroy"):
        ours, theirs = calls[label], TERRAFORM_CALLS[label]
        verdict = "met" if ours <= theirs else f"NOT met (+{ours - theirs})"
        lines.append(f"| `{label}` | {ours} | {theirs} | {verdict} |")
    lines += [
        "",
        "Terraform's counts are those of issue #13 (Plan at real-world latency): "
        "Terraform with the AWS provider 5.100 on the default stack as it was then. They are "
        "not measured here. The stack has since gained resources Terraform would read as well "
        "(the network ACL, the ECR lifecycle policy, the database's two log groups, the target "
        "group's attributes: 7 of our no-change plan's calls), and a stack with other options "
        "has other resources.",
        "",
        "Calls of the no-change plan, most first: "
        + ", ".join(
            f"`{name}` {count}"
            for name, count in sorted(
                latency["plan operations"].items(), key=lambda item: (-item[1], item[0])
            )
        )
        + ".",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--delay-ms",
        type=int,
        default=round(DELAY_SECONDS * 1000),
        help="what the proxy adds to every call of the timed plan",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed plans at each delay")
    parser.add_argument(
        "--output",
        type=Path,
        default=benchmarks_file.PATH,
        help="the file whose deploy section this run replaces",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.delay_ms <= 2000:
        parser.error("--delay-ms must be between 1 and 2000")
    if not 1 <= args.runs <= 9:
        parser.error("--runs must be between 1 and 9")
    results = measure(args.delay_ms / 1000, args.runs)
    body = render(results)
    print(body)
    benchmarks_file.write_section("deploy-bench", body, args.output)
    print(f"\nWrote the deploy section of {args.output}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
