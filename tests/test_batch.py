"""The `services` input: several rollouts from one step, end to end through entrypoint.py."""

from __future__ import annotations

import json

from tests.conftest import TOKEN, good_inputs
from tests.loopback import err, ok


def services(*entries: object) -> str:
    return json.dumps(list(entries))


def test_each_service_gets_an_output_a_result_and_a_summary_row(emulator, step, tmp_path):
    """An entry's own request_file beats the step's inputs (server_name api here)."""
    files = tmp_path / "workspace" / "deploy"
    files.mkdir(parents=True)
    (files / "worker.json").write_text(json.dumps({"server_name": "worker", "version_name": "worker-003",
                                                   "cpu": "0.5", "mem": "1"}))
    result = step(good_inputs(emulator.url, services=services(
        {"server_name": "api"}, "deploy/worker.json", {"server_name": "admin", "id": "admin-panel", "flow_ratio": 0})))
    assert result.returncode == 0, result.log
    outputs = result.outputs
    received = {r["body"]["server_name"]: r for r in emulator.state.rollouts}
    assert set(received) == {"api", "worker", "admin"}
    assert outputs["run_id_api"] == received["api"]["run_id"]
    assert outputs["run_id_worker"] == received["worker"]["run_id"]
    assert outputs["run_id_admin-panel"] == received["admin"]["run_id"]
    assert received["worker"]["body"]["version_name"] == "worker-003"
    assert received["admin"]["body"]["flow_ratio"] == 0
    results = json.loads(outputs["results"])
    assert [r["id"] for r in results] == ["api", "worker", "admin-panel"]
    assert all(r["result"] == "succ" and r["error"] is None for r in results)
    rows = [line for line in result.summary.splitlines() if line.startswith("| prod-")]
    assert len(rows) == 3
    assert "run_id" not in outputs, "a batch has no single run_id"
    assert TOKEN not in result.output_file + result.summary


def test_one_failing_service_fails_the_step_and_keeps_the_others_run_ids(scripted, step):
    server = scripted(ok("Run-api"), err(40097, "invalid args"))
    result = step(good_inputs(server.url, services=services({"server_name": "api"}, {"server_name": "worker"}),
                              timeout_seconds="5"))
    assert result.returncode == 1
    assert len(server.received) == 2
    results = {r["id"]: r for r in json.loads(result.outputs["results"])}
    started = [name for name, r in results.items() if r["result"] == "succ"]
    failed = [name for name, r in results.items() if r["result"] == "failed"]
    assert len(started) == 1 and len(failed) == 1
    assert result.outputs[f"run_id_{started[0]}"] == "Run-api"
    assert f"run_id_{failed[0]}" not in result.outputs
    [error] = result.annotations("error")
    assert f"{failed[0]}: errcode 40097" in error
    assert "1 of 2 rollouts failed" in result.stdout


def test_an_invalid_entry_stops_every_call(scripted, step):
    server = scripted(ok())
    result = step(good_inputs(server.url, services=services(
        {"server_name": "api"}, {"server_name": "worker", "flow_ratio": 150}, {"server_name": "api"},
        {"bogus": 1})))
    assert result.returncode == 2
    assert server.received == []
    errors = "\n".join(result.annotations("error"))
    assert "services[3] bogus" in errors
    assert result.output_file == ""


def test_problems_in_several_entries_are_reported_together(scripted, step):
    server = scripted(ok())
    result = step(good_inputs(server.url, services=services(
        {"server_name": "api", "flow_ratio": 150}, {"server_name": "worker", "cpu": "lots"},
        {"server_name": "api"}, {"server_name": "api", "id": "api"})))
    assert result.returncode == 2
    assert server.received == []
    errors = "\n".join(result.annotations("error"))
    assert "services[0] flow_ratio: 150 is above the maximum 100" in errors
    assert "services[1] cpu" in errors
    assert "services[3] id" in errors and "repeats" in errors


def test_services_must_be_a_json_array(scripted, step):
    server = scripted(ok())
    for text in ("api, worker", "{}", "[]", "[5]"):
        result = step(good_inputs(server.url, services=text))
        assert result.returncode == 2, text
        assert "services" in "\n".join(result.annotations("error"))
    assert server.received == []


def test_dry_run_of_a_batch_lists_every_request_and_calls_nothing(scripted, step):
    server = scripted(ok())
    result = step(good_inputs(server.url, dry_run="true", services=services({"server_name": "api"},
                                                                            {"server_name": "worker"})))
    assert result.returncode == 0, result.log
    assert server.received == []
    requests = json.loads(result.outputs["results"])
    assert [r["request"]["server_name"] for r in requests] == ["api", "worker"]


def test_a_missing_token_is_reported_once_for_the_step(scripted, step):
    server = scripted(ok())
    inputs = good_inputs(server.url, services=services({"server_name": "api"}, {"server_name": "worker"}))
    del inputs["access_token"]
    result = step(inputs)
    assert result.returncode == 2
    errors = result.annotations("error")
    assert len([e for e in errors if "access_token" in e]) == 1
    assert "services[" not in "\n".join(errors)
    assert server.received == []
