"""JSON-lines logging to stdout, for the app and for gunicorn (one JSON object per line).

CloudWatch Logs and ``docker logs`` keep each line as one event, and fields such as
``status`` or ``duration_ms`` can be queried directly (CloudWatch Logs Insights).
"""

import functools
import json
import logging
import sys
import time

# One encoder for every line: json.dumps(..., default=str) would build a new one each time.
_encode_json = json.JSONEncoder(default=str).encode


class AccessFields(dict):
    """The fields of one access-log line, passed as the record's arguments: its message
    is ``ACCESS_MESSAGE % fields``, and the formatter adds the fields to the JSON object.
    A field that is not there reads as "-" in a message."""

    def __missing__(self, key: str) -> str:
        return "-"


ACCESS_MESSAGE = "%(method)s %(path)s %(status)s"


@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """Date and time to the second (many lines share it, so it is formatted once)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


class JsonFormatter(logging.Formatter):
    """Format a log record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": f"{_utc_second(int(record.created))}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if isinstance(record.args, AccessFields):  # from access_log.AccessLogger
            entry.update(record.args)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode_json(entry)


def configure_logging(level: str = "INFO") -> None:
    """Send the root logger's records to stdout as JSON, unless something else set it up.

    Under gunicorn, gunicorn.conf.py has already configured logging the same way.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())


def gunicorn_logconfig(level: str = "INFO") -> dict:
    """A ``logconfig_dict`` for gunicorn: its error and access logs, and the app's, as JSON."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stdout",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stdout": handler},
        "root": {"level": level.upper(), "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": ["stdout"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        },
    }
