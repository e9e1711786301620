"""The visit counter web app: ``create_app()`` builds it (nothing happens at import time)."""

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import config, db, log_format, routes


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory: configure from the environment (or ``test_config``), connect
    the database pool, make sure the schema exists and register the routes."""
    app = Flask(__name__)
    app.config.from_mapping(config.from_environ())
    if test_config is not None:
        app.config.from_mapping(test_config)

    log_format.configure_logging(app.config.get("LOG_LEVEL", "INFO"))
    logging.getLogger(__name__).info("starting")

    db.init_app(app)
    app.register_blueprint(routes.bp)
    return app
