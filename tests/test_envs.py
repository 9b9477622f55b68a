"""wechat/envs.py: finding a fleet (describecloudbaserunenvs, batchgetenvid) against scripted loopback servers.

Each operation is called directly; nothing sleeps (the client's sleep is a list). The reply
schemas are checked against docs/spec/FLEET.md's tables, as NEIGHBOURS.md's are in test_schema_spec.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudbase_rollout import BATCH_ENV_ID_PATH, CLOUDRUN_ENVS_PATH
from cloudbase_rollout.errors import ApiError, TransportError
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.vocabulary.errcodes import API_ERRORS
from cloudbase_rollout.wechat.api import BATCH_ENV_ID, CLOUDRUN_ENVS, CallSettings, WeChat
from cloudbase_rollout.wechat.envs import CHUNK, Env, describe_envs, envs_for_appids
from tests.conftest import TOKEN
from tests.loopback import Received, Reply, RoutedServer, ScriptedServer, err

ROOT = Path(__file__).resolve().parents[1]
Scripted = Callable[..., ScriptedServer]
ENV = {"env_id": "shop-1-6gxk23no", "source": "miniapp", "alias": "shop-1", "create_time": "2024-01-01 10:00:00",
       "update_time": "2024-02-01 10:00:00", "status": "NORMAL",
       "databases": [{"instance_id": "db-1", "status": "RUNNING", "region": "ap-shanghai"}],
       "storages": [{"region": "ap-shanghai", "bucket": "b", "cdn_domain": "c", "app_id": "1"}]}


def client(url: str, sleeps: list[float] | None = None, retries: list[str] | None = None) -> WeChat:
    return WeChat(CallSettings(url, 5.0, 3, False, TOKEN, None), Redactor(),
                  sleep=(sleeps if sleeps is not None else []).append,
                  on_retry=(retries if retries is not None else []).append)


def reply(**fields: Any) -> Reply:
    return Reply(body={"errcode": 0, "errmsg": "ok", **fields})


@pytest.fixture
def routed() -> Iterator[Callable[[Callable[[Received], Reply]], RoutedServer]]:
    servers: list[RoutedServer] = []

    def make(route: Callable[[Received], Reply]) -> RoutedServer:
        servers.append(RoutedServer(route))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


# -- the endpoints ------------------------------------------------------------------------------

def test_both_are_reads_with_the_common_error_table() -> None:
    for endpoint, path in ((CLOUDRUN_ENVS, CLOUDRUN_ENVS_PATH), (BATCH_ENV_ID, BATCH_ENV_ID_PATH)):
        assert endpoint.path == path and endpoint.safe and endpoint.effect == "read"
        assert endpoint.errors is API_ERRORS
    assert CLOUDRUN_ENVS_PATH == "/componenttcb/describecloudbaserunenvs"
    assert BATCH_ENV_ID_PATH == "/componenttcb/batchgetenvid"


# -- describe_envs --------------------------------------------------------------------------------

def test_describe_envs_posts_an_empty_object_and_reads_each_environment(scripted: Scripted) -> None:
    server = scripted(reply(env_list=[ENV, {"env_id": "qc-2", "status": "UNAVAILABLE", "source": "qcloud",
                                            "alias": "qc", "PackageId": "x", "Region": "ap-guangzhou"}]))
    assert describe_envs(client(server.url)) == [Env("shop-1-6gxk23no", "shop-1", "NORMAL", "miniapp"),
                                                 Env("qc-2", "qc", "UNAVAILABLE", "qcloud")]
    [sent] = server.received
    assert sent.method == "POST" and sent.path == CLOUDRUN_ENVS_PATH and sent.json() == {}
    assert sent.query == {"access_token": [TOKEN]}


def test_absent_texts_are_empty(scripted: Scripted) -> None:
    server = scripted(reply(env_list=[{"env_id": "e-1"}]))
    assert describe_envs(client(server.url)) == [Env("e-1", "", "", "")]


def test_an_empty_list_is_no_environment(scripted: Scripted) -> None:
    assert describe_envs(client(scripted(reply(env_list=[])).url)) == []


def test_server_text_is_made_safe_to_print(scripted: Scripted) -> None:
    server = scripted(reply(env_list=[{"env_id": "e-1", "status": "NORMAL\n::error::x", "alias": f"a{TOKEN}"}]))
    api = client(server.url)
    api.redact.add(TOKEN)
    [env] = describe_envs(api)
    assert env.status == "NORMAL\\n:\u200b:error:\u200b:x"
    assert TOKEN not in env.alias


@pytest.mark.parametrize("env_list", [
    None, "shop-1", [{"alias": "no-id"}], [{"env_id": ""}], [{"env_id": "two words"}], [{"env_id": "e\n"}],
    [{"env_id": "x" * 129}], [{"env_id": 7}], [{"env_id": "e", "status": "N" * 65}], [{"env_id": "e", "alias": 3}],
    ["e-1"],
])
def test_a_list_off_its_schema_fails_loudly(scripted: Scripted, env_list: Any) -> None:
    """The env_ids become roll-update env_ids: one that is not of that shape stops the step, never slips by."""
    body = {"errcode": 0} if env_list is None else {"errcode": 0, "env_list": env_list}
    server = scripted(Reply(body=body))
    with pytest.raises(TransportError) as caught:
        describe_envs(client(server.url))
    assert caught.value.kind == "unreadable"
    assert "does not fit" in caught.value.summary or "listed an env_id that is not" in caught.value.summary
    assert len(server.received) == 1, "an unreadable read is not retried"


@pytest.mark.parametrize("errcode", [40014, 45009, 40097, 85088])
def test_a_refusal_raises_the_api_error_at_once(scripted: Scripted, errcode: int) -> None:
    server = scripted(err(errcode, "refused"))
    with pytest.raises(ApiError) as caught:
        describe_envs(client(server.url))
    error = caught.value
    assert (error.errcode, error.effect, error.may_have_started) == (errcode, "read", False)
    assert error.title == "getWxCloudBaseRunEnvs failed"
    assert len(server.received) == 1


def test_a_busy_system_and_the_minute_quota_are_retried(scripted: Scripted) -> None:
    server = scripted(err(-1), err(45011), reply(env_list=[ENV]))
    sleeps: list[float] = []
    retries: list[str] = []
    assert len(describe_envs(client(server.url, sleeps, retries))) == 1
    assert len(server.received) == 3 and len(sleeps) == 2
    assert retries[0].startswith("the environment list: attempt 1 of 3") and "a read changes nothing" in retries[0]


def test_a_lost_answer_is_retried_as_a_read(scripted: Scripted) -> None:
    server = scripted(Reply(drop=True), Reply(status=502), reply(env_list=[ENV]))
    assert [e.env_id for e in describe_envs(client(server.url))] == ["shop-1-6gxk23no"]
    assert len(server.received) == 3


# -- envs_for_appids ---------------------------------------------------------------------------------

def appids(n: int) -> list[str]:
    return [f"wx{k:016x}" for k in range(n)]


class Shares:
    """batchgetenvid as a platform would answer: each appid one environment, some appids unknown."""

    def __init__(self, unknown: set[str] = frozenset(), failing_call: int | None = None) -> None:  # type: ignore[assignment]
        self.unknown, self.failing_call, self.calls = unknown, failing_call, 0

    def __call__(self, received: Received) -> Reply:
        self.calls += 1
        if self.calls == self.failing_call:
            return err(45009, "reach max api daily quota limit")
        asked = received.json()["appids"]
        shared = [{"appid": a, "env_list": [f"env-{a[-4:]}"]} for a in asked if a not in self.unknown]
        return reply(relation_data=shared,
                     err_list=[{"appid": a, "errmsg": "appid not authorized"} for a in asked if a in self.unknown])


def test_appids_go_in_chunks_of_100_in_order(routed: Callable[..., RoutedServer]) -> None:
    server = routed(Shares())
    given = appids(250)
    relations, errors = envs_for_appids(client(server.url), given)
    assert CHUNK == 100
    sent = [r.json() for r in server.received]
    assert [len(s["appids"]) for s in sent] == [100, 100, 50]
    assert [a for s in sent for a in s["appids"]] == given
    assert all(s["source_type"] == 1 and set(s) == {"appids", "source_type"} for s in sent)
    assert all(r.path == BATCH_ENV_ID_PATH for r in server.received)
    assert relations == [(a, [f"env-{a[-4:]}"]) for a in given] and errors == []


def test_exactly_100_appids_is_one_call(routed: Callable[..., RoutedServer]) -> None:
    server = routed(Shares())
    envs_for_appids(client(server.url), appids(100))
    assert len(server.received) == 1


def test_no_appid_is_no_call(routed: Callable[..., RoutedServer]) -> None:
    server = routed(Shares())
    assert envs_for_appids(client(server.url), []) == ([], [])
    assert server.received == []


def test_a_chunk_with_errors_does_not_stop_the_others(routed: Callable[..., RoutedServer]) -> None:
    given = appids(230)
    unknown = {given[5], given[150], given[229]}
    server = routed(Shares(unknown))
    relations, errors = envs_for_appids(client(server.url), given)
    assert len(server.received) == 3
    assert errors == [(a, "appid not authorized") for a in given if a in unknown]
    assert [a for a, _ in relations] == [a for a in given if a not in unknown]


def test_a_smaller_chunk_can_be_asked_for(routed: Callable[..., RoutedServer]) -> None:
    server = routed(Shares())
    envs_for_appids(client(server.url), appids(7), chunk=3)
    assert [len(r.json()["appids"]) for r in server.received] == [3, 3, 1]


def test_a_failing_chunk_fails_the_whole_discovery(routed: Callable[..., RoutedServer]) -> None:
    """A fleet found in part must not be rolled out as if whole: the error, not the first chunk's envs."""
    server = routed(Shares(failing_call=2))
    with pytest.raises(ApiError) as caught:
        envs_for_appids(client(server.url), appids(300))
    assert caught.value.errcode == 45009 and caught.value.title == "getShareCloudbaseEnv failed"
    assert len(server.received) == 2, "45009 is not retried, and no later chunk is sent"


