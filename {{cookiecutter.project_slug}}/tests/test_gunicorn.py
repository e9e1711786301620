"""The production server: gunicorn with gunicorn.conf.py, as in the container."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import HEALTH_CHECK_PATH

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def gunicorn(database_url, free_port, tmp_path):
    """gunicorn started the way the container starts it, with two workers."""
    log_path = tmp_path / "gunicorn.log"
    env = dict(os.environ, DATABASE_URL=database_url, PORT=str(free_port), WEB_CONCURRENCY="2")
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(  # noqa: S603 - fixed command
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{free_port}"],
            cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{free_port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if get(base_url + HEALTH_CHECK_PATH)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not become healthy"
            time.sleep(0.2)
        yield base_url, log_path
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_gunicorn_counts_exactly_across_workers_and_threads(gunicorn):
    """100 concurrent visits over two worker processes: each count 1..100 appears once."""
    base_url, _ = gunicorn
    with ThreadPoolExecutor(max_workers=100) as executor:
        results = list(executor.map(lambda _: get(base_url + "/"), range(100)))
    assert {status for status, _ in results} == {200}
    counts = sorted(int(body.split()[2]) for _, body in results)
    assert counts == list(range(1, 101))


def test_gunicorn_serves_health_and_logs_json_lines(gunicorn):
    base_url, log_path = gunicorn
    status, body = get(base_url + HEALTH_CHECK_PATH)
    assert status == 200
    assert json.loads(body) == {"status": "healthy", "database": "connected"}
    get(base_url + "/")

    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in log_path.read_text().splitlines() if line.strip()]
        entries = [json.loads(line) for line in lines]  # every line is one JSON object
        access = [e for e in entries if e["logger"] == "gunicorn.access" and e.get("path") == "/"]
        if access or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert access, lines
    assert access[0]["status"] == 200
    assert access[0]["method"] == "GET"
    assert isinstance(access[0]["duration_ms"], int)
    assert any(e["logger"] == "gunicorn.error" for e in entries)  # gunicorn's own log is JSON
