"""gunicorn settings, used in the container and by `make dev`: `gunicorn -c gunicorn.conf.py`.

Environment overrides: PORT, WEB_CONCURRENCY (worker processes), GUNICORN_THREADS,
GUNICORN_TIMEOUT, LOG_LEVEL.
"""

import os

from {{ cookiecutter.package_name }}.log_format import gunicorn_logconfig

wsgi_app = {{ (cookiecutter.package_name ~ ":create_app()") | python }}

# In a container the app must listen on all interfaces; `make dev` binds 127.0.0.1 instead.
bind = [f"0.0.0.0:{int(os.environ.get('PORT', '{{ cookiecutter.app_port | int }}'))}"]  # noqa: S104


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may run on (Linux)
    except AttributeError:
        return os.cpu_count() or 1


# Threads keep a worker answering (health checks included) while some requests wait on a
# slow database; every database call is bounded by the app's own deadline anyway.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# One worker process per CPU, not the 2 x CPUs + 1 often quoted for sync workers: a gthread
# worker already overlaps its threads' database waits, and only one thread runs Python at a
# time (the GIL), so extra processes on the same CPUs only compete with each other (and with
# PostgreSQL when it shares the machine). Measured with `python -m devtools.bench` on 2 CPUs:
# 2 workers x 4 threads served up to 20% more requests per second than 5 x 4, at a lower p99,
# and as many as 3 x 4; 2 threads per worker served fewer (BENCHMARKS.md has the method).
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, _usable_cpus())))

timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # a silent worker is restarted
graceful_timeout = 20
# Longer than the load balancer's idle timeout (60 s), so it never reuses a closed connection.
keepalive = 65
# Worker heartbeats in memory, not on the container's (possibly read-only) disk;
# gunicorn creates its files there with mkstemp.
_SHARED_MEMORY = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHARED_MEMORY if os.path.isdir(_SHARED_MEMORY) else None
# Recycle workers now and then, but rarely: a recycled worker drops its keep-alive
# connections and its database pool. At 10,000 that happened every few seconds under load.
max_requests = 100_000
max_requests_jitter = 10_000

# JSON lines on stdout for gunicorn's own logs, the access log and the app's logs.
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logconfig_dict = gunicorn_logconfig(loglevel)
accesslog = None  # logconfig_dict routes gunicorn.access to stdout as JSON
# gunicorn's logger, minus the per-request work for access-log fields the JSON never shows.
logger_class = {{ (cookiecutter.package_name ~ ".access_log.AccessLogger") | python }}
errorlog = "-"

# Nothing else to manage in a container; avoids a control socket under $HOME.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
