"""What a new user trips on (issue 14, items 1-7 and 10), in-process through cli.main and action.main
against scripted loopback servers: abbreviated flags, mistyped commands, bare image names, short
secrets, the Action's wording in the CLI, --json with invalid input, services with several bad
entries, and version_remark outside GitHub."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from cloudbase_rollout import __version__
from cloudbase_rollout.front import cli
from tests.conftest import TOKEN, good_inputs
from tests.loopback import ScriptedServer
from tests.runner import FakeClock, StepResult
from tests.test_lifecycle import detail, ok

ADDRESS = ["--env-id", "prod-6gxk23no5605e14f", "--server-name", "api"]
ARGS = [*ADDRESS, "--image", "ccr.ccs.tencentyun.com/ns/shop-api", "--image-tag", "v1"]
ENV = {"COMPONENT_ACCESS_TOKEN": TOKEN, "CLOUDBASE_ROLLOUT_BACKOFF_BASE": "0.01"}
EXAMPLE = "ccr.ccs.tencentyun.com/NAMESPACE/REPO:TAG"


def run(capsys: pytest.CaptureFixture[str], *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    clock = FakeClock()
    code = cli.main(list(args), env=dict(ENV if env is None else env), clock=clock, sleep=clock.sleep)
    out, err = capsys.readouterr()
    return code, out, err


# -- 1: no abbreviations; an unknown flag names the closest real one -------------------------------------------

@pytest.mark.parametrize(("given", "meant"), [("--roll", "--rollback"), ("--flow", "--flow-ratio"),
                                              ("--flow-rati", "--flow-ratio"), ("--imgae", "--image")])
def test_an_abbreviated_or_mistyped_flag_is_invalid_input_naming_the_real_one(capsys, script, given, meant):
    server = script(ok())
    code, out, err = run(capsys, *ARGS, given, "50", "--api-base-url", server.url)
    assert (code, out) == (2, "")
    assert f"error: {given}: is not a flag of cloudbase-rollout; did you mean {meant}?" in err
    assert "no request was sent" in err and "usage:" not in err
    assert server.received == [], "--roll must never become rollback: true"


def test_a_flag_with_an_equals_value_is_named_without_its_value(capsys, script):
    server = script(ok())
    code, _, err = run(capsys, *ARGS, f"--acess-token={TOKEN}", "--api-base-url", server.url)
    assert code == 2
    assert "error: --acess-token: is not a flag of cloudbase-rollout; did you mean --access-token?" in err
    assert TOKEN not in err and server.received == []


def test_a_stray_word_is_invalid_input(capsys):
    code, _, err = run(capsys, *ARGS, "--dry-run", "true", "extra")
    assert code == 2 and 'unexpected argument "extra"' in err


# -- 2: unknown commands; global flags on either side of the subcommand ----------------------------------------

def test_a_mistyped_command_says_what_it_meant_and_lists_the_commands(capsys, script):
    server = script(ok())
    code, out, err = run(capsys, "rolout", *ARGS, "--api-base-url", server.url)
    assert (code, out) == (2, "")
    commands = ", ".join(cli.COMMANDS)  # derived: new commands join the list by themselves
    assert f"error: unknown command 'rolout' (did you mean rollout? commands: {commands})" in err
    assert "usage:" not in err and server.received == []
    _, _, err = run(capsys, "deploy-it", *ARGS)
    assert f"error: unknown command 'deploy-it' (commands: {commands})" in err


@pytest.mark.parametrize("order", ["before", "after"])
def test_json_goes_before_or_after_the_subcommand(capsys, script, order):
    server = script(detail("deploying"))
    flags = [*ADDRESS, "--version-name", "api-007", "--api-base-url", server.url]
    args = ["--json", "status", *flags] if order == "before" else ["status", *flags, "--json"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert json.loads(out)["status"] == "deploying"


@pytest.mark.parametrize("args", [["--version", "status"], ["status", "--version"], ["--version"],
                                  ["--json", "--version", "release"], ["--version", "emulator"]])
def test_version_goes_before_or_after_the_subcommand(capsys, args):
    try:
        code = cli.main(args, env=dict(ENV))
    except SystemExit as done:  # argparse's version action
        code = int(done.code or 0)
    assert code == 0
    assert capsys.readouterr().out.strip() == f"cloudbase-rollout {__version__}"


# -- 3: an image CloudBase can pull ----------------------------------------------------------------------------

@pytest.mark.parametrize(("image", "missing"), [("shop-api", "no registry host and no tag or digest"),
                                                ("ns/shop-api:v1", "no registry host"),
                                                ("ccr.ccs.tencentyun.com/ns/shop-api", "no tag or digest")])
def test_an_image_without_registry_or_tag_is_invalid_input_naming_an_example(capsys, script, image, missing):
    server = script(ok())
    code, out, err = run(capsys, *ADDRESS, "--image", image, "--api-base-url", server.url)
    assert (code, out) == (2, "")
    assert f'error: --image: "{image}" has {missing}; CloudBase pulls exactly this reference: expected a full ' \
           f"reference such as {EXAMPLE}" in err
    assert ("add one with --image-tag" in err) == ("tag" in missing)
    assert server.received == []


def test_image_tag_completes_an_image_and_the_action_refuses_a_bare_name(step, script):
    server = script(ok("Run-tagged"))
    assert step(good_inputs(server.url, image="ccr.ccs.tencentyun.com/ns/shop-api", image_tag="v2")).returncode == 0
    assert server.received[0].json()["image_info"]["image_url"] == "ccr.ccs.tencentyun.com/ns/shop-api:v2"
    server = script(ok())
    result = step(good_inputs(server.url, image="shop-api", image_tag=""))
    assert result.returncode == 2
    [error] = result.annotations("error")
    assert error.startswith('::error title=Invalid input::image: "shop-api" has no registry host and no tag')
    assert EXAMPLE in error and "add one with image_tag" in error
    assert server.received == []


# -- 4: a secret too short to be real --------------------------------------------------------------------------

@pytest.mark.parametrize("short", ["x", "e", "2", "tok-SECRET-5f3"])
def test_a_short_token_is_invalid_input_and_garbles_nothing(capsys, script, short):
    server = script(ok())
    code, out, err = run(capsys, *ARGS, "--cpu", "2", "--mem", "1", "--api-base-url", server.url,
                         env={"COMPONENT_ACCESS_TOKEN": short})
    assert (code, out) == (2, "")
    assert "error: --access-token (or COMPONENT_ACCESS_TOKEN): looks truncated: it is shorter than 16 characters" in err
    assert "***" not in err, "nothing is masked: the short value is refused, never printed"
    assert "(the value is not shown)" in err and "component_access_token has over 100" in err
    assert server.received == []


@pytest.mark.parametrize("name", ["access_token", "component_appsecret", "component_verify_ticket"])
def test_the_action_refuses_each_short_secret_and_masks_nothing_for_it(step, script, name):
    server = script(ok())
    mint = {"component_appid": "wx7c3d5e9f1a2b4c6d", "component_appsecret": "appsecret-0123456789abcdef",
            "component_verify_ticket": "ticket@@@0123456789abcdef", "access_token": ""}
    result = step({**good_inputs(server.url), **(mint if name != "access_token" else {}), name: "short-SECRET"})
    assert result.returncode == 2
    assert any(line.startswith(f"::error title=Invalid input::{name}: looks truncated")
               for line in result.annotations("error")), result.stdout
    assert "::add-mask::short-SECRET" not in result.stdout and "short-SECRET" not in result.log
    assert "***" not in result.log and server.received == []


def test_a_real_secret_is_still_masked_at_once(step, script):
    server = script(ok())
    result = step(good_inputs(server.url, dry_run="true"))
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == f"::add-mask::{TOKEN}"


# -- 5: each front end's words ---------------------------------------------------------------------------------

def test_a_timed_out_wait_speaks_the_clis_words(capsys, script):
    server = script(detail("normal"), ok("Run-cli"), detail("normal"))
    code, out, err = run(capsys, *ARGS, "--version-name", "api-007", "--wait", "--wait-timeout-seconds", "20",
                         "--wait-interval-seconds", "10", "--api-base-url", server.url)
    assert (code, out) == (1, "Run-cli\n")
    assert "did not settle within --wait-timeout-seconds (20 s)" in err
    assert "raise --wait-timeout-seconds or look again with cloudbase-rollout status." in err
    assert "wait_timeout_seconds" not in err and "command: status" not in err


def test_a_timed_out_wait_keeps_the_actions_words(step, script):
    server = script(detail("normal"), ok("Run-gha"), detail("normal"))
    result = step(good_inputs(server.url, version_name="api-007", wait="true", wait_timeout_seconds="1",
                              wait_interval_seconds="1"))
    assert result.returncode == 1
    assert "raise wait_timeout_seconds or look again with command: status." in result.stdout


def test_a_refused_release_says_how_to_wait_in_the_clis_words(capsys, script):
    server = script(detail("deploying"))
    code, out, err = run(capsys, "release", *ADDRESS, "--version-name", "api-007", "--api-base-url", server.url,
                         "--json")
    assert code == 1
    assert "Set --wait to wait until it is normal." in err and "wait: true" not in err
    assert json.loads(out)["error"].endswith("Set --wait to wait until it is normal."), "--json speaks it too"


def test_invalid_input_names_flags_in_the_cli_and_inputs_in_the_action(capsys, step, script):
    server = script(ok())
    _, _, err = run(capsys, *ARGS, "--flow-ratio", "150", "--api-base-url", server.url)
    assert "error: --flow-ratio: 150 is above the maximum 100" in err
    result = step(good_inputs(server.url, flow_ratio="150"))
    assert "::error title=Invalid input::flow_ratio: 150 is above the maximum 100" in result.stdout


# -- 6: --json with invalid input: one JSON document on stdout -------------------------------------------------

@pytest.mark.parametrize(("args", "problem"), [
    ([*ARGS, "--flow-ratio", "150"], {"input": "flow_ratio", "message": "150 is above the maximum 100"}),
    ([*ARGS, "--flow", "50"], {"input": "--flow", "message": "is not a flag of cloudbase-rollout; did you mean "
                                                              "--flow-ratio? (flags are never abbreviated)"}),
    (["rolout", *ARGS], {"input": "command", "message": "unknown command 'rolout' (did you mean rollout? "
                                                        f"commands: {', '.join(cli.COMMANDS)})"}),
])
def test_json_with_invalid_input_prints_one_record(capsys, script, args, problem):
    server = script(ok())
    code, out, _ = run(capsys, *args, "--api-base-url", server.url, "--json")
    assert code == 2
    assert json.loads(out) == {"error": "invalid input", "exit_code": 2, "problems": [problem]}
    assert server.received == []


def test_json_record_of_a_wait_problem_uses_the_clis_words(capsys):
    code, out, _ = run(capsys, *ARGS, "--wait", "--wait-timeout-seconds", "0", "--dry-run", "--json")
    assert code == 2
    [problem] = json.loads(out)["problems"]
    assert problem["input"] == "wait_timeout_seconds" and "whole seconds from 1 to 21600" in problem["message"]


# -- 7: services with several bad entries: every problem, each naming its entry -------------------------------

BAD_SERVICES = json.dumps([{"server_name": "web", "flow_ratio": 150}, {"server_name": "worker", "flow_rate": 50},
                           7, {"server_name": "jobs", "cpu": "lots"}])
EXPECTED = ["services[0] flow_ratio: 150 is above the maximum 100",
            "services[1] flow_rate: is not a per-service input",
            "services[2]: expected an object of input names or a request_file path",
            "services[3] cpu: "]


def test_every_bad_services_entry_is_reported_at_once_by_the_action(step: Callable[..., StepResult], script):
    server = script(ok())
    result = step(good_inputs(server.url, services=BAD_SERVICES))
    assert result.returncode == 2
    errors = sorted(line.split("::", 2)[2] for line in result.annotations("error"))
    assert len(errors) == len(EXPECTED), errors
    for found, expected in zip(errors, EXPECTED, strict=True):
        assert found.startswith(expected), (found, expected)
    assert server.received == []


def test_every_bad_services_entry_is_reported_at_once_by_the_cli(capsys, script: Callable[..., ScriptedServer]):
    server = script(ok())
    code, out, err = run(capsys, *ARGS, "--services", BAD_SERVICES, "--api-base-url", server.url, "--json")
    assert code == 2
    record = json.loads(out)
    assert sorted(p["input"] for p in record["problems"]) == ["services[0] flow_ratio", "services[1] flow_rate",
                                                              "services[2]", "services[3] cpu"]
    assert all(f"error: {expected}" in err for expected in EXPECTED)


# -- 10: version_remark from GitLab CI and Jenkins -------------------------------------------------------------

GITLAB = {"CI_PROJECT_PATH": "group/shop", "CI_COMMIT_SHORT_SHA": "4f6c2a1b",
          "CI_PIPELINE_URL": "https://gitlab.example.com/group/shop/-/pipelines/42"}
JENKINS = {"JOB_NAME": "shop/deploy", "GIT_COMMIT": "4f6c2a1b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
           "BUILD_URL": "https://jenkins.example.com/job/shop/job/deploy/12/"}


@pytest.mark.parametrize(("ci", "remark"), [
    (GITLAB, "group/shop@4f6c2a1b run https://gitlab.example.com/group/shop/-/pipelines/42"),
    (JENKINS, "shop/deploy@4f6c2a1 run https://jenkins.example.com/job/shop/job/deploy/12/"),
    ({"CI_PROJECT_PATH": "group/shop"}, "group/shop"),
    ({**JENKINS, "GITHUB_REPOSITORY": "octo/shop", "GITHUB_SHA": "abcdef1234"}, "octo/shop@abcdef1"),
])
def test_version_remark_defaults_to_the_ci_project_commit_and_run(capsys, ci, remark):
    code, out, err = run(capsys, *ARGS, "--dry-run", "--json", env={**ENV, **ci})
    assert code == 0, err
    assert json.loads(out)["request"]["version_remark"] == remark


def test_no_version_remark_without_a_known_ci(capsys):
    code, out, _ = run(capsys, *ARGS, "--dry-run", "--json", env={**ENV, "CI": "true"})
    assert code == 0 and "version_remark" not in json.loads(out)["request"]