def test_one_appid_may_have_several_environments_and_err_list_alone_is_an_answer(scripted: Scripted) -> None:
    server = scripted(reply(relation_data=[{"appid": "wx1", "env_list": ["a-1", "b-2"]}, {"appid": "wx2",
                                                                                       "env_list": []}]),
                      reply(err_list=[{"appid": "wx3"}]))
    api = client(server.url)
    assert envs_for_appids(api, ["wx1", "wx2"]) == ([("wx1", ["a-1", "b-2"]), ("wx2", [])], [])
    assert envs_for_appids(api, ["wx3"]) == ([], [("wx3", "")])


def test_an_errmsg_is_cut_and_made_safe(scripted: Scripted) -> None:
    server = scripted(reply(relation_data=[], err_list=[{"appid": "wx1", "errmsg": "bad\n" + "x" * 500}]))
    [(appid, errmsg)] = envs_for_appids(client(server.url), ["wx1"])[1]
    assert appid == "wx1" and errmsg.startswith("bad\\nxxx") and errmsg.endswith("...") and len(errmsg) < 220


@pytest.mark.parametrize("body", [
    {"errcode": 0}, {"errcode": 0, "relation_data": [{"appid": "wx1"}]},
    {"errcode": 0, "relation_data": [{"appid": "wx1", "env_list": ["bad id"]}]},
    {"errcode": 0, "relation_data": [{"appid": "wx1", "env_list": ["trailing\n"]}]},
    {"errcode": 0, "relation_data": [{"env_list": ["a"]}]}, {"errcode": 0, "err_list": [{"errmsg": "x"}]},
    {"errcode": 0, "relation_data": {"appid": "wx1"}}, {"errcode": 0, "err_list": [{"appid": "w" * 65}]},
])
def test_a_reply_off_its_schema_fails_loudly(scripted: Scripted, body: dict[str, Any]) -> None:
    with pytest.raises(TransportError) as caught:
        envs_for_appids(client(scripted(Reply(body=body)).url), ["wx1"])
    assert caught.value.kind == "unreadable"


