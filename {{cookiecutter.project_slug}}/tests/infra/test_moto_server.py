"""The moto_server that `make deploy-local` runs answers one call at a time: moto's backends
are not thread-safe, and the deploy tool calls in parallel."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from devtools import moto_server


class SlowBackends(DomainDispatcherApplication):
    """Every call takes a while and counts how many run at once."""

    def __init__(self):
        self.running = 0
        self.most_at_once = 0
        self.counting = threading.Lock()

    def get_application(self, environ):
        def backend(environ, start_response):
            with self.counting:
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            time.sleep(0.05)
            with self.counting:
                self.running -= 1
            start_response("200 OK", [])
            return [b""]

        return backend


def test_calls_from_parallel_connections_are_answered_one_after_another():
    application = moto_server.one_call_at_a_time(SlowBackends)()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: application({}, lambda *_: None), range(8)))
    assert answers == [[b""]] * 8
    assert application.most_at_once == 1


def test_the_same_backends_without_it_do_overlap():
    """The check above can fail: without the lock, the calls run at the same time."""
    application = SlowBackends()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: application({}, lambda *_: None), range(8)))
    assert application.most_at_once > 1
