"""A local stand-in for WeChat's CloudBase Run endpoints, faithful to the spec's error table.

For users testing workflows offline and for the tests. Every endpoint is a POST with
?access_token= (the default token is emulator-access-token; --token sets another), checked in
the order WeChat's gateway would: 43002 non-POST, 41001 no token, 42001 expired token, 40014
wrong token, 45009/45011 the token's quota (see --daily-quota-after, --minute-quota-after),
44002 empty body, 47001 malformed JSON, 40101 missing required field, 40097 invalid field or no
such version. Errors come inside an HTTP 200. A refused call changes nothing.

endpoints:
  /componenttcb/rollupdatecloudbaserunserverversion  roll out a version (`latest`: the newest);
      it replaces the version's content in place (same name, the body's settings), reads
      `deploying`, then `normal` after --settle-seconds; `succ` with a fresh run_id
  /componenttcb/releasecloudbaserunversion  {env_id, server_name, release_version}: a `normal`
      version gets flow_ratio 100, the others 0 (`success`); otherwise `failed`
  /componenttcb/getcsversionlist    {env, service_name, limit?, offset?}: newest first
  /componenttcb/getcsversiondetail  {env, service_name, version_name}: the settings of the last
      roll-update body as it sent them (--detail-numbers: cpu, mem, minnum, maxnum and
      policy_threshold as numbers, as Tencent's model types them)
  /componenttcb/describecloudbaserunenvs  {}: env_list[] of the seeded environments
  /componenttcb/batchgetenvid  {appids, source_type: 1}: relation_data[] {appid, env_list};
      err_list[] {appid, errmsg} for appids that were not seeded
  /cgi-bin/component/api_component_token  mints a token; the previous one then answers 42001
A service never seen before exists, as if made by hand in the console: one serving version
`<server_name>-001`, a day old, and the concrete version (not `latest`) the first call names.
Environments exist only when seeded (--seed-envs, /_emulator/seed-fleet): env_id
fleet-0001-<6 hex>, alias shop-0001, status NORMAL (or UNAVAILABLE), each shared with appid
wx<16 hex> (every 10th appid with two), each service at version <service>-001; the same --seed
gives the same fleet.

controls (curl them; parameters in the query string):
  GET  /_emulator/rollouts   rollouts received (bodies, never tokens) and the call count
  GET  /_emulator/services   every service, its versions (status, flow_ratio, image) and the releases
  GET  /_emulator/fleet      the seeded environments' count, the UNAVAILABLE ones and every appid
  GET  /_emulator/faults     the quota (settings, counts) and the failing and slow units
  POST /_emulator/fail?count=N&errcode=-1     the next N roll-update calls answer errcode
  POST /_emulator/read-fail?count=N&errcode=-1|45011|45009[&http=503]  the next N list/detail calls
  POST /_emulator/settle-fail?[env_id=&server_name=&version_name=&]status=build_fail&count=1
      the next matching rollout(s) settle to that status instead of normal
  POST /_emulator/fail-unit?env_id=&server_name=[&status=deploy_failed]  every rollout of that
      unit settles to the status (status=normal heals it)
  POST /_emulator/slow?env_id=&server_name=&seconds=S   that unit settles after S seconds
  POST /_emulator/quota?[minute_after=K&minute_seconds=60&daily_after=K]  after K calls let
      through, 45011 for minute_seconds (then K more), or 45009 for good; absent: no limit
  POST /_emulator/status?env_id=&server_name=&version_name=&status=warming_up[&reads=N]
      reads report that word for the version (N reads, or until set again; empty status: the truth)
  POST /_emulator/seed  JSON {"env_id","server_name","versions":[{"version_name","status",
      "created_time"?, "flow_ratio"?, ...}]}: the service with exactly those versions
  POST /_emulator/seed-fleet?envs=N[&services=shop-api,web&unavailable=K&seed=0&image=...]
      N more environments, as --seed-envs
  POST /_emulator/reset  forget rollouts, services, the fleet, releases and injected faults
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cloudbase_rollout import TOKEN_PATH
from cloudbase_rollout.emulator.controls import CONTROLS, Payload, Query
from cloudbase_rollout.emulator.endpoints import ENDPOINTS, mint
from cloudbase_rollout.emulator.gateway import Refused, error_reply
from cloudbase_rollout.emulator.state import State

__all__ = ["Emulator", "State", "main"]
MAX_BODY = 1 << 20
UNAVAILABLE = "<html><body><h1>503 Service Unavailable</h1></body></html>"


class Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1, so a client's pool keeps it open for the next call."""

    server_version = "cloudbase-rollout-emulator"
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds an idle kept-alive connection holds its thread
    wbufsize = 1 << 16  # headers and body leave in one send (handle_one_request flushes each answer)
    disable_nagle_algorithm = True  # and at once: a small answer never waits for the client's ACK
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
        """The request body; None when its length is not one to wait for (or not given as a
        Content-Length: a chunked body left unread would be taken for the next request)."""
        if self.headers.get("Transfer-Encoding"):
            return None
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
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self._route(self.command)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST


class Emulator(ThreadingHTTPServer):
    """The server: a daemon thread per connection, and a listen backlog for a fleet's burst."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # a fleet rollout opens up to 1,000 connections at once

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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is routine under load, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def main(argv: Sequence[str]) -> int:
    """`cloudbase-rollout emulator`: the flags are in `command`, which serves until interrupted."""
    from cloudbase_rollout.emulator.command import main as serve

    return serve(argv)
