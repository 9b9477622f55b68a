"""Tests that kill the mutants a mutation pass found alive (issue 9, item 9): each guards one safety rule."""

from __future__ import annotations

import json

import pytest

from cloudbase_rollout import API_PATH, TOKEN_PATH, jsontext
from cloudbase_rollout.errors import MAY_HAVE_STARTED, ApiError, TransportError
from cloudbase_rollout.front.report import _cell
from cloudbase_rollout.inputs import validate
from cloudbase_rollout.redact import MASK, Redactor
from tests.conftest import TOKEN, good_inputs
from tests.loopback import Received, Reply, RoutedServer, err, ok
from tests.test_lifecycle import paths

MINT = {"component_appid": "wx1", "component_appsecret": "appsecret-0123456789",
        "component_verify_ticket": "ticket-0123456789"}
MINTED = "minted-TOKEN-0123456789"


@pytest.mark.parametrize("text", [
    "https://api.weixin.qq.com/x?access_token=UNREGISTERED123&a=1",
    '{"component_access_token": "UNREGISTERED123"}',
    "component_appsecret%3DUNREGISTERED123",
    "COMPONENT_VERIFY_TICKET='UNREGISTERED123'",
])
def test_a_secret_shaped_query_value_is_redacted_even_when_never_registered(text):
    redacted = Redactor()(text)
    assert "UNREGISTERED123" not in redacted and MASK in redacted


def test_registered_secrets_are_redacted_longest_first():
    redactor = Redactor()
    redactor.add("abc")
    redactor.add("abcdef")
    assert redactor("x abcdef y abc") == f"x {MASK} y {MASK}"


def test_a_second_42001_after_minting_stops_instead_of_minting_again(scripted, step):
    server = scripted(err(42001, "expired"), Reply(body={"component_access_token": MINTED, "expires_in": 7200}),
                      err(42001, "expired"))
    result = step({**good_inputs(server.url), **MINT})
    assert result.returncode == 1
    assert paths(server) == [API_PATH, TOKEN_PATH, API_PATH], "mints once, retries once"
    [error] = result.annotations("error")
    assert "minted just now as expired too" in error
    shown = [line for line in result.log.splitlines() if not line.startswith("::add-mask::")]
    assert not any(MINTED in line or TOKEN in line for line in shown)


def test_services_that_see_the_same_token_expire_mint_it_once(step):
    def route(received: Received) -> Reply:
        if received.path == TOKEN_PATH:
            return Reply(body={"component_access_token": MINTED, "expires_in": 7200}, delay=0.2)
        return ok("Run-x") if received.query["access_token"] == [MINTED] else err(42001, "expired")

    server = RoutedServer(route)
    try:
        services = json.dumps([{"server_name": name} for name in ("api", "worker", "admin", "web")])
        result = step({**good_inputs(server.url, services=services), **MINT})
    finally:
        server.close()
    assert result.returncode == 0, result.log
    assert paths(server).count(TOKEN_PATH) == 1


def test_json_deeper_than_the_limit_is_refused_not_a_recursion():
    jsontext.loads("[" * jsontext.MAX_DEPTH + "]" * jsontext.MAX_DEPTH)
    with pytest.raises(ValueError, match="nested deeper than"):
        jsontext.loads("[" * (jsontext.MAX_DEPTH + 1) + "]" * (jsontext.MAX_DEPTH + 1))
    with pytest.raises(ValueError, match="nested deeper than"):
        jsontext.loads("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(("value", "cell"), [("a|b", "a\\|b"), ("a\\|b", "a\\\\\\|b"), ("<img>", "&lt;img>"),
                                             ("a\nb", "a b"), ("", "-")])
def test_summary_cells_cannot_break_the_table(value, cell):
    assert _cell(value) == cell


def test_policy_threshold_warns_above_100_only():
    assert validate.convention_warnings({"policy_threshold": "100"}) == []
    assert validate.convention_warnings({"policy_threshold": "101"}) == ["policy_threshold 101 is above 100 percent"]


@pytest.mark.parametrize(("error", "says"), [
    (ApiError(-1000, "system error", "系统错误", may_have_started=True), True),
    (ApiError(40097, "invalid args", "参数错误"), False),
    (ApiError(-1000, "system error", "系统错误", may_have_started=True, effect="read"), False),
    (ApiError(-1000, "system error", "系统错误", may_have_started=False), False),
    (TransportError("HTTP 502 from x", kind="http", may_have_started=True), True),
    (TransportError("could not connect to x", kind="not_sent"), False),
])
def test_may_have_started_is_said_exactly_when_it_may_have(error, says):
    assert (MAY_HAVE_STARTED in str(error)) is says
    assert ("may have started" in error.short()) is says
