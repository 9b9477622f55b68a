"""The emulator over raw HTTP (urllib): faithful to the spec's error table, with a record and failure injection,
and each service's versions as state, driven by a fake clock (no test sleeps)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from jsonschema import Draft202012Validator

from cloudbase_rollout import API_PATH, RELEASE_PATH, TOKEN_PATH, VERSION_DETAIL_PATH, VERSION_LIST_PATH
from cloudbase_rollout.emulator.server import Emulator, State
from cloudbase_rollout.vocabulary import schemas
from tests.conftest import TOKEN

EXPIRED = "tok-EXPIRED-0000"
VALID: dict[str, Any] = {
    "env_id": "test-6gxk23no5605e14f", "version_name": "latest", "server_name": "api", "upload_type": "image",
    "flow_ratio": 100, "container_port": 80, "cpu": "0.25", "mem": "0.5",
    "image_info": {"image_url": "ccr.ccs.tencentyun.com/ns/app:v1"},
}
RESPONSE = Draft202012Validator(schemas.response_schema())
ENV = VALID["env_id"]
CHINA = timezone(timedelta(hours=8))


class FakeClock:
    """The emulator's clock: tests move it forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


CLOCK = FakeClock()


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    server = Emulator(State(TOKEN, {EXPIRED}, clock=CLOCK)).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def emu(shared_emulator: Emulator) -> Emulator:
    """One server for the module (a shutdown costs half a second), fresh state for each test."""
    state = shared_emulator.state
    state.reset()
    with state.lock:
        state.token, state.expired_tokens = TOKEN, {EXPIRED}
        state.fail_errcode, state.delay, state.settle_seconds, state.list_run_id = -1, 0.0, 2.0, False
        state.read_fail_errcode, state.read_fail_http, state.detail_numbers = -1, 200, False
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


def test_a_deeply_nested_mint_body_is_a_format_error_not_a_crash(emu: Emulator) -> None:
    status, reply, _ = http(f"{emu.url}{TOKEN_PATH}", "POST", b"[" * 100000 + b"]" * 100000)
    assert (status, reply) == (200, {"errcode": 47001, "errmsg": "data format error"})
    assert roll(emu, VALID)["result"] == "succ", "and the token is unchanged"


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


# == versions as state: the neighbouring endpoints =========================================================

REPLIES = {RELEASE_PATH: "release.reply.schema.json", VERSION_LIST_PATH: "versionlist.reply.schema.json",
           VERSION_DETAIL_PATH: "versiondetail.reply.schema.json"}
REPLY = {path: Draft202012Validator(schemas.load(name)) for path, name in REPLIES.items()}
DETAIL_FIELDS = {"status", "created_time", "updated_time", "remark", "image_url", "upload_type", "cpu", "mem",
                 "minnum", "maxnum", "policy_type", "policy_threshold", "env_params", "version_ip", "version_port",
                 "container_port", "dockerfile_path", "build_dir", "package_name", "package_version", "repo_type",
                 "repo", "branch", "custom_logs"}
ITEM_FIELDS = {"version_name", "status", "created_time", "updated_time", "flow_ratio", "buildid", "upload_type",
               "min_replicas", "max_replicas"}


def api(emu: Emulator, path: str, body: bytes | dict[str, Any] | None, token: str | None = TOKEN,
        method: str = "POST") -> dict[str, Any]:
    """One call to a neighbouring endpoint; the reply must fit its schema/*.reply.schema.json."""
    query = "" if token is None else f"?access_token={quote(token)}"
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    status, reply, content_type = http(f"{emu.url}{path}{query}", method, data, {"Content-Type": "application/json"})
    assert status == 200 and content_type.startswith("application/json")
    assert REPLY[path].is_valid(reply), reply
    return reply


def listing(emu: Emulator, service: str = "api", **extra: Any) -> dict[str, Any]:
    return api(emu, VERSION_LIST_PATH, {"env": ENV, "service_name": service, **extra})


def statuses(emu: Emulator, service: str = "api") -> dict[str, tuple[str, int]]:
    reply = listing(emu, service, limit=100)
    assert reply["errcode"] == 0, reply
    return {item["version_name"]: (item["status"], item["flow_ratio"]) for item in reply["items"]}


def detail(emu: Emulator, version: str, service: str = "api") -> dict[str, Any]:
    return api(emu, VERSION_DETAIL_PATH, {"env": ENV, "service_name": service, "version_name": version})


