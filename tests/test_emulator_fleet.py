"""The emulator as a fleet: seeded environments, the discovery endpoints, per-unit faults and the quota,
over real HTTP (requests) on 127.0.0.1, with a fake clock (no test sleeps)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator

from cloudbase_rollout import (
    API_PATH,
    BATCH_ENV_ID_PATH,
    CLOUDRUN_ENVS_PATH,
    RELEASE_PATH,
    VERSION_DETAIL_PATH,
    VERSION_LIST_PATH,
)
from cloudbase_rollout.emulator import command
from cloudbase_rollout.emulator.server import Emulator, State
from cloudbase_rollout.vocabulary import schemas
from tests.conftest import TOKEN

REPLY = {CLOUDRUN_ENVS_PATH: "cloudrunenvs.reply", BATCH_ENV_ID_PATH: "batchgetenvid.reply",
         VERSION_DETAIL_PATH: "versiondetail.reply", VERSION_LIST_PATH: "versionlist.reply",
         RELEASE_PATH: "release.reply", API_PATH: "response"}
VALIDATOR = {path: Draft202012Validator(schemas.load(schemas.file_name(name))) for path, name in REPLY.items()}
IMAGE = "ccr.ccs.tencentyun.com/demo/shop-api:v1"
ENV_FIELDS = {"env_id", "source", "alias", "create_time", "update_time", "status", "databases", "storages"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


CLOCK = FakeClock()


@pytest.fixture(scope="module")
def shared() -> Iterator[Emulator]:
    server = Emulator(State(TOKEN, clock=CLOCK)).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def emu(shared: Emulator) -> Emulator:
    """One server for the module, a fresh fleet of 12 environments (2 UNAVAILABLE) for each test."""
    state = shared.state
    state.reset()
    with state.lock:
        state.settle_seconds, state.detail_numbers = 2.0, False
    state.seed_fleet(12, services=("shop-api", "web"), image="ccr.ccs.tencentyun.com/demo/{service}:v1",
                     unavailable=2, seed=3)
    return shared


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def call(at: Emulator | str, session: requests.Session, path: str, body: Any,
         token: str | None = TOKEN) -> dict[str, Any]:
    """One endpoint call (to an Emulator or a URL); WeChat answers inside a 200, every reply fits its schema."""
    params = {} if token is None else {"access_token": token}
    url = at if isinstance(at, str) else at.url
    reply = session.post(f"{url}{path}", params=params, json=body, timeout=10)
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    assert VALIDATOR[path].is_valid(data), data
    return data


def control(emu: Emulator, session: requests.Session, name: str, method: str = "POST",
            **query: Any) -> tuple[int, Any]:
    reply = session.request(method, f"{emu.url}/_emulator/{name}", params=query, timeout=10)
    return reply.status_code, reply.json()


def envs(emu: Emulator, session: requests.Session) -> list[dict[str, Any]]:
    reply = call(emu, session, CLOUDRUN_ENVS_PATH, {})
    assert reply["errcode"] == 0, reply
    items: list[dict[str, Any]] = reply["env_list"]
    return items


def roll(emu: Emulator, session: requests.Session, env_id: str, server: str = "shop-api",
         **change: Any) -> dict[str, Any]:
    body = {"env_id": env_id, "server_name": server, "version_name": "latest", "upload_type": "image",
            "flow_ratio": 100, "image_info": {"image_url": IMAGE.replace(":v1", ":v2")}, **change}
    return call(emu, session, API_PATH, body)


def detail(emu: Emulator, session: requests.Session, env_id: str, server: str = "shop-api") -> dict[str, Any]:
    return call(emu, session, VERSION_DETAIL_PATH, {"env": env_id, "service_name": server,
                                                    "version_name": f"{server}-001"})


def first_normal(emu: Emulator) -> str:
    return next(env.env_id for env in emu.state.fleet.envs.values() if env.status == "NORMAL")


# -- seeding ---------------------------------------------------------------------------------------------------


def test_seeding_is_deterministic_from_the_seed() -> None:
    one, two, other = State("t"), State("t"), State("t")
    ids = one.seed_fleet(30, unavailable=4, seed=7)
    assert ids == two.seed_fleet(30, unavailable=4, seed=7)
    assert one.env_list() == two.env_list() and one.fleet.appids == two.fleet.appids
    assert set(ids).isdisjoint(other.seed_fleet(30, unavailable=4, seed=8))
    assert all(re.fullmatch(r"fleet-\d{4}-[0-9a-f]{6}", env_id) for env_id in ids)
    assert [env["alias"] for env in one.env_list()][:2] == ["shop-0001", "shop-0002"]
    assert ids[0].startswith("fleet-0001-") and ids[29].startswith("fleet-0030-")
    assert all(re.fullmatch(r"wx[0-9a-f]{16}", appid) for appid in one.fleet.appids)
    assert sum(env["status"] == "UNAVAILABLE" for env in one.env_list()) == 4


def test_seeding_again_numbers_on_and_every_unit_has_one_serving_version() -> None:
    state = State("t")
    state.seed_fleet(3, services=("api", "web"), image="reg/ns/{service}:v7")
    more = state.seed_fleet(2, services=("api",))
    assert [env_id[:10] for env_id in more] == ["fleet-0004", "fleet-0005"]
    assert len(state.services) == 3 * 2 + 2
    version = state.services[(more[0], "api")].versions
    assert [(v.name, v.status, v.flow_ratio) for v in version] == [("api-001", "normal", 100)]
    assert state.services[(state.env_list()[0]["env_id"], "web")].versions[0].detail["image_url"] == "reg/ns/web:v7"


@pytest.mark.parametrize("bad", [{"count": -1}, {"count": 2, "unavailable": 3}, {"count": 1, "alias": "9lives"},
                                 {"count": 1, "services": ()}])
def test_seeding_rejects_what_makes_no_fleet(bad: dict[str, Any]) -> None:
    state = State("t")
    with pytest.raises(ValueError):
        state.seed_fleet(**bad)
    assert state.env_list() == [] and state.services == {}


def test_seed_fleet_control_seeds_over_http_and_fleet_lists_the_appids(emu: Emulator,
                                                                       session: requests.Session) -> None:
    status, reply = control(emu, session, "seed-fleet", envs=3, services="api", seed=3)
    assert status == 200 and [env_id[:10] for env_id in reply["env_ids"]] == [
        "fleet-0013", "fleet-0014", "fleet-0015"]
    status, fleet = control(emu, session, "fleet", "GET")
    assert status == 200 and fleet["environments"] == 15 and len(fleet["unavailable"]) == 2
    assert len(fleet["appids"]) == 15
    assert control(emu, session, "seed-fleet", envs="many")[0] == 400


# -- the discovery endpoints -------------------------------------------------------------------------------------


def test_describecloudbaserunenvs_lists_every_seeded_environment_with_the_docs_fields(
        emu: Emulator, session: requests.Session) -> None:
    listed = envs(emu, session)
    assert [env["env_id"] for env in listed] == list(emu.state.fleet.envs)
    assert all(set(env) == ENV_FIELDS for env in listed)
    assert {env["status"] for env in listed} == {"NORMAL", "UNAVAILABLE"}
    assert sum(env["status"] == "UNAVAILABLE" for env in listed) == 2
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", env["alias"]) for env in listed)
    assert {env["source"] for env in listed} <= {"miniapp", "qcloud"}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", env["create_time"]) for env in listed)


def test_batchgetenvid_answers_known_appids_and_lists_unknown_ones_in_err_list(
        emu: Emulator, session: requests.Session) -> None:
    appids = emu.state.fleet.appids
    twice = next(appid for appid, shared in appids.items() if len(shared) == 2)
    once = next(appid for appid, shared in appids.items() if len(shared) == 1)
    unknown = "wx0000000000000000"
    reply = call(emu, session, BATCH_ENV_ID_PATH, {"appids": [twice, unknown, once], "source_type": 1})
    assert reply["errcode"] == 0
    assert reply["relation_data"] == [{"appid": twice, "env_list": appids[twice]},
                                      {"appid": once, "env_list": appids[once]}]
    assert [item["appid"] for item in reply["err_list"]] == [unknown] and reply["err_list"][0]["errmsg"]
    assert len(set(appids[twice])) == 2 and set(appids[twice]) <= set(emu.state.fleet.envs)


@pytest.mark.parametrize(("path", "body", "token", "errcode"), [
    (CLOUDRUN_ENVS_PATH, {}, "wrong", 40014), (CLOUDRUN_ENVS_PATH, {}, None, 41001),
    (BATCH_ENV_ID_PATH, {"appids": [], "source_type": 1}, "wrong", 40014),
    (BATCH_ENV_ID_PATH, {"source_type": 1}, TOKEN, 40101),
    (BATCH_ENV_ID_PATH, {"appids": ["wx1"], "source_type": 2}, TOKEN, 40097),
    (CLOUDRUN_ENVS_PATH, {"limit": 5}, TOKEN, 40097),
])
def test_the_discovery_endpoints_check_the_token_and_the_body(emu: Emulator, session: requests.Session, path: str,
                                                              body: Any, token: str | None, errcode: int) -> None:
    reply = call(emu, session, path, body, token)
    assert reply["errcode"] == errcode, reply
    assert "env_list" not in reply and "relation_data" not in reply


# -- the detail reports what the last roll-update body set ------------------------------------------------------


def test_the_detail_reports_the_last_bodys_settings_under_the_docs_names(emu: Emulator,
                                                                         session: requests.Session) -> None:
    env_id = first_normal(emu)
    assert detail(emu, session, env_id)["image_url"] == IMAGE
    sent: dict[str, Any] = {
            "cpu": "1", "mem": "2", "min_num": "1", "max_num": "4", "policy_type": "mem", "policy_threshold": "70",
            "env_params": '{"A":"1"}', "container_port": 8080, "custom_logs": "stdout,/app/log",
            "dockerfile_path": "build/Dockerfile", "build_dir": "svc", "package_name": "pkg", "package_version": "7",
            "version_remark": "ci #9"}
    assert roll(emu, session, env_id, **sent)["result"] == "succ"
    got = detail(emu, session, env_id)
    names = {"cpu": "cpu", "mem": "mem", "minnum": "min_num", "maxnum": "max_num", "policy_type": "policy_type",
             "policy_threshold": "policy_threshold", "env_params": "env_params", "container_port": "container_port",
             "custom_logs": "custom_logs", "dockerfile_path": "dockerfile_path", "build_dir": "build_dir",
             "package_name": "package_name", "package_version": "package_version", "remark": "version_remark"}
    assert {field: got[field] for field in names} == {field: sent[body] for field, body in names.items()}
    assert (got["image_url"], got["upload_type"]) == (IMAGE.replace(":v1", ":v2"), "image")
    assert detail(emu, session, env_id, "web")["image_url"] == IMAGE.replace("shop-api", "web"), "the other unit"


def test_a_later_body_replaces_only_what_it_sends(emu: Emulator, session: requests.Session) -> None:
    env_id = first_normal(emu)
    roll(emu, session, env_id, cpu="2", mem="4")
    roll(emu, session, env_id, mem="8", image_info={"image_url": "reg/ns/app:v3"})
    got = detail(emu, session, env_id)
    assert (got["cpu"], got["mem"], got["image_url"]) == ("2", "8", "reg/ns/app:v3")


# -- per-unit faults ---------------------------------------------------------------------------------------------


def test_a_failing_unit_settles_to_deploy_failed_and_its_neighbours_do_not(emu: Emulator,
                                                                          session: requests.Session) -> None:
    env_id = first_normal(emu)
    status, _ = control(emu, session, "fail-unit", env_id=env_id, server_name="web")
    assert status == 200
    for _ in range(2):  # every rollout of it, not only the next
        roll(emu, session, env_id, "web")
        roll(emu, session, env_id, "shop-api")
        CLOCK.advance(2)
        assert (detail(emu, session, env_id, "web")["status"], detail(emu, session, env_id)["status"]) == (
            "deploy_failed", "normal")
    assert control(emu, session, "faults", "GET")[1]["fail_units"] == [
        {"env_id": env_id, "server_name": "web", "status": "deploy_failed"}]
    control(emu, session, "fail-unit", env_id=env_id, server_name="web", status="normal")
    roll(emu, session, env_id, "web")
    CLOCK.advance(2)
    assert detail(emu, session, env_id, "web")["status"] == "normal", "status=normal heals it"


def test_a_slow_unit_settles_after_its_own_seconds(emu: Emulator, session: requests.Session) -> None:
    env_id = first_normal(emu)
    control(emu, session, "slow", env_id=env_id, server_name="shop-api", seconds=30)
    roll(emu, session, env_id)
    roll(emu, session, env_id, "web")
    CLOCK.advance(29)
    assert (detail(emu, session, env_id)["status"], detail(emu, session, env_id, "web")["status"]) == (
        "deploying", "normal")
    CLOCK.advance(1)
    assert detail(emu, session, env_id)["status"] == "normal"


# -- the quota ---------------------------------------------------------------------------------------------------


def unchanged(emu: Emulator, env_id: str) -> tuple[Any, ...]:
    version = emu.state.services[(env_id, "shop-api")].versions[0]
    return len(emu.state.rollouts), emu.state.calls, version.status, version.buildid, dict(version.detail)


def test_the_minute_quota_refuses_after_k_calls_for_its_seconds_and_a_refusal_changes_nothing(
        emu: Emulator, session: requests.Session) -> None:
    env_id = first_normal(emu)
    assert control(emu, session, "quota", minute_after=2, minute_seconds=60)[0] == 200
    assert envs(emu, session) and detail(emu, session, env_id)["errcode"] == 0
    before = unchanged(emu, env_id)
    refused = roll(emu, session, env_id, cpu="4")
    assert refused == {"errcode": 45011, "errmsg": "api minute-quota reach limit, retry next minute"}
    assert unchanged(emu, env_id) == before, "a refused roll-update started nothing"
    assert call(emu, session, CLOUDRUN_ENVS_PATH, {})["errcode"] == 45011, "every endpoint shares the quota"
    CLOCK.advance(59.9)
    assert detail(emu, session, env_id)["errcode"] == 45011
    CLOCK.advance(0.1)
    assert roll(emu, session, env_id)["result"] == "succ", "a new minute lets calls through again"
    assert detail(emu, session, env_id)["errcode"] == 0
    assert detail(emu, session, env_id)["errcode"] == 45011, "and K more, then the next pause"
    quota = control(emu, session, "faults", "GET")[1]["quota"]
    assert quota["refused"] == {"45011": 4, "45009": 0} and quota["passed"] == 4


def test_the_daily_quota_refuses_every_call_after_the_kth_for_good(emu: Emulator, session: requests.Session) -> None:
    env_id = first_normal(emu)
    control(emu, session, "quota", daily_after=1)
    assert roll(emu, session, env_id)["result"] == "succ"
    before = unchanged(emu, env_id)
    for path, body in ((API_PATH, None), (RELEASE_PATH, {"env_id": env_id, "server_name": "shop-api",
                                                          "release_version": "shop-api-001"}),
                       (BATCH_ENV_ID_PATH, {"appids": [], "source_type": 1})):
        if body is None:
            assert roll(emu, session, env_id, cpu="8")["errcode"] == 45009
        else:
            assert call(emu, session, path, body)["errcode"] == 45009
    CLOCK.advance(86400)
    assert detail(emu, session, env_id)["errmsg"] == "reach max api daily quota limit"
    assert unchanged(emu, env_id) == before and emu.state.releases == []


def test_a_wrong_token_is_refused_before_the_quota_counts_it(emu: Emulator, session: requests.Session) -> None:
    control(emu, session, "quota", daily_after=1)
    assert call(emu, session, CLOUDRUN_ENVS_PATH, {}, "wrong")["errcode"] == 40014
    assert call(emu, session, CLOUDRUN_ENVS_PATH, {})["errcode"] == 0
    assert call(emu, session, CLOUDRUN_ENVS_PATH, {})["errcode"] == 45009


@pytest.mark.parametrize("query", [{"minute_after": "x"}, {"daily_after": -1}, {"minute_seconds": "soon"}])
def test_the_quota_control_rejects_what_it_cannot_use(emu: Emulator, session: requests.Session,
                                                      query: dict[str, Any]) -> None:
    assert control(emu, session, "quota", **query)[0] == 400
    assert emu.state.quota.minute_after is None and emu.state.quota.daily_after is None


def test_the_quota_flags_make_the_same_state_as_the_control(session: requests.Session) -> None:
    o = command.arguments().parse_args(["--minute-quota-after", "1", "--minute-quota-seconds", "5",
                                        "--seed-envs", "2", "--fail-unit", "fleet-0001-x/shop-api",
                                        "--slow-unit", "e/web=9.5"])
    state = command.state_of(o)
    assert (state.quota.minute_after, state.quota.minute_seconds, state.quota.daily_after) == (1, 5.0, None)
    assert state.failing == {("fleet-0001-x", "shop-api"): "deploy_failed"} and state.slow == {("e", "web"): 9.5}
    server = Emulator(state).start()
    try:
        assert call(server, session, CLOUDRUN_ENVS_PATH, {}, command.DEFAULT_TOKEN)["errcode"] == 0
        assert call(server, session, CLOUDRUN_ENVS_PATH, {}, command.DEFAULT_TOKEN)["errcode"] == 45011
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("flag", [["--fail-unit", "no-slash"], ["--slow-unit", "e/s=-1"], ["--slow-unit", "e/s"]])
def test_the_unit_flags_reject_what_they_cannot_use(flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        command.arguments().parse_args(flag)
    assert caught.value.code == 2 and flag[0] in capsys.readouterr().err


# -- the server under a fleet's load -----------------------------------------------------------------------------


def test_a_connection_is_kept_alive_between_calls(emu: Emulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", emu.server_address[1], timeout=5)
    try:
        socks = []
        for _ in range(3):
            connection.request("POST", f"{CLOUDRUN_ENVS_PATH}?access_token={TOKEN}", b"{}")
            reply = connection.getresponse()
            assert reply.version == 11 and json.loads(reply.read())["errcode"] == 0
            socks.append(connection.sock)
        assert socks[0] is not None and socks.count(socks[0]) == 3, "one socket for the three calls"
    finally:
        connection.close()


def test_a_chunked_body_is_refused_and_the_connection_closed(emu: Emulator) -> None:
    """Headers only, then read: the emulator answers before the body, so sending it could race a closed socket."""
    with socket.create_connection(("127.0.0.1", emu.server_address[1]), timeout=5) as sock:
        sock.sendall((f"POST {CLOUDRUN_ENVS_PATH}?access_token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert head.startswith("http/1.1 413") or head.startswith("http/1.0 413"), head
    assert "connection: close" in head


def test_many_concurrent_keep_alive_clients_each_get_their_own_answers(emu: Emulator) -> None:
    units = [(env_id, name) for env_id in emu.state.fleet.envs for name in ("shop-api", "web")]
    wrong: list[Any] = []

    def client(env_id: str, name: str) -> None:
        with requests.Session() as own:
            for _ in range(5):
                got = detail(emu, own, env_id, name)
                if (got["errcode"], got["image_url"]) != (0, IMAGE.replace("shop-api", name)):
                    wrong.append(got)

    threads = [threading.Thread(target=client, args=unit) for unit in units * 5]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(threads) == 120 and wrong == [] and not any(t.is_alive() for t in threads)


# -- the command: the default token is shown -------------------------------------------------------------------


def test_the_default_token_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        command.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert "--token TOKEN the token accepted (default emulator-access-token)" in out
    for text in ("--seed-envs", "--seed-services", "--fail-unit", "--slow-unit", "--minute-quota-after",
                 "--daily-quota-after", CLOUDRUN_ENVS_PATH, BATCH_ENV_ID_PATH, "/_emulator/quota",
                 "/_emulator/fail-unit", "/_emulator/seed-fleet", "/_emulator/fleet", "/_emulator/faults"):
        assert text in out, text


def test_the_command_prints_the_default_token_and_serves_the_seeded_fleet(tmp_path: Any) -> None:
    expected = State("t")
    ids = expected.seed_fleet(3, services=("shop-api", "web"), unavailable=1, seed="5")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudbase_rollout", "emulator", "--port", "0", "--settle-seconds", "0",
         "--seed-envs", "3", "--seed-services", "shop-api,web", "--seed-unavailable", "1", "--seed", "5",
         "--fail-unit", f"{ids[0]}/web", "--daily-quota-after", "4", "--detail-numbers"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+) \(access_token: emulator-access-token\)", first)
        assert found, first
        proc.stdout.readline()
        assert "fleet: 3 environments (1 UNAVAILABLE)" in proc.stdout.readline()
        url, token = found[1], "emulator-access-token"
        with requests.Session() as s:
            listed = call(url, s, CLOUDRUN_ENVS_PATH, {}, token)["env_list"]
            roll_body = {"env_id": ids[0], "server_name": "web", "version_name": "latest", "upload_type": "image",
                         "image_info": {"image_url": "reg/ns/web:v2"}}
            rolled = call(url, s, API_PATH, roll_body, token)
            read = {"env": ids[0], "service_name": "web", "version_name": "web-001"}
            failed = call(url, s, VERSION_DETAIL_PATH, read, token)
            other = call(url, s, VERSION_DETAIL_PATH, {**read, "service_name": "shop-api",
                                                       "version_name": "shop-api-001"}, token)
            over = call(url, s, VERSION_DETAIL_PATH, read, token)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert [env["env_id"] for env in listed] == ids and listed == expected.env_list()
    assert rolled["result"] == "succ" and failed["status"] == "deploy_failed" and other["status"] == "normal"
    assert (failed["image_url"], other["cpu"], other["minnum"]) == ("reg/ns/web:v2", 0.25, 0), "--detail-numbers"
    assert over["errcode"] == 45009, "the fifth call is over the daily quota of 4"
