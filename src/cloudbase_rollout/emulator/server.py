"""A local stand-in for WeChat's CloudBase Run endpoints, faithful to the spec's error table.

For users testing workflows offline and for the tests. Every endpoint is a POST with
?access_token=, checked in the order WeChat's gateway would: 43002 non-POST, 41001 no token,
42001 expired token, 40014 wrong token, 44002 empty body, 47001 malformed JSON, 40101 missing
required field, 40097 invalid field or no such version. Errors come inside an HTTP 200.

endpoints:
  /componenttcb/rollupdatecloudbaserunserverversion  roll out a version (`latest`: the newest);
      it reads `deploying`, then `normal` after --settle-seconds; `succ` with a fresh run_id
  /componenttcb/releasecloudbaserunversion  {env_id, server_name, release_version}: a `normal`
      version gets flow_ratio 100, the others 0 (`success`); otherwise `failed`
  /componenttcb/getcsversionlist    {env, service_name, limit?, offset?}: newest first
  /componenttcb/getcsversiondetail  {env, service_name, version_name}
  /cgi-bin/component/api_component_token  mints a token; the previous one then answers 42001
A service never seen before exists, as if made by hand in the console: one serving version
`<server_name>-001`, a day old, and the concrete version (not `latest`) the first call names.

controls (curl them; parameters in the query string):
  GET  /_emulator/rollouts   rollouts received (bodies, never tokens) and the call count
  GET  /_emulator/services   every service, its versions (status, flow_ratio) and the releases
  POST /_emulator/fail?count=N&errcode=-1     the next N roll-update calls answer errcode
  POST /_emulator/read-fail?count=N&errcode=-1|45011|45009[&http=503]  the next N list/detail calls
  POST /_emulator/settle-fail?[env_id=&server_name=&version_name=&]status=build_fail&count=1
      the next matching rollout(s) settle to that status instead of normal
  POST /_emulator/slow?env_id=&server_name=&seconds=S   that service settles after S seconds
  POST /_emulator/status?env_id=&server_name=&version_name=&status=warming_up[&reads=N]
      reads report that word for the version (N reads, or until set again; empty status: the truth)
  POST /_emulator/seed  JSON {"env_id","server_name","versions":[{"version_name","status",
      "created_time"?, "flow_ratio"?, ...}]}: the service with exactly those versions
  POST /_emulator/reset  forget rollouts, services, releases and injected faults
"""

from __future__ import annotations

import argparse
import json
import secrets
import string
import threading
import time
from collections.abc import Callable, Sequence
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cloudbase_rollout import API_PATH, RELEASE_PATH, TOKEN_PATH, VERSION_DETAIL_PATH, VERSION_LIST_PATH
from cloudbase_rollout.emulator.controls import CONTROLS, Payload, Query, error_reply
from cloudbase_rollout.emulator.state import FAILED, SettleFailure, State
from cloudbase_rollout.inputs.validate import request_problems
from cloudbase_rollout.jsontext import loads
from cloudbase_rollout.vocabulary import schemas

__all__ = ["Emulator", "State", "main"]
MAX_BODY = 1 << 20
RUN_ID_ALPHABET = string.ascii_letters + string.digits
BUSY = {-1: "system error", 45009: "reach max api daily quota limit",
        45011: "api minute-quota reach limit, retry next minute"}
UNAVAILABLE = "<html><body><h1>503 Service Unavailable</h1></body></html>"
Endpoint = Callable[[State, str, str, bytes], dict[str, Any]]


class Refused(Exception):
    """The reply to a call the emulator will not carry out."""

    def __init__(self, errcode: int, errmsg: str, status: int = 200) -> None:
        super().__init__(errmsg)
        self.status, self.reply = status, error_reply(errcode, errmsg)


def admitted(state: State, method: str, token: str, raw: bytes) -> dict[str, Any]:
    """The body of a call that passes the gateway's checks, in WeChat's order; else Refused."""
    if method != "POST":
        raise Refused(43002, "require POST method")
    if not token:
        raise Refused(41001, "access_token missing")
    if token in state.expired_tokens:
        raise Refused(42001, "access_token expired")
    if token != state.token:
        raise Refused(40014, "invalid access_token")
    if not raw.strip():
        raise Refused(44002, "empty post data")
    try:
        body = loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Refused(47001, "data format error") from None
    if not isinstance(body, dict):
        raise Refused(47001, "data format error")
    return body


