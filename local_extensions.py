"""Jinja extensions that cookiecutter (and cruft) load from this template (see `_extensions`).

Cookiecutter imports this module from the template checkout before it asks the first
question, with the Python that will run the hooks, so a Python too old is refused here, before
any answer is typed, and at no cost (a `pre_prompt` hook would make cookiecutter copy the
whole template folder, virtual environment included, on every run).

- `QuietHookFailures`: when a hook rejects the answers, cookiecutter logs the hook's failure
  with a Python traceback under the hook's own clear message. The traceback says nothing a
  user can act on, so this keeps the log line and drops the traceback.
- `SandboxedAnswers`: cookiecutter renders every answer as a template (that is how one
  default refers to another), command-line and default-config answers included, with a plain
  Jinja environment in which `{{ cycler.__init__.__globals__.os.popen('id').read() }}` runs a
  command. This turns that environment into jinja2's immutable sandbox, refuses a project
  folder name that is a path, and makes any answer that fails to render an error naming it.
- `EscapingFilters`: one filter per language a value is written in, so any answer the
  pre-generation hook accepts is data in the generated file, never syntax.
- `TemplateCheckout`: the pre-generation hook needs the template's folder to load the
  validator. cookiecutter puts it in the context as `_repo_dir` but cruft does not; both render
  the hooks while working in that folder, so `{{ template_checkout() }}` gives it to the hook.
"""

import logging
import os
import re
import shlex
import sys

from cookiecutter.exceptions import FailedHookException
from jinja2 import Template
from jinja2.exceptions import TemplateSyntaxError, UndefinedError
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

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


# --- QuietHookFailures ---------------------------------------------------------------------


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


# --- SandboxedAnswers ----------------------------------------------------------------------

SLUG_EXAMPLE = "visit-counter"


class UnsafeFolderName(FailedHookException):
    """project_slug names a path, not one folder. A FailedHookException, like the
    pre-generation hook's refusals, so cookiecutter's command line prints only the message."""


class AnswerNotRendered(UndefinedError):
    """An answer's template syntax failed or reached for what the sandbox keeps out. An
    UndefinedError because that is what cookiecutter reports as "Unable to render variable
    '<name>'", so the message names the answer."""


def folder_name_problem(name: object) -> str | None:
    """Why `name` cannot be created as exactly one new folder inside the output folder."""
    text = str(name)
    if text in ("", ".", "..") or any(char in text for char in "/\\:\0"):
        return "must be one folder name: not empty, . or .., and without /, \\ or :"
    try:
        encoded = os.fsencode(text)
    except UnicodeError:
        return "holds characters this system cannot use in a folder name"
    if len(encoded) > 255:
        return f"is {len(encoded)} bytes long; a folder name may have at most 255"
    return None


class _AnswerTemplate(Template):
    def render(self, *args, **kwargs) -> str:
        # cookiecutter creates the project folder from the rendered `{{cookiecutter.project_slug}}`
        # before the pre-generation hook can run, so a slug that is a path is refused here,
        # at the first rendering that knows it: before any folder exists.
        context = dict(*args, **kwargs)
        answers = context.get("cookiecutter")
        if isinstance(answers, dict) and "project_slug" in answers:
            problem = folder_name_problem(answers["project_slug"])
            if problem:
                raise UnsafeFolderName(
                    "Cannot generate the project: project_slug = "
                    f"{answers['project_slug']!r}: {problem} (for example: {SLUG_EXAMPLE}). "
                    "Nothing was generated."
                )
        try:
            return super().render(context)
        except UndefinedError:
            raise
        except Exception as error:
            raise AnswerNotRendered(f"{type(error).__name__}: {error}") from error