def release(emu: Emulator, version: str, service: str = "api") -> dict[str, Any]:
    return api(emu, RELEASE_PATH, {"env_id": ENV, "server_name": service, "release_version": version})


def rolled(emu: Emulator, **change: Any) -> str:
    reply = roll(emu, {**VALID, **change})
    assert reply["result"] == "succ", reply
    return str(reply["run_id"])


def control(emu: Emulator, name: str, data: bytes = b"", method: str = "POST", **query: Any) -> tuple[int, Any]:
    status, reply, _ = http(f"{emu.url}/_emulator/{name}?{urlencode(query)}", method, data)
    return status, reply


def seed(emu: Emulator, *versions: dict[str, Any], service: str = "api") -> None:
    body = {"env_id": ENV, "server_name": service, "versions": list(versions)}
    assert control(emu, "seed", json.dumps(body).encode())[0] == 200


def china(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA).timestamp()


def emulator_now(emu: Emulator) -> float:
    """Wall time on the emulator's timeline: its start plus what the fake clock moved since."""
    return emu.state.wall + CLOCK() - emu.state.started


def day(n: int) -> str:
    return f"2024-03-{n:02d} 10:00:00"


# -- a service never seen exists, with one serving version --------------------------------------------------


def test_an_unseen_service_has_one_serving_version_made_a_day_before_the_start(emu: Emulator) -> None:
    reply = listing(emu, "brand-new")
    assert reply["total"] == 1
    [item] = reply["items"]
    assert set(item) == ITEM_FIELDS
    assert (item["version_name"], item["status"], item["flow_ratio"]) == ("brand-new-001", "normal", 100)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", item["created_time"])
    assert abs(china(item["created_time"]) - (emu.state.wall - 86400)) < 1, "China time, a day before the start"


def test_a_first_rollout_naming_a_version_finds_it_there_and_the_next_unknown_name_does_not(emu: Emulator) -> None:
    rolled(emu, server_name="fresh", version_name="fresh-007")
    assert statuses(emu, "fresh") == {"fresh-007": ("deploying", 100), "fresh-001": ("normal", 100)}
    reply = roll(emu, {**VALID, "server_name": "fresh", "version_name": "fresh-008"})
    assert reply["errcode"] == 40097 and "fresh-008" in reply["errmsg"]


def test_a_first_read_naming_a_version_finds_it_there_so_a_preflight_read_works(emu: Emulator) -> None:
    before = detail(emu, "v-12", "fresh")
    assert (before["errcode"], before["status"]) == (0, "normal")
    assert statuses(emu, "fresh") == {"v-12": ("normal", 0), "fresh-001": ("normal", 100)}
    rolled(emu, server_name="fresh", version_name="v-12")
    assert detail(emu, "v-12", "fresh")["status"] == "deploying"
    assert release(emu, "v-13", "fresh")["errcode"] == 40097


# -- the roll-update changes the version it names ---------------------------------------------------------------


def test_a_rollout_reads_deploying_then_normal_after_settle_seconds(emu: Emulator) -> None:
    before = detail(emu, "api-001")
    CLOCK.advance(7.5)
    rolled_at = emulator_now(emu)
    rolled(emu)
    moving = detail(emu, "api-001")
    assert moving["status"] == "deploying"
    assert china(moving["updated_time"]) == int(rolled_at) != china(before["updated_time"])
    assert moving["created_time"] == before["created_time"]
    CLOCK.advance(1.99)
    assert [item["status"] for item in listing(emu)["items"]] == ["deploying"]
    CLOCK.advance(0.01)
    settled = detail(emu, "api-001")
    assert settled["status"] == "normal"
    assert abs(china(settled["updated_time"]) - (rolled_at + 2)) <= 1
    assert settled["updated_time"] > moving["updated_time"], "it changes again when the version settles"


def test_latest_is_the_newest_by_created_time_and_the_rollout_remembers_its_run_id(emu: Emulator) -> None:
    seed(emu, {"version_name": "api-003", "created_time": day(3), "flow_ratio": 100},
         {"version_name": "api-010", "created_time": day(5)}, {"version_name": "api-007", "created_time": day(4)})
    run_id = rolled(emu, flow_ratio=30)
    assert statuses(emu) == {"api-010": ("deploying", 30), "api-007": ("normal", 0), "api-003": ("normal", 100)}
    [service] = control(emu, "services", method="GET")[1]["services"]
    assert {v["version_name"]: v["run_id"] for v in service["versions"]} == {
        "api-010": run_id, "api-007": "", "api-003": ""}


