"""Test helpers for the hub: an in-memory HTTP server on 127.0.0.1 and git commands."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FileServer:
    """An HTTP server on 127.0.0.1 serving ``files`` (path -> bytes) from memory.

    ``ranges``: honour ``Range: bytes=N-`` with 206 answers (else always send 200 and the
    whole file); an ``If-Range`` that is not the file's current ETag gets the whole file
    (200), as HTTP says. ``validators``: send ``ETag`` (a hash of the content) and
    ``Last-Modified``; ``ignore_if_range``: answer 206 whatever ``If-Range`` says (a
    broken server). ``cut_next``: the next answer announces the full length but sends
    only that many bytes and closes the connection. ``no_length``: send no
    ``Content-Length`` (the body ends when the connection closes). ``content_type``: the
    ``Content-Type`` header. ``delay``: seconds to wait before each body; ``drip``: send
    the body one byte per that many seconds. ``log`` holds ``(path, Range header,
    status)`` per request.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    ranges: bool = True
    cut_next: int | None = None
    delay: float = 0.0
    validators: bool = True
    ignore_if_range: bool = False
    no_length: bool = False
    content_type: str = "application/octet-stream"
    drip: float = 0.0
    log: list[tuple[str, str | None, int]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def gets(self, path: str) -> list[tuple[str | None, int]]:
        return [(rng, status) for p, rng, status in self.log if p == path]

    def etag(self, path: str) -> str:
        return '"' + hashlib.sha256(self.files[path]).hexdigest()[:16] + '"'


def _handler(server: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 10

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            data = server.files.get(self.path)
            rng = self.headers.get("Range")
            if data is None:
                server.log.append((self.path, rng, 404))
                self.send_error(404)
                return
            start = 0
            if_range = self.headers.get("If-Range")
            stale = if_range is not None and if_range != server.etag(self.path) and \
                not server.ignore_if_range
            if rng and server.ranges and not stale:
                start = int(rng.removeprefix("bytes=").rstrip("-"))
                if start >= len(data):
                    server.log.append((self.path, rng, 416))
                    self.send_error(416)
                    return
            status = 206 if start else 200
            server.log.append((self.path, rng, status))
            self.send_response(status)
            self.send_header("Content-Type", server.content_type)
            if server.validators:
                self.send_header("ETag", server.etag(self.path))
                self.send_header("Last-Modified", "Sun, 06 Dec 2026 10:00:00 GMT")
            if server.no_length:
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            body = data[start:]
            time.sleep(server.delay)
            if server.cut_next is not None:
                body, server.cut_next = body[: server.cut_next], None
                self.close_connection = True
            if server.drip:
                for k in range(len(body)):
                    self.wfile.write(body[k:k + 1])
                    self.wfile.flush()
                    time.sleep(server.drip)
            else:
                self.wfile.write(body)

    return Handler


@contextmanager
def serve(state: FileServer) -> Iterator[FileServer]:
    """Run ``state`` on a free port of 127.0.0.1 until the block ends."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with a fixed identity; return its stdout."""
    done = subprocess.run(
        ["git", "-c", "user.name=mge", "-c", "user.email=mge@example.com",
         "-c", "init.defaultBranch=master", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, capture_output=True, text=True, check=True, timeout=60,
    )
    return done.stdout.strip()


def commit_files(repo: Path, files: dict[str, str], message: str) -> str:
    """Write ``files`` into the git repository ``repo``, commit them, return the sha."""
    for name, text in files.items():
        (repo / name).write_text(text)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")
