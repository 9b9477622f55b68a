"""The CloudBase Run operations on top of WeChat.call, and the status words.

Each operation is called directly against a scripted loopback server; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cloudbase_rollout import API_PATH, RELEASE_PATH, VERSION_DETAIL_PATH, VERSION_LIST_PATH
from cloudbase_rollout.errors import ApiError, TransportError
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.vocabulary.statuses import FAILED, HEALTHY, MOVING, classify
from cloudbase_rollout.wechat.api import CallSettings, WeChat
from cloudbase_rollout.wechat.cloudrun import (
    MAX_PAGES,
    PAGE,
    RUN_ID,
    RollReply,
    Version,
    list_versions,
    newest,
    read_version,
    release,
    roll_update,
)
from tests.conftest import TOKEN
from tests.loopback import Received, Reply, RoutedServer, ScriptedServer, err, ok

BODY = {"env_id": "prod-1", "server_name": "shop-api", "version_name": "latest", "upload_type": "image"}
Scripted = Callable[..., ScriptedServer]
Routed = Callable[[Callable[[Received], Reply]], RoutedServer]


def client(url: str, sleeps: list[float] | None = None, retries: list[str] | None = None) -> WeChat:
    return WeChat(CallSettings(url, 5.0, 3, False, TOKEN, None), Redactor(),
                  sleep=(sleeps if sleeps is not None else []).append,
                  on_retry=(retries if retries is not None else []).append)


def reply(**fields: Any) -> Reply:
    return Reply(body={"errcode": 0, "errmsg": "ok", **fields})


# -- roll_update ------------------------------------------------------------------------

def test_roll_update_returns_the_run_id(scripted: Scripted) -> None:
    server = scripted(ok("Run-1mz9GjJgyY53bh"))
    got = roll_update(client(server.url), BODY)
    assert got == RollReply("Run-1mz9GjJgyY53bh", "succ", "ok", 1)
    [sent] = server.received
    assert sent.path == API_PATH and sent.json() == BODY


def test_roll_update_counts_attempts_and_labels_retries_with_the_server_name(scripted: Scripted) -> None:
    server = scripted(err(-1), ok("Run-2"))
    retries: list[str] = []
    got = roll_update(client(server.url, retries=retries), BODY)
    assert got.attempts == 2 and got.run_id == "Run-2"
    assert retries[0].startswith("shop-api: attempt 1 of 3 failed")


@pytest.mark.parametrize("result", ["fail", "", "SUCC", "success"])
def test_a_result_other_than_succ_fails_and_may_have_started(scripted: Scripted, result: str) -> None:
    server = scripted(reply(result=result, run_id="Run-3"))
    with pytest.raises(ApiError) as caught:
        roll_update(client(server.url), BODY)
    error = caught.value
    assert error.errcode == 0 and error.may_have_started and error.effect == "rollout"
    assert f"without result succ (result {result!r})" in error.remedy
    assert len(server.received) == 1


@pytest.mark.parametrize("run_id", ["a", "A-z_09", "x" * 128])
def test_a_plain_run_id_of_1_to_128_characters_is_accepted(scripted: Scripted, run_id: str) -> None:
    assert roll_update(client(scripted(ok(run_id)).url), BODY).run_id == run_id


def test_a_run_id_with_a_trailing_newline_is_refused(scripted: Scripted) -> None:
    """The reply schema's `$` lets a final newline through; the whole-string check does not."""
    server = scripted(ok("Run-4\n"))
    with pytest.raises(TransportError) as caught:
        roll_update(client(server.url), BODY)
    error = caught.value
    assert error.kind == "unreadable" and error.may_have_started
    assert "run_id that is not 1 to 128 letters, digits, - or _" in error.summary
    assert "'Run-4\\\\n'" in error.summary  # shown escaped, on one line
    assert "nothing was written to the outputs" in error.summary


@pytest.mark.parametrize("run_id", ["", "two words", "x" * 129, "Run/5", "Run-5\n", "Rün"])
def test_run_id_pattern_is_whole_string(run_id: str) -> None:
    assert RUN_ID.fullmatch(run_id) is None


# -- release ----------------------------------------------------------------------------------

def test_release_success_returns_the_order_id(scripted: Scripted) -> None:
    server = scripted(reply(result="success", release_order_id=26182))
    assert release(client(server.url), "prod-1", "shop-api", "shop-api-007") == ("success", 26182)
    [sent] = server.received
    assert sent.path == RELEASE_PATH
    assert sent.json() == {"env_id": "prod-1", "server_name": "shop-api", "release_version": "shop-api-007"}