def answer(state: State, method: str, token: str | None, raw: bytes) -> dict[str, Any]:
    """The roll-update reply for one request, per the spec's error table."""
    try:
        body = admitted(state, method, token or "", raw)
    except Refused as refused:
        return refused.reply
    failure = state.take_failure()
    if failure is not None:
        return error_reply(failure, "system error")
    problems = request_problems(body)
    missing = [p for p in problems if p.kind == "required"]
    if missing:
        return error_reply(40101, f"missing parameter: {', '.join(p.input for p in missing)}")
    if problems:
        return error_reply(40097, f"invalid args: {problems[0]}")
    run_id = "".join(secrets.choice(RUN_ID_ALPHABET) for _ in range(14))
    if not state.roll(body, run_id):
        return error_reply(40097, f"invalid args: version_name: no such version: {body['version_name']}")
    return {"errcode": 0, "errmsg": "ok", "result": "succ", "run_id": run_id}


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schemas.load(name))


def checked(state: State, method: str, token: str, raw: bytes, schema: str, read: bool = False) -> dict[str, Any]:
    """A body past the gateway, the read-failure control (reads only) and its schema; else Refused."""
    body = admitted(state, method, token, raw)
    failure = state.take_read_failure() if read else None
    if failure is not None:
        raise Refused(failure[1], BUSY.get(failure[1], "system error"), failure[0])
    errors = sorted(_validator(schema).iter_errors(body), key=lambda e: e.validator != "required")
    missing = [n for e in errors if e.validator == "required" for n in e.validator_value if n not in e.instance]
    if missing:
        raise Refused(40101, f"missing parameter: {', '.join(missing)}")
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "body"
        raise Refused(40097, f"invalid args: {where}: {errors[0].message[:200]}")
    return body


def release(state: State, method: str, token: str, raw: bytes) -> dict[str, Any]:
    body = checked(state, method, token, raw, "release.request.schema.json")
    outcome = state.release(body["env_id"], body["server_name"], body["release_version"])
    if outcome is None:
        raise Refused(40097, f"invalid args: release_version: no such version: {body['release_version']}")
    return {"errcode": 0, "errmsg": "ok", **outcome}


def version_list(state: State, method: str, token: str, raw: bytes) -> dict[str, Any]:
    body = checked(state, method, token, raw, "versionlist.request.schema.json", read=True)
    limit, offset = int(body.get("limit", 20)), int(body.get("offset", 0))
    total, items = state.page(body["env"], body["service_name"], limit, offset)
    return {"errcode": 0, "errmsg": "ok", "total": total, "items": items}


def version_detail(state: State, method: str, token: str, raw: bytes) -> dict[str, Any]:
    body = checked(state, method, token, raw, "versiondetail.request.schema.json", read=True)
    detail = state.detail(body["env"], body["service_name"], body["version_name"])
    if detail is None:
        raise Refused(40097, f"invalid args: version_name: no such version: {body['version_name']}")
    return {"errcode": 0, "errmsg": "ok", **detail}


ENDPOINTS: dict[str, Endpoint] = {API_PATH: answer, RELEASE_PATH: release, VERSION_LIST_PATH: version_list,
                                  VERSION_DETAIL_PATH: version_detail}