class _Sandboxed(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox: no attribute starting with `_` (so no `__globals__`,
    `__class__`, `__subclasses__`), no unsafe callables, `str.format` sandboxed too, and no
    changes to lists or dicts (so an answer cannot rewrite another answer, nor cookiecutter's
    own settings in the context). Put in front of cookiecutter's environment class."""

    template_class = _AnswerTemplate

    def from_string(self, source, globals=None, template_class=None):  # noqa: A002
        try:
            return super().from_string(source, globals, template_class)
        except TemplateSyntaxError as error:
            raise AnswerNotRendered(f"template syntax error: {error.message}") from error


_SANDBOXED_CLASSES: dict[type, type] = {}


class SandboxedAnswers(Extension):
    """cookiecutter (2.7.1: environment.py, prompt.py `render_variable`) builds its own
    `StrictEnvironment` and offers no way to pick another class; an extension is the one
    hook it calls on each environment, during `Environment.__init__`, before any template
    is compiled. So the environment's class becomes a subclass of both (the sandbox's
    methods first, `StrictUndefined` kept), and the three attributes jinja2's
    `SandboxedEnvironment.__init__` sets are set the same way. The compiler reads
    `sandboxed` when it compiles a template, so every template is compiled sandboxed."""

    def __init__(self, environment):
        super().__init__(environment)
        base = type(environment)
        if not issubclass(base, _Sandboxed):
            if base not in _SANDBOXED_CLASSES:
                _SANDBOXED_CLASSES[base] = type(f"Sandboxed{base.__name__}", (_Sandboxed, base), {})
            environment.__class__ = _SANDBOXED_CLASSES[base]
        environment.globals["range"] = safe_range
        environment.binop_table = environment.default_binop_table.copy()
        environment.unop_table = environment.default_unop_table.copy()


# --- EscapingFilters -----------------------------------------------------------------------


_C_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _is_unsafe_char(char: str) -> bool:
    """Control and format characters, separators other than space, surrogates and
    noncharacters: nothing a parser should meet unescaped in a string."""
    return not char.isprintable() or 0xFDD0 <= ord(char) <= 0xFDEF or ord(char) & 0xFFFE == 0xFFFE


def _escaped(char: str, quote: str) -> str:
    """`char` as a backslash escape when it must be one; \\uXXXX or \\UXXXXXXXX (lowercase
    hex: ruff's style) for every other unsafe character, never a surrogate pair."""
    if char in _C_ESCAPES:
        return _C_ESCAPES[char]
    if char == quote or char == "\\":
        return "\\" + char
    if _is_unsafe_char(char):
        code = ord(char)
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


def _quoted(text: str, quote: str = '"') -> str:
    return quote + "".join(_escaped(char, quote) for char in text) + quote


def toml_string(value) -> str:
    """A TOML basic string. Characters outside the BMP stay themselves (TOML has no
    surrogate pairs: `tojson`'s \\ud83d\\ude00 is not a Unicode scalar value to it)."""
    return _quoted(str(value))


def python_string(value) -> str:
    """A Python string literal, in the quotes ruff's formatter would choose: double, unless
    single ones need fewer escapes."""
    text = str(value)
    return _quoted(text, "'" if text.count('"') > text.count("'") else '"')


# YAML 1.1 (PyYAML) and 1.2 read these plain words as booleans or null, and a plain scalar
# starting with a digit, sign or dot may be a number, a date or a sexagesimal.
_YAML_WORDS = re.compile(r"y|n|yes|no|on|off|true|false|null|~", re.IGNORECASE)
_YAML_PLAIN = re.compile(r"[A-Za-z/][A-Za-z0-9_./@+-]*(:[A-Za-z0-9_./@+-]+)*")


def yaml_string(value) -> str:
    """A complete YAML scalar that reads back as this string: plain when that is
    unambiguous (so `visits` stays `visits`), else double-quoted with escapes."""
    text = str(value)
    if _YAML_PLAIN.fullmatch(text) and not _YAML_WORDS.fullmatch(text):
        return text
    return _quoted(text)


def shell_word(value) -> str:
    """One shell word (POSIX quoting), unchanged when it needs no quotes."""
    return shlex.quote(str(value))


# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that can
# start or end inline markup, a link, raw HTML, an entity, math on GitHub, or a table cell.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|&~!#$])")
_MARKDOWN_BLOCK_START = re.compile(r"^(\s*)([-+=>]|\d+[.)])")


def markdown_text(value) -> str:
    """Text that Markdown shows as written, in a paragraph, a heading or a table cell."""
    text = " ".join(str(value).splitlines())
    text = _MARKDOWN_INLINE.sub(r"\\\1", text)
    return _MARKDOWN_BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def markdown_code(value, in_table: bool = False) -> str:
    """An inline code span showing the value as written: fenced by more backticks than it
    holds in a row; in a table cell, its pipes escaped (GFM splits cells on them even
    inside code)."""
    text = " ".join(str(value).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text[:1] == "`" or text[-1:] == "`" or (text[:1] == text[-1:] == " " and text.strip()):
        text = f" {text} "  # CommonMark strips one space from each end
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 ,./:_()+-]")


def mermaid_label(value) -> str:
    """Text for a quoted Mermaid label: every other character as an entity code (#35;)."""
    return "".join(
        char if _MERMAID_SAFE.fullmatch(char) else f"#{ord(char)};" for char in str(value)
    )


class EscapingFilters(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters.update(
            toml=toml_string,
            python=python_string,
            yaml=yaml_string,
            shell=shell_word,
            markdown=markdown_text,
            markdown_code=markdown_code,
            mermaid=mermaid_label,
        )


class TemplateCheckout(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["template_checkout"] = os.getcwd
