"""A local stand-in for the Hugging Face Hub (loopback only) for download tests.

Serves ``/api/models/<repo>/tree/<rev>`` (what ``HfApi.list_repo_files`` reads)
and ``/<repo>/resolve/<rev>/<file>`` for HEAD (ETag = the file's SHA-256, as the
Hub does for LFS files) and GET with HTTP Range support. Knobs simulate a
flaky network: ``cut_after`` closes the connection after N body bytes on the
next ``cuts`` GETs; ``corrupt`` serves different bytes than advertised.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class HubState:
    repo: str
    files: dict[str, bytes]
    revision: str = "main"
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    cut_after: int | None = None
    cuts: int = 0
    corrupt: set[str] = field(default_factory=set)
    log: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range


class _Handler(BaseHTTPRequestHandler):
    state: HubState
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _file(self) -> tuple[str, bytes] | None:
        path = unquote(urlsplit(self.path).path)
        prefix = f"/{self.state.repo}/resolve/{self.state.revision}/"
        if path.startswith(prefix) and path[len(prefix) :] in self.state.files:
            name = path[len(prefix) :]
            return name, self.state.files[name]
        return None

    def _tree(self) -> bool:
        return urlsplit(self.path).path == f"/api/models/{self.state.repo}/tree/{self.state.revision}"

    def _send_json(self, obj: object) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _headers(self, name: str, data: bytes, status: int, length: int, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", self.state.commit)
        self.send_header("Accept-Ranges", "bytes")
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802
        self.state.log.append(("HEAD", self.path, self.headers.get("Range")))
        f = self._file()
        if f is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._headers(f[0], f[1], 200, len(f[1]), {})

    def do_GET(self) -> None:  # noqa: N802
        rng = self.headers.get("Range")
        self.state.log.append(("GET", self.path, rng))
        if self._tree():
            self._send_json(
                [
                    {
                        "type": "file",
                        "path": n,
                        "size": len(d),
                        "oid": hashlib.sha1(d).hexdigest(),
                        "lfs": {"oid": hashlib.sha256(d).hexdigest(), "size": len(d), "pointerSize": 134},
                    }
                    for n, d in self.state.files.items()
                ]
            )
            return
        f = self._file()
        if f is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        name, data = f
        advertised = data
        if name in self.state.corrupt:
            data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
        start = 0
        status, extra = 200, {}
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
            extra["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        self._headers(name, advertised, status, len(body), extra)
        if self.state.cut_after is not None and self.state.cuts > 0:
            self.state.cuts -= 1
            self.wfile.write(body[: self.state.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class LocalHub:
    def __init__(self, state: HubState) -> None:
        handler = type("Handler", (_Handler,), {"state": state})
        self.state = state
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