def mint(state: State, raw: bytes) -> dict[str, Any]:
    """POST /cgi-bin/component/api_component_token: a fresh token replaces the old one."""
    try:
        body = json.loads(raw.decode("utf-8") or "null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return error_reply(47001, "data format error")
    if not isinstance(body, dict) or body.get("component_appid") != state.component_appid:
        return error_reply(40013, "invalid appid")
    if body.get("component_appsecret") != state.component_appsecret:
        return error_reply(40125, "invalid appsecret")
    if body.get("component_verify_ticket") != state.component_verify_ticket:
        return error_reply(61006, "component ticket is invalid")
    with state.lock:
        state.expired_tokens.add(state.token)
        state.token = "emu-" + secrets.token_urlsafe(24)
    return {"component_access_token": state.token, "expires_in": 7200}


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
            self._send(413, error_reply(413, f"Content-Length must be an integer up to {MAX_BODY}"))
            return
        if parts.path.startswith("/_emulator/"):
            self._control(method, parts.path, parse_qs(parts.query), raw)
            return
        if self.state.delay:
            time.sleep(self.state.delay)
        endpoint = ENDPOINTS.get(parts.path)
        if endpoint is not None:
            token = parse_qs(parts.query).get("access_token", [""])[0]
            try:
                self._send(200, endpoint(self.state, method, token, raw))
            except Refused as refused:  # a gateway's 503 is a page, not JSON
                self._send(refused.status, UNAVAILABLE if refused.status == 503 else refused.reply)
        elif parts.path == TOKEN_PATH and method == "POST":
            self._send(200, mint(self.state, raw))
        else:
            self._send(404, error_reply(404, f"no such path: {parts.path}"))

    def _body(self) -> bytes | None:
        """The request body; None when its Content-Length is not one to wait for."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _control(self, method: str, path: str, query: Query, raw: bytes) -> None:
        control = CONTROLS.get((method, path))
        if control is None:
            self._send(404, error_reply(404, f"no such control: {method} {path}"))
            return
        try:
            status, payload = control(self.state, query, raw)
        except (ValueError, TypeError, OverflowError) as error:
            status, payload = 400, error_reply(400, str(error)[:300])
        self._send(status, payload)

    def _send(self, status: int, payload: Payload) -> None:
        text = isinstance(payload, str)
        data = (payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8" if text else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self._route(self.command)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST


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
    p = argparse.ArgumentParser(prog="cloudbase-rollout emulator", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (default 8080)")
    p.add_argument("--token", default="emulator-access-token", help="the access_token it accepts")
    p.add_argument("--expired-token", action="append", default=[], help="a token answered with 42001")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--fail-next", type=int, default=0, help="answer the next N rollouts with errcode -1")
    p.add_argument("--settle-seconds", type=float, default=2.0,
                   help="seconds a rolled-out version reads `deploying` before it settles (default 2)")
    p.add_argument("--fail-settle", type=int, default=0, metavar="N",
                   help="the next N rollouts settle to --fail-status instead of normal")
    p.add_argument("--fail-status", default=FAILED, help=f"the status they settle to (default {FAILED})")
    p.add_argument("--read-fail-next", type=int, default=0, metavar="N",
                   help="answer the next N list/detail calls with --read-fail-errcode")
    p.add_argument("--read-fail-errcode", type=int, default=-1, choices=sorted(BUSY),
                   help="-1 busy, 45011 minute quota, 45009 daily quota (default -1)")
    p.add_argument("--read-fail-http", action="store_const", const=503, default=200,
                   help="fail those reads with HTTP 503 instead")
    p.add_argument("--list-run-id", action="store_true", help="list items carry the run_id of their rollout")
    p.add_argument("--component-appid", default=State.component_appid)
    p.add_argument("--component-appsecret", default=State.component_appsecret)
    p.add_argument("--component-verify-ticket", default=State.component_verify_ticket)
    return p


def main(argv: Sequence[str]) -> int:
    o = arguments().parse_args(argv)
    state = State(o.token, set(o.expired_token), o.component_appid, o.component_appsecret,
                  o.component_verify_ticket, delay=o.delay, fail_next=o.fail_next, settle_seconds=o.settle_seconds,
                  list_run_id=o.list_run_id, read_fail_next=o.read_fail_next,
                  read_fail_errcode=o.read_fail_errcode, read_fail_http=o.read_fail_http)
    if o.fail_settle:
        state.fail_settling(SettleFailure(None, None, None, o.fail_status, o.fail_settle))
    server = Emulator(state, o.host, o.port)
    print(f"cloudbase-rollout emulator listening on {server.url}", flush=True)
    print(f"  POST {server.url}{API_PATH}?access_token=<token>; GET {server.url}/_emulator/services", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
