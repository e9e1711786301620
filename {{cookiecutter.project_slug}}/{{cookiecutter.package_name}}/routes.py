"""HTTP routes: the visit counter page and the load balancer's health check."""

import logging

from flask import Blueprint, Response, jsonify

from .config import HEALTH_CHECK_PATH
from .db import DatabaseUnavailable, get_db

log = logging.getLogger(__name__)

bp = Blueprint("counter", __name__)

UNAVAILABLE_MESSAGE = "Service unavailable: the database cannot be reached. Try again shortly.\n"
TEXT_PLAIN = "text/plain; charset=utf-8"  # given whole, Werkzeug need not build it per response


@bp.get("/")
def index() -> Response:
    count = get_db().increment()
    return _text(f"Page visited {count} times!\n")


@bp.get(HEALTH_CHECK_PATH)
def health() -> tuple[Response, int]:
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
