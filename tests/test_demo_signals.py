"""`make demo` stopped by SIGTERM while it serves the app (its `make dev` step) leaves
nothing running: no gunicorn, no embedded PostgreSQL, no port taken."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from helpers import TEMPLATE_ROOT, bake_into

# scripts/demo.py's serve step on a baked project, its SIGTERM and SIGHUP handling as in
# main(); a SIGTERM to the demo itself arrives once the app has answered its health check.
# It reports in a file of its own: gunicorn's access log shares its stdout, and with
# PYTHONUNBUFFERED a print's pieces are separate writes a log line can land between.
SERVE_THEN_SIGTERM = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import demo
report = open(sys.argv[3], "w", buffering=1)

for signum in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(signum, demo.interrupt)
answer = demo.fetch

def fetch_then_stop(url):
    status, body = answer(url)
    if url.endswith("/health") and status == 200:
        report.write(f"SERVING {demo.free_port.last}\\n")
        os.kill(os.getpid(), signal.SIGTERM)
    return status, body

free_port = demo.free_port
def remembered_port():
    remembered_port.last = free_port()
    return remembered_port.last
demo.free_port = remembered_port
demo.free_port.last = None
demo.fetch = fetch_then_stop
try:
    demo.serve_and_count(Path(sys.argv[2]))
except KeyboardInterrupt as stop:
    report.write(f"STOPPED {stop}\\n")
"""


def processes_of(project) -> list[psutil.Process]:
    """gunicorn and PostgreSQL processes working for `project`."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        try:
            text = " ".join(process.info["cmdline"] or []) + " " + (process.info["cwd"] or "")
        except psutil.Error:
            continue
        if str(project) in text and ("gunicorn" in text or "postgres" in text):
            found.append(process)
    return found


@pytest.fixture
def project():
    """A bake outside pytest's tmp_path: run as root, the embedded PostgreSQL runs as another
    user, which must traverse the folders above its data, and each pytest run that starts
    (the generated suites the other tests run) makes pytest's own folder private again."""
    folder = tempfile.mkdtemp(prefix="demo-signals-")
    yield bake_into(Path(folder))
    shutil.rmtree(folder, ignore_errors=True)


def test_make_demo_stopped_while_serving_leaves_no_server(project, tmp_path):
    report = tmp_path / "report.txt"
    arguments = [str(TEMPLATE_ROOT / "scripts"), str(project), str(report)]
    result = subprocess.run(
        [sys.executable, "-c", SERVE_THEN_SIGTERM, *arguments],
        env={key: value for key, value in os.environ.items() if key != "DATABASE_URL"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    reported = report.read_text().splitlines() if report.exists() else []
    assert reported[:1] and reported[0].startswith("SERVING "), result.stdout + result.stderr
    assert reported[1:] == ["STOPPED SIGTERM"], result.stdout + result.stderr
    port = int(reported[0].split()[1])

    deadline = time.monotonic() + 10
    while processes_of(project) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = processes_of(project)
    for process in left:  # the test leaves nothing either
        process.send_signal(signal.SIGKILL)
    assert left == [], "the demo left a server running"
    assert not (project / ".dev-postgres" / "postmaster.pid").exists()
    # Listening sockets only: the demo's own requests leave TIME_WAIT entries on the port.
    listening = psutil.net_connections("tcp")
    assert port not in {c.laddr.port for c in listening if c.status == psutil.CONN_LISTEN}