def test_a_concrete_version_name_rolls_out_that_version_and_flow_ratio_stays_when_not_given(emu: Emulator) -> None:
    seed(emu, {"version_name": "api-003", "created_time": day(3), "flow_ratio": 40},
         {"version_name": "api-004", "created_time": day(4), "flow_ratio": 60})
    body = {k: v for k, v in VALID.items() if k != "flow_ratio"}
    assert roll(emu, {**body, "version_name": "api-003"})["result"] == "succ"
    assert statuses(emu) == {"api-004": ("normal", 60), "api-003": ("deploying", 40)}


@pytest.mark.parametrize(("versions", "name"), [([{"version_name": "api-001"}], "api-999"), ([], "latest")])
def test_a_version_that_does_not_exist_is_40097_naming_it(emu: Emulator, versions: list[Any], name: str) -> None:
    seed(emu, *versions)
    reply = roll(emu, {**VALID, "version_name": name})
    assert reply["errcode"] == 40097
    assert name in reply["errmsg"]
    assert record(emu)["rollouts"] == [], "nothing was started"


@pytest.mark.parametrize(("numbers", "sizes"), [(False, ("0.5", "1", "1", "3")), (True, (0.5, 1, 1, 3))])
def test_the_detail_shows_what_the_rollout_set(emu: Emulator, numbers: bool, sizes: tuple[Any, ...]) -> None:
    """As the body sent them; with detail_numbers (--detail-numbers), as Tencent's model types them."""
    emu.state.detail_numbers = numbers
    rolled(emu, version_remark="ci #42", cpu="0.5", mem="1", min_num="1", max_num="3", container_port=8080,
           image_info={"image_url": "ccr.ccs.tencentyun.com/ns/app:v2"}, env_params='{"A":"1"}')
    reply = detail(emu, "api-001")
    assert set(reply) == DETAIL_FIELDS | {"errcode", "errmsg"}
    assert (reply["errcode"], reply["errmsg"], reply["remark"]) == (0, "ok", "ci #42")
    assert reply["image_url"] == "ccr.ccs.tencentyun.com/ns/app:v2"
    assert (reply["cpu"], reply["mem"], reply["minnum"], reply["maxnum"]) == sizes
    assert (reply["container_port"], reply["env_params"], reply["upload_type"]) == (8080, '{"A":"1"}', "image")
    [item] = listing(emu)["items"]
    assert (item["min_replicas"], item["max_replicas"], item["buildid"]) == (1, 3, 1)


def test_an_unknown_version_in_the_detail_is_40097_naming_it(emu: Emulator) -> None:
    listing(emu)  # the service exists from now on, with api-001 only
    reply = detail(emu, "api-404")
    assert reply["errcode"] == 40097 and "api-404" in reply["errmsg"]


def test_updated_time_changes_on_every_update_even_within_one_second(emu: Emulator) -> None:
    emu.state.settle_seconds = 100
    seen = [detail(emu, "api-001")["updated_time"]]
    for _ in range(3):  # three rollouts at the same instant
        rolled(emu)
        seen.append(detail(emu, "api-001")["updated_time"])
    CLOCK.advance(100)
    seen.append(detail(emu, "api-001")["updated_time"])  # settled
    assert release(emu, "api-001")["result"] == "success"
    seen.append(detail(emu, "api-001")["updated_time"])  # released, at that same instant
    assert len(set(seen)) == len(seen) == 6
    assert seen == sorted(seen)


# -- release -------------------------------------------------------------------------------------------------


def test_releasing_a_normal_version_gives_it_all_the_traffic(emu: Emulator) -> None:
    seed(emu, {"version_name": "api-001", "created_time": day(1), "flow_ratio": 100},
         {"version_name": "api-002", "created_time": day(2)})
    first = release(emu, "api-002")
    assert first["errcode"] == 0 and first["errmsg"] == "ok" and first["result"] == "success"
    assert statuses(emu) == {"api-002": ("normal", 100), "api-001": ("normal", 0)}
    second = release(emu, "api-001")
    assert second["release_order_id"] > first["release_order_id"] > 0
    assert statuses(emu) == {"api-002": ("normal", 0), "api-001": ("normal", 100)}
    assert [(r["release_version"], r["result"], r["release_order_id"]) for r in emu.state.releases] == [
        ("api-002", "success", first["release_order_id"]), ("api-001", "success", second["release_order_id"])]


