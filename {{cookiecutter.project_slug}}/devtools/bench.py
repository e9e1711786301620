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

The results are printed as Markdown (devtools/bench_report.py renders them) and written to
their section of BENCHMARKS.md. Exit 1 if the app lost or failed a single request.
WEB_CONCURRENCY and GUNICORN_THREADS apply as in production, so other settings can be compared.
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import psutil  # noqa: E402 - a development dependency, like the embedded server

from devtools import bench_report, benchmarks_file, naive_counter  # noqa: E402
from devtools.bench_report import ms  # noqa: E402
from devtools.bench_results import (  # noqa: E402
    BACKGROUND_WARNING_CPUS,
    WARMUP,
    HttpRun,
    PgbenchRun,
    Results,
    pgbench_seconds,
)
from devtools.embedded_postgres import EmbeddedPostgres  # noqa: E402
from devtools.load_generator import percentile  # noqa: E402
from devtools.processes import free_port, start_gunicorn  # noqa: E402
from {{ cookiecutter.package_name }} import config, db  # noqa: E402

APP_SPEC = {{ (cookiecutter.package_name ~ ":create_app()") | python }}
NAIVE_SPEC = "devtools.naive_counter:create_app()"
APP_DATABASE = "bench_app"
NAIVE_DATABASE = "bench_naive"

DEFAULT_CLIENTS = (1, 8, 32)
DEFAULT_DURATION = 5.0  # measured seconds per run
# A round runs the app, then pgbench, back to back, and their ratio is the round's. A shared
# machine's speed drifts by 10 % or more within a minute: both runs of a round see about the
# same speed, and the median of 5 rounds leaves out an odd one.
DEFAULT_ROUNDS = 5
DEFAULT_QUIET_WAIT = 45.0  # seconds, in all, to wait for a busy machine to calm down


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(run: HttpRun) -> str:
    load = run.load
    return (
        f"{run.rate:.0f} req/s, p50 {ms(load['p50_ms'])} ms, p99 {ms(load['p99_ms'])} ms, "
        f"{load['errors_total']} errors, background {run.background_cpus:.2f} CPUs"
    )


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
# The machine
# ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def benchmark(
    workdir: Path, clients: list[int], duration: float, rounds: int, quiet_wait: float
) -> tuple:
    results = Results(clients=clients, duration=duration, rounds=rounds)
    wait_for_quiet = QuietWait(quiet_wait)
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
        with start_gunicorn(
            app_url,
            free_port(),
            workdir / "app.log",
            app_spec=APP_SPEC,
            ready_path=config.HEALTH_CHECK_PATH,  # the app creates its schema on start
        ) as app:
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

        progress("Serving the naive baseline the same way ...")
        with start_gunicorn(
            naive_url,
            free_port(),
            workdir / "naive.log",
            app_spec=NAIVE_SPEC,
            ready_path=naive_counter.READY_PATH,
        ) as naive:
            for n in clients:
                progress(f"  naive baseline, {n} clients: {WARMUP:g} + {duration:g} s ...")
                wait_for_quiet()
                run = measure_http(
                    naive.base_url + "/", naive_url, naive_counter.READ_SQL, n, duration, server.pid
                )
                results.naive.setdefault(n, []).append(run)
                progress(f"    {summary(run)}, lost {run.lost}")
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
        "--quiet-wait",
        type=float,
        default=DEFAULT_QUIET_WAIT,
        help="seconds in all to wait for other processes to leave the CPUs alone (0: never wait)",
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
    if not 0 <= args.quiet_wait <= 600:
        parser.error("--quiet-wait must be between 0 and 600 seconds")

    command = shlex.join(["python", "-m", "devtools.bench", *(argv or sys.argv[1:])])
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    started = time.monotonic()
    try:
        results, machine = benchmark(workdir, clients, args.duration, args.rounds, args.quiet_wait)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"The benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report = bench_report.render(results, machine, command)
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