def test_release_failed_is_a_result_not_an_error(scripted: Scripted) -> None:
    server = scripted(reply(result="failed"))
    assert release(client(server.url), "prod-1", "shop-api", "v1") == ("failed", None)


def test_release_order_id_zero_is_kept(scripted: Scripted) -> None:
    server = scripted(reply(result="success", release_order_id=0))
    assert release(client(server.url), "e", "s", "v") == ("success", 0)


# -- list_versions: paging ------------------------------------------------------------------------

def item(n: int, **extra: Any) -> dict[str, Any]:
    return {"version_name": f"shop-api-{n:03d}", "status": "normal",
            "created_time": f"2026-01-01 00:{n // 60 % 60:02d}:{n % 60:02d}", **extra}


class Versions:
    """A version list served page by page, as getcsversionlist does (offset, limit)."""

    def __init__(self, count: int, total: int | None) -> None:
        self.items = [item(n) for n in range(count)]
        self.total = total

    def __call__(self, received: Received) -> Reply:
        body = received.json()
        page = self.items[body["offset"]:body["offset"] + body["limit"]]
        data: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "items": page}
        if self.total is not None:
            data["total"] = self.total
        return Reply(body=data)


@pytest.fixture
def routed() -> Iterator[Routed]:
    servers: list[RoutedServer] = []

    def make(route: Callable[[Received], Reply]) -> RoutedServer:
        servers.append(RoutedServer(route))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def offsets(server: RoutedServer) -> list[int]:
    return [r.json()["offset"] for r in server.received]


def test_150_versions_come_in_two_pages(routed: Routed) -> None:
    server = routed(Versions(150, total=150))
    found = list_versions(client(server.url), "prod-1", "shop-api")
    assert [v.name for v in found] == [f"shop-api-{n:03d}" for n in range(150)]
    assert offsets(server) == [0, 100]
    for sent in server.received:
        assert sent.path == VERSION_LIST_PATH
        body = sent.json()
        assert (body["env"], body["service_name"], body["limit"]) == ("prod-1", "shop-api", PAGE)
        assert set(body) == {"env", "service_name", "limit", "offset"}


def test_a_full_page_that_reaches_total_stops(routed: Routed) -> None:
    server = routed(Versions(100, total=100))
    assert len(list_versions(client(server.url), "e", "s")) == 100
    assert offsets(server) == [0]


def test_a_full_page_without_total_asks_for_the_next(routed: Routed) -> None:
    server = routed(Versions(200, total=None))
    assert len(list_versions(client(server.url), "e", "s")) == 200
    assert offsets(server) == [0, 100, 200]  # the third page is empty


def test_a_short_page_stops_whatever_total_says(routed: Routed) -> None:
    server = routed(Versions(30, total=500))
    assert len(list_versions(client(server.url), "e", "s")) == 30
    assert offsets(server) == [0]


def test_a_total_smaller_than_the_first_page_stops_there(routed: Routed) -> None:
    server = routed(Versions(120, total=5))
    assert len(list_versions(client(server.url), "e", "s")) == 100  # total says stop after page 1
    assert offsets(server) == [0]


def test_paging_stops_after_max_pages(routed: Routed) -> None:
    server = routed(Versions(PAGE * MAX_PAGES + 50, total=None))
    found = list_versions(client(server.url), "e", "s")
    assert MAX_PAGES == 20
    assert len(found) == PAGE * MAX_PAGES and len(server.received) == MAX_PAGES
    assert offsets(server) == [page * PAGE for page in range(MAX_PAGES)]


def test_no_versions_is_an_empty_list(routed: Routed) -> None:
    server = routed(Versions(0, total=0))
    assert list_versions(client(server.url), "e", "s") == []
    assert len(server.received) == 1


def test_list_items_become_versions_and_keep_only_plain_run_ids(scripted: Scripted) -> None:
    items = [item(1, updated_time="2026-01-02 00:00:00", run_id="Run-ok"),
             item(2, run_id="not plain!"), {"version_name": "bare"}]
    server = scripted(reply(total=3, items=items))
    assert list_versions(client(server.url), "e", "s") == [
        Version("shop-api-001", "normal", "2026-01-01 00:00:01", "2026-01-02 00:00:00", "Run-ok"),
        Version("shop-api-002", "normal", "2026-01-01 00:00:02", "", None),
        Version("bare", "", "", "", None),
    ]


# -- read_version ---------------------------------------------------------------------------------

