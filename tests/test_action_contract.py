"""The Action end to end, run as the runner runs it (tests/runner.py), and action.yml against the code."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudbase_rollout import API_PATH
from cloudbase_rollout.emulator.server import Emulator
from cloudbase_rollout.errors import ROLL_UPDATE_ERRORS
from cloudbase_rollout.inputs import settings
from tests.conftest import TOKEN, good_inputs
from tests.loopback import Reply, ScriptedServer, err, free_port, ok
from tests.runner import ROOT, StepResult

Step = Callable[..., StepResult]
GITHUB_ENV = {
    "GITHUB_REPOSITORY": "octo/shop", "GITHUB_SHA": "4f6c2a1b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
    "GITHUB_RUN_ID": "987654321", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ATTEMPT": "1",
}


def clean(result: StepResult, token: str = TOKEN) -> StepResult:
    """What holds for every run: no traceback, and the token only in the ::add-mask:: command."""
    assert "Traceback" not in result.log, result.log
    assert "internal error" not in result.log, result.log
    for line in result.stdout.splitlines():
        if not line.startswith("::add-mask::"):
            assert token not in line, line
    assert token not in result.stderr
    assert token not in result.output_file
    assert token not in result.summary
    return result


def summary_cells(summary: str) -> dict[str, str]:
    """The step summary's table as {label: value}, whether it is laid out in rows or in columns."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in summary.splitlines() if line.strip().startswith("|")]
    rows = [r for r in rows if not all(re.fullmatch(r":?-+:?", c) for c in r if c)]
    if rows and "run_id" in rows[0]:
        return dict(zip(rows[0], rows[1], strict=True))
    return {r[0]: r[1] for r in rows if len(r) >= 2}


def error_annotations(result: StepResult) -> list[tuple[str, str]]:
    found = []
    for line in result.annotations("error"):
        match = re.fullmatch(r"::error title=([^:,]+)::(.*)", line)
        assert match, line
        found.append((match[1], match[2]))
    return found


