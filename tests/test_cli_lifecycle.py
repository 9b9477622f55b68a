"""The CLI's subcommands (release, status, rollout --wait --promote) in-process, with a fake clock."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cloudbase_rollout import API_PATH, RELEASE_PATH, VERSION_DETAIL_PATH
from cloudbase_rollout.front import cli
from tests.conftest import TOKEN
from tests.runner import FakeClock
from tests.test_lifecycle import T1, detail, ok, paths, released

ADDRESS = ["--env-id", "prod-6gxk23no5605e14f", "--server-name", "api", "--version-name", "api-007"]
ENV = {"COMPONENT_ACCESS_TOKEN": TOKEN, "CLOUDBASE_ROLLOUT_BACKOFF_BASE": "0.01"}


def run(capsys, *args: str) -> tuple[int, str, str]:
    clock = FakeClock()
    code = cli.main(list(args), env=dict(ENV), clock=clock, sleep=clock.sleep)
    out, err = capsys.readouterr()
    return code, out, err


def test_status_prints_the_status_word(scripted, capsys):
    server = scripted(detail("deploying"))
    code, out, err = run(capsys, "status", *ADDRESS, "--api-base-url", server.url)
    assert (code, out) == (0, "deploying\n")
    assert paths(server) == [VERSION_DETAIL_PATH]
    assert TOKEN not in out + err


def test_release_prints_the_released_version_and_json_gives_the_record(scripted, capsys):
    server = scripted(detail("normal"), released(order=11))
    code, out, _ = run(capsys, "release", *ADDRESS, "--api-base-url", server.url, "--json")
    assert code == 0
    record = json.loads(out)
    assert record["version_name"] == "api-007" and record["promoted"] is True and record["release_order_id"] == 11
    assert paths(server) == [VERSION_DETAIL_PATH, RELEASE_PATH]


def test_rollout_wait_promote_progress_goes_to_stderr(scripted, capsys):
    server = scripted(detail("normal"), ok("Run-cli"), detail("deploying", T1), detail("normal", T1), released())
    code, out, err = run(capsys, "rollout", *ADDRESS, "--image", "ccr.ccs.tencentyun.com/ns/app:v1",
                         "--api-base-url", server.url, "--promote", "--wait-interval-seconds", "2")
    assert code == 0, err
    assert out == "Run-cli\n"
    assert "api: status deploying after 0 s" in err and "api: status normal after 2 s" in err
    assert paths(server)[-1] == RELEASE_PATH


def test_the_bare_form_is_still_a_rollout(scripted, capsys):
    server = scripted(ok("Run-bare"))
    code, out, _ = run(capsys, *ADDRESS, "--image", "ccr.ccs.tencentyun.com/ns/app:v1", "--api-base-url", server.url)
    assert (code, out) == (0, "Run-bare\n")
    assert paths(server) == [API_PATH]


def test_release_refuses_body_flags(capsys):
    code, out, err = run(capsys, "release", *ADDRESS, "--image", "x")
    assert (code, out) == (2, "")  # release has no --image flag
    assert "error: --image: is not a flag of cloudbase-rollout release: it goes with cloudbase-rollout rollout" in err


def test_dry_run_with_json_prints_the_plan(capsys):
    code, out, _ = run(capsys, *ADDRESS, "--image", "ccr.ccs.tencentyun.com/ns/app:v1", "--promote",
                       "--dry-run", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["request"]["server_name"] == "api"
    assert shown["plan"][-1] == "would release version api-007 of api (all the traffic) once it is normal"


@pytest.mark.parametrize("command", ["rollout", "release", "status", "emulator", "demo"])
def test_every_subcommand_answers_help_and_does_nothing_else(command):
    done = subprocess.run([sys.executable, "-m", "cloudbase_rollout", command, "--help"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:") and "Rolling out" not in done.stdout + done.stderr


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert f"  {command} " in out
