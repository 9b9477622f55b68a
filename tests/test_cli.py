"""`python -m cloudbase_rollout` as a subprocess: flags, token from the environment, output, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudbase_rollout import API_PATH
from cloudbase_rollout.emulator.server import Emulator
from cloudbase_rollout.inputs import settings
from tests.conftest import TOKEN
from tests.loopback import ScriptedServer, err, free_port, ok

ARGS = ["--env-id", "prod-6gxk23no5605e14f", "--server-name", "api",
        "--image", "ccr.ccs.tencentyun.com/ns/shop-api", "--image-tag", "v1",
        "--flow-ratio", "100", "--container-port", "80"]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., Done]:
    def run(*args: str, env: dict[str, str] | None = None) -> Done:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("COMPONENT_", "GITHUB_", "INPUT_", "RUNNER_"))}
        full = {**base, "CLOUDBASE_ROLLOUT_BACKOFF_BASE": "0.01", **(env or {})}
        proc = subprocess.run([sys.executable, "-m", "cloudbase_rollout", *args], env=full, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, encoding="utf-8")
        done = Done(proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    return run


def test_prints_the_run_id(cli: Callable[..., Done], emu: Emulator) -> None:
    done = cli(*ARGS, "--api-base-url", emu.url, "--access-token", TOKEN)
    assert done.returncode == 0, done.stderr
    [rollout] = emu.state.rollouts
    assert done.stdout == rollout["run_id"] + "\n", "stdout carries only the run_id"
    assert rollout["body"]["image_info"]["image_url"] == "ccr.ccs.tencentyun.com/ns/shop-api:v1"
    assert TOKEN not in done.stdout + done.stderr


def test_json_prints_the_whole_result(cli: Callable[..., Done], emu: Emulator) -> None:
    done = cli(*ARGS, "--api-base-url", emu.url, "--json", env={"COMPONENT_ACCESS_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [rollout] = emu.state.rollouts
    assert result["errcode"] == 0 and result["errmsg"] == "ok" and result["result"] == "succ"
    assert result["run_id"] == rollout["run_id"]
    assert result["request"] == rollout["body"]
    assert TOKEN not in done.stdout


def test_json_of_a_failure_keeps_wechats_errmsg_and_the_attempts(
        cli: Callable[..., Done], script: Callable[..., ScriptedServer]) -> None:
    server = script(err(-1, "busy"), err(40097, "invalid args"))
    done = cli(*ARGS, "--api-base-url", server.url, "--json", env={"COMPONENT_ACCESS_TOKEN": TOKEN,
                                                                  "CLOUDBASE_ROLLOUT_BACKOFF_BASE": "0.01"})
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["errcode"] == 40097 and result["errmsg"] == "invalid args" and result["result"] == "failed"
    assert result["attempts"] == 2 and result["run_id"] is None and result["may_have_started"] is False
    assert "参数错误" in result["error"]


def test_token_comes_from_component_access_token(
        cli: Callable[..., Done], script: Callable[..., ScriptedServer]) -> None:
    server = script(ok("Env-token-run"))
    done = cli(*ARGS, "--api-base-url", server.url, env={"COMPONENT_ACCESS_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Env-token-run"
    [request] = server.received
    assert request.method == "POST" and request.path == API_PATH
    assert request.query["access_token"] == [TOKEN]
    assert "access_token" not in request.json()


def test_the_flag_beats_the_environment(cli: Callable[..., Done], script: Callable[..., ScriptedServer]) -> None:
    server = script(ok())
    done = cli(*ARGS, "--api-base-url", server.url, "--access-token", "flag-token-0123456789abcdef",
               env={"COMPONENT_ACCESS_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    assert server.received[0].query["access_token"] == ["flag-token-0123456789abcdef"]


def test_no_token_is_exit_2_naming_access_token(
        cli: Callable[..., Done], script: Callable[..., ScriptedServer]) -> None:
    server = script(ok())
    done = cli(*ARGS, "--api-base-url", server.url)
    assert done.returncode == 2
    assert "access_token" in done.stderr
    assert "COMPONENT_ACCESS_TOKEN" in cli("--help").stdout, "--help says where the token comes from"
    assert done.stdout == ""
    assert server.received == []


def test_invalid_input_is_exit_2_with_every_problem_and_no_request(
        cli: Callable[..., Done], script: Callable[..., ScriptedServer]) -> None:
    server = script(ok())
    done = cli(*ARGS, "--api-base-url", server.url, "--access-token", TOKEN,
               "--flow-ratio", "150", "--is-rebuild", "yes", "--min-num", "5", "--max-num", "3")
    assert done.returncode == 2
    assert "--flow-ratio: 150 is above the maximum 100" in done.stderr  # the CLI names its flags (issue 14)
    assert "--is-rebuild: " in done.stderr
    assert "--min-num: " in done.stderr
    assert done.stdout == ""
    assert server.received == []


def test_api_failure_is_exit_1_with_errcode_errmsg_and_remedy(
        cli: Callable[..., Done], script: Callable[..., ScriptedServer]) -> None:
    server = script(err(40097, "invalid args"))
    done = cli(*ARGS, "--api-base-url", server.url, env={"COMPONENT_ACCESS_TOKEN": TOKEN})
    assert done.returncode == 1
    assert "40097" in done.stderr and "invalid args" in done.stderr and "参数错误" in done.stderr
    assert done.stdout == ""
    assert len(server.received) == 1


def test_wrong_token_is_exit_1_without_printing_the_token(cli: Callable[..., Done], emu: Emulator) -> None:
    done = cli(*ARGS, "--api-base-url", emu.url, env={"COMPONENT_ACCESS_TOKEN": "tok-WRONG-123456"})
    assert done.returncode == 1
    assert "40014" in done.stderr
    assert "tok-WRONG-123456" not in done.stdout + done.stderr


def test_transport_failure_is_exit_1(cli: Callable[..., Done]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = cli(*ARGS, "--api-base-url", url, "--max-attempts", "1", env={"COMPONENT_ACCESS_TOKEN": TOKEN})
    assert done.returncode == 1
    assert "could not connect" in done.stderr
    assert done.stdout == ""


def test_dry_run_prints_the_request_and_sends_nothing(
        cli: Callable[..., Done], script: Callable[..., ScriptedServer]) -> None:
    server = script(ok())
    done = cli(*ARGS, "--api-base-url", server.url, "--dry-run", env={"COMPONENT_ACCESS_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["server_name"] == "api" and body["flow_ratio"] == 100
    assert body["image_info"]["image_url"] == "ccr.ccs.tencentyun.com/ns/shop-api:v1"
    assert TOKEN not in done.stdout + done.stderr
    assert server.received == []


def test_dry_run_takes_an_explicit_boolean(cli: Callable[..., Done], script: Callable[..., ScriptedServer]) -> None:
    server = script(ok("R1"))
    done = cli(*ARGS, "--api-base-url", server.url, "--dry-run", "false", env={"COMPONENT_ACCESS_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "R1"
    assert len(server.received) == 1


def test_every_input_is_a_kebab_case_flag(cli: Callable[..., Done]) -> None:
    done = cli("--help")
    assert done.returncode == 0
    for name in settings.input_names():
        if name == "command":  # the subcommand: cloudbase-rollout release | status
            continue
        assert f"--{name.replace('_', '-')} " in done.stdout or f"--{name.replace('_', '-')}\n" in done.stdout, name
    assert "--env_id" not in done.stdout


def test_kebab_case_flags_reach_the_body(cli: Callable[..., Done], emu: Emulator) -> None:
    done = cli("--env-id", "e-1", "--server-name", "api", "--version-name", "v-7", "--upload-type", "image",
               "--image", "ccr.ccs.tencentyun.com/ns/app:v1", "--initial-delay-seconds", "5",
               "--is-rebuild", "true", "--enable-union", "False", "--env-params", "A=1\nB=x, y",
               "--version-remark", "from the CLI", "--custom-logs", "stdout", "--policy-type", "cpu",
               "--policy-threshold", "60", "--api-base-url", emu.url, env={"COMPONENT_ACCESS_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    body = emu.state.rollouts[-1]["body"]
    assert body["version_name"] == "v-7"
    assert body["initial_delay_seconds"] == 5
    assert body["is_rebuild"] is True and body["enable_union"] is False
    assert json.loads(body["env_params"]) == {"A": "1", "B": "x, y"}
    assert body["version_remark"] == "from the CLI"
    assert (body["policy_type"], body["policy_threshold"]) == ("cpu", "60")


def test_snake_case_flags_are_not_accepted(cli: Callable[..., Done]) -> None:
    done = cli("--env_id", "e", "--server-name", "api")
    assert done.returncode == 2
    assert "error: --env_id: is not a flag of cloudbase-rollout; did you mean --env-id?" in done.stderr


def test_request_file_is_read_from_the_working_directory(
        cli: Callable[..., Done], emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "api.json").write_text(json.dumps({
        "env_id": "file-env", "server_name": "api", "cpu": "0.5", "mem": "1",
        "image_info": {"image_url": "ccr.ccs.tencentyun.com/ns/a:v1"}}))
    done = cli("--request-file", "api.json", "--cpu", "1", "--mem", "2", "--api-base-url", emu.url,
               env={"COMPONENT_ACCESS_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    body = emu.state.rollouts[-1]["body"]
    assert (body["env_id"], body["cpu"], body["mem"]) == ("file-env", "1", "2")


def test_warnings_go_to_stderr_and_do_not_fail(cli: Callable[..., Done], emu: Emulator) -> None:
    done = cli(*ARGS, "--cpu", "1", "--mem", "1", "--api-base-url", emu.url, env={"COMPONENT_ACCESS_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and "2 x cpu" in done.stderr
    assert done.stdout.strip() == emu.state.rollouts[-1]["run_id"]


def test_version_flag(cli: Callable[..., Done]) -> None:
    import cloudbase_rollout

    done = cli("--version")
    assert done.returncode == 0
    assert cloudbase_rollout.__version__ in done.stdout
