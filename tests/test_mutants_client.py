"""Mutation-testing follow-up for api.py and transport.py: behaviour the other tests left open.

Every server is real and on 127.0.0.1; nothing is patched and nothing sleeps in the client
(WeChat(sleep=list.append)). Where a failure is hard to provoke on a real socket, the
exception requests/urllib3 would raise is handed to the public `Transport.failure`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from urllib3 import HTTPConnectionPool
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

from cloudbase_rollout.errors import ApiError, Cancelled, TransportError
from cloudbase_rollout.redact import Redactor, neutralize
from cloudbase_rollout.vocabulary.errcodes import API_ERRORS, describe
from cloudbase_rollout.vocabulary.validator import reply_errors
from cloudbase_rollout.wechat.api import ROLL_UPDATE, VERSION_DETAIL, CallSettings, Endpoint, WeChat
from cloudbase_rollout.wechat.transport import Transport
from tests.conftest import TOKEN
from tests.loopback import Received, Reply, RoutedServer, ScriptedServer, TrickleServer, err, ok
from tests.scenarios import APPID, APPSECRET, TICKET, TlsServer, minted

PATH = "/componenttcb/some"
BODY = {"env_id": "prod-1", "server_name": "api"}
NOWHERE = "http://127.0.0.1:9"  # never contacted: failure() only types an exception
MINT = (APPID, APPSECRET, TICKET)
Scripted = Callable[..., ScriptedServer]


def client(url: str, retries: list[str], *, mint: tuple[str, str, str] | None = None) -> WeChat:
    redactor = Redactor()
    redactor.add(TOKEN)
    return WeChat(CallSettings(url, 5.0, 3, False, TOKEN, mint), redactor, on_retry=retries.append,
                  sleep=[].append)


def new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t is not threading.current_thread()]


# -- the worker thread -------------------------------------------------------------------

def test_the_call_runs_in_a_daemon_thread_that_cannot_hold_the_process_open() -> None:
    """An abandoned attempt must not keep the step alive at exit."""
    before: set[threading.Thread] = set()
    seen: list[tuple[str, bool]] = []

    def route(received: Received) -> Reply:
        seen.extend((t.name, t.daemon) for t in new_threads(before))  # the worker, waiting for this reply
        return ok()

    server = RoutedServer(route)
    before.update(threading.enumerate())
    try:
        Transport(server.url, 5.0, Redactor()).post(PATH, {}, BODY)
    finally:
        server.close()
    assert seen, "no worker thread was running during the call"
    assert all(daemon for _name, daemon in seen), seen




def test_at_the_deadline_the_abandoned_reply_is_shut_down() -> None:
    """The watchdog does not only stop waiting: it unblocks the worker, which lets the connection go."""
    server = TrickleServer(100_000, b" ", 0.05)  # a byte every 0.05 s
    try:
        with pytest.raises(TransportError) as caught:
            Transport(server.url, 0.3, Redactor()).post(PATH, {}, BODY)
        assert caught.value.kind == "timed_out"
        assert server.gone.wait(3.0), "the worker kept reading the abandoned reply"
    finally:
        server.close()


def test_cancelled_while_waiting_propagates_even_when_the_reply_is_already_released(
        scripted: Scripted) -> None:
    """SIGTERM lands after the worker finished: unblocking the (released) reply fails, quietly."""
    before: set[threading.Thread] = set()

    def on_signal(signum: int, _frame: Any) -> None:
        for thread in new_threads(before):  # the worker and the server's handler finish the call
            thread.join(5)
        raise Cancelled(signum)

    def route(received: Received) -> Reply:
        os.kill(os.getpid(), signal.SIGUSR1)
        return ok()

    previous = signal.signal(signal.SIGUSR1, on_signal)
    server = RoutedServer(route)
    before.update(threading.enumerate())
    try:
        with pytest.raises(Cancelled):
            Transport(server.url, 5.0, Redactor()).post(PATH, {}, BODY)
    finally:
        signal.signal(signal.SIGUSR1, previous)
        server.close()


# -- the connection pool -------------------------------------------------------------------

class TlsRouted(RoutedServer):
    """RoutedServer over TLS (the certificate of tests.scenarios.make_certificate)."""

    def __init__(self, route: Callable[[Received], Reply], certificate: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate.with_name("server.pem"))
        super().__init__(route)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        return self.context.wrap_socket(sock, server_side=True), address

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_pool_size_connections_run_at_once_without_discarding_any(caplog: pytest.LogCaptureFixture, scheme: str,
                                                                  request: pytest.FixtureRequest,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch runs MAX_PARALLEL calls at once; every connection fits back into the pool."""
    size = 12  # more than requests' default of 10
    together = threading.Barrier(size, timeout=5)

    def route(received: Received) -> Reply:
        together.wait()  # all calls hold a connection at the same time
        return ok()

    if scheme == "https":
        certificate: Path = request.getfixturevalue("certificate")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate))
        server: RoutedServer = TlsRouted(route, certificate)
    else:
        server = RoutedServer(route)
    transport = Transport(server.url, 5.0, Redactor(), pool_size=size)
    replies: list[int] = []
    caplog.set_level(logging.WARNING, logger="urllib3")
    try:
        threads = [threading.Thread(target=lambda: replies.append(transport.post(PATH, {}, BODY).status))
                   for _ in range(size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        server.close()
    assert replies == [200] * size
    assert not [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()]


# -- proxies: loopback goes direct, whatever the environment says ------------------------

def clear_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_all_proxy_is_bypassed_for_loopback(monkeypatch: pytest.MonkeyPatch, scripted: Scripted) -> None:
    proxy = scripted(Reply(200, '{"via": "proxy"}'))
    clear_proxies(monkeypatch)
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    monkeypatch.setenv("all_proxy", proxy.url)
    server = scripted(ok())
    reply = Transport(server.url, 5.0, Redactor()).post(PATH, {"access_token": TOKEN}, BODY)
    assert b'"run_id"' in reply.data
    assert len(server.received) == 1 and proxy.received == []


def test_https_proxy_is_bypassed_for_loopback(monkeypatch: pytest.MonkeyPatch, scripted: Scripted,
                                              certificate: Path) -> None:
    proxy = scripted(Reply(200, '{"via": "proxy"}'))
    clear_proxies(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("https_proxy", proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate))
    server = TlsServer(certificate, "ok")
    try:
        reply = Transport(server.url, 5.0, Redactor()).post(PATH, {"access_token": TOKEN}, BODY)
    finally:
        server.close()
    assert reply.status == 200 and b"Run-tls" in reply.data
    assert server.requests == 1 and proxy.received == []


# -- what a failure says ------------------------------------------------------------------

def failure(error: requests.RequestException) -> TransportError:
    return Transport(NOWHERE, 5.0, Redactor()).failure(error)


LOST = f"lost the connection to {NOWHERE} after sending the request"


def test_a_rejected_certificate_names_the_remedy() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error = failure(requests.exceptions.SSLError(cause))
    assert error.kind == "cert"
    assert error.summary.endswith("). Nothing was sent. Behind a TLS-inspecting proxy, point "
                                  "REQUESTS_CA_BUNDLE at the proxy's CA bundle")


def test_a_connection_error_without_arguments_is_no_reply_and_named() -> None:
    error = failure(requests.ConnectionError())
    assert error.kind == "no_reply"
    assert error.summary == f"{LOST} (ConnectionError: ConnectionError)"


def test_the_reason_is_cut_at_400_characters() -> None:
    text = "ConnectionError: " + "x" * 600
    error = failure(requests.ConnectionError("x" * 600))
    assert error.summary == f"{LOST} ({text[:400]}...)"


def test_the_cause_is_found_through_urllib3s_reason() -> None:
    """A MaxRetryError names its cause only in `reason` (not in args)."""
    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    error = failure(requests.ConnectionError(MaxRetryError(None, "/x", refused)))
    assert error.kind == "not_sent"
    assert error.detail.startswith("NewConnectionError: ")
    assert "Connection refused" in error.detail and "Max retries" not in error.detail


def test_the_pools_host_prefix_is_dropped_from_the_reason() -> None:
    pool = HTTPConnectionPool("127.0.0.1", 9)
    error = failure(requests.ReadTimeout(ReadTimeoutError(pool, "/x", "Read timed out. (read timeout=0.5)")))
    assert error.kind == "timed_out"
    assert error.summary == (f"timed out waiting for {NOWHERE} after sending the request "
                             "(ReadTimeoutError: Read timed out. (read timeout=0.5))")


def test_the_cause_walk_stops_after_20_links() -> None:
    chain: list[BaseException] = [requests.ConnectionError("link 0")]
    for i in range(1, 30):
        link = ValueError(f"link {i}")
        chain[-1].__cause__ = link
        chain.append(link)
    error = failure(chain[0])  # type: ignore[arg-type]
    assert error.summary == f"{LOST} (ValueError: link 19)"




@pytest.fixture
def chunky() -> Iterator[TrickleServer]:
    server = TrickleServer(900_000, b" " * 65536, 0.15)
    yield server
    server.close()


def test_a_body_cut_at_the_deadline_says_exactly_why(chunky: TrickleServer) -> None:
    with pytest.raises(TransportError) as caught:
        Transport(chunky.url, 0.5, Redactor()).post(PATH, {}, BODY)
    assert caught.value.summary == (f"timed out waiting for {chunky.url} after sending the request "
                                    "(ReadTimeout: the reply did not finish within timeout_seconds)")


# -- WeChat: the retry after minting, errmsg and HTTP details ----------------------------

def test_after_minting_the_retry_keeps_the_label_and_the_attempt_limit(scripted: Scripted) -> None:
    server = scripted(err(42001), minted(), err(-1, "system error"), ok("Run-2"))
    retries: list[str] = []
    answer = client(server.url, retries, mint=MINT).call(ROLL_UPDATE, BODY, "shop-api", attempts=2)
    assert answer.data["run_id"] == "Run-2" and answer.attempts == 3
    [message] = retries
    assert message.startswith("shop-api: attempt 1 of 2 failed (errcode -1")


def test_after_minting_a_caller_that_retries_itself_still_gets_one_attempt(scripted: Scripted) -> None:
    server = scripted(err(42001), minted(), err(-1, "system error"), ok())
    retries: list[str] = []
    with pytest.raises(ApiError) as caught:
        client(server.url, retries, mint=MINT).call(VERSION_DETAIL, BODY, "wait", attempts=1)
    assert caught.value.errcode == -1 and caught.value.attempts == 2
    assert len(server.received) == 3 and retries == []


def test_a_long_errmsg_is_cut_at_500_characters(scripted: Scripted) -> None:
    server = scripted(err(40097, "e" * 600))
    with pytest.raises(ApiError) as caught:
        client(server.url, []).call(ROLL_UPDATE, BODY, "api")
    assert caught.value.errmsg == "e" * 500 + "..."


def http_error(scripted: Scripted, reply: Reply) -> TransportError:
    server = scripted(reply)
    with pytest.raises(TransportError) as caught:
        client(server.url, []).call(ROLL_UPDATE, BODY, "api")
    return caught.value


def test_an_http_error_body_that_is_not_utf8_is_shown_with_replacements(scripted: Scripted) -> None:
    error = http_error(scripted, Reply(500, b"\xff\xfe caf\xe9"))
    assert error.detail == "\ufffd\ufffd caf\ufffd"


def test_an_http_error_body_is_cut_at_200_characters(scripted: Scripted) -> None:
    error = http_error(scripted, Reply(404, "x" * 300))
    assert error.detail == "x" * 200 + "..."


def test_300_is_a_redirect_not_followed(scripted: Scripted) -> None:
    error = http_error(scripted, Reply(300, "choices", {"Location": "http://127.0.0.1:9/elsewhere"}))
    assert error.status == 300
    assert error.detail.startswith("a redirect to 'http://127.0.0.1:9/elsewhere', not followed")


# -- second pass: not_sent, minting without credentials, reply excerpts --------------------

def test_an_ssl_error_is_never_not_sent_whatever_it_wraps() -> None:
    """Outside the handshake an SSLError proves nothing; only a plain ConnectionError's
    NewConnectionError means the body never left (a wrong not_sent would repeat a change)."""
    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    error = failure(requests.exceptions.SSLError(MaxRetryError(None, "/x", refused)))
    assert error.kind == "no_reply"


def test_minting_without_credentials_is_the_expired_token_error(scripted: Scripted) -> None:
    server = scripted(minted())
    with pytest.raises(ApiError) as caught:
        client(server.url, []).mint_token()
    assert caught.value.errcode == 42001
    assert caught.value.errmsg == "access_token expired"
    assert caught.value.remedy == describe(42001)
    assert server.received == []


def test_a_200_reply_that_is_not_utf8_is_unreadable_not_a_crash(scripted: Scripted) -> None:
    server = scripted(Reply(200, b"\xff\xfe{"))
    with pytest.raises(TransportError) as caught:
        client(server.url, []).call(VERSION_DETAIL, BODY, "api", attempts=1)
    assert caught.value.kind == "unreadable"
    assert caught.value.detail == "\ufffd\ufffd{"


def test_a_non_json_reply_names_its_content_type_cut_at_100_and_its_body_at_200(scripted: Scripted) -> None:
    server = scripted(Reply(200, "x" * 300, {"Content-Type": "t" * 150}))
    with pytest.raises(TransportError) as caught:
        client(server.url, []).call(VERSION_DETAIL, BODY, "api", attempts=1)
    assert caught.value.summary == f"{server.url} sent a reply that is not a JSON object (HTTP 200, {'t' * 100}...)"
    assert caught.value.detail == "x" * 200 + "..."


def test_schema_problems_are_joined_and_cut_at_300_characters(scripted: Scripted) -> None:
    body = {"errcode": 0, "errmsg": 5, "result": "x" * 400, "run_id": "y" * 400}
    problems = reply_errors("response", body)
    assert len(problems) >= 2
    server = scripted(Reply(200, body))
    with pytest.raises(TransportError) as caught:
        client(server.url, []).call(ROLL_UPDATE, BODY, "api")
    assert caught.value.kind == "unreadable"
    assert caught.value.detail == "; ".join(problems)[:300] + "..."


def test_an_endpoint_without_a_reply_schema_takes_any_object(scripted: Scripted) -> None:
    bare = Endpoint("bare", PATH, None, True, "read", API_ERRORS)
    server = scripted(Reply(200, {"anything": [1, 2]}))
    assert client(server.url, []).call(bare, BODY, "api").data == {"anything": [1, 2]}


def test_a_redirect_location_is_cut_at_200_characters(scripted: Scripted) -> None:
    location = "http://127.0.0.1:9/" + "a" * 300
    error = http_error(scripted, Reply(302, "", {"Location": location}))
    assert error.detail.startswith(f"a redirect to '{location[:200]}...', not followed")


def test_a_redirect_without_location_says_so_plainly(scripted: Scripted) -> None:
    error = http_error(scripted, Reply(302, ""))
    assert error.kind == "http" and error.status == 302
    assert error.detail.startswith("a redirect to '', not followed")


def test_an_error_reply_without_errmsg_has_an_empty_errmsg(scripted: Scripted) -> None:
    server = scripted(Reply(200, {"errcode": 40097}))
    with pytest.raises(ApiError) as caught:
        client(server.url, []).call(ROLL_UPDATE, BODY, "api")
    assert caught.value.errcode == 40097 and caught.value.errmsg == ""


def test_the_backoff_base_sets_the_pause_between_attempts(scripted: Scripted) -> None:
    """backoff_base 0 (what the tests and a fast emulator run use) means no pause at all."""
    server = scripted(err(-1, "system error"), ok())
    pauses: list[float] = []
    retries: list[str] = []
    redactor = Redactor()
    redactor.add(TOKEN)
    api = WeChat(CallSettings(server.url, 5.0, 3, False, TOKEN, None), redactor, on_retry=retries.append,
                 sleep=pauses.append, backoff_base=0.0)
    assert api.call(ROLL_UPDATE, BODY, "api").attempts == 2
    assert pauses == [0.0]
    assert retries[0].endswith("retrying in 0.0 s")


def test_a_caller_that_retries_itself_gets_one_attempt_before_any_minting(scripted: Scripted) -> None:
    server = scripted(err(-1, "system error"), ok())
    retries: list[str] = []
    with pytest.raises(ApiError) as caught:
        client(server.url, retries, mint=MINT).call(VERSION_DETAIL, BODY, "wait", attempts=1)
    assert caught.value.errcode == -1 and caught.value.attempts == 1
    assert len(server.received) == 1 and retries == []


def test_wechat_hands_its_pool_size_to_the_transport(caplog: pytest.LogCaptureFixture) -> None:
    size = 12  # more than the default of 10
    together = threading.Barrier(size, timeout=5)

    def route(received: Received) -> Reply:
        together.wait()
        return ok()

    server = RoutedServer(route)
    redactor = Redactor()
    redactor.add(TOKEN)
    api = WeChat(CallSettings(server.url, 5.0, 1, False, TOKEN, None), redactor, sleep=[].append, pool_size=size)
    runs: list[str] = []
    caplog.set_level(logging.WARNING, logger="urllib3")
    try:
        threads = [threading.Thread(target=lambda: runs.append(api.call(ROLL_UPDATE, BODY, "api").data["run_id"]))
                   for _ in range(size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        server.close()
    assert len(runs) == size
    assert not [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()]


def test_the_worker_thread_is_named_for_thread_dumps() -> None:
    """A hung step's thread dump (faulthandler, py-spy) must show which thread is the API call."""
    before: set[threading.Thread] = set()
    names: list[str] = []

    def route(received: Received) -> Reply:
        names.extend(t.name for t in new_threads(before))
        return ok()

    server = RoutedServer(route)
    before.update(threading.enumerate())
    try:
        Transport(server.url, 5.0, Redactor()).post(PATH, {}, BODY)
    finally:
        server.close()
    assert "cloudbase-rollout-call" in names, names


def test_neutralize_cuts_at_500_characters_by_default() -> None:
    assert neutralize("x" * 600) == "x" * 500 + "..."
    assert neutralize("x" * 500) == "x" * 500


def test_cancelled_mid_reply_shuts_the_abandoned_reply_down() -> None:
    """SIGTERM while the body trickles in: the worker is unblocked and the connection let go."""
    server = TrickleServer(100_000, b" ", 0.05)  # a byte every 0.05 s

    def on_signal(signum: int, _frame: Any) -> None:
        raise Cancelled(signum)

    previous = signal.signal(signal.SIGALRM, on_signal)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(Cancelled):
            Transport(server.url, 5.0, Redactor()).post(PATH, {}, BODY)
        assert server.gone.wait(3.0), "the worker kept reading the abandoned reply"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        server.close()
