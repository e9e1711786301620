"""Jinja extension loaded by cookiecutter from this template (see `_extensions`).

Its only job: when a hook rejects the answers, cookiecutter logs the hook's failure with a
Python traceback under the hook's own clear message. The traceback says nothing a user can
act on, so this keeps the log line and drops the traceback.
"""

import logging

from jinja2.ext import Extension


class _DropHookTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and type(record.exc_info[1]).__name__ == "FailedHookException":
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = _DropHookTraceback()


class QuietHookFailures(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        logger = logging.getLogger("cookiecutter.hooks")
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
