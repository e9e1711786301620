"""gunicorn settings, used in the container and by `make dev`: `gunicorn -c gunicorn.conf.py`.

Environment overrides: PORT, WEB_CONCURRENCY (worker processes), GUNICORN_THREADS,
GUNICORN_TIMEOUT, LOG_LEVEL.
"""

import os

from {{ cookiecutter.package_name }}.log_format import gunicorn_logconfig

wsgi_app = "{{ cookiecutter.package_name }}:create_app()"

# In a container the app must listen on all interfaces; `make dev` binds 127.0.0.1 instead.
bind = [f"0.0.0.0:{int(os.environ.get('PORT', '{{ cookiecutter.app_port }}'))}"]  # noqa: S104

# Threads keep a worker answering (health checks included) while some requests wait on a
# slow database; every database call is bounded by the app's own deadline anyway.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * (os.cpu_count() or 1) + 1, 8)))

timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # a silent worker is restarted
graceful_timeout = 20
# Longer than the load balancer's idle timeout (60 s), so it never reuses a closed connection.
keepalive = 65
# Worker heartbeats in memory, not on the container's (possibly read-only) disk;
# gunicorn creates its files there with mkstemp.
_SHARED_MEMORY = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHARED_MEMORY if os.path.isdir(_SHARED_MEMORY) else None
max_requests = 10_000  # recycle workers now and then
max_requests_jitter = 1_000

# JSON lines on stdout for gunicorn's own logs, the access log and the app's logs.
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logconfig_dict = gunicorn_logconfig(loglevel)
accesslog = None  # logconfig_dict routes gunicorn.access to stdout as JSON
errorlog = "-"

# Nothing else to manage in a container; avoids a control socket under $HOME.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
