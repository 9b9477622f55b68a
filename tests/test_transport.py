"""One bounded POST on its own: what goes out, what comes back, and how each failure is typed.

Every server is real and on 127.0.0.1; nothing is patched.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloudbase_rollout import __version__
from cloudbase_rollout.errors import TransportError
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.wechat.transport import DEADLINE_GRACE, MAX_REPLY_BYTES, HttpReply, Transport
from tests.conftest import TOKEN
from tests.loopback import Reply, ScriptedServer, TrickleServer, free_port, ok
from tests.scenarios import DripServer, TlsServer

PATH = "/componenttcb/some"
BODY = {"env_id": "prod-1", "server_name": "api", "remark": "发布 v1", "flow_ratio": 100}


def transport(url: str, timeout: float = 5.0, redactor: Redactor | None = None) -> Transport:
    return Transport(url, timeout, redactor or Redactor())


def failure(url: str, timeout: float = 5.0, params: dict[str, str] | None = None) -> TransportError:
    with pytest.raises(TransportError) as caught:
        transport(url, timeout).post(PATH, params or {"access_token": TOKEN}, BODY)
    return caught.value


# -- a reply -----------------------------------------------------------------------

def test_a_reply_is_its_status_headers_and_raw_bytes(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(200, '{"errcode": 0, "errmsg": "成功"}', {"Content-Type": "application/json"}))
    reply = transport(server.url).post(PATH, {"access_token": TOKEN}, BODY)
    assert isinstance(reply, HttpReply)
    assert reply.status == 200
    assert reply.data == '{"errcode": 0, "errmsg": "成功"}'.encode()
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.content_type == "application/json"


@pytest.mark.parametrize("status", [201, 302, 404, 429, 500, 503])
def test_any_status_is_a_reply_not_an_error(scripted: Callable[..., ScriptedServer], status: int) -> None:
    server = scripted(Reply(status, "body", {"Retry-After": "3"}))
    reply = transport(server.url).post(PATH, {}, BODY)
    assert (reply.status, reply.data, reply.headers["Retry-After"]) == (status, b"body", "3")


def test_content_type_says_so_when_absent(scripted: Callable[..., ScriptedServer]) -> None:
    reply = transport(scripted(Reply(200, "{}")).url).post(PATH, {}, BODY)
    assert reply.content_type == "no Content-Type"
    assert HttpReply(200, {"Content-Type": ""}, b"").content_type == "no Content-Type"


def test_header_names_are_case_insensitive(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(503, "x", {"content-type": "text/html", "retry-after": "7"}))
    reply = transport(server.url).post(PATH, {}, BODY)
    assert reply.content_type == "text/html"
    assert reply.headers.get("Retry-After") == "7"


# -- the request ---------------------------------------------------------------------

def test_the_request_is_one_post_of_utf8_json_with_our_user_agent(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ok())
    transport(server.url).post(PATH, {"access_token": TOKEN}, BODY)
    [got] = server.received
    assert got.method == "POST" and got.path == PATH
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert got.headers["User-Agent"] == f"cloudbase-rollout/{__version__}"
    assert json.loads(got.body.decode("utf-8")) == BODY
    assert "发布 v1".encode() in got.body  # raw UTF-8, not \u escapes
    assert b"\\u" not in got.body


def test_the_token_travels_only_in_the_query(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ok())
    transport(server.url).post(PATH, {"access_token": TOKEN}, BODY)
    [got] = server.received
    assert got.query == {"access_token": [TOKEN]}
    assert TOKEN.encode() not in got.body
    assert not any(TOKEN in f"{name}: {value}" for name, value in got.headers.items())


def test_no_params_means_no_query(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ok())
    transport(server.url).post(PATH, {}, {"component_appid": "wx1"})
    [got] = server.received
    assert got.query == {} and got.json() == {"component_appid": "wx1"}


def test_a_redirect_is_returned_not_followed(scripted: Callable[..., ScriptedServer]) -> None:
    target = scripted(ok())
    server = scripted(Reply(302, "", {"Location": target.url + PATH}))
    reply = transport(server.url).post(PATH, {"access_token": TOKEN}, BODY)
    assert reply.status == 302 and reply.headers["Location"] == target.url + PATH
    assert len(server.received) == 1
    assert target.received == []  # neither the body nor the token went anywhere else


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch, scripted: Callable[..., ScriptedServer]) -> ScriptedServer:
    """HTTP_PROXY points at a loopback server that answers as a proxy would (and records what it got)."""
    proxy = scripted(Reply(200, '{"via": "proxy"}'))
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    return proxy


def test_proxies_are_bypassed_for_loopback(proxy_env: ScriptedServer, scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ok())
    reply = transport(server.url).post(PATH, {"access_token": TOKEN}, BODY)
    assert json.loads(reply.data)["errcode"] == 0
    assert len(server.received) == 1 and proxy_env.received == []


def test_proxies_are_used_for_other_hosts(proxy_env: ScriptedServer) -> None:
    """The request goes to the (loopback) proxy, never to the remote host itself."""
    reply = transport("http://api.example.invalid").post(PATH, {}, BODY)
    assert reply.data == b'{"via": "proxy"}'
    [got] = proxy_env.received
    assert got.path == PATH and got.headers["Host"] == "api.example.invalid"


# -- failures: was the body sent? ---------------------------------------------------

def test_a_refused_connection_is_not_sent() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    error = failure(url)
    assert error.kind == "not_sent"
    assert error.summary == f"could not connect to {url}"
    assert error.detail.startswith("ConnectionRefusedError: ")  # the root cause, not urllib3's wording
    assert "Connection refused" in error.detail and "Max retries" not in error.detail
    assert TOKEN not in str(error)


def test_a_connection_closed_after_the_request_is_no_reply(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(drop=True))
    error = failure(server.url)
    assert error.kind == "no_reply"
    assert error.summary.startswith(f"lost the connection to {server.url} after sending the request")
    assert len(server.received) == 1  # the request did arrive
    assert TOKEN not in str(error)


def test_a_reply_that_cannot_be_decoded_is_no_reply(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(200, b"\x1f\x8b not gzip at all", {"Content-Encoding": "gzip"}))
    error = failure(server.url)
    assert error.kind == "no_reply" and "cannot be decoded" in error.summary


def test_a_gzip_reply_is_decoded(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(200, gzip.compress(b'{"errcode": 0}'), {"Content-Encoding": "gzip"}))
    assert transport(server.url).post(PATH, {}, BODY).data == b'{"errcode": 0}'


def test_a_reply_of_exactly_the_cap_is_read(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(200, b" " * MAX_REPLY_BYTES))
    assert len(transport(server.url).post(PATH, {}, BODY).data) == MAX_REPLY_BYTES


def test_a_reply_over_the_cap_is_no_reply(scripted: Callable[..., ScriptedServer]) -> None:
    assert MAX_REPLY_BYTES == 1 << 20
    server = scripted(Reply(200, b" " * (MAX_REPLY_BYTES + 1)))
    error = failure(server.url)
    assert error.kind == "no_reply"
    assert error.summary == f"{server.url} sent a reply larger than {MAX_REPLY_BYTES} bytes (stopped reading)"


def test_a_gzip_bomb_is_stopped_at_the_cap(scripted: Callable[..., ScriptedServer]) -> None:
    """The cap counts decoded bytes: 5 MB of zeros compress to a few kB."""
    bomb = gzip.compress(b"0" * (5 * MAX_REPLY_BYTES))
    assert len(bomb) < MAX_REPLY_BYTES // 10
    error = failure(scripted(Reply(200, bomb, {"Content-Encoding": "gzip"})).url)
    assert error.kind == "no_reply" and "larger than" in error.summary


# -- failures in time: the timeout bounds the whole attempt --------------------------

def test_a_slow_server_times_out_after_the_request_was_sent(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(delay=3, body={"errcode": 0}))
    started = time.monotonic()
    error = failure(server.url, timeout=0.5)
    took = time.monotonic() - started
    assert error.kind == "timed_out"
    assert error.summary.startswith(f"timed out waiting for {server.url} after sending the request")
    assert 0.4 <= took < 0.5 + DEADLINE_GRACE + 0.3
    assert len(server.received) == 1


@pytest.fixture
def drip() -> Iterator[Callable[[str], DripServer]]:
    servers: list[DripServer] = []

    def make(mode: str) -> DripServer:
        servers.append(DripServer(mode))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.mark.parametrize("mode", ["drip-headers", "drip-body"])
def test_a_trickling_server_cannot_stretch_the_timeout(drip: Callable[[str], DripServer], mode: str) -> None:
    """Each piece arrives within the read timeout; the whole reply never does."""
    server = drip(mode)
    started = time.monotonic()
    error = failure(server.url, timeout=0.5)
    took = time.monotonic() - started
    assert error.kind == "timed_out"
    assert "within timeout_seconds" in str(error) and "stopped waiting" in str(error)
    assert took < 0.5 + DEADLINE_GRACE + 0.5, took
    assert server.connections == 1




def test_a_body_arriving_in_time_piecewise_is_cut_at_the_deadline() -> None:
    """The reader itself checks the deadline between chunks: it gives up before the watchdog must."""
    server = TrickleServer(900_000, b" " * 65536, 0.15)  # 64 kB every 0.15 s: each read in time
    url = server.url
    try:
        started = time.monotonic()
        error = failure(server.url, timeout=0.5)
        took = time.monotonic() - started
    finally:
        server.close()
    assert error.kind == "timed_out"
    assert error.summary.startswith(f"timed out waiting for {url} after sending the request")
    assert "the reply did not finish within timeout_seconds" in error.summary
    assert took < 0.5 + DEADLINE_GRACE, took


def test_the_deadline_has_a_short_grace() -> None:
    assert 0 < DEADLINE_GRACE <= 1


# -- TLS: the certificate, the handshake, and errors after the request -------------

@pytest.fixture
def tls(certificate: Path) -> Iterator[Callable[[str], TlsServer]]:
    servers: list[TlsServer] = []

    def make(mode: str) -> TlsServer:
        servers.append(TlsServer(certificate, mode))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch, certificate: Path) -> None:
    """requests reads REQUESTS_CA_BUNDLE from the environment at each request."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate))