@pytest.mark.parametrize("status", ["deploying", "build_fail", "warming_up"])
def test_releasing_a_version_that_is_not_normal_fails_and_moves_no_traffic(emu: Emulator, status: str) -> None:
    seed(emu, {"version_name": "api-001", "created_time": day(1), "flow_ratio": 100},
         {"version_name": "api-002", "created_time": day(2), "status": status})
    assert release(emu, "api-002") == {"errcode": 0, "errmsg": "ok", "result": "failed", "release_order_id": 0}
    assert statuses(emu) == {"api-002": (status, 0), "api-001": ("normal", 100)}
    assert [r["result"] for r in emu.state.releases] == ["failed"]


def test_a_version_still_rolling_out_cannot_be_released_until_it_settles(emu: Emulator) -> None:
    rolled(emu, flow_ratio=10)
    assert release(emu, "api-001")["result"] == "failed"
    CLOCK.advance(2)
    assert release(emu, "api-001")["result"] == "success"
    assert statuses(emu) == {"api-001": ("normal", 100)}


@pytest.mark.parametrize("name", ["api-999", "latest"])
def test_releasing_a_version_that_does_not_exist_is_40097_naming_it(emu: Emulator, name: str) -> None:
    listing(emu)  # the service exists from now on, with api-001 only
    reply = release(emu, name)
    assert reply["errcode"] == 40097 and name in reply["errmsg"]
    assert emu.state.releases == []


# -- list paging ---------------------------------------------------------------------------------------------


def test_the_list_is_newest_first_and_honours_limit_and_offset(emu: Emulator) -> None:
    seed(emu, *({"version_name": f"api-{n:03d}", "created_time": day(n)} for n in (2, 5, 1, 4, 3)))

    def names(**page: int) -> tuple[int, list[str]]:
        reply = listing(emu, **page)
        return reply["total"], [item["version_name"] for item in reply["items"]]

    assert names() == (5, ["api-005", "api-004", "api-003", "api-002", "api-001"])
    assert names(limit=2) == (5, ["api-005", "api-004"])
    assert names(limit=2, offset=2) == (5, ["api-003", "api-002"])
    assert names(limit=2, offset=4) == (5, ["api-001"])
    assert names(offset=5) == (5, [])


def test_the_list_shows_20_by_default_and_a_service_can_have_none(emu: Emulator) -> None:
    seed(emu, *({"version_name": f"api-{n:03d}", "created_time": day(1)} for n in range(25)))
    reply = listing(emu)
    assert (reply["total"], len(reply["items"])) == (25, 20)
    assert listing(emu, limit=100)["items"][0]["version_name"] == "api-024", "ties: the later made is newer"
    seed(emu)
    assert listing(emu) == {"errcode": 0, "errmsg": "ok", "total": 0, "items": []}


def test_list_items_carry_run_id_only_when_asked(emu: Emulator) -> None:
    run_id = rolled(emu)
    assert "run_id" not in listing(emu)["items"][0]
    emu.state.list_run_id = True
    assert listing(emu)["items"][0]["run_id"] == run_id


# -- the error table on each new endpoint --------------------------------------------------------------------

BODIES: dict[str, dict[str, Any]] = {
    RELEASE_PATH: {"env_id": ENV, "server_name": "api", "release_version": "api-001"},
    VERSION_LIST_PATH: {"env": ENV, "service_name": "api", "limit": 5, "offset": 0},
    VERSION_DETAIL_PATH: {"env": ENV, "service_name": "api", "version_name": "api-001"},
}
REQUIRED = [(path, name) for path, body in BODIES.items() for name in body if name not in ("limit", "offset")]
INVALID = [
    (RELEASE_PATH, {"env_id": 5}, "env_id"), (RELEASE_PATH, {"server_name": ""}, "server_name"),
    (RELEASE_PATH, {"release_version": "a b"}, "release_version"), (RELEASE_PATH, {"bogus": 1}, "bogus"),
    (VERSION_LIST_PATH, {"env": ["x"]}, "env"), (VERSION_LIST_PATH, {"limit": "5"}, "limit"),
    (VERSION_LIST_PATH, {"limit": 0}, "limit"), (VERSION_LIST_PATH, {"limit": 101}, "limit"),
    (VERSION_LIST_PATH, {"offset": -1}, "offset"), (VERSION_LIST_PATH, {"offset": 1.5}, "offset"),
    (VERSION_LIST_PATH, {"env_id": ENV}, "env_id"), (VERSION_DETAIL_PATH, {"service_name": None}, "service_name"),
    (VERSION_DETAIL_PATH, {"version_name": True}, "version_name"),
]


