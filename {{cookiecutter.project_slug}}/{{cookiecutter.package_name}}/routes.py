"""HTTP routes: the visit counter page and the load balancer's health check."""

import logging
from urllib.parse import unquote

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

from . import config
from .db import DatabaseUnavailable, get_db

log = logging.getLogger(__name__)

bp = Blueprint("counter", __name__)

UNAVAILABLE_MESSAGE = "Service unavailable: the database cannot be reached. Try again shortly.\n"
TEXT_PLAIN = "text/plain; charset=utf-8"  # given whole, Werkzeug need not build it per response


@bp.get("/")
def index() -> Response:
    count = get_db().increment()
    return _text(f"Page visited {count} times!\n")


@bp.record_once
def read_health_check_path(state: BlueprintSetupState) -> None:
    """At start-up (create_app), fix the path from the environment; a bad one stops the app."""
    state.app.config["HEALTH_CHECK_PATH"] = config.health_check_path(state.app.config)


@bp.before_app_request
def health() -> tuple[Response, int] | None:
    """The load balancer's check. Matched on the path as text rather than as a URL rule, so
    that any path works as written, even one set by hand in HEALTH_CHECK_PATH with < or > or
    a percent-encoding in it."""
    if request.path != unquote(current_app.config["HEALTH_CHECK_PATH"]):
        return None
    try:
        get_db().ping()
    except DatabaseUnavailable as exc:
        log.warning("health check failed: database unreachable (%s)", exc)
        response = jsonify(status="unhealthy", database="unreachable")
        status = 503
    else:
        response = jsonify(status="healthy", database="connected")
        status = 200
    response.headers["Cache-Control"] = "no-store"
    return response, status


@bp.app_errorhandler(DatabaseUnavailable)
def database_unavailable(exc: DatabaseUnavailable) -> tuple[Response, int]:
    log.warning("request failed: database unreachable (%s)", exc)
    response = _text(UNAVAILABLE_MESSAGE)
    response.headers["Retry-After"] = "5"
    return response, 503


@bp.app_errorhandler(500)
def internal_error(exc: Exception) -> tuple[Response, int]:
    return _text("Internal server error.\n"), 500


def _text(body: str) -> Response:
    response = Response(body, content_type=TEXT_PLAIN)
    response.headers["Cache-Control"] = "no-store"
    return response