# -- action.yml -----------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    duplicates = {k for k in keys if keys.count(k) > 1}
    assert not duplicates, f"duplicate keys in action.yml: {duplicates}"
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    data = yaml.load((ROOT / "action.yml").read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
    assert isinstance(data, dict)
    return data


def test_action_runs_the_dockerfile(action: dict[str, Any]) -> None:
    assert action["runs"]["using"] == "docker"
    assert action["runs"]["image"] == "Dockerfile"
    assert (ROOT / "Dockerfile").is_file()
    assert action["name"].strip() and action["description"].strip()
    assert action["branding"]["icon"] and action["branding"]["color"]


def test_action_declares_exactly_the_inputs_of_the_code(action: dict[str, Any]) -> None:
    assert list(action["inputs"]) == list(settings.input_names())


def test_action_defaults_are_the_codes_defaults(action: dict[str, Any]) -> None:
    declared = {name: spec["default"] for name, spec in action["inputs"].items() if "default" in spec}
    assert declared == settings.defaults()
    assert all(isinstance(v, str) for v in declared.values()), "defaults are text, as the runner passes them"
    assert settings.defaults()["version_name"] == "latest"
    assert settings.defaults()["upload_type"] == "image"
    assert settings.defaults()["api_base_url"] == "https://api.weixin.qq.com"


def test_action_inputs_are_described(action: dict[str, Any]) -> None:
    for name, spec in action["inputs"].items():
        assert str(spec.get("description", "")).strip(), name


def test_action_declares_the_outputs(action: dict[str, Any]) -> None:
    # Issue 2's outputs; other features (services) may declare more.
    assert {"run_id", "result", "request"} <= set(action["outputs"])
    for name, spec in action["outputs"].items():
        assert spec["description"].strip(), name


# -- success --------------------------------------------------------------------------------------------------


def test_outputs_run_id_result_and_the_request_sent(step: Step, emu: Emulator) -> None:
    result = clean(step(good_inputs(emu.url)))
    assert result.returncode == 0, result.log
    [rollout] = emu.state.rollouts
    # version_name: the version rolled out, as given (resolved only when a status was read: wait)
    assert set(result.outputs) == {"run_id", "result", "request", "version_name"}
    assert result.outputs["version_name"] == "latest"
    assert result.outputs["run_id"] == rollout["run_id"]
    assert result.outputs["result"] == "succ"
    assert json.loads(result.outputs["request"]) == rollout["body"]


def test_the_call_is_one_json_post_with_the_token_in_the_query(
        step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(ok("Run_1"))
    result = clean(step(good_inputs(server.url)))
    assert result.returncode == 0, result.log
    [request] = server.received
    assert (request.method, request.path) == ("POST", API_PATH)
    assert request.query == {"access_token": [TOKEN]}
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.json() == json.loads(result.outputs["request"])
    assert TOKEN not in request.body.decode()


def test_the_token_is_masked_before_anything_else(step: Step, emu: Emulator) -> None:
    result = clean(step(good_inputs(emu.url)))
    assert result.stdout.splitlines()[0] == f"::add-mask::{TOKEN}"


def test_the_step_summary_table(step: Step, emu: Emulator) -> None:
    result = clean(step(good_inputs(emu.url, version_name="v-12")))
    assert result.returncode == 0, result.log
    cells = summary_cells(result.summary)
    assert cells["env"] == "prod-6gxk23no5605e14f"
    assert cells["service"] == "api"
    assert cells["version"] == "v-12"
    assert cells["image"] == "ccr.ccs.tencentyun.com/ns/shop-api:v1"
    assert cells["flow ratio"] == "100"
    assert cells["run_id"] == emu.state.rollouts[-1]["run_id"]
    assert cells["result"] == "succ"


def test_empty_inputs_as_the_runner_passes_them_are_absent(step: Step, emu: Emulator) -> None:
    inputs = {name: "" for name in settings.input_names()}
    inputs.update(settings.defaults())
    inputs.update(good_inputs(emu.url))
    result = clean(step(inputs))
    assert result.returncode == 0, result.log
    body = emu.state.rollouts[-1]["body"]
    assert set(body) == {"env_id", "server_name", "version_name", "upload_type", "flow_ratio", "container_port",
                         "image_info"}
    assert '""' not in json.dumps(body), "no empty field is ever sent"


def test_types_reach_the_api_as_the_spec_says(step: Step, emu: Emulator) -> None:
    result = clean(step(good_inputs(emu.url, cpu="0.5", mem="1", min_num="0", max_num="3", policy_type="cpu",
                                    policy_threshold="60", initial_delay_seconds="2", is_rebuild="True",
                                    env_params="LOG_LEVEL=info\nGREETING=hello, world\nDSN=a=b;c='d'")))
    assert result.returncode == 0, result.log
    body = emu.state.rollouts[-1]["body"]
    assert (body["cpu"], body["mem"], body["min_num"], body["max_num"], body["policy_threshold"]) == (
        "0.5", "1", "0", "3", "60")
    assert (body["flow_ratio"], body["container_port"], body["initial_delay_seconds"]) == (100, 80, 2)
    assert body["is_rebuild"] is True
    assert isinstance(body["env_params"], str)
    assert json.loads(body["env_params"]) == {"LOG_LEVEL": "info", "GREETING": "hello, world", "DSN": "a=b;c='d'"}


def test_default_version_remark_from_the_runner(step: Step, emu: Emulator) -> None:
    result = clean(step(good_inputs(emu.url), env=GITHUB_ENV))
    assert result.returncode == 0, result.log
    assert emu.state.rollouts[-1]["body"]["version_remark"] == (
        "octo/shop@4f6c2a1 run https://github.com/octo/shop/actions/runs/987654321")


def test_request_file_from_the_workspace_with_runner_defaults(step: Step, emu: Emulator, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "deploy").mkdir(parents=True)
    (workspace / "deploy" / "worker.json").write_text(json.dumps({
        "env_id": "prod-6gxk23no5605e14f", "server_name": "worker", "version_name": "worker-003",
        "upload_type": "repository", "repository_type": "github", "repository": "https://github.com/octo/shop",
        "branch": "main", "flow_ratio": 10, "cpu": "0.5", "mem": "1"}))
    inputs = {**settings.defaults(), "access_token": TOKEN, "api_base_url": emu.url,
              "request_file": "deploy/worker.json", "flow_ratio": "100"}
    result = clean(step(inputs))
    assert result.returncode == 0, result.log
    body = emu.state.rollouts[-1]["body"]
    assert body["server_name"] == "worker" and body["cpu"] == "0.5"
    assert body["flow_ratio"] == 100, "explicit inputs override the file"
    assert (body["upload_type"], body["version_name"]) == ("repository", "worker-003"), \
        "action.yml's defaults, passed by the runner, must not override the file"


def test_warnings_are_warning_annotations_and_do_not_fail(step: Step, emu: Emulator) -> None:
    result = clean(step(good_inputs(emu.url, cpu="1", mem="1")))
    assert result.returncode == 0, result.log
    [warning] = result.annotations("warning")
    assert re.match(r"::warning title=[^:]+::", warning)
    assert "mem 1 is not 2 x cpu 1" in warning
    assert result.outputs["run_id"] == emu.state.rollouts[-1]["run_id"]


# -- debug and dry run --------------------------------------------------------------------------------------


def test_runner_debug_prints_the_token_free_body(step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(ok())
    result = clean(step(good_inputs(server.url), env={"RUNNER_DEBUG": "1"}))
    assert result.returncode == 0, result.log
    debug = [line for line in result.stdout.splitlines() if line.startswith("::debug::")]
    bodies = []
    for line in debug:
        if "{" in line:
            with contextlib.suppress(ValueError):
                bodies.append(json.loads(line[line.index("{"):]))
    assert server.received[0].json() in bodies, debug


def test_no_debug_lines_without_runner_debug(step: Step, emu: Emulator) -> None:
    result = clean(step(good_inputs(emu.url), env={"RUNNER_DEBUG": "0"}))
    assert result.returncode == 0
    assert "::debug::" not in result.stdout


def test_dry_run_prints_the_request_and_calls_nothing(step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(ok())
    result = clean(step(good_inputs(server.url, dry_run="true")))
    assert result.returncode == 0, result.log
    assert server.received == []
    printed = result.stdout[result.stdout.index("{"):result.stdout.rindex("}") + 1]
    body = json.loads(printed)
    assert body["server_name"] == "api"
    assert body["image_info"]["image_url"] == "ccr.ccs.tencentyun.com/ns/shop-api:v1"
    assert "run_id" not in result.outputs and "result" not in result.outputs


def test_dry_run_works_without_a_token(step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(ok())
    result = clean(step(good_inputs(server.url, dry_run="true", access_token="")))
    assert result.returncode == 0, result.log
    assert server.received == []


# -- API failures -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("errcode", [code for code in ROLL_UPDATE_ERRORS if code != 0])
def test_api_failure_is_an_error_annotation_with_errcode_errmsg_and_remedy(
        step: Step, script: Callable[..., ScriptedServer], errcode: int) -> None:
    known = ROLL_UPDATE_ERRORS[errcode]
    server = script(err(errcode, known.errmsg))
    result = clean(step(good_inputs(server.url, max_attempts="1")))
    assert result.returncode == 1
    [(title, message)] = error_annotations(result)
    assert title.strip()
    assert f"errcode {errcode}" in message
    assert known.errmsg in message
    assert known.remedy_zh in message
    assert result.output_file == "", "nothing is set on failure"
    assert len(server.received) == 1


def test_unknown_errcodes_pass_through(step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(err(-501000, "CloudBase: task already running"))
    result = clean(step(good_inputs(server.url)))
    assert result.returncode == 1
    [(_, message)] = error_annotations(result)
    assert "-501000" in message and "CloudBase: task already running" in message
    assert "passed through" in message
    assert result.output_file == ""


def test_errcode_0_without_succ_is_a_failure(step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(Reply(body={"errcode": 0, "errmsg": "ok", "result": "fail", "run_id": "R1"}))
    result = clean(step(good_inputs(server.url)))
    assert result.returncode == 1
    assert error_annotations(result)
    assert result.output_file == ""


@pytest.mark.parametrize(("reply", "fragments"), [
    (Reply(status=502, body="<html>Bad Gateway from upstream</html>"), ["502", "Bad Gateway from upstream"]),
    (Reply(status=200, body="<html>maintenance window</html>"), ["maintenance window"]),
    (Reply(status=404, body={"errcode": 404}), ["404"]),
])
def test_non_json_or_non_200_reply_fails_with_status_and_excerpt(
        step: Step, script: Callable[..., ScriptedServer], reply: Reply, fragments: list[str]) -> None:
    server = script(reply)
    result = clean(step(good_inputs(server.url, max_attempts="1")))
    assert result.returncode == 1
    [(_, message)] = error_annotations(result)
    for fragment in fragments:
        assert fragment in message
    assert result.output_file == ""


def test_a_server_echoing_the_token_does_not_leak_it(step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(err(40014, f"invalid access_token {TOKEN} rid: 1"))
    result = clean(step(good_inputs(server.url)))
    assert result.returncode == 1
    [(_, message)] = error_annotations(result)
    assert "40014" in message and "***" in message


def test_connection_refused_fails_without_traceback(step: Step) -> None:
    result = clean(step(good_inputs(f"http://127.0.0.1:{free_port()}", max_attempts="1")))
    assert result.returncode == 1
    [(_, message)] = error_annotations(result)
    assert "could not connect" in message
    assert result.output_file == ""


def test_wrong_token_against_the_emulator(step: Step, emu: Emulator) -> None:
    wrong = "tok-WRONG-7a7a7a7a7a"
    result = clean(step(good_inputs(emu.url, access_token=wrong)), token=wrong)
    assert result.returncode == 1
    [(_, message)] = error_annotations(result)
    assert "errcode 40014" in message and "invalid access_token" in message
    assert emu.state.rollouts == []


def test_the_failure_summary_has_no_run_id(step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(err(85088, "no qbase privilege"))
    result = clean(step(good_inputs(server.url)))
    assert result.returncode == 1
    cells = summary_cells(result.summary)
    assert cells["service"] == "api"
    assert cells["run_id"] in ("", "-")
    assert "85088" in cells["result"]


# -- invalid input -----------------------------------------------------------------------------------------


def test_invalid_input_is_exit_2_with_one_annotation_per_problem_and_no_request(
        step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(ok())
    result = clean(step(good_inputs(server.url, flow_ratio="150", is_rebuild="yes", container_port="http",
                                    min_num="5", max_num="3")))
    assert result.returncode == 2
    messages = [message for _, message in error_annotations(result)]
    assert "flow_ratio: 150 is above the maximum 100" in messages
    assert any(m.startswith("is_rebuild: ") for m in messages)
    assert any(m.startswith("container_port: ") for m in messages)
    assert any(m.startswith("min_num: ") for m in messages)
    assert len(messages) == 4
    assert server.received == []
    assert result.output_file == ""


def test_a_missing_token_names_access_token(step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(ok())
    result = clean(step(good_inputs(server.url, access_token="")))
    assert result.returncode == 2
    [(_, message)] = error_annotations(result)
    assert message.startswith("access_token: ")
    assert server.received == []
    assert result.output_file == ""


def test_a_missing_request_file_is_invalid_input(step: Step, script: Callable[..., ScriptedServer]) -> None:
    server = script(ok())
    result = clean(step(good_inputs(server.url, request_file="deploy/missing.json")))
    assert result.returncode == 2
    [(_, message)] = error_annotations(result)
    assert message.startswith("request_file: ") and "missing.json" in message
    assert server.received == []


def test_plain_http_to_a_remote_host_is_refused_before_any_call(step: Step) -> None:
    result = clean(step(good_inputs("http://api.weixin.qq.com")))
    assert result.returncode == 2
    [(_, message)] = error_annotations(result)
    assert message.startswith("api_base_url: ") and "https" in message


def test_outputs_that_cannot_be_written_after_a_rollout_say_not_to_run_again(emu, step, tmp_path):
    result = step(good_inputs(emu.url), {"GITHUB_OUTPUT": str(tmp_path / "missing" / "output")})
    assert result.returncode == 1
    run_id = emu.state.rollouts[-1]["run_id"]
    [error] = result.annotations("error")
    assert error.startswith("::error title=Outputs not written::")
    assert run_id in error and "Do not run this step again" in error
    assert "Traceback" not in result.log


def test_options_are_described_in_action_yml_as_in_their_schema(action: dict[str, Any]) -> None:
    """schema/options.schema.json is the source; action.yml says the same."""
    for option in settings.OPTIONS:
        assert action["inputs"][option.name]["description"] == option.description, option.name
