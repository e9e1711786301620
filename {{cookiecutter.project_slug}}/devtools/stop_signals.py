"""Stopping cleanly: every command that starts a server stops it on SIGINT, SIGTERM and SIGHUP.

Python turns SIGINT (Ctrl-C) into KeyboardInterrupt, so `finally` blocks and `with` exits
stop what the command started. SIGTERM (what `kill`, `make demo` and process managers send)
and SIGHUP (a closed terminal) would end the process at once and leave its servers running,
the embedded PostgreSQL among them: it runs in a session of its own, so no signal sent to the
command reaches it. `stop_on_signals()` makes all three interrupt the command alike.
"""

import contextlib
import signal
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; like KeyboardInterrupt, which it is, for SIGTERM and SIGHUP."""


def _interrupt(signum: int, _frame) -> None:
    raise Stopped(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Make SIGTERM and SIGHUP interrupt this process as Ctrl-C does."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)


@contextlib.contextmanager
def _caught(handler) -> Iterator[None]:
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, earlier in previous.items():
            signal.signal(signum, earlier)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A stop signal that arrives while a server starts interrupts once the block is done,
    so the server is either not started or known to the code that stops it."""
    received: list[int] = []
    with _caught(lambda signum, _frame: received.append(signum)):
        yield
    if received:
        raise Stopped(signal.Signals(received[0]).name)


def uninterrupted() -> contextlib.AbstractContextManager[None]:
    """Stop signals are ignored in the block: a second Ctrl-C does not cut a cleanup short.
    (A handler, not SIG_IGN, which the processes the block starts would inherit.)"""
    return _caught(lambda _signum, _frame: None)
