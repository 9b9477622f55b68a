"""The leak sweep of issue 3: no secret in stdout, stderr, GITHUB_OUTPUT or the
step summary, on any path.

A secret may appear only inside its own `::add-mask::SECRET` line, and that line
comes before anything else mentions it. Besides the whole secret, every 8-character
piece of its random part is looked for, so a secret cut in half by a truncated
excerpt counts as a leak too. The runs are the fault scenarios of
tests/scenarios.py (shared with test_faults), plus the CLI and the unexpected-error
paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TOKEN, good_inputs
from tests.loopback import Reply, err, free_port, ok
from tests.runner import run_step
from tests.scenarios import (
    APPID,
    APPSECRET,
    MINT_INPUTS,
    MINTED,
    SCENARIOS,
    SECRETS,
    TICKET,
    minted,
    outcome,
)

ROOT = Path(__file__).resolve().parents[1]
CLI_ARGS = ["--env-id", "prod-6gxk23no5605e14f", "--server-name", "api", "--image",
            "ccr.ccs.tencentyun.com/ns/shop-api:v1", "--container-port", "80"]


def pieces(secret: str) -> set[str]:
    """The secret, and every 8-character window of its random part (after 'SECRET-')."""
    tail = secret.split("SECRET-", 1)[1]
    return {secret} | {tail[i:i + 8] for i in range(len(tail) - 7)}


def leaks(text: str, where: str, *, masks_allowed: bool = False) -> list[str]:
    found = []
    for label, secret in SECRETS.items():
        for number, line in enumerate(text.splitlines(), 1):
            if masks_allowed and line == f"::add-mask::{secret}":
                continue
            for piece in pieces(secret):
                if piece in line:
                    found.append(f"{label} ({piece!r}) in {where} line {number}: {line[:160]!r}")
                    break
    return found


def assert_no_leak(stdout: str, stderr: str, output_file: str = "", summary: str = "") -> None:
    found = (leaks(stdout, "stdout", masks_allowed=True) + leaks(stderr, "stderr")
             + leaks(output_file, "GITHUB_OUTPUT") + leaks(summary, "step summary"))
    assert not found, "\n".join(found)


def test_the_sweep_can_see_a_leak():
    """The detector itself: a whole secret, a cut one, and the mask line."""
    assert leaks(f"x {TOKEN} y", "t")
    assert leaks("errcode 40014: zzz" + TOKEN[:19] + "...", "t")  # cut after 8 characters of the random part
    assert leaks("access_token=" + MINTED[-8:], "t")
    assert not leaks(f"::add-mask::{TOKEN}", "t", masks_allowed=True)
    assert leaks(f"::add-mask::{TOKEN}", "t")  # not allowed in stderr, outputs or summaries
    assert not leaks("access_token=*** SECRET 5f3a9c1", "t")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_secret_leaks_from_a_scenario(tmp_path_factory, name):
    o = outcome(name, tmp_path_factory)
    r = o.result
    assert_no_leak(r.stdout, r.stderr, r.output_file, r.summary)
    # every secret given as an input is masked before anything else is printed
    lines = r.stdout.splitlines()
    scenario = SCENARIOS[name]
    given = ([TOKEN] if scenario.token else []) + ([APPSECRET, TICKET] if scenario.mint else [])
    assert lines[:len(given)] == [f"::add-mask::{secret}" for secret in given], lines[:4]
    if MINTED in {rcv.query.get("access_token", [""])[0] for rcv in o.received}:
        mask = lines.index(f"::add-mask::{MINTED}")  # the minted token is masked as soon as it exists
        assert all(not line.startswith(("Rollout started", "::error")) for line in lines[:mask])


def test_the_sweep_covers_every_class():
    """Success, dry run, debug, each failure class, minting, invalid input, refused, timeouts."""
    for needed in ("success", "dry-run", "success-debug", "busy-debug", "mint-42001-debug", "invalid-input",
                   "refused", "refused-debug", "slow-server", "drip-body", "mint-slow", "mint-refused",
                   "http502", "errcode40014", "200-not-json", "token-echoed-at-cut", "mint-echoes-secrets"):
        assert needed in SCENARIOS


def test_servers_that_echo_secrets_are_redacted(tmp_path_factory):
    """The echoing scenarios really carried the secrets back: the redaction is what kept them out."""
    for name, secret in (("token-echoed", TOKEN), ("token-echoed-at-cut", TOKEN), ("token-echoed-in-html", TOKEN),
                         ("token-echoed-in-garbage", TOKEN), ("mint-42001-again", MINTED),
                         ("mint-echoes-secrets", APPSECRET)):
        o = outcome(name, tmp_path_factory)
        assert "***" in o.error, (name, o.error)
        assert secret not in o.error


# -- the unexpected-error path ------------------------------------------------------

@pytest.mark.process
def test_unwritable_outputs_after_a_minted_call_do_not_leak(tmp_path, scripted):
    """GITHUB_OUTPUT names a file in a missing directory: writing outputs fails after the rollout."""
    server = scripted(err(42001, "expired"), minted(), ok("Run-internal"))
    missing = tmp_path / "no-such-dir" / "output"
    result = run_step(tmp_path, {**good_inputs(server.url), **MINT_INPUTS},
                      {"RUNNER_DEBUG": "1", "GITHUB_OUTPUT": str(missing)})
    assert result.returncode == 1
    assert "title=Outputs not written" in result.stdout and "Run-internal" in result.stdout
    assert len(server.received) == 3  # the call and the mint really happened
    assert_no_leak(result.stdout, result.stderr, "", result.summary)


@pytest.mark.process
def test_internal_error_traceback_does_not_leak(tmp_path, scripted):
    """A secret that is not UTF-8 (no runner sends one) breaks printing in a way no code expects."""
    server = scripted(ok())
    broken = "appsecret-\udcff-" + APPSECRET  # a raw 0xff byte in the environment
    inputs = {**good_inputs(server.url), **MINT_INPUTS, "component_appsecret": broken}
    result = run_step(tmp_path, inputs, {"RUNNER_DEBUG": "1"})
    assert result.returncode == 1
    assert "title=cloudbase-rollout internal error" in result.stdout  # the generic handler answered
    assert "Traceback" in result.stdout
    assert server.received == []
    assert_no_leak(result.stdout, result.stderr, "", result.summary)


@pytest.mark.process
def test_internal_error_of_the_cli_does_not_leak(tmp_path, scripted):
    """The working directory vanishes under the CLI: an error no code expects."""
    assert shutil.which("sh"), "this test needs sh"
    server = scripted(ok())
    gone = tmp_path / "gone"
    gone.mkdir()
    script = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
    done = subprocess.run(["sh", "-c", script, "sh", str(gone), sys.executable, "-m", "cloudbase_rollout",
                           *CLI_ARGS, "--api-base-url", server.url, "--access-token", TOKEN],
                          env=cli_env(COMPONENT_APPSECRET=APPSECRET), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "internal error" in done.stderr and "FileNotFoundError" in done.stderr
    assert_no_leak(done.stdout, done.stderr)


# -- the CLI: --access-token and COMPONENT_* variables -----------------------------------

def cli_env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "RUNNER_", "COMPONENT_"))}
    return {**keep, "CLOUDBASE_ROLLOUT_BACKOFF_BASE": "0.01", **extra}


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloudbase_rollout", *CLI_ARGS, *args], cwd=tmp_path,
                          env=cli_env(**env), capture_output=True, text=True, timeout=60)


MINT_ENV = {"COMPONENT_APPID": APPID, "COMPONENT_APPSECRET": APPSECRET, "COMPONENT_VERIFY_TICKET": TICKET}
CLI_CASES = {
    "success": ((ok("Run-cli"),), (), 0),
    "success-json": ((ok("Run-cli"),), ("--json",), 0),
    "echoed-40014": ((err(40014, f"invalid credential, access_token is {TOKEN}"),), (), 1),
    "echoed-at-cut": ((err(40014, "z" * 478 + TOKEN),), (), 1),
    "502-echo": ((Reply(502, f"<p>?access_token={TOKEN}</p>"),), (), 1),
    "busy": ((err(-1),), ("--max-attempts", "2"), 1),
    "slow": ((Reply(delay=5, body="{}"),), ("--timeout-seconds", "1"), 1),
    "dropped": ((Reply(drop=True),), (), 1),
    "mint-42001": ((err(42001), minted(), ok("Run-cli-minted")), ("--json",), 0),
    "mint-42001-echo": ((err(42001), minted(), err(40097, "bad " + MINTED)), (), 1),
    "mint-61004": ((err(42001), Reply(body={"errcode": 61004, "errmsg": f"ip {APPSECRET} {TICKET}"})), (), 1),
    "dry-run": ((ok(),), ("--dry-run",), 0),
    "invalid": ((ok(),), ("--flow-ratio", "150"), 2),
}


@pytest.mark.process
@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_never_prints_a_secret(tmp_path, scripted, case, how):
    replies, args, code = CLI_CASES[case]
    server = scripted(*replies)
    token_args = ("--access-token", TOKEN) if how == "flag" else ()
    env = {**MINT_ENV, **({} if how == "flag" else {"COMPONENT_ACCESS_TOKEN": TOKEN})}
    done = cli(tmp_path, "--api-base-url", server.url, *token_args, *args, **env)
    assert done.returncode == code, done.stderr
    assert_no_leak(done.stdout, done.stderr)
    assert "::add-mask::" not in done.stdout + done.stderr  # the CLI is not on a runner
    if case.startswith("mint-42001"):
        assert [r.query.get("access_token") for r in server.received][-1] == [MINTED]


@pytest.mark.process
def test_cli_connection_refused_does_not_leak_the_url(tmp_path):
    for how in ({"COMPONENT_ACCESS_TOKEN": TOKEN}, {}):
        args = () if how else ("--access-token", TOKEN)
        done = cli(tmp_path, "--api-base-url", f"http://127.0.0.1:{free_port()}", "--max-attempts", "2",
                   *args, **how)
        assert done.returncode == 1
        assert "Connection refused" in done.stderr  # the root cause, not urllib3's URL-bearing wording
        assert "access_token" not in done.stderr
        assert_no_leak(done.stdout, done.stderr)


@pytest.mark.process
def test_cli_mint_without_token_does_not_leak(tmp_path, scripted):
    server = scripted(minted(), ok("Run-m"))
    done = cli(tmp_path, "--api-base-url", server.url, "--json", **MINT_ENV)
    assert done.returncode == 0, done.stderr
    assert '"run_id": "Run-m"' in done.stdout
    assert_no_leak(done.stdout, done.stderr)

