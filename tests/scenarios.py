"""The fault scenarios of issue 3, shared by test_faults (what each must do) and
test_leaks (that none of them lets a secret out).

A Scenario says what a loopback server answers and which inputs the step gets;
`outcome()` runs it once per test session through tests/runner.py (entrypoint.py,
exactly as the runner does) and keeps what happened: the step's result, the
requests the server saw, and how long it took. Every server is real and on
loopback; nothing is patched.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from cloudbase_rollout import API_PATH
from tests.conftest import TOKEN, good_inputs
from tests.loopback import Received, Reply, ScriptedServer, _ScriptedHandler, err, free_port, ok
from tests.runner import StepResult, run_inprocess, run_step

# Secrets: random-looking so that any fragment of one is recognisable in a log.
MINTED = "minted-SECRET-0b7e3f95d8a24c61"
APPSECRET = "appsecret-SECRET-c4e1a0d97f3b8265"
TICKET = "ticket@@@SECRET-9d2f6a0c5e8b4713"
APPID = "wx7c3d5e9f1a2b4c6d"
SECRETS: dict[str, str] = {
    "access_token": TOKEN,
    "minted token": MINTED,
    "component_appsecret": APPSECRET,
    "component_verify_ticket": TICKET,
}
MINT_INPUTS = {"component_appid": APPID, "component_appsecret": APPSECRET, "component_verify_ticket": TICKET}

#: Every code of the roll-update table that must be answered with exactly one request.
NON_RETRYABLE = (-1000, 40014, 40097, 40101, 41001, 43002, 44002, 47001, 85088, 99999)
AMBIGUOUS_STATUS = (500, 502, 504, 520)
SLOW = "1"  # timeout_seconds for slow-server scenarios


def minted(token: str = MINTED) -> Reply:
    return Reply(body={"component_access_token": token, "expires_in": 7200})


def html(status: int) -> Reply:
    return Reply(status=status, body=f"<html><body><h1>{status} Bad Gateway</h1>nginx</body></html>",
                 headers={"Content-Type": "text/html"})


@dataclass(frozen=True)
class Scenario:
    name: str
    replies: tuple[Reply, ...] = ()
    inputs: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    #: "scripted" (a ScriptedServer with the replies), "refused" (nothing listens),
    #: "drip-headers" / "drip-body" (a raw server that trickles its answer)
    target: str = "scripted"
    token: bool = True  # pass access_token
    mint: bool = True  # pass component_appid/appsecret/verify_ticket too
    process_timeout: float = 60
    #: Run entrypoint.py in a new process (for what only a process shows: its locale, its exit);
    #: otherwise action.main in-process with the same explicit environment.
    process: bool = False


@dataclass
class Outcome:
    result: StepResult
    received: list[Received]
    seconds: float
    connections: int = 0

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.received]

    @property
    def errors(self) -> list[str]:
        return self.result.annotations("error")

    @property
    def error(self) -> str:
        """The one ::error annotation (asserts there is exactly one)."""
        errors = self.errors
        assert len(errors) == 1, self.result.log
        return errors[0]


def _scenarios() -> list[Scenario]:
    out = [
        Scenario("success", (ok("Run-ok_1"),)),
        Scenario("success-debug", (ok("Run-ok_2"),), env={"RUNNER_DEBUG": "1"}),
        Scenario("dry-run", (ok(),), inputs={"dry_run": "true"}),
        Scenario("dry-run-debug", (ok(),), inputs={"dry_run": "true"}, env={"RUNNER_DEBUG": "1"}),
        Scenario("invalid-input", (ok(),), inputs={"flow_ratio": "150", "container_port": "0"}),
        Scenario("busy-then-success", (err(-1, "system error"), ok("Run-after_busy"))),
        Scenario("busy-always", (err(-1, "system error"),), inputs={"max_attempts": "4"}),
        Scenario("busy-debug", (err(-1, "system error"),), env={"RUNNER_DEBUG": "1"}),
        Scenario("503-retry-after", (Reply(503, "busy", {"Retry-After": "1"}), ok("Run-after_503"))),
        Scenario("429-then-success", (Reply(429, "slow down", {"Retry-After": "0"}), ok("Run-after_429"))),
        Scenario("429-always", (Reply(429, "slow down"),), inputs={"max_attempts": "2"}),
        Scenario("200-not-json", (Reply(200, "<html>hello</html>"),)),
        Scenario("200-json-without-errcode", (Reply(200, {"errmsg": "ok", "run_id": "abc"}),)),
        Scenario("200-json-array", (Reply(200, "[1, 2, 3]"),)),
        Scenario("200-deeply-nested", (Reply(200, "[" * 100_000 + "]" * 100_000),)),
        Scenario("succ-missing", (Reply(200, {"errcode": 0, "errmsg": "ok", "run_id": "abc"}),)),
        Scenario("errcode-0-not-succ", (Reply(200, {"errcode": 0, "errmsg": "ok", "result": "fail",
                                                     "run_id": "abc"}),)),
        Scenario("slow-server", (Reply(delay=5, body={"errcode": 0, "errmsg": "ok", "result": "succ",
                                                      "run_id": "late"}),),
                 inputs={"timeout_seconds": SLOW}),
        Scenario("drip-headers", target="drip-headers", inputs={"timeout_seconds": SLOW}),
        Scenario("drip-body", target="drip-body", inputs={"timeout_seconds": SLOW}),
        Scenario("dropped", (Reply(drop=True),)),
        Scenario("redirect", (Reply(307, "", {"Location": f"http://127.0.0.1:1{API_PATH}?access_token={TOKEN}"}),
                              ok())),
        Scenario("refused", target="refused", inputs={"max_attempts": "4"}),
        Scenario("8mb-reply", (Reply(200, b'{"errcode":0,"errmsg":"' + b"x" * (8 << 20) + b'"}'),)),
        Scenario("gzip-bomb", (Reply(200, gzip.compress(b'{"errcode":0,"errmsg":"' + b"0" * (16 << 20) + b'"}'),
                                     {"Content-Encoding": "gzip"}),)),
        Scenario("huge-errmsg-success", (Reply(200, {"errcode": 0, "errmsg": "x" * 900_000, "result": "succ",
                                                     "run_id": "Run-big"}),)),
        Scenario("huge-errmsg-failure", (Reply(200, {"errcode": 40097, "errmsg": "y" * 900_000}),)),
        Scenario("run-id-trailing-newline", (ok("abc\n"),)),
        Scenario("run-id-injects-record", (ok("abc\nresult=owned\n::warning::x"),)),
        Scenario("run-id-too-long", (ok("a" * 129),)),
        Scenario("run-id-delimiter", (ok("ghadelimiter_x\nrun_id=owned"),)),
        Scenario("errmsg-commands", (err(40097, "bad\n::warning::x\r\n##[error]y\n::set-output name=run_id::owned"
                                              "\u2028::error::z"),)),
        Scenario("errmsg-chinese", (err(40097, "参数错误: 服务名称不存在"),), env={"LC_ALL": "C", "LANG": "C"},
                 process=True),
        Scenario("errmsg-not-utf8", (Reply(200, b'{"errcode":40097,"errmsg":"\xff\xfe bad \xe4\xb8 \xc3"}'),)),
        Scenario("errmsg-gbk", (Reply(200, '{"errcode":40097,"errmsg":"参数错误"}'.encode("gbk")),)),
        Scenario("token-echoed", (err(40014, "invalid credential, access_token is " + TOKEN + " rid: 1"),)),
        Scenario("token-echoed-at-cut", (err(40014, "z" * 480 + TOKEN + " rid: 2"),)),
        Scenario("token-echoed-in-html", (Reply(502, "x" * 120 + f"<p>GET {API_PATH}?access_token={TOKEN}</p>"),)),
        Scenario("token-echoed-in-garbage", (Reply(200, "q" * 180 + f"access_token={TOKEN}&x=1"),)),
        Scenario("mint-42001", (err(42001, "access_token expired"), minted(), ok("Run-minted"))),
        Scenario("mint-42001-debug", (err(42001, "access_token expired"), minted(), ok("Run-minted_2")),
                 env={"RUNNER_DEBUG": "1"}),
        Scenario("mint-42001-again", (err(42001, "access_token expired"), minted(),
                                      err(42001, "expired, " + MINTED))),
        Scenario("no-mint-42001", (err(42001, "access_token expired"),), mint=False),
        Scenario("mint-first", (minted(), ok("Run-minted_3")), token=False),
        Scenario("mint-61004", (Reply(200, {"errcode": 61004, "errmsg": "access clientip is not registered"}),),
                 token=False),
        Scenario("mint-after-42001-61004", (err(42001, "access_token expired"),
                                            Reply(200, {"errcode": 61004, "errmsg": "ip not registered"}))),
        Scenario("mint-no-token", (Reply(200, {"errmsg": "ok", "expires_in": 7200}),), token=False),
        Scenario("mint-echoes-secrets", (Reply(200, {"errcode": 40125, "errmsg": f"invalid appsecret {APPSECRET} "
                                                     f"for ticket {TICKET}"}),), token=False),
        Scenario("mint-slow", (Reply(delay=5, body={"component_access_token": MINTED}),), token=False,
                 inputs={"timeout_seconds": SLOW}),
        Scenario("mint-refused", target="refused", token=False, inputs={"max_attempts": "2"}),
        Scenario("refused-debug", target="refused", inputs={"max_attempts": "2"}, env={"RUNNER_DEBUG": "1"}),
        # several services in one step: one succeeds, one fails with the token echoed; outputs are written
        Scenario("batch-mixed", (ok("Run-batch"), err(40014, f"bad token {TOKEN}")),
                 inputs={"services": json.dumps([{"server_name": "api"}, {"server_name": "web"}])}),
    ]
    for code in NON_RETRYABLE:
        out.append(Scenario(f"errcode{code}", (err(code, f"message of {code}"), ok())))
    for status in AMBIGUOUS_STATUS:
        out.append(Scenario(f"http{status}", (html(status), ok())))
    return out


SCENARIOS: dict[str, Scenario] = {s.name: s for s in _scenarios()}


# -- servers that the scripted one cannot play ---------------------------------

class DripServer:
    """Reads the request, then trickles a reply one piece every 0.2 s: each read
    finishes well within the read timeout, the whole reply never does."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(1 << 16)
                if self.mode == "drip-headers":
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    piece = b"X-Slow: 1\r\n"
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                    piece = b" "
                while not self.stop.wait(0.2):
                    conn.sendall(piece)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def make_certificate(directory: Path) -> Path | None:
    """A self-signed certificate for 127.0.0.1 and localhost (key and cert in one PEM), or None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    pem, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(pem), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    both = directory / "server.pem"
    both.write_text(key.read_text() + pem.read_text())
    return pem


class TlsServer:
    """A TLS server on 127.0.0.1 that counts connections and misbehaves on request.

    modes: "ok" answers a success reply; "garbage" completes the handshake, reads
    the whole request, then sends a corrupt TLS record (the client's read fails
    with an SSL error after the request went out); "hangup" resets the connection
    in the middle of the handshake (nothing can have been sent).
    """

    def __init__(self, certificate: Path, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.requests = 0
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate.with_name("server.pem"))
        self.sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            if self.mode == "hangup":
                conn.recv(16)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
                conn.close()
                return
            tls = self.context.wrap_socket(conn, server_side=True)
            _read_request(tls)
            self.requests += 1
            if self.mode == "garbage":
                raw = socket.socket(fileno=os.dup(tls.fileno()))
                raw.sendall(b"\x17\x03\x03\x00\x20" + bytes(32))
                time.sleep(0.3)
                raw.close()
            else:
                body = json.dumps({"errcode": 0, "errmsg": "ok", "result": "succ", "run_id": "Run-tls"}).encode()
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            tls.close()
        except (OSError, ssl.SSLError):
            conn.close()

    def close(self) -> None:
        self.sock.close()


def _read_request(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            break
        body += chunk
    return data


class ScriptedServer6(ScriptedServer):
    """The scripted server on ::1."""

    address_family = socket.AF_INET6

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.received = []
        self.lock = threading.Lock()
        ThreadingHTTPServer.__init__(self, ("::1", 0), _ScriptedHandler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://[::1]:{self.server_address[1]}"


# -- running a scenario -------------------------------------------------------

def inputs_for(scenario: Scenario, url: str) -> dict[str, str]:
    inputs = good_inputs(url)
    if not scenario.token:
        inputs.pop("access_token")
    if scenario.mint:
        inputs.update(MINT_INPUTS)
    inputs.update(scenario.inputs)
    return inputs


def play(scenario: Scenario, tmp: Path) -> Outcome:
    received: list[Received] = []
    connections = 0
    closer: Callable[[], None] = lambda: None  # noqa: E731
    if scenario.target == "scripted":
        server = ScriptedServer(list(scenario.replies))
        url, closer, received = server.url, server.close, server.received
    elif scenario.target == "refused":
        url = f"http://127.0.0.1:{free_port()}"
    elif scenario.target.startswith("drip"):
        drip = DripServer(scenario.target)
        url, closer = drip.url, drip.close
    else:
        raise AssertionError(scenario.target)
    started = time.monotonic()
    try:
        if scenario.process:
            result = run_step(tmp, inputs_for(scenario, url), dict(scenario.env), scenario.process_timeout)
        else:
            result = run_inprocess(tmp, inputs_for(scenario, url), dict(scenario.env))
    finally:
        seconds = time.monotonic() - started
        if scenario.target.startswith("drip"):
            connections = drip.connections
        closer()
    return Outcome(result, list(received), seconds, connections)


_played: dict[str, Outcome] = {}


def outcome(name: str, factory: pytest.TempPathFactory) -> Outcome:
    """Run a scenario once per session; test_faults and test_leaks share the result."""
    if name not in _played:
        _played[name] = play(SCENARIOS[name], factory.mktemp(name))
    return _played[name]
