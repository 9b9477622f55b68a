"""A local stand-in for the WeChat endpoint, faithful to the spec's error table.

For the README's demo and for users testing workflows offline. Checks, in the
order WeChat's gateway would: 43002 non-POST, 41001 no token, 42001 expired
token, 40014 wrong token, 44002 empty body, 47001 malformed JSON, 40101 missing
required field, 40097 invalid field (same schema as the client), otherwise
`succ` with a fresh run_id. Control endpoints live under /_emulator/.
"""

from __future__ import annotations

import argparse
import json
import secrets
import string
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cloudbase_rollout import API_PATH, TOKEN_PATH
from cloudbase_rollout.request import loads
from cloudbase_rollout.validate import request_problems

MAX_BODY = 1 << 20
RUN_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass
class State:
    """What the emulator knows and remembers; shared by the handler threads."""

    token: str
    expired_tokens: set[str] = field(default_factory=set)
    component_appid: str = "wx-emulator-component"
    component_appsecret: str = "emulator-appsecret"
    component_verify_ticket: str = "emulator-ticket"
    delay: float = 0.0
    fail_next: int = 0
    fail_errcode: int = -1
    rollouts: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_failure(self) -> int | None:
        with self.lock:
            self.calls += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_errcode
        return None


def answer(state: State, method: str, token: str | None, raw: bytes) -> dict[str, Any]:
    """The roll-update reply for one request, per the spec's error table."""
    if method != "POST":
        return _err(43002, "require POST method")
    if not token:
        return _err(41001, "access_token missing")
    if token in state.expired_tokens:
        return _err(42001, "access_token expired")
    if token != state.token:
        return _err(40014, "invalid access_token")
    if not raw.strip():
        return _err(44002, "empty post data")
    try:
        body = loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return _err(47001, "data format error")
    if not isinstance(body, dict):
        return _err(47001, "data format error")
    failure = state.take_failure()
    if failure is not None:
        return _err(failure, "system error")
    problems = request_problems(body)
    missing = [p for p in problems if p.kind == "required"]
    if missing:
        return _err(40101, f"missing parameter: {', '.join(p.input for p in missing)}")
    if problems:
        return _err(40097, f"invalid args: {problems[0]}")
    run_id = "".join(secrets.choice(RUN_ID_ALPHABET) for _ in range(14))
    with state.lock:
        state.rollouts.append({"run_id": run_id, "received_at": time.time(), "body": body})
    return {"errcode": 0, "errmsg": "ok", "result": "succ", "run_id": run_id}


def mint(state: State, raw: bytes) -> dict[str, Any]:
    """POST /cgi-bin/component/api_component_token: a fresh token replaces the old one."""
    try:
        body = json.loads(raw.decode("utf-8") or "null")
    except (ValueError, UnicodeDecodeError):
        return _err(47001, "data format error")
    if not isinstance(body, dict) or body.get("component_appid") != state.component_appid:
        return _err(40013, "invalid appid")
    if body.get("component_appsecret") != state.component_appsecret:
        return _err(40125, "invalid appsecret")
    if body.get("component_verify_ticket") != state.component_verify_ticket:
        return _err(61006, "component ticket is invalid")
    with state.lock:
        state.expired_tokens.add(state.token)
        state.token = "emu-" + secrets.token_urlsafe(24)
    return {"component_access_token": state.token, "expires_in": 7200}


def _err(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg}


