"""Real servers on 127.0.0.1 for the tests: the bundled emulator and a plainly scripted one.

The scripted server knows nothing of the API: each test lists the raw replies
(status, headers, body, delay, or a dropped connection) it wants, in order, and
reads back the requests that arrived. It never patches requests.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection after reading the request, answer nothing

    def payload(self) -> bytes:
        if isinstance(self.body, dict):
            return json.dumps(self.body, ensure_ascii=False).encode("utf-8")
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return self.body


def ok(run_id: str = "1mz9GjJgyY53bh") -> Reply:
    return Reply(body={"errcode": 0, "errmsg": "ok", "result": "succ", "run_id": run_id})


def err(errcode: int, errmsg: str = "error") -> Reply:
    return Reply(body={"errcode": errcode, "errmsg": errmsg})


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedServer(ThreadingHTTPServer):
    """Answers each request with the next scripted Reply (the last one repeats)."""

    daemon_threads = True

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.received: list[Received] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_reply(self, received: Received) -> Reply:
        with self.lock:
            self.received.append(received)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        received = Received(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
        reply = self.server.next_reply(received)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        data = reply.payload()
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    do_POST = do_GET = do_PUT = _handle


def free_port() -> int:
    """A port with nothing listening (for connection-refused cases)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RoutedServer(ScriptedServer):
    """Answers each request with route(received): for scenarios where calls run concurrently."""

    def __init__(self, route: Callable[[Received], Reply]) -> None:
        self.route = route
        super().__init__([Reply()])

    def next_reply(self, received: Received) -> Reply:
        with self.lock:
            self.received.append(received)
        return self.route(received)


class TrickleServer:
    """Reads the request, sends a 200 with a Content-Length of `length`, then `piece` every `every`
    seconds: each read of the reply finishes in time, the body as a whole never does. `gone` is
    set once the client has dropped the connection."""

    def __init__(self, length: int, piece: bytes, every: float) -> None:
        self.length, self.piece, self.every = length, piece, every
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.gone = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            try:
                conn.recv(1 << 16)
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {self.length}\r\n\r\n".encode())
                while not self.stop.wait(self.every):
                    conn.sendall(self.piece)
            except OSError:
                self.gone.set()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
