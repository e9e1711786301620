"""One source for the health check's path: the app answers the path it is started with,
HEALTH_CHECK_PATH from the environment (the boot script sets it from health_check_path in
stack.toml, which also sets the load balancer's), and the generated one only without it."""

from urllib.parse import quote

import pytest

from {{ cookiecutter.package_name }}.config import HEALTH_CHECK_PATH, ConfigError

HEALTHY = {"status": "healthy", "database": "connected"}
MOVED = HEALTH_CHECK_PATH.rstrip("/") + "/moved"


def test_a_path_changed_in_stack_toml_is_the_one_answered(monkeypatch, make_app):
    """The drift case: stack.toml's health_check_path edited after generation. The load
    balancer checks the new path; the app, started with it, answers it (not a 404)."""
    monkeypatch.setenv("HEALTH_CHECK_PATH", MOVED)
    client = make_app().test_client()
    assert client.get(MOVED).get_json() == HEALTHY
    assert client.get(HEALTH_CHECK_PATH).get_json() != HEALTHY


@pytest.mark.parametrize("path", ["/<id>", "/<int:x>", "/h'\"ealth", "/health-😀", "/a%20b"])
def test_any_path_the_load_balancer_may_send_is_answered_as_written(make_app, path):
    client = make_app(HEALTH_CHECK_PATH=path).test_client()
    assert client.get(quote(path, safe="/%")).get_json() == HEALTHY
    assert client.get("/").status_code == 200


def test_a_path_that_is_no_path_stops_the_app_at_start_up(monkeypatch, make_app):
    monkeypatch.setenv("HEALTH_CHECK_PATH", "health")
    with pytest.raises(ConfigError, match="HEALTH_CHECK_PATH must be a URL path starting with /"):
        make_app()
