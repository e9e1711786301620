"""A stand-in for what only an EC2 instance reaches: the instance metadata service (IMDSv2)
on 127.0.0.1, for the boot rehearsal (tests/infra/test_boot_rehearsal.py).

    with MetadataService({"instance-id": "i-0123"}, documents={"/x.pem": b"..."}) as imds:
        ...  # IMDS_ENDPOINT=imds.url; imds.requests

As IMDSv2 with HttpTokens=required (the launch template's setting): a session token comes
from `PUT /latest/api/token` with the header X-aws-ec2-metadata-token-ttl-seconds (1 to
21600), and every `GET /latest/meta-data/<key>` must carry it in X-aws-ec2-metadata-token,
else 401 ("Use IMDSv2 to retrieve instance metadata", Amazon EC2 User Guide). `documents`
are other files served as they are (the rehearsal's RDS CA bundle).
"""

from __future__ import annotations

import http.server
import secrets
import threading

from devtools.processes import LOOPBACK

TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"  # noqa: S105 - a header's name
TOKEN_HEADER = "X-aws-ec2-metadata-token"  # noqa: S105 - a header's name
MAX_TTL_SECONDS = 21600


class MetadataService:
    def __init__(self, metadata: dict[str, str], documents: dict[str, bytes] | None = None):
        self.metadata = metadata
        self.documents = documents or {}
        self.tokens: set[str] = set()
        # (method, path, whether it carried a valid token), in the order they came.
        self.requests: list[tuple[str, str, bool]] = []
        self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def _handler(self):
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                ttl = self.headers.get(TOKEN_TTL_HEADER, "")
                service.requests.append(("PUT", self.path, False))
                if self.path != "/latest/api/token":
                    self._answer(404, b"")
                elif not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL_SECONDS:
                    self._answer(400, b"")
                else:
                    token = secrets.token_urlsafe(32)
                    service.tokens.add(token)
                    self._answer(200, token.encode())

            def do_GET(self) -> None:  # noqa: N802
                if self.path in service.documents:
                    service.requests.append(("GET", self.path, False))
                    self._answer(200, service.documents[self.path])
                    return
                valid = self.headers.get(TOKEN_HEADER) in service.tokens
                service.requests.append(("GET", self.path, valid))
                key = self.path.removeprefix("/latest/meta-data/")
                if not valid:
                    self._answer(401, b"")
                elif key not in service.metadata:
                    self._answer(404, b"")
                else:
                    self._answer(200, service.metadata[key].encode())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                pass

        return Handler

    def __enter__(self) -> MetadataService:
        # shutdown() returns when the loop next looks: every 0.5 s by default.
        serve = {"poll_interval": 0.02}
        threading.Thread(target=self._server.serve_forever, kwargs=serve, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()
