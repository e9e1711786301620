"""A small HTTP/1.1 load generator for the benchmark and the tests: keep-alive, one thread.

    python -m devtools.load_generator http://127.0.0.1:8000/ --clients 8 --duration 10
    python -m devtools.load_generator http://127.0.0.1:8000/ --clients 32 --requests 20000

Each client is one keep-alive connection that sends a request, waits for the whole response
and sends the next one (a closed loop, like wrk). One thread drives every connection through
epoll and parses responses by hand, so a request costs the generator a few tens of
microseconds of CPU; it reports that CPU time, so the benchmark can show the generator was
not the limit. It prints one JSON object. Only loopback addresses are accepted.
"""

import argparse
import json
import math
import os
import selectors
import socket
import sys
import time
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")
RECV_SIZE = 65536


class Connection:
    """One client: a socket, its unparsed bytes and when its current request was sent."""

    __slots__ = ("sock", "buffer", "sent_at")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""
        self.sent_at = 0.0


def parse_response(buffer: bytes) -> tuple[int, int, bool] | None:
    """(status, length of the whole response, server closes) once a response is complete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = buffer[:head_end].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    total = head_end + 4 + length
    if len(buffer) < total:
        return None
    return status, total, close


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (NaN if there are none)."""
    if not sorted_values:
        return math.nan
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[min(len(sorted_values), max(rank, 1)) - 1]


def run(
    url: str,
    clients: int,
    duration: float | None = None,
    requests: int | None = None,
    warmup: float = 0.0,
    timeout: float = 5.0,
) -> dict:
    """Drive ``url`` with ``clients`` connections for ``warmup + duration`` seconds, or until
    ``requests`` requests have been sent.

    Rate and latencies count only requests sent after the warm-up and answered before the
    end; ``ok_total``/``errors_total`` count every request, for exactness checks. A request
    that fails or gets no answer within ``timeout`` seconds is an error.
    """
    if (duration is None) == (requests is None):
        raise ValueError("give either a duration or a number of requests")
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if host not in LOOPBACK:
        raise ValueError(f"the load generator only targets loopback, not {host!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: bench\r\n\r\n"
    request_bytes = request.encode()

    selector = selectors.DefaultSelector()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    totals = {"sent": 0, "ok_total": 0, "errors_total": 0, "errors": 0, "completed": 0}
    reopen: list[None] = []  # connections to open again once the server accepts them

    start = time.monotonic()
    measure_from = start + warmup
    stop_at = measure_from + duration if duration is not None else math.inf
    # Requests still unanswered this long after the last one was sent count as errors.
    give_up_after = timeout

    def may_send(now: float) -> bool:
        return now < stop_at and (requests is None or totals["sent"] < requests)

    def send(conn: Connection, now: float) -> None:
        conn.sent_at = now
        totals["sent"] += 1
        conn.sock.sendall(request_bytes)  # tiny: fits the empty send buffer at once

    def open_connection(now: float) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = Connection(sock)
        selector.register(sock, selectors.EVENT_READ, conn)
        send(conn, now)

    def close(conn: Connection) -> None:
        selector.unregister(conn.sock)
        conn.sock.close()

    def error(sent_at: float) -> None:
        totals["errors_total"] += 1
        if sent_at >= measure_from:
            totals["errors"] += 1

    def failed(conn: Connection, now: float) -> None:
        error(conn.sent_at)
        close(conn)
        reopen.append(None)

    for _ in range(clients):
        reopen.append(None)

    cpu_start = os.times()
    completed_before = 0
    measuring = False
    last_scan = 0.0
    last_send = start
    while True:
        now = time.monotonic()
        if not measuring and now >= measure_from:
            measuring = True
            cpu_start = os.times()
            completed_before = totals["completed"]
        if may_send(now):
            last_send = now
            while reopen and may_send(now):
                try:
                    open_connection(now)
                except OSError:
                    totals["sent"] += 1  # an attempt that failed, so a bounded run ends
                    error(now)
                    time.sleep(0.01)  # refused: try again shortly, without spinning
                    break
                reopen.pop()
        else:
            reopen.clear()
            if not selector.get_map():
                break
        if now - last_scan > 0.1:  # requests without an answer in time are errors
            last_scan = now
            for key in list(selector.get_map().values()):
                if now - key.data.sent_at > timeout:
                    failed(key.data, now)
        if not may_send(now) and now - last_send > give_up_after:
            for key in list(selector.get_map().values()):
                failed(key.data, now)
            break
        for key, _ in selector.select(0.05):
            conn: Connection = key.data
            try:
                data = conn.sock.recv(RECV_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # the server closed or reset the connection
                failed(conn, time.monotonic())
                continue
            conn.buffer += data
            parsed = parse_response(conn.buffer)
            if parsed is None:
                continue
            status, length, server_closes = parsed
            done = time.monotonic()
            conn.buffer = conn.buffer[length:]
            totals["completed"] += 1
            if status == 200:
                totals["ok_total"] += 1
            else:
                totals["errors_total"] += 1
            if conn.sent_at >= measure_from and done <= stop_at:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append(done - conn.sent_at)
                else:
                    totals["errors"] += 1
            if server_closes or not may_send(done):
                close(conn)
                if server_closes:
                    reopen.append(None)
            else:
                send(conn, done)

    end = min(time.monotonic(), stop_at)
    cpu_end = os.times()
    seconds = max(end - measure_from, 1e-9)
    cpu = (cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system)
    measured_requests = totals["completed"] - completed_before
    latencies.sort()
    return {
        "clients": clients,
        "seconds": round(seconds, 3),
        "ok": len(latencies),
        "errors": totals["errors"],
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "requests_per_second": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else math.nan,
        "sent": totals["sent"],
        "ok_total": totals["ok_total"],
        "errors_total": totals["errors_total"],
        "cpu_seconds": round(cpu, 3),
        "cpu_us_per_request": cpu / measured_requests * 1e6 if measured_requests else math.nan,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=8)
    amount = parser.add_mutually_exclusive_group(required=True)
    amount.add_argument("--duration", type=float, help="measured seconds")
    amount.add_argument("--requests", type=int, help="requests to send in all")
    parser.add_argument("--warmup", type=float, default=0.0, help="unmeasured seconds first")
    parser.add_argument("--timeout", type=float, default=5.0, help="per request, seconds")
    args = parser.parse_args(argv)
    try:
        result = run(
            args.url, args.clients, args.duration, args.requests, args.warmup, args.timeout
        )
    except ValueError as exc:
        parser.error(str(exc))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
