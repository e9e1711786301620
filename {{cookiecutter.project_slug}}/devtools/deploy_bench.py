"""Deploy measurements on moto in this process: API calls and parallelism of apply.

    python -m devtools.deploy_bench

Prints a Markdown table and writes it into BENCHMARKS.md between the markers
`<!-- deploy-bench:start -->` and `<!-- deploy-bench:end -->`, leaving the rest of the
file alone. No AWS account: dummy credentials, moto intercepts every call. Like
`make deploy-local`, it deploys stack.toml without the settings moto cannot stand in for.

1. API calls of a first apply, of an apply with nothing to do, and of a plan; the last two
   should make no mutating call (the lock's PutParameter/DeleteParameter would count).
2. Parallelism: the waits for the database, the load balancer and the instances get fixed
   simulated durations. Run one after another they would make the apply last their sum;
   built in parallel, it lasts about the longest of them (target: within 1.2x).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from devtools import benchmarks_file
from devtools.emulated_aws import emulated_aws, without_account_only_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Simulated time each branch waits for AWS, in about real AWS's proportions (the database
# takes 5 to 15 minutes, the load balancer about 3, instances 1 to 2). Long enough that
# moto's own second of API calls does not hide what the waits add.
BRANCH_SECONDS = {"database": 8.0, "load balancer": 4.0, "instances": 2.0}
TARGET_RATIO = 1.2


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


def measure() -> dict:
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
        f"Measured {datetime.date.today().isoformat()} on moto in one process "
        f"({os.cpu_count()} CPUs). Re-run the command to refresh this section.",
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
    ]
    return "\n".join(lines)


def main() -> int:
    results = measure()
    body = render(results)
    print(body)
    benchmarks_file.write_section("deploy-bench", body)
    print(f"\nWrote the deploy section of {benchmarks_file.PATH}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