def test_https_with_a_trusted_certificate_replies(tls: Callable[[str], TlsServer], trusted: None) -> None:
    server = tls("ok")
    reply = transport(server.url).post(PATH, {"access_token": TOKEN}, BODY)
    assert reply.status == 200 and json.loads(reply.data)["run_id"] == "Run-tls"


def test_an_untrusted_certificate_is_its_own_kind(tls: Callable[[str], TlsServer],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server = tls("ok")
    error = failure(server.url)
    assert error.kind == "cert"
    assert "CERTIFICATE_VERIFY_FAILED" in str(error) and "REQUESTS_CA_BUNDLE" in str(error)
    assert "Nothing was sent" in str(error)
    assert server.requests == 0


def test_a_reset_inside_the_handshake_is_not_sent(tls: Callable[[str], TlsServer], trusted: None) -> None:
    error = failure(tls("hangup").url)
    assert error.kind == "not_sent"


def test_a_tls_error_after_the_request_is_no_reply(tls: Callable[[str], TlsServer], trusted: None) -> None:
    server = tls("garbage")
    error = failure(server.url)
    assert error.kind == "no_reply"
    assert "SSLError" in error.summary
    assert server.requests == 1


# -- what an error may say -------------------------------------------------------------

def test_safe_redacts_before_it_cuts_and_neutralizes() -> None:
    redactor = Redactor()
    redactor.add(TOKEN)
    t = transport("http://127.0.0.1:1", redactor=redactor)
    assert t.safe(f"x{TOKEN}y") == "x***y"
    assert t.safe("a\nb::c") == "a\\nb:\u200b:c"
    # the cut falls inside the token: redacting first leaves no fragment of it
    assert TOKEN[:8] not in t.safe("ab" + TOKEN, limit=10)
    assert t.safe("abcdef", limit=3) == "abc..."
