"""The production server: gunicorn with gunicorn.conf.py, as in the container."""

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.processes import http_get
from {{ cookiecutter.package_name }}.config import HEALTH_CHECK_PATH


@pytest.fixture
def gunicorn(start_gunicorn):
    """gunicorn started the way the container starts it, with two workers."""
    server = start_gunicorn(WEB_CONCURRENCY="2")
    return server.base_url, server.log_path


def test_gunicorn_counts_exactly_across_workers_and_threads(gunicorn):
    """100 concurrent visits over two worker processes: each count 1..100 appears once."""
    base_url, _ = gunicorn
    with ThreadPoolExecutor(max_workers=100) as executor:
        results = list(executor.map(lambda _: http_get(base_url + "/"), range(100)))
    assert {status for status, _ in results} == {200}
    counts = sorted(int(body.split()[2]) for _, body in results)
    assert counts == list(range(1, 101))


def test_gunicorn_serves_health_and_logs_json_lines(gunicorn):
    base_url, log_path = gunicorn
    status, body = http_get(base_url + HEALTH_CHECK_PATH)
    assert status == 200
    assert json.loads(body) == {"status": "healthy", "database": "connected"}
    agent = 'probe "quoted" / 1.0'
    request = urllib.request.Request(base_url + "/?from=test", headers={"User-Agent": agent})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local URL
        sent = len(response.read())

    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in log_path.read_text().splitlines() if line.strip()]
        entries = [json.loads(line) for line in lines]  # every line is one JSON object
        access = [e for e in entries if e["logger"] == "gunicorn.access" and e.get("path") == "/"]
        if access or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert access, lines
    (line,) = access
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["query"] == "from=test"
    assert line["remote_addr"] == "127.0.0.1"
    assert line["user_agent"] == agent
    assert line["bytes"] == sent
    assert isinstance(line["duration_ms"], int)
    assert "referer" not in line  # a field with no value is left out
    assert any(e["logger"] == "gunicorn.error" for e in entries)  # gunicorn's own log is JSON