@pytest.mark.parametrize("path", list(BODIES))
def test_a_valid_call_to_each_endpoint_succeeds(emu: Emulator, path: str) -> None:
    assert api(emu, path, BODIES[path])["errcode"] == 0


@pytest.mark.parametrize("path", list(BODIES))
@pytest.mark.parametrize(("token", "method", "errcode", "errmsg"), [
    (TOKEN, "GET", 43002, "require POST method"), (TOKEN, "PUT", 43002, "require POST method"),
    (None, "POST", 41001, "access_token missing"), ("", "POST", 41001, "access_token missing"),
    (EXPIRED, "POST", 42001, "access_token expired"), ("not-the-token", "POST", 40014, "invalid access_token"),
])
def test_the_gateway_errors_on_each_endpoint(emu: Emulator, path: str, token: str | None, method: str,
                                             errcode: int, errmsg: str) -> None:
    assert api(emu, path, BODIES[path], token=token, method=method) == {"errcode": errcode, "errmsg": errmsg}


@pytest.mark.parametrize("path", list(BODIES))
@pytest.mark.parametrize(("data", "errcode"), [
    (None, 44002), (b"  ", 44002), (b"{", 47001), (b"[]", 47001), (b"\xff{}", 47001), (b"null", 47001),
    (b"[" * 5000 + b"]" * 5000, 47001), (b'{"a":' * 3000 + b"1" + b"}" * 3000, 47001),
])
def test_empty_and_malformed_bodies_on_each_endpoint(emu: Emulator, path: str, data: bytes | None,
                                                     errcode: int) -> None:
    assert api(emu, path, data)["errcode"] == errcode


@pytest.mark.parametrize(("path", "missing"), REQUIRED)
def test_a_missing_required_field_is_40101_naming_it(emu: Emulator, path: str, missing: str) -> None:
    reply = api(emu, path, {k: v for k, v in BODIES[path].items() if k != missing})
    assert reply["errcode"] == 40101
    assert reply["errmsg"] == f"missing parameter: {missing}"


@pytest.mark.parametrize(("path", "change", "named"), INVALID)
def test_an_invalid_field_is_40097_naming_it(emu: Emulator, path: str, change: dict[str, Any], named: str) -> None:
    reply = api(emu, path, {**BODIES[path], **change})
    assert reply["errcode"] == 40097
    assert reply["errmsg"].startswith("invalid args") and named in reply["errmsg"]


def test_a_limit_written_as_a_whole_float_pages_like_an_integer(emu: Emulator) -> None:
    seed(emu, *({"version_name": f"api-{n:03d}", "created_time": day(n)} for n in (1, 2, 3)))
    reply = listing(emu, limit=2.0, offset=1.0)
    assert [item["version_name"] for item in reply["items"]] == ["api-002", "api-001"]


# -- controls ------------------------------------------------------------------------------------------------


def test_settle_fail_makes_the_next_rollout_settle_to_build_fail(emu: Emulator) -> None:
    status, reply = control(emu, "settle-fail")
    assert status == 200 and reply["settle_fail"]["status"] == "build_fail"
    rolled(emu, server_name="web")
    rolled(emu)
    CLOCK.advance(2)
    assert statuses(emu, "web") == {"web-001": ("build_fail", 100)}
    assert statuses(emu) == {"api-001": ("normal", 100)}, "only the next rollout"
    assert release(emu, "web-001", "web")["result"] == "failed"


def test_settle_fail_can_name_a_version_a_status_word_and_a_count(emu: Emulator) -> None:
    seed(emu, {"version_name": "api-001", "created_time": day(1)}, {"version_name": "api-002", "created_time": day(2)})
    control(emu, "settle-fail", env_id=ENV, server_name="api", version_name="api-002", status="deploy_failed", count=2)
    rolled(emu, version_name="api-001")
    rolled(emu)  # latest: api-002
    CLOCK.advance(2)
    assert {name: s for name, (s, _) in statuses(emu).items()} == {"api-002": "deploy_failed", "api-001": "normal"}
    rolled(emu, version_name="api-002")
    CLOCK.advance(2)
    assert statuses(emu)["api-002"][0] == "deploy_failed"
    rolled(emu, version_name="api-002")
    CLOCK.advance(2)
    assert statuses(emu)["api-002"][0] == "normal", "two were asked for"