class Handler(BaseHTTPRequestHandler):
    server_version = "cloudbase-rollout-emulator"
    state: State

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request line holds the access_token."""

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        raw = self._body()
        if raw is None:
            self.close_connection = True
            self._send(413, _err(413, f"Content-Length must be an integer up to {MAX_BODY}"))
            return
        if parts.path.startswith("/_emulator/"):
            self._control(method, parts.path, parse_qs(parts.query))
            return
        if self.state.delay:
            time.sleep(self.state.delay)
        if parts.path == API_PATH:
            token = parse_qs(parts.query).get("access_token", [""])[0]
            self._send(200, answer(self.state, method, token, raw))
        elif parts.path == TOKEN_PATH and method == "POST":
            self._send(200, mint(self.state, raw))
        else:
            self._send(404, _err(404, f"no such path: {parts.path}"))

    def _body(self) -> bytes | None:
        """The request body; None when its Content-Length is not one to wait for."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _control(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        state = self.state
        if path == "/_emulator/rollouts" and method == "GET":
            with state.lock:
                self._send(200, {"rollouts": list(state.rollouts), "calls": state.calls})
        elif path == "/_emulator/fail" and method == "POST":
            try:
                count, errcode = int(query.get("count", ["1"])[0]), int(query.get("errcode", ["-1"])[0])
            except ValueError:
                self._send(400, _err(400, "count and errcode must be integers"))
                return
            with state.lock:
                state.fail_next, state.fail_errcode = count, errcode
            self._send(200, {"fail_next": count, "errcode": errcode})
        elif path == "/_emulator/reset" and method == "POST":
            with state.lock:
                state.rollouts.clear()
                state.calls = state.fail_next = 0
            self._send(200, {"reset": True})
        else:
            self._send(404, _err(404, f"no such control: {method} {path}"))

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self._route("POST")

    def do_GET(self) -> None:
        self._route("GET")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")


class Emulator(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a batch rollout opens many connections at once

    def __init__(self, state: State, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("BoundHandler", (Handler,), {"state": state})
        super().__init__((host, port), handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Emulator:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


def arguments() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cloudbase-rollout emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (default 8080)")
    p.add_argument("--token", default="emulator-access-token", help="the access_token it accepts")
    p.add_argument("--expired-token", action="append", default=[], help="a token answered with 42001")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--fail-next", type=int, default=0, help="answer the next N rollouts with errcode -1")
    p.add_argument("--component-appid", default=State.component_appid)
    p.add_argument("--component-appsecret", default=State.component_appsecret)
    p.add_argument("--component-verify-ticket", default=State.component_verify_ticket)
    return p


def main(argv: Sequence[str]) -> int:
    o = arguments().parse_args(argv)
    state = State(o.token, set(o.expired_token), o.component_appid, o.component_appsecret,
                  o.component_verify_ticket, delay=o.delay, fail_next=o.fail_next)
    server = Emulator(state, o.host, o.port)
    print(f"cloudbase-rollout emulator listening on {server.url}", flush=True)
    print(f"  POST {server.url}{API_PATH}?access_token=<token>; GET {server.url}/_emulator/rollouts",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def demo(argv: Sequence[str]) -> int:
    """Start an emulator, run the Action exactly as the runner would, show what it produced."""
    import os
    import subprocess
    import sys
    import tempfile

    token = "demo-" + secrets.token_urlsafe(16)
    server = Emulator(State(token)).start()
    with tempfile.TemporaryDirectory() as tmp:
        outputs, summary = os.path.join(tmp, "output"), os.path.join(tmp, "summary.md")
        env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outputs,
               "GITHUB_STEP_SUMMARY": summary, "GITHUB_WORKSPACE": tmp,
               "INPUT_ACCESS_TOKEN": token, "INPUT_API_BASE_URL": server.url,
               "INPUT_ENV_ID": "demo-6gxk23no5605e14f", "INPUT_SERVER_NAME": "shop-api",
               "INPUT_IMAGE": "ccr.ccs.tencentyun.com/demo/shop-api", "INPUT_IMAGE_TAG": "v1.0.0",
               "INPUT_FLOW_RATIO": "100", "INPUT_CONTAINER_PORT": "80",
               "INPUT_ENV_PARAMS": "LOG_LEVEL=info\nGREETING=hello, world"}
        print(f"$ cloudbase-rollout action against the emulator at {server.url}", flush=True)
        code = subprocess.call([sys.executable, "-m", "cloudbase_rollout.action"], env=env)
        print("\n--- GITHUB_OUTPUT ---")
        print(_read(outputs))
        print("--- step summary ---")
        print(_read(summary))
    received = server.state.rollouts
    server.shutdown()
    if code == 0 and received:
        print(f"run_id: {received[-1]['run_id']}")
    return code


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return "(none)"
