"""Jinja extensions loaded by cookiecutter (and cruft) from this template (see `_extensions`).

Cookiecutter imports this module from the template checkout before it asks the first
question, with the Python that will run the hooks, so a Python too old is refused here, before
any answer is typed, and at no cost (a `pre_prompt` hook would make cookiecutter copy the
whole template folder, virtual environment included, on every run).

QuietHookFailures: when a hook rejects the answers, cookiecutter logs the hook's failure with
a Python traceback under the hook's own clear message. The traceback says nothing a user can
act on, so this keeps the log line and drops the traceback.

TemplateCheckout: the pre-generation hook needs the template's folder to load the validator.
`cookiecutter` puts it in the context as `_repo_dir` but cruft does not; both render the hooks
while working in that folder, so `{{ template_checkout() }}` gives it to the hook.
"""

import logging
import os
import sys

from jinja2.ext import Extension

MINIMUM_PYTHON = (3, 11)

if sys.version_info < MINIMUM_PYTHON:
    # cookiecutter reports an ImportError from an extension as one line, before any question.
    raise ImportError(
        f"three-tier-flask needs Python {'.'.join(map(str, MINIMUM_PYTHON))} or newer, and "
        f"this cookiecutter runs on Python {'.'.join(map(str, sys.version_info[:3]))}. "
        "Fix: install cookiecutter with a newer Python (for example "
        "`python3.12 -m pip install cookiecutter`) and run it again; nothing was asked or "
        "generated."
    )


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


class TemplateCheckout(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["template_checkout"] = os.getcwd