def test_settle_fail_for_one_service_leaves_the_others_alone(emu: Emulator) -> None:
    control(emu, "settle-fail", server_name="web")
    rolled(emu)
    rolled(emu, server_name="web")
    CLOCK.advance(2)
    assert (statuses(emu)["api-001"][0], statuses(emu, "web")["web-001"][0]) == ("normal", "build_fail")


def test_slow_makes_one_service_settle_later(emu: Emulator) -> None:
    status, reply = control(emu, "slow", env_id=ENV, server_name="api", seconds=30)
    assert status == 200 and reply["settle_seconds"] == 30
    rolled(emu)
    rolled(emu, server_name="web")
    CLOCK.advance(29.9)
    assert (statuses(emu)["api-001"][0], statuses(emu, "web")["web-001"][0]) == ("deploying", "normal")
    CLOCK.advance(0.1)
    assert statuses(emu)["api-001"][0] == "normal"


@pytest.mark.parametrize("query", [{"env_id": ENV, "server_name": "api"}, {"server_name": "api", "seconds": 1},
                                   {"env_id": ENV, "server_name": "api", "seconds": "soon"},
                                   {"env_id": ENV, "server_name": "api", "seconds": -1},
                                   {"env_id": ENV, "server_name": "api", "seconds": "nan"}])
def test_slow_rejects_what_it_cannot_use(emu: Emulator, query: dict[str, Any]) -> None:
    assert control(emu, "slow", **query)[0] == 400
    assert emu.state.slow == {}


def test_status_reports_an_unknown_word_for_n_reads(emu: Emulator) -> None:
    status, _ = control(emu, "status", env_id=ENV, server_name="api", version_name="api-001", status="warming_up",
                        reads=2)
    assert status == 200
    assert listing(emu)["items"][0]["status"] == "warming_up"
    assert detail(emu, "api-001")["status"] == "warming_up"
    assert detail(emu, "api-001")["status"] == "normal"
    [service] = control(emu, "services", method="GET")[1]["services"]
    assert service["versions"][0]["status"] == "normal"


def test_status_without_reads_lasts_until_set_again(emu: Emulator) -> None:
    control(emu, "status", env_id=ENV, server_name="api", version_name="latest", status="warming_up")
    assert {detail(emu, "api-001")["status"] for _ in range(5)} == {"warming_up"}
    [service] = control(emu, "services", method="GET")[1]["services"]
    assert (service["versions"][0]["status"], service["versions"][0]["shown_status"]) == ("normal", "warming_up")
    assert release(emu, "api-001")["result"] == "success", "what reads report is not what the version is"
    control(emu, "status", env_id=ENV, server_name="api", version_name="api-001", status="")
    assert detail(emu, "api-001")["status"] == "normal"


@pytest.mark.parametrize(("query", "code"), [
    ({"env_id": ENV, "server_name": "api", "version_name": "api-404", "status": "x"}, 404),
    ({"env_id": ENV, "server_name": "api", "status": "x"}, 400),
    ({"env_id": ENV, "server_name": "api", "version_name": "api-001", "status": "x", "reads": "many"}, 400),
    ({"env_id": ENV, "server_name": "api", "version_name": "api-001", "status": "x", "reads": -1}, 400),
])
def test_status_rejects_what_it_cannot_use(emu: Emulator, query: dict[str, Any], code: int) -> None:
    assert control(emu, "status", **query)[0] == code
    assert detail(emu, "api-001")["status"] == "normal"


@pytest.mark.parametrize(("errcode", "errmsg"), [
    (-1, "system error"), (45011, "api minute-quota reach limit, retry next minute"),
    (45009, "reach max api daily quota limit"),
])
def test_read_fail_answers_the_next_reads_with_a_busy_code(emu: Emulator, errcode: int, errmsg: str) -> None:
    status, reply = control(emu, "read-fail", count=2, errcode=errcode)
    assert status == 200 and reply == {"read_fail_next": 2, "errcode": errcode, "http": 200}
    assert rolled(emu) and release(emu, "api-404")["errcode"] == 40097, "roll-update and release are not reads"
    assert listing(emu) == {"errcode": errcode, "errmsg": errmsg}
    assert detail(emu, "api-001") == {"errcode": errcode, "errmsg": errmsg}
    assert listing(emu)["errcode"] == 0
    assert detail(emu, "api-001")["errcode"] == 0


