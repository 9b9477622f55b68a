"""WeChat.call on its own: each endpoint against a scripted loopback server, nothing sleeps.

What an answer means (errcode, HTTP status, a reply off its schema, a lost
connection) depends on the endpoint: a read can be repeated and changes nothing;
the roll-update and the release must never be sent twice when they may have arrived.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from cloudbase_rollout import API_PATH, RELEASE_PATH, TOKEN_PATH, VERSION_DETAIL_PATH, VERSION_LIST_PATH
from cloudbase_rollout.errors import MAY_HAVE_RELEASED, MAY_HAVE_STARTED, NOT_STARTED, ApiError, TransportError
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.vocabulary.errcodes import API_ERRORS, ROLL_UPDATE_ERRORS, TOKEN_ERRORS, describe
from cloudbase_rollout.wechat.api import (
    EXPIRED_AGAIN,
    RELEASE,
    ROLL_UPDATE,
    TOKEN,
    VERSION_DETAIL,
    VERSION_LIST,
    CallSettings,
    Endpoint,
    WeChat,
    _judged,
)
from tests.conftest import TOKEN as ACCESS_TOKEN
from tests.loopback import Received, Reply, RoutedServer, ScriptedServer, err, free_port, ok
from tests.scenarios import APPID, APPSECRET, MINTED, TICKET, minted

MINT = (APPID, APPSECRET, TICKET)
ENDPOINTS = [ROLL_UPDATE, RELEASE, VERSION_LIST, VERSION_DETAIL]
CHANGES = [ROLL_UPDATE, RELEASE]
READS = [VERSION_LIST, VERSION_DETAIL]
SUCCESS: dict[str, dict[str, Any]] = {
    ROLL_UPDATE.name: {"errcode": 0, "errmsg": "ok", "result": "succ", "run_id": "Run-1"},
    RELEASE.name: {"errcode": 0, "errmsg": "ok", "result": "success", "release_order_id": 26182},
    VERSION_LIST.name: {"errcode": 0, "errmsg": "ok", "total": 1,
                        "items": [{"version_name": "api-001", "status": "normal"}]},
    VERSION_DETAIL.name: {"errcode": 0, "errmsg": "ok", "status": "normal", "remark": "说明"},
    TOKEN.name: {"component_access_token": MINTED, "expires_in": 7200},
}
BODY = {"env_id": "prod-1", "server_name": "api"}
ids = [e.name for e in ENDPOINTS]


def success(endpoint: Endpoint) -> Reply:
    return Reply(body=SUCCESS[endpoint.name])


@dataclass
class Calls:
    """What the client told its callbacks."""

    sleeps: list[float] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    redactor: Redactor = field(default_factory=Redactor)

    def client(self, url: str, *, token: str | None = ACCESS_TOKEN, mint: tuple[str, str, str] | None = None,
               attempts: int = 3, timeout: float = 5.0) -> WeChat:
        self.redactor.add(token)  # as the step does with its inputs
        return WeChat(CallSettings(url, timeout, attempts, False, token, mint), self.redactor,
                      on_secret=self.secrets.append, on_retry=self.retries.append, sleep=self.sleeps.append)


@pytest.fixture
def calls() -> Calls:
    return Calls()


Scripted = Callable[..., ScriptedServer]


def api_error(client: WeChat, endpoint: Endpoint) -> ApiError:
    with pytest.raises(ApiError) as caught:
        client.call(endpoint, BODY, "api")
    return caught.value


def transport_error(client: WeChat, endpoint: Endpoint) -> TransportError:
    with pytest.raises(TransportError) as caught:
        client.call(endpoint, BODY, "api")
    return caught.value


# -- the table ------------------------------------------------------------------------

def test_the_endpoint_table() -> None:
    assert [(e.path, e.safe, e.effect) for e in (*ENDPOINTS, TOKEN)] == [
        (API_PATH, False, "rollout"), (RELEASE_PATH, False, "release"),
        (VERSION_LIST_PATH, True, "read"), (VERSION_DETAIL_PATH, True, "read"), (TOKEN_PATH, False, "token")]
    assert ROLL_UPDATE.errors is ROLL_UPDATE_ERRORS and TOKEN.errors is TOKEN_ERRORS
    assert RELEASE.errors is API_ERRORS and VERSION_LIST.errors is API_ERRORS and VERSION_DETAIL.errors is API_ERRORS


# -- success --------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", [*ENDPOINTS, TOKEN], ids=[*ids, "token"])
def test_each_endpoint_answers_its_data_in_one_attempt(scripted: Scripted, calls: Calls, endpoint: Endpoint) -> None:
    server = scripted(success(endpoint))
    answer = calls.client(server.url).call(endpoint, BODY, "api")
    assert answer.data == SUCCESS[endpoint.name] and answer.attempts == 1
    [got] = server.received
    assert got.path == endpoint.path and got.query == {"access_token": [ACCESS_TOKEN]}
    assert got.json() == BODY
    assert calls.sleeps == [] and calls.retries == [] and calls.secrets == []


def test_a_success_reply_may_carry_fields_the_schema_does_not_name(scripted: Scripted, calls: Calls) -> None:
    data = {**SUCCESS[VERSION_DETAIL.name], "cpu": 0.5, "something_new": [1, 2]}
    server = scripted(Reply(body=data))
    assert calls.client(server.url).call(VERSION_DETAIL, BODY, "api").data == data


# -- error replies: the endpoint's remedy and title --------------------------------------

@pytest.mark.parametrize(("endpoint", "errcode", "title", "says"), [
    (ROLL_UPDATE, 40097, "updateCloudbaseServiceVersion failed", "参数错误"),
    (ROLL_UPDATE, 45009, "updateCloudbaseServiceVersion failed", "not in the API's error table"),
    (ROLL_UPDATE, 99999, "updateCloudbaseServiceVersion failed", "passed through from CloudBase unchanged"),
    (RELEASE, 45009, "releaseCloudbaseServiceVersion failed", "retrying within this job is futile"),
    (VERSION_LIST, 85088, "getcsversionlist failed", "CloudBase is not enabled"),
    (VERSION_DETAIL, 45009, "getcsversiondetail failed", "daily quota of this API"),
    (TOKEN, 61004, "Minting a component_access_token failed", "IP allow-list"),
    (TOKEN, 40097, "Minting a component_access_token failed", "not in the API's error table"),
])
def test_an_error_reply_raises_with_the_endpoints_remedy_and_title(scripted: Scripted, calls: Calls,
                                                                   endpoint: Endpoint, errcode: int, title: str,
                                                                   says: str) -> None:
    server = scripted(err(errcode, "what WeChat said"), success(endpoint))
    error = api_error(calls.client(server.url), endpoint)
    assert (error.errcode, error.errmsg, error.title, error.effect) == (errcode, "what WeChat said", title,
                                                                          endpoint.effect)
    assert error.remedy == describe(errcode, endpoint.errors) and says in error.remedy
    assert error.attempts == 1 and not error.may_have_started
    assert len(server.received) == 1  # none of these codes is retried


def test_a_token_error_says_no_rollout_was_started(scripted: Scripted, calls: Calls) -> None:
    error = api_error(calls.client(scripted(err(61004)).url), TOKEN)
    assert NOT_STARTED in str(error)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_errcode_minus_1000_may_have_started_only_a_change(scripted: Scripted, calls: Calls,
                                                           endpoint: Endpoint) -> None:
    server = scripted(err(-1000, "system error"), success(endpoint))
    error = api_error(calls.client(server.url), endpoint)
    assert error.may_have_started is (endpoint in CHANGES)
    assert len(server.received) == 1


def test_errmsg_is_redacted_and_kept_on_one_line(scripted: Scripted, calls: Calls) -> None:
    server = scripted(err(40097, f"bad token {ACCESS_TOKEN}\n::error::injected"))
    error = api_error(calls.client(server.url), ROLL_UPDATE)
    assert ACCESS_TOKEN not in str(error) and "\n" not in error.errmsg
    assert error.errmsg == "bad token ***\\n:\u200b:error:\u200b:injected"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_busy_is_retried_on_every_endpoint(scripted: Scripted, calls: Calls, endpoint: Endpoint) -> None:
    server = scripted(err(-1, "system error"), success(endpoint))
    answer = calls.client(server.url).call(endpoint, BODY, "api")
    assert answer.attempts == 2 and len(server.received) == 2
    assert server.received[0].body == server.received[1].body
    assert len(calls.sleeps) == 1


@pytest.mark.parametrize(("endpoint", "requests"), [(VERSION_LIST, 2), (VERSION_DETAIL, 2), (ROLL_UPDATE, 1),
                                                    (RELEASE, 1)], ids=["list", "detail", "rollout", "release"])
def test_the_minute_quota_is_retried_only_on_reads(scripted: Scripted, calls: Calls, endpoint: Endpoint,
                                                   requests: int) -> None:
    server = scripted(err(45011, "api minute-quota reach limit"), success(endpoint))
    client = calls.client(server.url)
    if requests == 2:
        assert client.call(endpoint, BODY, "api").attempts == 2
    else:
        assert api_error(client, endpoint).errcode == 45011
    assert len(server.received) == requests


def test_attempts_run_out_at_max_attempts(scripted: Scripted, calls: Calls) -> None:
    server = scripted(err(-1, "system error"))
    error = api_error(calls.client(server.url, attempts=4), VERSION_DETAIL)
    assert error.attempts == 4 and len(server.received) == 4 and len(calls.sleeps) == 3
    assert "after 4 attempts, last error: errcode -1" in str(error)


# -- a success reply off its schema ------------------------------------------------------

@pytest.mark.parametrize(("endpoint", "data", "names"), [
    (ROLL_UPDATE, {"errcode": 0, "errmsg": "ok", "result": "succ"}, "run_id"),
    (ROLL_UPDATE, {"errcode": 0, "result": "succ", "run_id": "two words"}, "run_id"),
    (RELEASE, {"errcode": 0, "errmsg": "ok"}, "result"),
    (RELEASE, {"errcode": 0, "result": "success", "release_order_id": 1.5}, "release_order_id"),
    (VERSION_LIST, {"errcode": 0, "total": 3}, "items"),
    (VERSION_LIST, {"errcode": 0, "items": [{"version_name": "a/b"}]}, "items[0].version_name"),
    (VERSION_DETAIL, {"errcode": 0, "remark": "no status"}, "status"),
    (VERSION_DETAIL, {"errcode": "0", "status": "normal"}, "errcode"),
], ids=["rollout-no-run_id", "rollout-bad-run_id", "release-no-result", "release-float-order",
        "list-no-items", "list-bad-name", "detail-no-status", "detail-string-errcode"])
def test_a_reply_off_its_schema_is_unreadable(scripted: Scripted, calls: Calls, endpoint: Endpoint,
                                              data: dict[str, Any], names: str) -> None:
    server = scripted(Reply(body=data), success(endpoint))
    error = transport_error(calls.client(server.url), endpoint)
    assert error.kind == "unreadable" and error.effect == endpoint.effect
    assert error.summary == f"{server.url} sent a reply that does not fit the API's response schema"
    assert names in error.detail
    assert error.may_have_started is (endpoint in CHANGES)
    assert len(server.received) == 1  # not retried, not even a read


@pytest.mark.parametrize(("body", "content_type"), [("<html>busy</html>", "text/html"), ("[1, 2]", None),
                                                    ('"ok"', None), ("", None), ("{" * 5000, None),
                                                    ("[" * 100_000, None)],  # too deep: RecursionError
                         ids=["html", "array", "string", "empty", "broken", "too-deep"])
def test_a_reply_that_is_not_a_json_object_is_unreadable(scripted: Scripted, calls: Calls, body: str,
                                                         content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    server = scripted(Reply(200, body, headers))
    error = transport_error(calls.client(server.url), VERSION_DETAIL)
    assert error.kind == "unreadable" and not error.may_have_started
    assert f"not a JSON object (HTTP 200, {content_type or 'no Content-Type'})" in error.summary
    assert len(server.received) == 1


def test_a_non_json_reply_to_the_rollout_may_have_started(scripted: Scripted, calls: Calls) -> None:
    error = transport_error(calls.client(scripted(Reply(200, "<html/>")).url), ROLL_UPDATE)
    assert error.kind == "unreadable" and error.may_have_started and MAY_HAVE_STARTED in str(error)


@pytest.mark.parametrize("errcode", ["0", 0.0, True, None])
def test_a_token_reply_needs_an_integer_errcode_when_it_has_one(scripted: Scripted, calls: Calls,
                                                                errcode: object) -> None:
    server = scripted(Reply(body={"errcode": errcode, "component_access_token": MINTED}))
    error = transport_error(calls.client(server.url), TOKEN)
    assert error.kind == "unreadable" and "non-integer errcode" in error.summary


# -- HTTP statuses --------------------------------------------------------------------------

@pytest.mark.parametrize(("endpoint", "status", "requests", "may"), [
    (RELEASE, 500, 1, True), (RELEASE, 502, 1, True), (ROLL_UPDATE, 504, 1, True), (ROLL_UPDATE, 520, 1, True),
    (ROLL_UPDATE, 501, 1, False), (ROLL_UPDATE, 404, 1, False), (RELEASE, 400, 1, False),
    (VERSION_DETAIL, 500, 3, False), (VERSION_LIST, 502, 3, False), (VERSION_LIST, 404, 1, False),
    (ROLL_UPDATE, 503, 3, False), (RELEASE, 429, 3, False), (VERSION_DETAIL, 503, 3, False),
], ids=lambda v: v.name if isinstance(v, Endpoint) else str(v))
def test_an_http_error_status(scripted: Scripted, calls: Calls, endpoint: Endpoint, status: int,
                              requests: int, may: bool) -> None:
    server = scripted(Reply(status, f"<h1>{status}</h1>"))
    error = transport_error(calls.client(server.url, attempts=3), endpoint)
    assert (error.kind, error.status, error.effect) == ("http", status, endpoint.effect)
    assert error.summary == f"HTTP {status} from {server.url}" and error.detail == f"<h1>{status}</h1>"
    assert error.may_have_started is may
    assert len(server.received) == requests and error.attempts == requests


def test_5xx_on_release_says_the_release_may_have_been_made(scripted: Scripted, calls: Calls) -> None:
    error = transport_error(calls.client(scripted(Reply(500, "oops")).url), RELEASE)
    assert MAY_HAVE_RELEASED in str(error) and MAY_HAVE_STARTED not in str(error)
    assert error.short().endswith("(the release may have been made)")


def test_a_read_is_retried_after_a_5xx(scripted: Scripted, calls: Calls) -> None:
    server = scripted(Reply(502, "gateway"), success(VERSION_LIST))
    answer = calls.client(server.url).call(VERSION_LIST, BODY, "api (list versions)")
    assert answer.attempts == 2 and answer.data == SUCCESS[VERSION_LIST.name]


def test_retry_after_sets_the_pause(scripted: Scripted, calls: Calls) -> None:
    server = scripted(Reply(429, "", {"Retry-After": "2"}), Reply(503, "", {"Retry-After": "0"}), ok())
    assert calls.client(server.url).call(ROLL_UPDATE, BODY, "api").attempts == 3
    assert calls.sleeps == [2.0, 0.0]


def test_a_lower_case_retry_after_is_honoured(scripted: Scripted, calls: Calls) -> None:
    server = scripted(Reply(503, "", {"retry-after": "7"}), ok())
    calls.client(server.url).call(ROLL_UPDATE, BODY, "api")
    assert calls.sleeps == [7.0]


def test_a_redirect_is_an_error_and_its_location_is_redacted(scripted: Scripted, calls: Calls) -> None:
    elsewhere = scripted(ok())
    where = f"{elsewhere.url}{API_PATH}?access_token={ACCESS_TOKEN}"
    server = scripted(Reply(307, "", {"Location": where}))
    error = transport_error(calls.client(server.url), ROLL_UPDATE)
    assert (error.kind, error.status, error.may_have_started) == ("http", 307, False)
    assert "not followed" in error.detail and f"{elsewhere.url}{API_PATH}?access_token=***" in error.detail
    assert ACCESS_TOKEN not in str(error)
    assert len(server.received) == 1 and elsewhere.received == []


# -- lost connections: reads are repeated, changes are not ---------------------------------

@pytest.mark.parametrize("endpoint", READS, ids=["list", "detail"])
def test_a_read_is_retried_after_a_lost_connection(scripted: Scripted, calls: Calls, endpoint: Endpoint) -> None:
    server = scripted(Reply(drop=True), success(endpoint))
    answer = calls.client(server.url).call(endpoint, BODY, "api (read)")
    assert answer.attempts == 2 and len(server.received) == 2
    [note] = calls.retries
    assert note.startswith("api (read): attempt 1 of 3 failed (lost the connection to ")
    assert note.endswith(f"a read changes nothing, retrying in {calls.sleeps[0]:.1f} s")


@pytest.mark.parametrize("endpoint", CHANGES, ids=["rollout", "release"])
def test_a_change_is_never_resent_after_a_lost_connection(scripted: Scripted, calls: Calls,
                                                          endpoint: Endpoint) -> None:
    server = scripted(Reply(drop=True), success(endpoint))
    error = transport_error(calls.client(server.url), endpoint)
    assert error.kind == "no_reply" and error.may_have_started and error.effect == endpoint.effect
    assert len(server.received) == 1 and calls.retries == [] and calls.sleeps == []
    assert (MAY_HAVE_STARTED if endpoint is ROLL_UPDATE else MAY_HAVE_RELEASED) in str(error)


def test_a_rollout_that_timed_out_is_not_resent(scripted: Scripted, calls: Calls) -> None:
    server = scripted(Reply(delay=1.5, body=SUCCESS[ROLL_UPDATE.name]))
    error = transport_error(calls.client(server.url, timeout=0.3), ROLL_UPDATE)
    assert error.kind == "timed_out" and error.may_have_started and len(server.received) == 1


def test_a_read_that_timed_out_is_retried(scripted: Scripted, calls: Calls) -> None:
    server = scripted(Reply(delay=1.5, body=SUCCESS[VERSION_DETAIL.name]), success(VERSION_DETAIL))
    answer = calls.client(server.url, timeout=0.3).call(VERSION_DETAIL, BODY, "api")
    assert answer.attempts == 2


@pytest.mark.parametrize("endpoint", [ROLL_UPDATE, VERSION_DETAIL], ids=["rollout", "detail"])
def test_a_refused_connection_is_retried_and_started_nothing(calls: Calls, endpoint: Endpoint) -> None:
    error = transport_error(calls.client(f"http://127.0.0.1:{free_port()}", attempts=3), endpoint)
    assert error.kind == "not_sent" and not error.may_have_started and error.attempts == 3
    assert len(calls.sleeps) == 2


def test_retry_messages_say_why_a_retry_is_harmless(scripted: Scripted, calls: Calls) -> None:
    server = scripted(err(-1, "system error"), ok())
    calls.client(server.url).call(ROLL_UPDATE, BODY, "shop-api")
    [pause] = calls.sleeps
    assert 0.5 <= pause <= 1.0  # the first backoff step
    assert calls.retries == [f"shop-api: attempt 1 of 3 failed (errcode -1: system error - "
                             f"{describe(-1)}); nothing was started, retrying in {pause:.1f} s"]


# -- the token: minted once, on 42001, when credentials allow ------------------------------

def test_42001_mints_once_and_retries_once_with_the_new_token(scripted: Scripted, calls: Calls) -> None:
    server = scripted(err(42001, "access_token expired"), minted(), ok("Run-after-mint"))
    client = calls.client(server.url, mint=MINT)
    answer = client.call(ROLL_UPDATE, BODY, "api")
    assert answer.data["run_id"] == "Run-after-mint" and answer.attempts == 2
    first, mint, again = server.received
    assert [first.path, mint.path, again.path] == [API_PATH, TOKEN_PATH, API_PATH]
    assert first.query == {"access_token": [ACCESS_TOKEN]} and again.query == {"access_token": [MINTED]}
    assert mint.query == {}  # the token call carries no token
    assert mint.json() == {"component_appid": APPID, "component_appsecret": APPSECRET,
                           "component_verify_ticket": TICKET}
    assert again.json() == first.json() == BODY
    assert calls.secrets == [MINTED]
    assert calls.redactor(f"x {MINTED} y") == "x *** y"


@pytest.mark.parametrize("errcode", [40014, 41001, 40097])
def test_only_42001_mints(scripted: Scripted, calls: Calls, errcode: int) -> None:
    server = scripted(err(errcode), minted(), ok())
    assert api_error(calls.client(server.url, mint=MINT), ROLL_UPDATE).errcode == errcode
    assert [r.path for r in server.received] == [API_PATH] and calls.secrets == []


def test_the_minted_token_serves_the_next_calls(scripted: Scripted, calls: Calls) -> None:
    server = scripted(err(42001), minted(), ok(), success(VERSION_DETAIL))
    client = calls.client(server.url, mint=MINT)
    client.call(ROLL_UPDATE, BODY, "api")
    client.call(VERSION_DETAIL, BODY, "api")
    assert server.received[-1].query == {"access_token": [MINTED]} and len(server.received) == 4


def test_a_second_42001_after_minting_stops_with_the_minted_just_now_remedy(scripted: Scripted,
                                                                            calls: Calls) -> None:
    server = scripted(err(42001, "expired"), minted(), err(42001, "expired again"), ok())
    error = api_error(calls.client(server.url, mint=MINT), ROLL_UPDATE)
    assert error.errcode == 42001 and error.remedy == EXPIRED_AGAIN and "minted just now" in error.remedy
    assert error.attempts == 2 and error.errmsg == "expired again"
    assert [r.path for r in server.received] == [API_PATH, TOKEN_PATH, API_PATH]  # one mint only


def test_another_error_after_minting_keeps_its_own_remedy_and_counts_every_attempt(scripted: Scripted,
                                                                                   calls: Calls) -> None:
    server = scripted(err(42001), minted(), err(-1), err(40097, "bad"))
    error = api_error(calls.client(server.url, mint=MINT), VERSION_LIST)
    assert error.errcode == 40097 and error.remedy == describe(40097, API_ERRORS)
    assert error.attempts == 3  # 1 before the mint, 2 after


def test_a_transport_error_after_minting_counts_every_attempt(scripted: Scripted, calls: Calls) -> None:
    server = scripted(err(42001), minted(), Reply(500, "oops"))
    error = transport_error(calls.client(server.url, mint=MINT), ROLL_UPDATE)
    assert len([r for r in server.received if r.path == API_PATH]) == 2
    assert error.attempts == 2


@pytest.mark.parametrize("endpoint", [ROLL_UPDATE, VERSION_DETAIL], ids=["rollout", "detail"])
def test_42001_without_minting_credentials_stops_with_the_tables_remedy(scripted: Scripted, calls: Calls,
                                                                        endpoint: Endpoint) -> None:
    server = scripted(err(42001, "token expired at 12:00"), minted(), success(endpoint))
    error = api_error(calls.client(server.url), endpoint)
    assert (error.errcode, error.errmsg, error.effect) == (42001, "token expired at 12:00", endpoint.effect)
    assert error.remedy == describe(42001, endpoint.errors)
    assert "component_appid" in error.remedy and error.remedy != EXPIRED_AGAIN
    assert len(server.received) == 1 and calls.secrets == []


def test_without_a_token_the_credentials_mint_first(scripted: Scripted, calls: Calls) -> None:
    server = scripted(minted(), success(VERSION_LIST))
    answer = calls.client(server.url, token=None, mint=MINT).call(VERSION_LIST, BODY, "api")
    assert answer.attempts == 1
    assert [r.path for r in server.received] == [TOKEN_PATH, VERSION_LIST_PATH]
    assert server.received[1].query == {"access_token": [MINTED]} and calls.secrets == [MINTED]


def test_without_a_token_or_credentials_nothing_is_sent(scripted: Scripted, calls: Calls) -> None:
    server = scripted(ok())
    error = api_error(calls.client(server.url, token=None), ROLL_UPDATE)
    assert error.errcode == 42001 and server.received == []


def test_a_busy_token_call_is_retried(scripted: Scripted, calls: Calls) -> None:
    server = scripted(err(-1), minted(), ok())
    calls.client(server.url, token=None, mint=MINT).call(ROLL_UPDATE, BODY, "api")
    assert [r.path for r in server.received] == [TOKEN_PATH, TOKEN_PATH, API_PATH]
    assert calls.retries[0].startswith("the token call: attempt 1 of 3 failed")


@pytest.mark.parametrize("token", ["x" * 8, "x" * 1024, "!~" * 4])
def test_a_token_of_8_to_1024_printable_characters_is_used(scripted: Scripted, calls: Calls, token: str) -> None:
    server = scripted(minted(token), ok())
    calls.client(server.url, token=None, mint=MINT).call(ROLL_UPDATE, BODY, "api")
    assert server.received[1].query == {"access_token": [token]} and calls.secrets == [token]


@pytest.mark.parametrize("token", ["x" * 7, "x" * 1025, "has a space", "tab\there", "中文令牌令牌令牌令牌", 12345678,
                                   None, ""])
def test_an_unusable_minted_token_stops_before_the_call(scripted: Scripted, calls: Calls, token: object) -> None:
    server = scripted(Reply(body={"component_access_token": token, "expires_in": 7200}), ok())
    error = transport_error(calls.client(server.url, token=None, mint=MINT), ROLL_UPDATE)
    assert error.kind == "unreadable" and error.effect == "token"
    assert "without a usable component_access_token" in error.summary and NOT_STARTED in str(error)
    assert [r.path for r in server.received] == [TOKEN_PATH] and calls.secrets == []


def test_threads_that_see_the_same_token_expire_mint_once(calls: Calls) -> None:
    both_expired = threading.Barrier(2, timeout=5)

    def route(received: Received) -> Reply:
        if received.path == TOKEN_PATH:
            return minted()
        if received.query.get("access_token") == [ACCESS_TOKEN]:
            both_expired.wait()  # both calls hold the expired token before either answer leaves
            return err(42001)
        return ok()

    server = RoutedServer(route)
    try:
        client = calls.client(server.url, mint=MINT)
        answers: list[int] = []
        threads = [threading.Thread(target=lambda: answers.append(client.call(ROLL_UPDATE, BODY, "api").attempts))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert answers == [2, 2]
        assert [r.path for r in server.received].count(TOKEN_PATH) == 1
        assert calls.secrets == [MINTED]
    finally:
        server.close()


# -- _judged: could a failed call have changed anything? -----------------------------------

def failed(kind: Any, status: int | None = None) -> TransportError:
    return TransportError("x", kind=kind, status=status)


@pytest.mark.parametrize(("kind", "status", "may"), [
    ("http", 500, True), ("http", 502, True), ("http", 504, True), ("http", 520, True), ("http", 599, True),
    ("http", 501, False), ("http", 503, False), ("http", 429, False), ("http", 404, False), ("http", 499, False),
    ("http", 600, False), ("http", None, False), ("http", 302, False),
    ("no_reply", None, True), ("timed_out", None, True), ("unreadable", None, True),
    ("not_sent", None, False), ("cert", None, False),
])
def test_judged_for_a_change(kind: str, status: int | None, may: bool) -> None:
    for endpoint in CHANGES:
        judged = _judged(failed(kind, status), endpoint)
        assert judged.may_have_started is may, endpoint.name
        assert judged.effect == endpoint.effect


@pytest.mark.parametrize("endpoint", [*READS, TOKEN], ids=["list", "detail", "token"])
@pytest.mark.parametrize(("kind", "status"), [("http", 500), ("no_reply", None), ("timed_out", None),
                                              ("unreadable", None)])
def test_judged_for_a_read_or_the_token_started_nothing(endpoint: Endpoint, kind: str, status: int | None) -> None:
    judged = _judged(failed(kind, status), endpoint)
    assert judged.may_have_started is False and judged.effect == endpoint.effect
