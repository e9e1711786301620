"""What `python -m devtools.bench` measured: every run, by number of clients, and the
medians and ratios the report shows. devtools/bench.py fills it, devtools/bench_report.py
renders it."""

import math
import statistics
from dataclasses import dataclass, field

WARMUP = 1.0  # unmeasured seconds before each HTTP run
BACKGROUND_WARNING_CPUS = 0.25  # other processes' CPU use that makes a run unreliable


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


def pgbench_seconds(duration: float) -> int:
    """pgbench's --time for a run of ``duration`` seconds: whole seconds, at least one."""
    return max(1, round(duration))