def test_read_fail_can_answer_http_503(emu: Emulator) -> None:
    control(emu, "read-fail", count=1, http=503)
    request = urllib.request.Request(f"{emu.url}{VERSION_DETAIL_PATH}?access_token={TOKEN}", method="POST",
                                     data=json.dumps(BODIES[VERSION_DETAIL_PATH]).encode())
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 503
    assert caught.value.headers["Content-Type"].startswith("text/html")
    assert detail(emu, "api-001")["status"] == "normal"


def test_read_fail_does_not_mask_token_errors_and_fail_does_not_touch_reads(emu: Emulator) -> None:
    control(emu, "read-fail", count=1)
    assert api(emu, VERSION_LIST_PATH, BODIES[VERSION_LIST_PATH], token="wrong")["errcode"] == 40014
    assert listing(emu)["errcode"] == -1, "the wrong-token call did not use up the failure"
    control(emu, "fail", count=1)
    assert listing(emu)["errcode"] == 0 and detail(emu, "api-001")["errcode"] == 0
    assert roll(emu, VALID)["errcode"] == -1


@pytest.mark.parametrize("query", [{"count": "x"}, {"errcode": "busy"}, {"http": 500}])
def test_read_fail_rejects_what_it_cannot_use(emu: Emulator, query: dict[str, Any]) -> None:
    assert control(emu, "read-fail", **query)[0] == 400
    assert emu.state.read_fail_next == 0


def test_services_shows_the_whole_state(emu: Emulator) -> None:
    run_id = rolled(emu, flow_ratio=100)
    CLOCK.advance(2)
    release(emu, "api-001")
    status, reply = control(emu, "services", method="GET")
    assert status == 200
    [service] = reply["services"]
    assert (service["env_id"], service["server_name"], service["settle_seconds"]) == (ENV, "api", 2.0)
    [version] = service["versions"]
    assert (version["version_name"], version["status"], version["flow_ratio"], version["run_id"]) == (
        "api-001", "normal", 100, run_id)
    assert [(r["server_name"], r["release_version"], r["result"]) for r in reply["releases"]] == [
        ("api", "api-001", "success")]
    assert TOKEN not in json.dumps(reply)


def test_seed_sets_statuses_times_and_ratios(emu: Emulator) -> None:
    seed(emu, {"version_name": "api-001", "status": "normal", "created_time": day(1), "flow_ratio": 100},
         {"version_name": "api-002", "status": "deploying", "created_time": day(2), "updated_time": day(3),
          "remark": "by hand"})
    item = listing(emu)["items"][0]
    assert (item["version_name"], item["status"], item["created_time"], item["updated_time"]) == (
        "api-002", "deploying", day(2), day(3))
    CLOCK.advance(3600)
    assert detail(emu, "api-002")["status"] == "deploying", "a seeded status stays until a rollout changes it"
    assert detail(emu, "api-002")["remark"] == "by hand"


def test_state_seed_from_python(emu: Emulator) -> None:
    emu.state.seed(ENV, "api", [{"version_name": "api-005", "status": "build_fail"}])
    assert statuses(emu) == {"api-005": ("build_fail", 0)}


@pytest.mark.parametrize("data", [
    b"", b"{", b"[]", b'{"server_name": "api"}', b'{"env_id": "e", "server_name": "api", "versions": {}}',
    b'{"env_id": "e", "server_name": "api", "versions": [{}]}',
    b'{"env_id": "e", "server_name": "api", "versions": [{"version_name": "v", "created_time": "yesterday"}]}',
    b'{"env_id": "e", "server_name": "api", "versions": [{"version_name": "v", "created_time": 5}]}',
    b'{"env_id": "e", "server_name": "api", "versions": [{"version_name": "v", "flow_ratio": "all"}]}',
    b'{"env_id": "e", "server_name": "api", "versions": [{"version_name": "v", "flow_ratio": 1e999}]}',
    b"[" * 5000 + b"]" * 5000,
])
def test_seed_rejects_garbage_with_400(emu: Emulator, data: bytes) -> None:
    assert control(emu, "seed", data)[0] == 400
    assert control(emu, "services", method="GET")[1]["services"] == []


