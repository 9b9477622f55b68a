"""report.py on hand-made Plans and Results: the record, the outputs, the summary and the log lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudbase_rollout.errors import ApiError, InvalidInput, LifecycleError, Problem, TransportError
from cloudbase_rollout.front import report
from cloudbase_rollout.inputs.plan import Plan, Target
from cloudbase_rollout.run.core import Result
from cloudbase_rollout.wechat.api import CallSettings

URL = "http://127.0.0.1:9"
CALL = CallSettings(URL, 30.0, 3, False, "tok-1", None)
BODY = {"env_id": "prod-1", "server_name": "api", "version_name": "latest", "upload_type": "image", "flow_ratio": 10,
        "image_info": {"image_url": "ccr.ccs.tencentyun.com/ns/api:v1"}}


def target(id: str = "api", *, body: dict[str, Any] | None = BODY, version: str = "latest", wait: bool = False,
           promote: bool = False) -> Target:
    server = body["server_name"] if body else id
    return Target(id, "prod-1", server, version, wait, promote, dict(body) if body else None)


def plan_of(*targets: Target, command: str = "rollout", batch: bool = False) -> Plan:
    return Plan(command, list(targets), CALL, 900, 5, batch)


def started(t: Target | None = None, **extra: Any) -> Result:
    return Result(t or target(), **{"version_name": "latest", "run_id": "Run-1", "result": "succ", "errmsg": "ok",
                                    "attempts": 1, **extra})


def rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| env |")]


# -- record ----------------------------------------------------------------------------------------------------


def test_record_of_a_started_rollout_that_waited_and_was_promoted():
    r = started(target(wait=True, promote=True), version_name="api-002", status="normal", waited=13.6,
                timeline=[(0.04, "deploying"), (13.56, "normal")], release_order_id=7, promoted=True, attempts=2)
    assert report.record(r) == {
        "id": "api", "env_id": "prod-1", "server_name": "api", "request": BODY, "version_name": "api-002",
        "run_id": "Run-1", "result": "succ", "errcode": 0, "errmsg": "ok", "status": "normal", "promoted": True,
        "release_order_id": 7, "waited_seconds": 14, "timeline": [[0.0, "deploying"], [13.6, "normal"]],
        "attempts": 2, "may_have_started": True, "error": None}


def test_record_of_a_call_that_failed_before_starting_anything():
    error = ApiError(40097, "invalid args", "check the body", attempts=3)
    record = report.record(Result(target(), version_name="latest", error=error))
    assert record["run_id"] is None and record["result"] == "failed"
    assert (record["errcode"], record["errmsg"], record["attempts"]) == (40097, "invalid args", 3)
    assert record["may_have_started"] is False and record["error"] == str(error)
    assert record["waited_seconds"] is None and record["timeline"] == []


def test_record_of_a_lost_answer_says_it_may_have_started():
    error = TransportError("HTTP 502 from " + URL, kind="http", may_have_started=True, status=502)
    record = report.record(Result(target(), error=error))
    assert record["result"] == "failed" and record["may_have_started"] is True and record["errcode"] is None


def test_record_of_a_failed_wait_keeps_the_started_rollout():
    error = LifecycleError("failed", "api", "api-002", "build_fail", "Run-1", 20.0)
    record = report.record(started(version_name="api-002", status="build_fail", waited=20.0, error=error))
    assert (record["run_id"], record["result"], record["errcode"]) == ("Run-1", "succ", 0)
    assert record["may_have_started"] is True and record["attempts"] == 1
    assert record["error"] == str(error) and record["status"] == "build_fail"


def test_record_of_a_release_command():
    t = target(body=None, version="api-007", promote=True)
    record = report.record(Result(t, version_name="api-007", status="normal", release_order_id=5, promoted=True))
    assert record["request"] is None and record["result"] is None and record["errcode"] is None
    assert record["may_have_started"] is False and record["promoted"] is True


# -- outputs ---------------------------------------------------------------------------------------------------


def test_outputs_of_one_rollout_without_wait():
    out = report.outputs(plan_of(target()), [started()])
    assert out == {"run_id": "Run-1", "result": "succ", "request": target().request_json, "version_name": "latest"}


def test_outputs_of_a_rollout_that_waited_promoted_and_failed_later_still_tell_what_started():
    r = started(version_name="api-002", status="normal", waited=9.5, release_order_id=26182,
                error=LifecycleError("release_failed", "api", "api-002", "normal", "Run-1"))
    out = report.outputs(plan_of(target(promote=True, wait=True)), [r])
    assert out["run_id"] == "Run-1" and out["version_name"] == "api-002" and out["status"] == "normal"
    assert out["release_order_id"] == "26182" and out["waited_seconds"] == "10"
    assert all(isinstance(value, str) for value in out.values())


def test_outputs_of_a_status_read_and_of_nothing_at_all():
    t = target(body=None, version="api-007")
    the_plan = plan_of(t, command="status")
    assert report.outputs(the_plan, [Result(t, version_name="api-007", status="build_fail")]) == {
        "status": "build_fail", "version_name": "api-007"}
    assert report.outputs(the_plan, [Result(t, version_name="api-007", error=InvalidInput([]))]) == {}


def test_outputs_of_a_batch_name_each_started_rollout_and_keep_every_record_in_order():
    a, b, c = target("zeta"), target("alpha"), target("mid")
    results = [started(a, run_id="Run-z"), Result(b, error=ApiError(40097, "bad", "fix")), started(c, run_id="Run-m")]
    out = report.outputs(plan_of(a, b, c, batch=True), results)
    assert set(out) == {"run_id_zeta", "run_id_mid", "results"}
    assert (out["run_id_zeta"], out["run_id_mid"]) == ("Run-z", "Run-m")
    records = json.loads(out["results"])
    assert [r["id"] for r in records] == ["zeta", "alpha", "mid"]
    assert records == [report.record(r) for r in results]


# -- summary and its cells ---------------------------------------------------------------------------------------


def test_summary_has_a_title_a_header_and_one_row_per_service():
    results = [started(target(promote=True), status="normal", promoted=True),
               Result(target("worker", body={**BODY, "server_name": "worker"}), version_name="latest",
                      error=ApiError(40097, "invalid args", "fix"))]
    text = report.summary(plan_of(*(r.target for r in results), batch=True), results)
    lines = text.splitlines()
    assert lines[0] == "### CloudBase Run rollout"
    assert lines[2] == "| env | service | version | image | flow ratio | run_id | result | status | promoted |"
    assert lines[3] == "|---|---|---|---|---|---|---|---|---|"
    assert rows(text) == [
        "| prod-1 | api | latest | ccr.ccs.tencentyun.com/ns/api:v1 | 10 | Run-1 | succ | normal | yes |",
        "| prod-1 | worker | latest | ccr.ccs.tencentyun.com/ns/api:v1 | 10 | - | failed: errcode 40097 invalid args "
        "| - | - |"]
    assert text.endswith("\n")


@pytest.mark.parametrize("command", ["release", "status"])
def test_summary_title_follows_the_command(command):
    t = target(body=None, promote=command == "release")
    text = report.summary(plan_of(t, command=command), [Result(t, version_name="api-7", status="deploying")])
    assert text.startswith(f"### CloudBase Run {command}\n")
    [row] = rows(text)
    assert row == f"| prod-1 | api | api-7 | - | - | - | ok | deploying | {'no' if command == 'release' else '-'} |"


def test_a_dry_run_summary_says_nothing_was_sent_and_promises_nothing():
    t = target(promote=True, wait=True)
    [row] = rows(report.summary(plan_of(t), [Result(t, version_name="latest")], dry_run=True))
    assert "| dry run (nothing sent) |" in row and row.endswith("| - | - |")


def test_the_summary_shows_each_timeline():
    r = started(target(wait=True), version_name="api-002", status="normal", waited=14.0,
                timeline=[(0.2, "deploying"), (13.7, "normal")])
    text = report.summary(plan_of(r.target), [r, started(target("quiet"))])
    assert text.endswith("\n\n#### api: api-002\n\n- 0 s: deploying\n- 14 s: normal\n")
    assert "#### quiet" not in text


def test_the_summary_is_bounded_in_rows():
    results = [started(target(f"s{n}")) for n in range(report.MAX_SUMMARY_ROWS + 5)]
    assert len(rows(report.summary(plan_of(*(r.target for r in results), batch=True), results))) \
        == report.MAX_SUMMARY_ROWS


def test_a_status_word_from_the_server_cannot_break_the_table_or_inject_html():
    word = "bad|word\\<img src=x>\n| x | y |"
    r = started(status=word, timeline=[(0.0, word)], version_name="v|1")
    text = report.summary(plan_of(r.target), [r])
    [row] = rows(text)
    assert row.count(" | ") == 8, "still nine cells"
    assert "<" not in text and "\n| x | y |" not in text
    assert "bad\\|word\\\\&lt;img src=x>" in row
    assert "#### api: v\\|1" in text and "- 0 s: bad\\|word" in text


@pytest.mark.parametrize(("value", "cell"), [
    ("a|b", "a\\|b"), ("back\\slash", "back\\\\slash"), ("<b>", "&lt;b>"), ("line\nbreak\ttab\x1b", "line break tab "),
    ("", "-"), (10, "10"), ("版本", "版本"),
])
def test_cell_escapes(value, cell):
    assert report._cell(value) == cell


def test_cell_is_cut_before_it_is_escaped():
    assert report._cell("x" * 500) == "x" * report.SUMMARY_CELL
    assert report._cell("|" * 500) == "\\|" * report.SUMMARY_CELL


# -- log lines ---------------------------------------------------------------------------------------------------


def test_result_lines_tell_the_status_at_the_end():
    r = started(status="normal", waited=13.6, version_name="api-002", attempts=2)
    assert report.result_lines(r) == ["version api-002: status normal after waiting 14 s"]
    assert report.result_lines(Result(target(), version_name="api-7", status="deploying")) == [
        "version api-7: status deploying"]


def test_result_lines_leave_the_status_to_the_error():
    r = started(status="build_fail", error=LifecycleError("failed", "api", "latest", "build_fail", "Run-1"))
    assert report.result_lines(r) == []
    assert report.result_lines(Result(target(), error=InvalidInput([Problem("x", "y")]))) == []


@pytest.mark.parametrize(("command", "verb"), [("rollout", "Rolling out"), ("release", "Releasing"),
                                               ("status", "Reading")])
def test_start_lines(command, verb):
    the_plan = plan_of(target(), target("worker", body={**BODY, "server_name": "worker"}), command=command,
                       batch=True)
    worker = Result(the_plan.targets[1])
    assert report.event_line(the_plan, "start", worker) == f"worker: {verb} worker@latest in prod-1 through {URL}"
    single = plan_of(target(), command=command)
    assert report.event_line(single, "start", Result(single.targets[0])) == \
        f"{verb} api@latest in prod-1 through {URL}"


def test_the_run_id_is_said_when_the_roll_update_is_accepted():
    r = started(attempts=2)
    assert report.event_line(plan_of(target()), "accepted", r) == \
        "Rollout started: run_id Run-1 (result succ, 2 attempt(s))"


def test_plan_lines_of_a_rollout():
    assert report.plan_lines(plan_of(target()), target()) == []
    t = target(wait=True, promote=True)
    assert report.plan_lines(plan_of(t), t) == [
        "would read version latest of api first (latest resolved with getcsversionlist: the newest by "
        "created_time)",
        "would wait for version latest of api to become healthy (up to 900 s, reading every 5 s)",
        "would release version latest of api (all the traffic) once it is normal"]
    t = target(version="api-007", wait=True)
    assert report.plan_lines(plan_of(t), t) == [
        "would read version api-007 of api first",
        "would wait for version api-007 of api to become healthy (up to 900 s, reading every 5 s)"]


def test_plan_lines_of_release_and_status():
    t = target(body=None, version="api-007", promote=True)
    assert report.plan_lines(plan_of(t, command="release"), t) == [
        "would read version api-007 of api", "would release version api-007 of api (all the traffic) once it is normal"]
    t = target(body=None, wait=True)
    assert report.plan_lines(plan_of(t, command="status"), t) == [
        "would read version latest of api (latest resolved with getcsversionlist: the newest by created_time)",
        "would wait for version latest of api to settle (up to 900 s, reading every 5 s)"]
    t = target(body=None)
    assert report.plan_lines(plan_of(t, command="status"), t) == [
        "would read version latest of api (latest resolved with getcsversionlist: the newest by created_time)"]


def test_dry_run_lines_print_the_body_then_the_plan():
    t = target(promote=True, wait=True)
    lines = report.dry_run_lines(plan_of(t))
    assert lines[0] == "Dry run: the request below is valid and was NOT sent."
    assert json.loads(lines[1]) == BODY and "\n" in lines[1]
    assert lines[2:] == report.plan_lines(plan_of(t), t)


def test_dry_run_lines_of_a_batch_and_of_a_release():
    a, b = target("a"), target("b", version="b-1")
    lines = report.dry_run_lines(plan_of(a, b, batch=True))
    assert [line for line in lines if line.startswith("Dry run")] == [
        "Dry run of a: the request below is valid and was NOT sent.",
        "Dry run of b: the request below is valid and was NOT sent."]
    t = target(body=None, version="api-007", promote=True)
    assert report.dry_run_lines(plan_of(t, command="release")) == [
        "Dry run: command release for api@api-007 in prod-1; nothing was called.",
        *report.plan_lines(plan_of(t, command="release"), t)]


def test_dry_run_outputs():
    assert report.dry_run_outputs(plan_of(target())) == {"request": target().request_json}
    t = target(body=None, version="api-007")
    assert report.dry_run_outputs(plan_of(t, command="status")) == {"version_name": "api-007"}
    out = report.dry_run_outputs(plan_of(target("a"), target(body=None), batch=True))
    assert json.loads(out["results"]) == [{"id": "a", "request": BODY, "version_name": "latest"},
                                          {"id": "api", "request": None, "version_name": "latest"}]


def test_outputs_lost_names_the_started_rollouts():
    text = report.outputs_lost(OSError("disk full"), [started(target("a"), run_id="Run-a"), Result(target("b"))])
    assert "disk full" in text and "a run_id Run-a" in text and "b run_id" not in text
    assert "Rollouts started: none" in report.outputs_lost(OSError("x"), [Result(target())])
