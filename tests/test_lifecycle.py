"""Issue 8 against plain scripted loopback servers: wait, promote, release, status, in-process
through action.main with an explicit environment and a fake clock (nothing sleeps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudbase_rollout import API_PATH, RELEASE_PATH, VERSION_DETAIL_PATH, VERSION_LIST_PATH
from tests.conftest import TOKEN, good_inputs
from tests.loopback import Received, Reply, RoutedServer, ScriptedServer, err, ok
from tests.runner import FakeClock, StepResult, run_inprocess

T0, T1, T2 = "2026-11-30 10:00:00", "2026-11-30 11:00:01", "2026-11-30 11:00:09"


def listing(*names: tuple[str, str, str]) -> Reply:
    items = [{"version_name": n, "status": s, "created_time": c, "flow_ratio": 0} for n, s, c in names]
    return Reply(body={"errcode": 0, "errmsg": "ok", "total": len(items), "items": items})


VERSIONS = listing(("api-001", "normal", "2026-10-01 09:00:00"), ("api-002", "normal", "2026-11-20 09:00:00"))


def detail(status: str, updated: str = T0) -> Reply:
    return Reply(body={"errcode": 0, "errmsg": "ok", "status": status, "created_time": T0, "updated_time": updated})


def released(result: str = "success", order: int = 26182) -> Reply:
    return Reply(body={"errcode": 0, "errmsg": "ok", "result": result, "release_order_id": order})


@pytest.fixture
def act(tmp_path: Path):
    def run(inputs: dict[str, str], env: dict[str, str] | None = None) -> tuple[StepResult, FakeClock]:
        clock = FakeClock()
        return run_inprocess(tmp_path, inputs, env, clock, clock.sleep), clock

    return run


def paths(server: ScriptedServer) -> list[str]:
    return [r.path for r in server.received]


def error_of(result: StepResult) -> str:
    return "\n".join(result.annotations("error"))


def test_rollout_wait_promote_reads_first_then_polls_then_releases(scripted, act):
    server = scripted(VERSIONS, detail("normal"), ok("Run-new"), detail("deploying", T1), detail("deploying", T1),
                      detail("normal", T2), released())
    result, clock = act(good_inputs(server.url, promote="true", wait_interval_seconds="7"))
    assert result.returncode == 0, result.log
    assert paths(server) == [VERSION_LIST_PATH, VERSION_DETAIL_PATH, API_PATH, VERSION_DETAIL_PATH,
                             VERSION_DETAIL_PATH, VERSION_DETAIL_PATH, RELEASE_PATH]
    assert server.received[0].json() == {"env": "prod-6gxk23no5605e14f", "service_name": "api", "limit": 100,
                                         "offset": 0}
    assert server.received[1].json() == {"env": "prod-6gxk23no5605e14f", "service_name": "api",
                                         "version_name": "api-002"}
    assert server.received[2].json()["version_name"] == "latest", "the body is what it was: latest stays latest"
    assert server.received[-1].json() == {"env_id": "prod-6gxk23no5605e14f", "server_name": "api",
                                          "release_version": "api-002"}
    assert all(r.query == {"access_token": [TOKEN]} for r in server.received)
    assert clock.sleeps == [7, 7]
    out = result.outputs
    assert out["run_id"] == "Run-new" and out["version_name"] == "api-002" and out["status"] == "normal"
    assert out["release_order_id"] == "26182" and out["waited_seconds"] == "14"
    assert "api: status deploying after 0 s" in result.stdout and "api: status normal after 14 s" in result.stdout
    assert "| normal | yes |" in result.summary
    assert "- 0 s: deploying" in result.summary and "- 14 s: normal" in result.summary


def test_promote_implies_wait_even_when_wait_arrives_false(scripted, act):
    server = scripted(detail("normal"), ok("Run-1"), detail("normal", T1), released())
    result, _ = act(good_inputs(server.url, version_name="api-007", promote="true", wait="false"))
    assert result.returncode == 0, result.log
    assert paths(server) == [VERSION_DETAIL_PATH, API_PATH, VERSION_DETAIL_PATH, RELEASE_PATH]


def test_without_wait_nothing_but_the_roll_update_is_called(scripted, act):
    server = scripted(ok("Run-1"))
    result, _ = act(good_inputs(server.url))
    assert result.returncode == 0, result.log
    assert paths(server) == [API_PATH]
    assert "status" not in result.outputs and "waited_seconds" not in result.outputs


def test_a_version_that_cannot_be_read_fails_before_the_roll_update(scripted, act):
    server = scripted(err(40097, "version not found"), VERSIONS)
    result, _ = act(good_inputs(server.url, version_name="api-999", wait="true"))
    assert result.returncode == 1
    assert API_PATH not in paths(server), "nothing was rolled out"
    error = error_of(result)
    assert "api-999" in error and "errcode 40097" in error and "api-001, api-002" in error
    assert "Nothing was changed" in error
    assert result.outputs == {}


def test_latest_of_a_service_without_versions_fails_before_the_roll_update(scripted, act):
    server = scripted(listing())
    result, _ = act(good_inputs(server.url, wait="true"))
    assert result.returncode == 1
    assert paths(server) == [VERSION_LIST_PATH]
    assert "latest" in error_of(result)


def test_a_failed_version_fails_the_step_is_not_promoted_and_keeps_its_outputs(scripted, act):
    server = scripted(detail("normal"), ok("Run-9"), detail("building", T1), detail("build_fail", T2))
    result, _ = act(good_inputs(server.url, version_name="api-007", promote="true"))
    assert result.returncode == 1
    assert RELEASE_PATH not in paths(server), "a failed version is never promoted"
    error = error_of(result)
    assert "build_fail" in error and "Run-9" in error and "api-007" in error and "console" in error
    out = result.outputs
    assert out["run_id"] == "Run-9" and out["version_name"] == "api-007" and out["status"] == "build_fail"
    assert "| build_fail | no |" in result.summary


def test_normal_without_evidence_times_out_and_says_not_to_run_again_blindly(scripted, act):
    server = scripted(detail("normal"), ok("Run-2"), detail("normal"))
    result, clock = act(good_inputs(server.url, version_name="api-007", wait="true", wait_timeout_seconds="30",
                                    wait_interval_seconds="10"))
    assert result.returncode == 1
    assert clock.sleeps == [10, 10, 10]
    error = error_of(result)
    assert "Wait timed out" in error and "last status: normal" in error
    assert "goes on" in error and "Do not run this step again blindly" in error and "Run-2" in error
    assert result.outputs["run_id"] == "Run-2" and result.outputs["waited_seconds"] == "30"


def test_a_list_item_with_our_run_id_is_evidence_when_the_detail_reads_the_old_normal(scripted, act):
    item = {"version_name": "api-007", "status": "normal", "created_time": T0, "run_id": "Run-listed"}
    listed = Reply(body={"errcode": 0, "errmsg": "ok", "total": 1, "items": [item]})
    server = scripted(detail("normal"), ok("Run-listed"), detail("normal"), listed)
    result, clock = act(good_inputs(server.url, version_name="api-007", wait="true"))
    assert result.returncode == 0, result.log
    assert paths(server) == [VERSION_DETAIL_PATH, API_PATH, VERSION_DETAIL_PATH, VERSION_LIST_PATH]
    assert clock.sleeps == []


def test_a_list_item_with_another_run_id_is_no_evidence(scripted, act):
    item = {"version_name": "api-007", "status": "normal", "created_time": T0, "run_id": "Run-older"}
    listed = Reply(body={"errcode": 0, "errmsg": "ok", "total": 1, "items": [item]})
    server = scripted(detail("normal"), ok("Run-mine"), detail("normal"), listed, detail("normal"), listed)
    result, _ = act(good_inputs(server.url, version_name="api-007", wait="true", wait_timeout_seconds="5"))
    assert result.returncode == 1 and "Wait timed out" in error_of(result)


def test_a_status_word_cannot_start_a_workflow_command(scripted, act):
    evil = "deploying\n::notice::injected\r::warning::x"
    server = scripted(detail(evil), ok("Run-8"), detail(evil, T1), detail("normal", T2))
    result, _ = act(good_inputs(server.url, version_name="api-007", wait="true"))
    assert result.returncode == 0, result.log
    commands = [line for line in result.stdout.splitlines() if line.startswith(("::notice", "::warning"))]
    assert len(commands) == 1 and "before the rollout" in commands[0], "only our own warning (item 8)"
    assert "::notice::injected" not in commands[0] and "::warning::x" not in commands[0]
    assert "deploying\\n:" in result.stdout, "shown, escaped"
    assert "\n::notice" not in result.output_file + result.summary


def test_busy_reads_do_not_end_the_wait(scripted, act):
    server = scripted(detail("normal"), ok("Run-3"), err(-1, "busy"), err(45011, "minute quota"),
                      Reply(status=503), detail("normal", T1))
    result, _ = act(good_inputs(server.url, version_name="api-007", wait="true", max_attempts="1"))
    assert result.returncode == 0, result.log
    assert result.outputs["status"] == "normal"


@pytest.mark.parametrize("errcode", [40014, 85088, 45009])
def test_other_read_errors_end_the_wait_saying_the_rollout_was_started(scripted, act, errcode):
    server = scripted(detail("normal"), ok("Run-4"), err(errcode, "nope"))
    result, _ = act(good_inputs(server.url, version_name="api-007", wait="true"))
    assert result.returncode == 1
    assert len(server.received) == 3, "not retried"
    error = error_of(result)
    assert f"errcode {errcode}" in error and "Run-4" in error and "cannot be watched" in error
    assert result.outputs["run_id"] == "Run-4"


def test_a_wait_ended_by_a_read_error_reports_the_last_status_read_after_the_call(scripted, act):
    server = scripted(detail("normal"), ok("Run-6"), detail("deploying", T1), err(45009, "daily quota"))
    result, _ = act(good_inputs(server.url, version_name="api-007", promote="true"))
    assert result.returncode == 1
    out = result.outputs
    assert out["status"] == "deploying" and out["waited_seconds"] == "5" and out["run_id"] == "Run-6"
    assert "| deploying | no |" in result.summary
    assert "cannot be watched" in error_of(result)


def test_a_failed_release_fails_the_step(scripted, act):
    server = scripted(detail("normal"), ok("Run-5"), detail("normal", T1), released("failed", 0))
    result, _ = act(good_inputs(server.url, version_name="api-007", promote="true"))
    assert result.returncode == 1
    assert "releasing version api-007 of api failed" in error_of(result)
    assert result.outputs["run_id"] == "Run-5"
    assert "release_order_id" not in result.outputs, "written only when released"


# -- command: release ----------------------------------------------------------------------------------


def release_inputs(url: str, **extra: str) -> dict[str, str]:
    return {"access_token": TOKEN, "api_base_url": url, "env_id": "prod-6gxk23no5605e14f", "server_name": "api",
            "command": "release", "version_name": "latest", "upload_type": "image", **extra}


def test_release_resolves_latest_and_releases_a_normal_version(scripted, act):
    server = scripted(VERSIONS, detail("normal"), released(order=7))
    result, _ = act(release_inputs(server.url))
    assert result.returncode == 0, result.log
    assert paths(server) == [VERSION_LIST_PATH, VERSION_DETAIL_PATH, RELEASE_PATH]
    assert server.received[-1].json()["release_version"] == "api-002"
    assert result.outputs == {"version_name": "api-002", "status": "normal", "release_order_id": "7"}


def test_release_without_wait_refuses_a_moving_version_and_suggests_wait(scripted, act):
    server = scripted(detail("deploying"))
    result, _ = act(release_inputs(server.url, version_name="api-007"))
    assert result.returncode == 1
    assert paths(server) == [VERSION_DETAIL_PATH]
    error = error_of(result)
    assert "deploying" in error and "wait" in error and "Release refused" in error
    assert result.outputs["status"] == "deploying"


def test_release_never_releases_a_failed_version(scripted, act):
    server = scripted(detail("deploy_failed"))
    result, _ = act(release_inputs(server.url, version_name="api-007", wait="true"))
    assert result.returncode == 1
    assert RELEASE_PATH not in paths(server)
    assert "never released" in error_of(result)


def test_release_with_wait_waits_for_normal_without_evidence(scripted, act):
    server = scripted(detail("deploying"), detail("normal"), released())
    result, clock = act(release_inputs(server.url, version_name="api-007", wait="true"))
    assert result.returncode == 0, result.log
    assert paths(server) == [VERSION_DETAIL_PATH, VERSION_DETAIL_PATH, RELEASE_PATH]
    assert clock.sleeps == [5]


@pytest.mark.parametrize("command", ["release", "status"])
@pytest.mark.parametrize("extra", [{"image": "ccr.ccs.tencentyun.com/ns/app:v1"}, {"flow_ratio": "10"},
                                   {"request_file": "deploy.json"}, {"upload_type": "repository"}])
def test_body_inputs_with_release_or_status_are_invalid_input(scripted, act, command, extra):
    server = scripted(detail("normal"))
    result, _ = act(release_inputs(server.url, command=command, **extra))
    assert result.returncode == 2
    assert server.received == []
    [name] = extra
    assert f"{name}: is not used by command {command}" in error_of(result)


def test_promote_with_status_is_invalid_input(scripted, act):
    server = scripted(detail("normal"))
    result, _ = act(release_inputs(server.url, command="status", promote="true"))
    assert result.returncode == 2 and server.received == []


# -- command: status -----------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["normal", "build_fail", "warming_up"])
def test_status_reads_and_exits_0_whatever_the_status(scripted, act, word):
    server = scripted(detail(word))
    result, _ = act(release_inputs(server.url, command="status", version_name="api-007"))
    assert result.returncode == 0, result.log
    assert result.outputs == {"status": word, "version_name": "api-007"}


def test_status_with_wait_fails_when_it_settles_failed(scripted, act):
    server = scripted(detail("deploying"), detail("build_fail"))
    result, _ = act(release_inputs(server.url, command="status", version_name="api-007", wait="true"))
    assert result.returncode == 1
    assert result.outputs["status"] == "build_fail"


# -- dry run, batch ------------------------------------------------------------------------------------------


def test_dry_run_prints_the_plan_and_calls_nothing(scripted, act):
    server = scripted(ok())
    result, _ = act(good_inputs(server.url, promote="true", dry_run="true"))
    assert result.returncode == 0, result.log
    assert server.received == []
    log = result.stdout
    assert log.index("was NOT sent") < log.index("would wait for version latest of api") \
        < log.index("would release version latest of api")


def route(versions: dict[str, Any]) -> Any:
    """A server that knows some services (by service_name): unknown ones answer 40097 to reads."""
    def answer(received: Received) -> Reply:
        body = received.json()
        service = body.get("service_name") or body.get("server_name")
        if received.path == API_PATH:
            return ok(f"Run-{service}")
        if service not in versions:
            return err(40097, f"service {service} not found")
        if received.path == VERSION_LIST_PATH:
            return listing((f"{service}-001", "normal", T0))
        if received.path == RELEASE_PATH:
            return released()
        return detail(versions[service], T0 if len([1]) == 0 else T1)
    return answer


def test_batch_reads_every_version_before_any_roll_update(act):
    server = RoutedServer(route({"api": "normal"}))
    try:
        result, _ = act(good_inputs(server.url, wait="true", services=json.dumps(
            [{"server_name": "api"}, {"server_name": "worker"}])))
    finally:
        server.close()
    assert result.returncode == 1
    assert API_PATH not in paths(server), "one unreadable version stops every rollout"
    results = {r["id"]: r for r in json.loads(result.outputs["results"])}
    assert results["api"]["run_id"] is None and "worker" in results["api"]["error"]


def test_service_ids_that_differ_only_in_case_are_refused(scripted, act):
    server = scripted(ok())
    result, _ = act(good_inputs(server.url, services=json.dumps([{"server_name": "web"},
                                                                 {"server_name": "WEB"}])))
    assert result.returncode == 2 and server.received == []
    assert "differs from 'web' only in case" in error_of(result)


def test_a_failed_list_before_the_rollout_is_tried_max_attempts_times_not_twice_that(scripted, act):
    server = scripted(Reply(status=503))
    result, _ = act(good_inputs(server.url, wait="true", max_attempts="2"))
    assert result.returncode == 1
    assert paths(server) == [VERSION_LIST_PATH, VERSION_LIST_PATH]
    assert "Cannot read the version" in error_of(result) and "after 2 attempts" in error_of(result)


@pytest.mark.parametrize("before", ["deploying", "deploy_failed"])
def test_a_version_not_normal_before_the_rollout_gets_a_warning_annotation(scripted, act, before):
    """Issue 14 item 8: known before the rollout, said before it, as a warning (not an info line)."""
    server = scripted(detail(before), ok("Run-8"), detail("normal", T1))
    result, _ = act(good_inputs(server.url, version_name="api-007", wait="true"))
    assert result.returncode == 0
    warnings = [line for line in result.stdout.splitlines() if line.startswith("::warning")]
    assert len(warnings) == 1 and f"is {before} before the rollout" in warnings[0]
    assert "may be refused" in warnings[0] and "supersede" in warnings[0]
    assert result.stdout.index("::warning") < result.stdout.index("Rollout started")


def test_a_normal_version_before_the_rollout_gets_no_warning(scripted, act):
    server = scripted(detail("normal"), ok("Run-9"), detail("normal", T1))
    result, _ = act(good_inputs(server.url, version_name="api-007", wait="true"))
    assert result.returncode == 0 and "::warning" not in result.stdout