def test_read_version_reads_status_times_and_run_id(scripted: Scripted) -> None:
    server = scripted(reply(status="deploying", created_time="2026-01-01 10:00:00",
                            updated_time="2026-01-01 10:05:00", run_id="Run-7", remark="r", cpu=0.5))
    got = read_version(client(server.url), "prod-1", "shop-api", "shop-api-007")
    assert got == Version("shop-api-007", "deploying", "2026-01-01 10:00:00", "2026-01-01 10:05:00", "Run-7")
    [sent] = server.received
    assert sent.path == VERSION_DETAIL_PATH
    assert sent.json() == {"env": "prod-1", "service_name": "shop-api", "version_name": "shop-api-007"}


def test_read_version_names_the_version_asked_for(scripted: Scripted) -> None:
    server = scripted(reply(status="normal", version_name="something-else"))
    assert read_version(client(server.url), "e", "s", "v1").name == "v1"


def test_read_version_without_times_or_run_id(scripted: Scripted) -> None:
    server = scripted(reply(status="normal", run_id=5))
    assert read_version(client(server.url), "e", "s", "v1") == Version("v1", "normal", "", "", None)


def test_read_version_refuses_a_reply_without_status(scripted: Scripted) -> None:
    server = scripted(reply(created_time="2026-01-01 10:00:00"))
    with pytest.raises(TransportError) as caught:
        read_version(client(server.url), "e", "s", "v1")
    assert caught.value.kind == "unreadable" and not caught.value.may_have_started


# -- newest: what `latest` means ----------------------------------------------------------------

def v(name: str, created: str) -> Version:
    return Version(name, "normal", created)


def newest_name(versions: list[Version]) -> str:
    found = newest(versions)
    assert found is not None
    return found.name


def test_newest_of_nothing_is_none() -> None:
    assert newest([]) is None


def test_newest_is_the_latest_created_whatever_the_order() -> None:
    versions = [v("b", "2026-01-02 00:00:00"), v("c", "2026-01-03 00:00:00"), v("a", "2026-01-01 00:00:00")]
    assert newest(versions) == versions[1]
    assert newest(list(reversed(versions))) == versions[1]


@pytest.mark.parametrize(("older", "newer"), [
    ("2026-01-09T23:00:00", "2026-01-10 01:00:00"),  # text would put "T" after " "
    ("2026-01-10 01:00:00", "2026-01-10T02:00:00"),
    ("2026-01-10 09:00", "2026-01-10 10:00:00"),  # minutes only
    ("2026-01-10 09:59:59", "2026-01-10 10:00"),
    ("2026-01-09", "2026-01-09 00:00:01"),
    ("2026-01-10 23:59:59", "2026-01-11"),
    ("2026-01-10 09:59:59", " 2026-01-10 10:00:00 "),  # surrounding blanks
    ("2026-01-10 09:59:59", "2026-01-10 10:00:00.250+08:00"),  # fraction and zone cut off
    ("2026-01-10 09:59:59", "2026-01-10T10:00:00Z"),
])
def test_newest_compares_times_not_text(older: str, newer: str) -> None:
    assert newest_name([v("new", newer), v("old", older)]) == "new"
    assert newest_name([v("old", older), v("new", newer)]) == "new"


def test_a_time_that_cannot_be_parsed_never_wins_over_one_that_can() -> None:
    versions = [v("garbage", "zzzz"), v("empty", ""), v("real", "2001-01-01 00:00:00"), v("slashes", "2099/01/01")]
    assert newest_name(versions) == "real"


def test_unparseable_times_fall_back_to_text_order() -> None:
    assert newest_name([v("a", "build 10"), v("b", "build 9"), v("c", "")]) == "b"


def test_equal_times_are_ordered_by_their_text() -> None:
    assert newest_name([v("t", "2026-01-10T10:00:00"), v("space", "2026-01-10 10:00:00")]) == "t"


# -- classify: the status words --------------------------------------------------------------------

@pytest.mark.parametrize(("status", "kind"), [
    ("normal", HEALTHY), ("NORMAL", HEALTHY), (" Normal\n", HEALTHY),
    ("build_fail", FAILED), ("deploy_failed", FAILED), ("FAILED", FAILED), ("failure", FAILED),
    ("abnormal", FAILED), ("ABNORMAL", FAILED),
    ("running", MOVING), ("deploying", MOVING), ("updating", MOVING), ("pending", MOVING),
    ("unknown", MOVING), ("succ", MOVING), ("", MOVING), ("   ", MOVING),
    ("normally", MOVING), ("not normal", MOVING), ("abnormality", MOVING),
])
def test_classify(status: str, kind: str) -> None:
    assert classify(status) == kind


def test_the_three_classes_are_distinct_words() -> None:
    assert (HEALTHY, FAILED, MOVING) == ("healthy", "failed", "moving")
