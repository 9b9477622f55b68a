"""The emulator over raw HTTP (urllib): faithful to the spec's error table, with a record and failure injection."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator

from cloudbase_rollout import API_PATH, TOKEN_PATH, schemas
from cloudbase_rollout.emulator import Emulator, State
from tests.conftest import TOKEN

EXPIRED = "tok-EXPIRED-0000"
VALID: dict[str, Any] = {
    "env_id": "test-6gxk23no5605e14f", "version_name": "latest", "server_name": "api", "upload_type": "image",
    "flow_ratio": 100, "container_port": 80, "cpu": "0.25", "mem": "0.5",
    "image_info": {"image_url": "ccr.ccs.tencentyun.com/ns/app:v1"},
}
RESPONSE = Draft202012Validator(schemas.response_schema())


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    server = Emulator(State(TOKEN, {EXPIRED})).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def emu(shared_emulator: Emulator) -> Emulator:
    """One server for the module (a shutdown costs half a second), fresh state for each test."""
    state = shared_emulator.state
    with state.lock:
        state.token, state.expired_tokens = TOKEN, {EXPIRED}
        state.fail_next, state.fail_errcode, state.calls, state.delay = 0, -1, 0, 0.0
        state.rollouts.clear()
    return shared_emulator


def http(url: str, method: str = "POST", data: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("Content-Type", "")


def roll(emu: Emulator, body: bytes | dict[str, Any] | None = None, token: str | None = TOKEN,
         method: str = "POST") -> dict[str, Any]:
    query = "" if token is None else f"?access_token={quote(token)}"
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    status, reply, content_type = http(f"{emu.url}{API_PATH}{query}", method, data,
                                       {"Content-Type": "application/json"})
    assert status == 200, "WeChat answers errors inside a 200"
    assert content_type.startswith("application/json")
    assert RESPONSE.is_valid(reply), reply
    return reply


def record(emu: Emulator) -> dict[str, Any]:
    status, data, _ = http(f"{emu.url}/_emulator/rollouts", "GET")
    assert status == 200
    return data


# -- the error table, in the gateway's order ------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_non_post_is_43002(emu: Emulator, method: str) -> None:
    data = json.dumps(VALID).encode() if method != "GET" else None
    assert roll(emu, data, method=method) == {"errcode": 43002, "errmsg": "require POST method"}


def test_get_without_a_token_is_still_43002(emu: Emulator) -> None:
    assert roll(emu, None, token=None, method="GET")["errcode"] == 43002


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_41001(emu: Emulator, token: str | None) -> None:
    assert roll(emu, VALID, token=token) == {"errcode": 41001, "errmsg": "access_token missing"}


def test_wrong_token_is_40014(emu: Emulator) -> None:
    assert roll(emu, VALID, token="not-the-token") == {"errcode": 40014, "errmsg": "invalid access_token"}


def test_wrong_token_is_40014_before_the_body_is_looked_at(emu: Emulator) -> None:
    assert roll(emu, b"", token="not-the-token")["errcode"] == 40014


def test_expired_token_is_42001(emu: Emulator) -> None:
    assert roll(emu, VALID, token=EXPIRED) == {"errcode": 42001, "errmsg": "access_token expired"}


@pytest.mark.parametrize("data", [None, b"", b"   \n"])
def test_empty_body_is_44002(emu: Emulator, data: bytes | None) -> None:
    assert roll(emu, data) == {"errcode": 44002, "errmsg": "empty post data"}


@pytest.mark.parametrize("data", [b"{", b"env_id=x", b"[]", b'"text"', b"\xff\xfe{}", b"{'a': 1}"])
def test_malformed_json_is_47001(emu: Emulator, data: bytes) -> None:
    assert roll(emu, data) == {"errcode": 47001, "errmsg": "data format error"}


@pytest.mark.parametrize("missing", ["env_id", "server_name", "version_name"])
def test_missing_required_field_is_40101(emu: Emulator, missing: str) -> None:
    reply = roll(emu, {k: v for k, v in VALID.items() if k != missing})
    assert reply["errcode"] == 40101
    assert reply["errmsg"].startswith("missing parameter")
    assert missing in reply["errmsg"]


def test_missing_what_upload_type_requires_is_40101(emu: Emulator) -> None:
    reply = roll(emu, {**{k: v for k, v in VALID.items() if k != "image_info"}, "upload_type": "package"})
    assert reply["errcode"] == 40101
    assert "package_name" in reply["errmsg"] and "package_version" in reply["errmsg"]


@pytest.mark.parametrize(("change", "named"), [
    ({"flow_ratio": 150}, "flow_ratio"),
    ({"cpu": 0.25}, "cpu"),
    ({"container_port": "80"}, "container_port"),
    ({"upload_type": "zip"}, "upload_type"),
    ({"is_rebuild": "yes"}, "is_rebuild"),
    ({"bogus": 1}, "bogus"),
    ({"image_info": {"image_url": "x/y:1", "tag": "1"}}, "image_info.tag"),
    ({"min_num": "5", "max_num": "2"}, "min_num"),
])
def test_invalid_field_is_40097(emu: Emulator, change: dict[str, Any], named: str) -> None:
    reply = roll(emu, {**VALID, **change})
    assert reply["errcode"] == 40097
    assert reply["errmsg"].startswith("invalid args")
    assert named in reply["errmsg"]


def test_rejected_calls_start_no_rollout(emu: Emulator) -> None:
    roll(emu, {**VALID, "flow_ratio": 150})
    roll(emu, VALID, token="wrong")
    roll(emu, b"{")
    assert record(emu)["rollouts"] == []


# -- success and the record ---------------------------------------------------------------------------


def test_a_valid_call_succeeds_with_a_fresh_run_id_each_time(emu: Emulator) -> None:
    replies = [roll(emu, VALID) for _ in range(3)]
    for reply in replies:
        assert reply["errcode"] == 0 and reply["errmsg"] == "ok" and reply["result"] == "succ"
        assert re.fullmatch(r"[A-Za-z0-9]{14}", reply["run_id"])
    assert len({r["run_id"] for r in replies}) == 3


def test_the_spec_example_request_succeeds(emu: Emulator) -> None:
    example = {
        "env_id": "test-6gxk23no5605e14f", "version_name": "ss-003", "upload_type": "image", "flow_ratio": 100,
        "dockerfile_path": "Dockerfile", "cpu": "0.25", "mem": "0.5", "min_num": "0", "max_num": "1",
        "policy_type": "cpu", "policy_threshold": "50", "env_params": "{}", "container_port": 80,
        "server_name": "ss", "custom_logs": "stdout",
        "image_info": {
            "repository_name": "tcb-100001320084-hvbz/web-container-6gnyxqnl696f40ce_pressure-python",
            "is_public": True, "tag_name": "pressure-python-006-20211219230528",
            "server_addr": "ccr.ccs.tencentyun.com",
            "image_url": "ccr.ccs.tencentyun.com/tcb-100001320084-hvbz/web-container-6gnyxqnl696f40ce_pressure-"
                         "python:pressure-python-006-20211219230528"},
    }
    assert roll(emu, example)["result"] == "succ"


def test_the_record_keeps_every_rollout_in_order(emu: Emulator) -> None:
    first = roll(emu, VALID)
    second_body = {**VALID, "server_name": "worker", "flow_ratio": 10}
    second = roll(emu, second_body)
    data = record(emu)
    assert [r["run_id"] for r in data["rollouts"]] == [first["run_id"], second["run_id"]]
    assert data["rollouts"][0]["body"] == VALID
    assert data["rollouts"][1]["body"] == second_body
    assert all(isinstance(r["received_at"], float) for r in data["rollouts"])
    assert TOKEN not in json.dumps(data), "the record holds bodies, not tokens"


def test_reset_forgets_the_record(emu: Emulator) -> None:
    roll(emu, VALID)
    status, _, _ = http(f"{emu.url}/_emulator/reset", "POST", b"")
    assert status == 200
    assert record(emu) == {"rollouts": [], "calls": 0}


def test_unknown_paths_are_404(emu: Emulator) -> None:
    status, reply, _ = http(f"{emu.url}/componenttcb/nosuchthing?access_token={TOKEN}", "POST", b"{}")
    assert status == 404 and reply["errcode"] == 404
    status, _, _ = http(f"{emu.url}/_emulator/nosuchcontrol", "POST", b"")
    assert status == 404


# -- failure injection ------------------------------------------------------------------------------------


def test_fail_makes_the_next_n_calls_answer_minus_1(emu: Emulator) -> None:
    status, reply, _ = http(f"{emu.url}/_emulator/fail?count=2", "POST", b"")
    assert status == 200 and reply == {"fail_next": 2, "errcode": -1}
    assert roll(emu, VALID) == {"errcode": -1, "errmsg": "system error"}
    assert roll(emu, VALID) == {"errcode": -1, "errmsg": "system error"}
    third = roll(emu, VALID)
    assert third["result"] == "succ"
    assert [r["run_id"] for r in record(emu)["rollouts"]] == [third["run_id"]], "failed calls start nothing"
    assert record(emu)["calls"] == 3


def test_fail_can_name_another_errcode(emu: Emulator) -> None:
    http(f"{emu.url}/_emulator/fail?count=1&errcode=-1000", "POST", b"")
    assert roll(emu, VALID)["errcode"] == -1000
    assert roll(emu, VALID)["errcode"] == 0


def test_injected_failures_do_not_mask_token_errors(emu: Emulator) -> None:
    http(f"{emu.url}/_emulator/fail?count=1", "POST", b"")
    assert roll(emu, VALID, token="wrong")["errcode"] == 40014
    assert roll(emu, VALID)["errcode"] == -1, "the wrong-token call did not use up the failure"


# -- token minting ----------------------------------------------------------------------------------------


def mint(emu: Emulator, **override: str) -> dict[str, Any]:
    body = {"component_appid": emu.state.component_appid, "component_appsecret": emu.state.component_appsecret,
            "component_verify_ticket": emu.state.component_verify_ticket, **override}
    status, reply, _ = http(f"{emu.url}{TOKEN_PATH}", "POST", json.dumps(body).encode())
    assert status == 200
    return reply


def test_minting_gives_a_new_token_and_expires_the_old_one(emu: Emulator) -> None:
    reply = mint(emu)
    token = reply["component_access_token"]
    assert reply["expires_in"] == 7200
    assert token and token != TOKEN
    assert roll(emu, VALID, token=token)["result"] == "succ"
    assert roll(emu, VALID, token=TOKEN)["errcode"] == 42001


@pytest.mark.parametrize(("override", "errcode"), [
    ({"component_appid": "wx-other"}, 40013),
    ({"component_appsecret": "wrong"}, 40125),
    ({"component_verify_ticket": "stale"}, 61006),
])
def test_minting_with_wrong_credentials_fails(emu: Emulator, override: dict[str, str], errcode: int) -> None:
    reply = mint(emu, **override)
    assert reply["errcode"] == errcode
    assert "component_access_token" not in reply
    assert roll(emu, VALID, token=TOKEN)["result"] == "succ", "the current token still works"


# -- the command ----------------------------------------------------------------------------------------------


def test_cloudbase_rollout_emulator_command_serves_on_the_given_port(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPONENT_", "GITHUB_", "INPUT_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudbase_rollout", "emulator", "--port", "0", "--token", TOKEN,
         "--expired-token", EXPIRED],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        found = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", first)
        assert found, first
        url = found[1]
        assert int(found[2]) > 0
        status, reply, _ = http(f"{url}{API_PATH}?access_token={TOKEN}", "POST", json.dumps(VALID).encode())
        assert status == 200 and reply["result"] == "succ"
        _, expired, _ = http(f"{url}{API_PATH}?access_token={EXPIRED}", "POST", json.dumps(VALID).encode())
        assert expired["errcode"] == 42001
        _, rollouts, _ = http(f"{url}/_emulator/rollouts", "GET")
        assert [r["run_id"] for r in rollouts["rollouts"]] == [reply["run_id"]]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert TOKEN not in out + err, "the emulator does not log request lines (they hold the token)"


def test_fail_control_rejects_a_non_integer_count():
    server = Emulator(State("t")).start()
    try:
        request = urllib.request.Request(f"{server.url}/_emulator/fail?count=many", method="POST", data=b"")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        assert caught.value.code == 400
        assert server.state.fail_next == 0
    finally:
        server.shutdown()
        server.server_close()


def test_deeply_nested_body_is_a_format_error_not_a_crash():
    server = Emulator(State("t")).start()
    try:
        body = ("[" * 5000 + "]" * 5000).encode()
        request = urllib.request.Request(f"{server.url}{API_PATH}?access_token=t", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert json.loads(reply.read())["errcode"] == 47001
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("length", ["99999999999", "lots"])
def test_an_unbelievable_content_length_is_answered_at_once(length: str) -> None:
    import http.client

    server = Emulator(State("t")).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        connection.putrequest("POST", f"{API_PATH}?access_token=t")
        connection.putheader("Content-Length", length)
        connection.endheaders(b"{}")
        reply = connection.getresponse()
        assert reply.status == 413
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
