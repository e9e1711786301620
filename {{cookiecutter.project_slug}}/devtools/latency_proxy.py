"""A reverse proxy on 127.0.0.1 that adds a fixed delay to every call: AWS at a distance.

    with LatencyProxy("http://127.0.0.1:5000", delay_seconds=0.15) as proxy:
        ...  # AWS_ENDPOINT_URL=proxy.url; proxy.count, proxy.operations

Forwards method, path, headers and body unchanged to a loopback target (moto_server) and
returns its answer unchanged, but for the framing: each side keeps its own connection and the
answer always has a Content-Length. It counts the calls it forwarded, by `service:Operation`.
Anything but a loopback target is refused, and so is a request body of unknown length.
"""

from __future__ import annotations

import collections
import http.client
import http.server
import ipaddress
import threading
import time
import urllib.parse

# Framing between two hops, not part of the call: each side of the proxy has its own.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "expect"}


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def operation_name(method: str, path: str, headers, body: bytes) -> str:
    """`service:Operation` of an AWS call: from X-Amz-Target (JSON protocols), Action=
    (query protocols), else the method and the path's query (REST, such as `s3:GET ?tagging`).
    """
    scope = headers.get("Authorization", "").partition("Credential=")[2].split("/")
    service = scope[3] if len(scope) > 3 else "?"
    target = headers.get("X-Amz-Target")
    action = urllib.parse.parse_qs(body.decode("latin-1")).get("Action")
    if target or action:
        return f"{service}:{target.rpartition('.')[2] if target else action[0]}"
    resource, _, query = path.partition("?")
    return f"{service}:{method} {'?' + query if query else resource}"


class LatencyProxy:
    """Listens on a free port of 127.0.0.1 (`url`) while in a `with` block."""

    def __init__(self, target: str, delay_seconds: float = 0.15):
        parsed = urllib.parse.urlsplit(target)
        if parsed.scheme != "http" or not is_loopback(parsed.hostname or ""):
            raise ValueError(f"refusing to proxy to {target}: only http:// on loopback")
        self.target = (parsed.hostname, parsed.port or 80)
        self.delay_seconds = delay_seconds
        self.operations: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def count(self) -> int:
        with self._lock:
            return self.operations.total()

    def take(self) -> collections.Counter[str]:
        """The calls forwarded since the last take(), by operation; the counter restarts."""
        with self._lock:
            taken, self.operations = self.operations, collections.Counter()
        return taken

    def _handler(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its connections

            def forward(self) -> None:
                if "Transfer-Encoding" in self.headers:  # boto3 streams no body in our calls
                    self.send_error(411, "send a Content-Length")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(proxy.delay_seconds)
                name = operation_name(self.command, self.path, self.headers, body)
                with proxy._lock:
                    proxy.operations[name] += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Content-Length"] = str(len(body))
                connection = http.client.HTTPConnection(*proxy.target, timeout=60)
                try:  # a new connection per call: on loopback it costs well under 1 ms
                    connection.request(self.command, self.path, body, headers)
                    response = connection.getresponse()
                    data = response.read()
                except (http.client.HTTPException, OSError) as error:
                    self.send_error(502, f"the target did not answer: {error}")
                    return
                finally:
                    connection.close()
                self.send_response_only(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP - {"content-length"}:
                        self.send_header(key, value)
                if response.getheader("Content-Length") is None:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = forward

            def log_message(self, *_args) -> None:
                pass

        return Handler

    def __enter__(self) -> LatencyProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        if getattr(self, "_thread", None) is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()