def test_reset_forgets_versions_releases_and_injected_faults(emu: Emulator) -> None:
    seed(emu, {"version_name": "api-009"})
    release(emu, "api-009")
    control(emu, "read-fail", count=5)
    control(emu, "settle-fail", count=5)
    control(emu, "slow", env_id=ENV, server_name="api", seconds=60)
    assert control(emu, "reset")[0] == 200
    assert control(emu, "services", method="GET")[1] == {
        "services": [], "releases": [], "read_fail_next": 0, "settle_failures": []}
    assert emu.state.releases == []
    rolled(emu)
    CLOCK.advance(2)
    assert statuses(emu) == {"api-001": ("normal", 100)}, "no read failure, no slow or failed settling"


# -- the command and the demo --------------------------------------------------------------------------------


def test_the_emulator_help_describes_the_endpoints_and_controls(capsys: pytest.CaptureFixture[str]) -> None:
    from cloudbase_rollout.emulator import server as emulator

    with pytest.raises(SystemExit) as caught:
        emulator.main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for path in (API_PATH, RELEASE_PATH, VERSION_LIST_PATH, VERSION_DETAIL_PATH, TOKEN_PATH, "--settle-seconds",
                 *(f"/_emulator/{name}" for name in ("rollouts", "services", "fail", "read-fail", "settle-fail",
                                                      "slow", "status", "seed", "reset"))):
        assert path in out


def test_the_emulator_command_takes_the_new_flags(tmp_path: Any) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudbase_rollout", "emulator", "--port", "0", "--token", TOKEN,
         "--settle-seconds", "0", "--fail-settle", "1", "--fail-status", "deploy_failed", "--read-fail-next", "1",
         "--read-fail-errcode", "45011", "--list-run-id"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", proc.stdout.readline())
        assert found
        url, body = found[1], json.dumps(BODIES[VERSION_LIST_PATH]).encode()
        _, reply, _ = http(f"{url}{API_PATH}?access_token={TOKEN}", "POST", json.dumps(VALID).encode())
        _, busy, _ = http(f"{url}{VERSION_LIST_PATH}?access_token={TOKEN}", "POST", body)
        _, listed, _ = http(f"{url}{VERSION_LIST_PATH}?access_token={TOKEN}", "POST", body)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert busy["errcode"] == 45011
    assert listed["items"] == [{**listed["items"][0], "status": "deploy_failed", "run_id": reply["run_id"]}]


def test_the_demo_left_the_emulator() -> None:
    from cloudbase_rollout.emulator import server as emulator

    assert not hasattr(emulator, "demo")


def test_demo_help_prints_help_and_starts_nothing(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from cloudbase_rollout.emulator import demo

    def started(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("--help started something")

    monkeypatch.setattr(demo, "Emulator", started)
    monkeypatch.setattr(demo, "run_action", started)
    with pytest.raises(SystemExit) as caught:
        demo.main(["--help"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("usage: cloudbase-rollout demo")


def test_python_m_demo_help_prints_help_only() -> None:
    done = subprocess.run([sys.executable, "-m", "cloudbase_rollout.emulator.demo", "--help"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: cloudbase-rollout demo") and "GITHUB_OUTPUT" in done.stdout
    assert "against the emulator at http" not in done.stdout and "--- GITHUB_OUTPUT ---" not in done.stdout


def test_the_demo_runs_the_action_against_the_emulator_and_shows_the_versions() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPONENT_", "GITHUB_", "INPUT_", "RUNNER_"))}
    done = subprocess.run([sys.executable, "-m", "cloudbase_rollout.emulator.demo"], capture_output=True, text=True,
                          timeout=120, env=env)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for heading in ("--- GITHUB_OUTPUT ---", "--- step summary ---", "--- emulator versions ---"):
        assert heading in out
    assert re.search(r"^demo-6gxk23no5605e14f/shop-api shop-api-001: status=\S+ flow_ratio=\d+$", out, re.M)
    assert re.search(r"^shop-api-001: image ccr\.ccs\.tencentyun\.com/demo/shop-api:v0\.9\.0 -> "
                     r"ccr\.ccs\.tencentyun\.com/demo/shop-api:v1\.0\.0$", out, re.M), "the same name, a new image"
    run_id = re.search(r"\nrun_id: ([A-Za-z0-9]{14})\n?$", out)
    assert run_id and run_id[1] in out.split("--- GITHUB_OUTPUT ---")[1]
