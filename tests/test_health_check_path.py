"""The image's HEALTHCHECK asks the path the app answers: HEALTH_CHECK_PATH from the
container's environment (the boot script sets it from stack.toml), else the generated one.
Its command is run here as Docker would run it, against a stand-in for the app."""

import http.server
import threading

import pytest
from bake_checks import run_healthcheck
from helpers import bake_into


class Recorder(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.paths.append(self.path)
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def app_stand_in():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.paths = []
    Recorder.status = 200
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("health")
    return bake_into(root / "workspace" / "output", root / "config", health_check_path="/ready~now")


def test_without_the_variable_the_generated_path_is_checked(project, app_stand_in):
    result = run_healthcheck(project, app_stand_in.server_port)
    assert result.returncode == 0, result.stderr
    assert Recorder.paths == ["/ready~now"]


def test_the_path_from_stack_toml_is_the_one_checked(project, app_stand_in):
    result = run_healthcheck(project, app_stand_in.server_port, HEALTH_CHECK_PATH="/moved")
    assert result.returncode == 0, result.stderr
    assert Recorder.paths == ["/moved"]


def test_an_unhealthy_answer_fails_the_check(project, app_stand_in):
    Recorder.status = 503
    result = run_healthcheck(project, app_stand_in.server_port)
    assert result.returncode != 0