# -- the schemas say what FLEET.md says -----------------------------------------------------------------

def fleet_md() -> str:
    """docs/spec/FLEET.md (the project's copy), else the shared original beside the checkout."""
    for path in (ROOT / "docs" / "spec" / "FLEET.md", ROOT.parent / "shared" / "spec" / "FLEET.md"):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise AssertionError("docs/spec/FLEET.md is missing")


def section(number: int) -> str:
    return re.split(r"^## ", fleet_md(), flags=re.MULTILINE)[number]


def table_names(text: str) -> list[str]:
    rows = [line.strip().strip("|").split("|")[0].strip() for line in text.splitlines() if line.startswith("|")]
    return rows[2:]


def test_the_env_list_schema_knows_every_documented_field() -> None:
    documented = table_names(section(1))
    assert "env_id" in documented and "status" in documented
    item = schemas.load("cloudrunenvs.reply.schema.json")["properties"]["env_list"]["items"]
    assert list(item["properties"]) == documented
    assert "additionalProperties" not in item, "unknown fields (Tencent's model has more) are ignored"


def test_the_batch_schemas_know_the_documented_fields() -> None:
    text = section(2)
    request = schemas.load("batchgetenvid.request.schema.json")
    assert list(request["properties"]) == table_names(text) == ["appids", "source_type"]
    assert request["properties"]["source_type"] == {"const": 1, "description": "1: Cloud Run (云托管) environments"}
    reply_schema = schemas.load("batchgetenvid.reply.schema.json")["properties"]
    for name in re.findall(r"`(\w+)\[\]`", text.split("Reply:", 1)[1]):
        assert name in reply_schema
    assert list(reply_schema["relation_data"]["items"]["properties"]) == ["appid", "env_list"]
    assert list(reply_schema["err_list"]["items"]["properties"]) == ["appid", "errmsg"]
    assert "100 per call is our guess" in text
