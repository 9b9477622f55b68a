"""The fault matrix of issue 3: what is retried, what is not, and what the log says.

Every case runs entrypoint.py as the runner does against a real loopback server
(tests/scenarios.py); test_leaks.py scans the same runs for secrets.
"""

from __future__ import annotations

import email.utils
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloudbase_rollout import API_PATH, TOKEN_PATH
from cloudbase_rollout.errors import ROLL_UPDATE_ERRORS, TOKEN_ERRORS, ApiError, TransportError
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.wechat import cloudrun
from cloudbase_rollout.wechat.api import CallSettings, WeChat
from cloudbase_rollout.wechat.retry import RETRY_AFTER_CAP
from cloudbase_rollout.wechat.transport import MAX_REPLY_BYTES
from tests.conftest import TOKEN, good_inputs
from tests.loopback import Received, Reply, RoutedServer, ScriptedServer, err, free_port, ok
from tests.runner import ENTRYPOINT, base_env
from tests.scenarios import (
    AMBIGUOUS_STATUS,
    APPID,
    APPSECRET,
    MINTED,
    NON_RETRYABLE,
    TICKET,
    DripServer,
    Outcome,
    ScriptedServer6,
    TlsServer,
    outcome,
)

MAY = "The rollout may have started"
BODY = {"env_id": "e", "version_name": "latest", "server_name": "api"}


@pytest.fixture
def run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Outcome]:
    def play(name: str) -> Outcome:
        return outcome(name, tmp_path_factory)

    return play


def no_outputs(o: Outcome) -> None:
    assert o.result.output_file == "", o.result.output_file


def command_lines(o: Outcome) -> list[str]:
    """Every line of stdout and stderr that the runner would read as a workflow command."""
    lines = (o.result.stdout + "\n" + o.result.stderr).splitlines()
    return [line for line in lines if line.lstrip().startswith(("::", "##["))]


# -- retried: errcode -1, 429, 503, connection refused ------------------------

def test_busy_then_success_retries_once(run):
    o = run("busy-then-success")
    assert o.result.returncode == 0, o.result.log
    assert o.paths == [API_PATH, API_PATH]
    assert o.result.outputs["run_id"] == "Run-after_busy"
    assert "2 attempt(s)" in o.result.stdout
    assert o.received[0].body == o.received[1].body  # the same request, resent


def test_busy_until_attempts_run_out_makes_exactly_max_attempts(run):
    o = run("busy-always")
    assert o.result.returncode == 1
    assert len(o.received) == 4  # max_attempts 4
    assert "after 4 attempts, last error: errcode -1: system error" in o.error
    no_outputs(o)


def test_503_with_retry_after_waits_then_succeeds(run):
    o = run("503-retry-after")
    assert o.result.returncode == 0, o.result.log
    assert o.paths == [API_PATH, API_PATH]
    assert o.seconds >= 1.0  # Retry-After: 1 was honoured (backoff alone would be ~0.01 s)
    assert o.result.outputs["run_id"] == "Run-after_503"


def test_429_then_success(run):
    o = run("429-then-success")
    assert o.result.returncode == 0, o.result.log
    assert len(o.received) == 2
    assert o.result.outputs["run_id"] == "Run-after_429"


def test_429_until_attempts_run_out(run):
    o = run("429-always")
    assert o.result.returncode == 1
    assert len(o.received) == 2
    assert "after 2 attempts, last error: HTTP 429" in o.error
    assert MAY not in o.error  # a 429 provably started nothing
    no_outputs(o)


def test_connection_refused_is_tried_max_attempts_times(run):
    o = run("refused")
    assert o.result.returncode == 1
    assert "after 4 attempts, last error: could not connect" in o.error
    assert MAY not in o.error
    no_outputs(o)


# -- not retried: every other code ---------------------------------------------

@pytest.mark.parametrize("code", NON_RETRYABLE)
def test_non_retryable_code_makes_exactly_one_request(run, code):
    o = run(f"errcode{code}")
    assert o.result.returncode == 1
    assert len(o.received) == 1, "a non-retryable code was retried"
    error = o.error
    assert f"errcode {code}: message of {code}" in error
    known = ROLL_UPDATE_ERRORS.get(code)
    if known is None:
        assert "passed through from CloudBase unchanged" in error
    else:
        assert known.remedy_zh in error
        assert known.hint in error
    assert (MAY in error) == (code == -1000)  # only the system error is ambiguous
    no_outputs(o)


@pytest.mark.parametrize("status", AMBIGUOUS_STATUS)
def test_5xx_is_one_request_and_may_have_started(run, status):
    o = run(f"http{status}")
    assert o.result.returncode == 1
    assert len(o.received) == 1
    assert f"HTTP {status} from" in o.error
    assert f"<h1>{status} Bad Gateway</h1>" in o.error  # a short excerpt of the page
    assert MAY in o.error
    no_outputs(o)


@pytest.mark.parametrize(("name", "says"), [
    ("200-not-json", "a reply that is not a JSON object (HTTP 200, no Content-Type): <html>hello</html>"),
    ("200-json-array", "a reply that is not a JSON object (HTTP 200, no Content-Type): [1, 2, 3]"),
    ("200-json-without-errcode", "'errcode' is a required property"),
    ("succ-missing", "'result' is a required property"),
    ("200-deeply-nested", "a reply that is not a JSON object (HTTP 200, no Content-Type): [[[["),
    ("errcode-0-not-succ", "errcode 0 without result succ (result 'fail')"),
])
def test_unreadable_200_is_one_request_and_may_have_started(run, name, says):
    o = run(name)
    assert o.result.returncode == 1
    assert len(o.received) == 1
    assert says in o.error
    assert MAY in o.error
    assert "Traceback" not in o.result.log
    no_outputs(o)


def test_a_non_json_reply_names_its_http_status_and_content_type(scripted, step):
    server = scripted(Reply(200, "<html>gateway</html>", {"Content-Type": "text/html; charset=utf-8"}))
    result = step(good_inputs(server.url))
    assert result.returncode == 1
    [error] = result.annotations("error")
    assert "not a JSON object (HTTP 200, text/html; charset=utf-8): <html>gateway</html>" in error


def test_slow_server_past_timeout_is_one_request(run):
    o = run("slow-server")
    assert o.result.returncode == 1
    assert len(o.received) == 1
    assert "timed out" in o.error
    assert MAY in o.error
    assert o.seconds < 4  # timeout_seconds 1; the server would answer after 5 s
    no_outputs(o)


@pytest.mark.parametrize("name", ["drip-headers", "drip-body"])
def test_trickling_server_cannot_stretch_the_timeout(run, name):
    o = run(name)
    assert o.result.returncode == 1
    assert o.connections == 1
    assert "timed out" in o.error and "within timeout_seconds (1 s)" in o.error
    assert MAY in o.error
    assert o.seconds < 4  # each piece comes well within the read timeout; the whole reply never does
    no_outputs(o)


def test_connection_dropped_after_the_request_is_one_request(run):
    o = run("dropped")
    assert o.result.returncode == 1
    assert len(o.received) == 1
    assert "lost the connection" in o.error
    assert MAY in o.error
    no_outputs(o)


@pytest.mark.parametrize(("status", "may"), [(400, False), (404, False), (501, False), (505, True)])
def test_other_statuses_fail_at_once(step, scripted, status, may):
    server = scripted(Reply(status, "nope"), ok())
    result = step(good_inputs(server.url))
    assert result.returncode == 1
    assert len(server.received) == 1
    [error] = result.annotations("error")
    assert f"HTTP {status} from" in error
    assert (MAY in error) == may
    assert result.output_file == ""


def test_redirect_is_not_followed(run):
    o = run("redirect")
    assert o.result.returncode == 1
    assert len(o.received) == 1
    assert "HTTP 307" in o.error and "not followed" in o.error
    assert "http://127.0.0.1:1/" in o.error and "access_token=***" in o.error
    assert MAY not in o.error
    no_outputs(o)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_target_receives_nothing(step, scripted, status):
    target = scripted(ok("Run-elsewhere"))
    origin = scripted(Reply(status, "", {"Location": target.url + API_PATH}))
    result = step(good_inputs(origin.url))
    assert result.returncode == 1
    assert len(origin.received) == 1 and target.received == []


@pytest.mark.parametrize("name", ["8mb-reply", "gzip-bomb"])
def test_oversized_reply_fails_cleanly(run, name):
    o = run(name)
    assert o.result.returncode == 1
    assert len(o.received) == 1
    assert f"larger than {MAX_REPLY_BYTES} bytes" in o.error
    assert len(o.result.stdout) < 4000
    assert "Traceback" not in o.result.log
    no_outputs(o)


def test_huge_errmsg_keeps_outputs_and_summary_small(run):
    good, bad = run("huge-errmsg-success"), run("huge-errmsg-failure")
    assert good.result.returncode == 0 and bad.result.returncode == 1
    assert good.result.outputs["run_id"] == "Run-big"
    assert len(good.result.output_file) < 2000
    for o in (good, bad):
        assert len(o.result.summary) < 2000
        assert len(o.result.stdout) < 4000


# -- replies cannot write outputs or workflow commands --------------------------

@pytest.mark.parametrize("name", ["run-id-trailing-newline", "run-id-injects-record", "run-id-too-long",
                                  "run-id-delimiter"])
def test_bad_run_id_fails_and_writes_no_output(run, name):
    o = run(name)
    assert o.result.returncode == 1
    assert "run_id" in o.error
    assert MAY in o.error
    no_outputs(o)
    assert "owned" not in o.result.summary
    assert not [line for line in command_lines(o) if line.startswith("::warning::")]


def test_errmsg_cannot_start_a_workflow_command(run):
    o = run("errmsg-commands")
    assert o.result.returncode == 1
    commands = command_lines(o)
    assert not [c for c in commands if not c.startswith(("::add-mask::", "::error title="))], commands
    assert len(o.errors) == 1  # the server's "::error::z" did not make a second annotation
    assert "bad\\n" in o.error and "\\r\\n" in o.error and "\\u2028" in o.error  # escaped, visible
    assert "##[error]" not in o.result.log
    assert "::set-output" not in o.result.log
    no_outputs(o)


@pytest.mark.process
def test_chinese_errmsg_reaches_the_log_intact(run):
    o = run("errmsg-chinese")  # also under LC_ALL=C
    assert o.result.returncode == 1
    assert "errcode 40097: 参数错误: 服务名称不存在" in o.error
    assert "Traceback" not in o.result.log


@pytest.mark.parametrize("name", ["errmsg-not-utf8", "errmsg-gbk"])
def test_non_utf8_errmsg_is_replaced_not_a_crash(run, name):
    o = run(name)
    assert o.result.returncode == 1
    assert "errcode 40097: " in o.error
    assert "\ufffd" in o.error
    assert "Traceback" not in o.result.log and "internal error" not in o.result.log


# -- tokens: 42001, minting -----------------------------------------------------

def test_42001_with_minting_credentials_mints_once_and_retries_once(run):
    o = run("mint-42001")
    assert o.result.returncode == 0, o.result.log
    assert o.paths == [API_PATH, TOKEN_PATH, API_PATH]
    first, mint, again = o.received
    assert first.query["access_token"] == [TOKEN]
    assert mint.json() == {"component_appid": APPID, "component_appsecret": APPSECRET,
                           "component_verify_ticket": TICKET}
    assert "access_token" not in mint.query
    assert again.query["access_token"] == [MINTED]
    assert first.body == again.body
    assert f"::add-mask::{MINTED}" in o.result.stdout.splitlines()
    assert o.result.outputs["run_id"] == "Run-minted"


def test_42001_again_after_minting_stops(run):
    o = run("mint-42001-again")
    assert o.result.returncode == 1
    assert o.paths == [API_PATH, TOKEN_PATH, API_PATH]  # mint once, retry once, no more
    assert "errcode 42001" in o.error and "minted just now" in o.error
    no_outputs(o)


def test_42001_without_minting_credentials_fails_and_explains(run):
    o = run("no-mint-42001")
    assert o.result.returncode == 1
    assert o.paths == [API_PATH]
    assert "errcode 42001" in o.error
    assert "component_appid, component_appsecret and component_verify_ticket" in o.error
    assert "Refresh the secret" in o.error


def test_minting_credentials_alone_mint_first(run):
    o = run("mint-first")
    assert o.result.returncode == 0, o.result.log
    assert o.paths == [TOKEN_PATH, API_PATH]
    assert o.received[1].query["access_token"] == [MINTED]


@pytest.mark.parametrize("name", ["mint-61004", "mint-after-42001-61004"])
def test_mint_refused_with_61004_explains_the_allow_list(run, name):
    o = run(name)
    assert o.result.returncode == 1
    assert o.paths[-1] == TOKEN_PATH and o.paths.count(TOKEN_PATH) == 1
    assert "errcode 61004" in o.error
    assert TOKEN_ERRORS[61004].hint in o.error and "allow-list" in o.error
    assert "title=Minting a component_access_token failed" in o.error
    assert "no rollout was started" in o.error and MAY not in o.error
    no_outputs(o)


@pytest.mark.parametrize(("name", "says"), [
    ("mint-no-token", "without a usable component_access_token"),
    ("mint-slow", "timed out"),
    ("mint-refused", "after 2 attempts, last error: could not connect"),
])
def test_token_call_failures_say_no_rollout_started(run, name, says):
    o = run(name)
    assert o.result.returncode == 1
    assert API_PATH not in o.paths
    assert says in o.error
    assert MAY not in o.error
    no_outputs(o)


# -- TLS: a failed handshake is retried, a TLS error after the request is not ----

@pytest.fixture
def tls(certificate: Path) -> Iterator[list[TlsServer]]:
    servers: list[TlsServer] = []
    yield servers
    for server in servers:
        server.close()


def test_https_with_a_trusted_certificate_succeeds(subprocess_step, certificate, tls):
    """A subprocess: requests takes REQUESTS_CA_BUNDLE from the process environment."""
    step = subprocess_step
    server = TlsServer(certificate, "ok")
    tls.append(server)
    result = step(good_inputs(server.url), {"REQUESTS_CA_BUNDLE": str(certificate)})
    assert result.returncode == 0, result.log
    assert result.outputs["run_id"] == "Run-tls"
    assert server.requests == 1


def test_untrusted_certificate_fails_at_once_with_a_ca_bundle_hint(step, certificate, tls):
    """Nothing was sent, but the same certificate fails the same way again: no retry."""
    server = TlsServer(certificate, "ok")
    tls.append(server)
    result = step(good_inputs(server.url, max_attempts="3"))  # no CA bundle: verification fails
    assert result.returncode == 1
    assert server.connections == 1 and server.requests == 0
    [error] = result.annotations("error")
    assert "could not connect" in error and "CERTIFICATE_VERIFY_FAILED" in error
    assert "REQUESTS_CA_BUNDLE" in error and MAY not in error


def test_reset_during_handshake_is_retried(step, certificate, tls):
    server = TlsServer(certificate, "hangup")
    tls.append(server)
    result = step(good_inputs(server.url, max_attempts="3"), {"REQUESTS_CA_BUNDLE": str(certificate)})
    assert result.returncode == 1
    assert server.connections == 3
    [error] = result.annotations("error")
    assert "after 3 attempts, last error: could not connect" in error and MAY not in error


def test_tls_error_after_the_request_was_sent_is_not_retried(subprocess_step, certificate, tls):
    step = subprocess_step
    server = TlsServer(certificate, "garbage")
    tls.append(server)
    result = step(good_inputs(server.url, max_attempts="3"), {"REQUESTS_CA_BUNDLE": str(certificate)})
    assert result.returncode == 1
    assert server.requests == 1 and server.connections == 1, "a request that arrived was sent again"
    [error] = result.annotations("error")
    assert "SSLError" in error and MAY in error
    assert result.output_file == ""


# -- Retry-After cap and backoff, in-process against a real loopback server ------

def client_for(url: str, sleeps: list[float], attempts: int = 3, timeout: float = 5) -> WeChat:
    api = WeChat(CallSettings(url, timeout, attempts, False, TOKEN, None), Redactor(), sleep=sleeps.append)
    api.backoff_base = 1.0
    return api


def test_retry_after_is_capped(scripted):
    server = scripted(Reply(503, "busy", {"Retry-After": "3600"}), Reply(429, "", {"Retry-After": "99999999999"}),
                      ok("Run-capped"))
    sleeps: list[float] = []
    reply = cloudrun.roll_update(client_for(server.url, sleeps), BODY)
    assert reply.run_id == "Run-capped" and reply.attempts == 3
    assert sleeps == [RETRY_AFTER_CAP, RETRY_AFTER_CAP]


def test_retry_after_http_date_is_honoured(scripted):
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    server = scripted(Reply(503, "", {"Retry-After": when}), ok())
    sleeps: list[float] = []
    cloudrun.roll_update(client_for(server.url, sleeps), BODY)
    [slept] = sleeps
    assert 3.0 <= slept <= 5.0


@pytest.mark.parametrize("value", ["soon", "-5", "", "Mon,", "1.5"])
def test_unusable_retry_after_falls_back_to_backoff(scripted, value):
    server = scripted(Reply(503, "", {"Retry-After": value}), ok())
    sleeps: list[float] = []
    cloudrun.roll_update(client_for(server.url, sleeps), BODY)
    [slept] = sleeps
    assert 0.5 <= slept <= 1.0  # first backoff step, with jitter


def test_backoff_is_exponential_with_jitter(scripted):
    server = scripted(err(-1), err(-1), err(-1), err(-1), ok())
    sleeps: list[float] = []
    reply = cloudrun.roll_update(client_for(server.url, sleeps, attempts=5), BODY)
    assert reply.attempts == 5 and len(server.received) == 5
    assert len(sleeps) == 4
    for step_number, slept in enumerate(sleeps):
        assert 0.5 * 2**step_number <= slept <= 2**step_number


def test_in_process_errors_are_typed(scripted):
    server = scripted(err(40097, "bad"), Reply(502, "gw"))
    with pytest.raises(ApiError) as api:
        cloudrun.roll_update(client_for(server.url, []), BODY)
    assert api.value.errcode == 40097 and not api.value.may_have_started
    with pytest.raises(TransportError) as transport:
        cloudrun.roll_update(client_for(server.url, []), BODY)
    assert transport.value.may_have_started


# -- cancellation ------------------------------------------------------------------

def _start_and_cancel(tmp_path: Path, inputs: dict[str, str], ready: Callable[[], bool],
                      signum: int = signal.SIGTERM) -> tuple[int, str, str]:
    """entrypoint.py as the runner starts it; signal it once ready() holds; (exit, stdout, stderr)."""
    env = base_env(tmp_path)
    for name, value in inputs.items():
        env[f"INPUT_{name.upper()}"] = value
    proc = subprocess.Popen([sys.executable, str(ENTRYPOINT)], env=env, cwd=env["GITHUB_WORKSPACE"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    try:
        deadline = time.monotonic() + 15
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready(), "the step never got where it should be cancelled"
        os.kill(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stdout, stderr


@pytest.mark.process
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_cancel_during_a_slow_call_stops_quickly_without_outputs(tmp_path, scripted, signum, code):
    server: ScriptedServer = scripted(Reply(delay=30, body={"errcode": 0, "errmsg": "ok", "result": "succ",
                                                            "run_id": "too-late"}))
    env = base_env(tmp_path)
    for name, value in good_inputs(server.url, timeout_seconds="60").items():
        env[f"INPUT_{name.upper()}"] = value
    proc = subprocess.Popen([sys.executable, str(ENTRYPOINT)], env=env, cwd=env["GITHUB_WORKSPACE"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    try:
        deadline = time.monotonic() + 15
        while not server.received and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert server.received, "the call never arrived"
        sent = time.monotonic()
        os.kill(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=10)
        stopped = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert stopped < 3, f"took {stopped:.1f} s to stop"
    assert proc.returncode == code
    [error] = [line for line in stdout.splitlines() if line.startswith("::error")]
    assert error.startswith(f"::error title=Cancelled::cancelled by signal {int(signum)} while waiting for "
                            f"{server.url}")
    assert MAY in error  # the request had gone out
    assert "Traceback" not in stdout + stderr
    output = Path(env["GITHUB_OUTPUT"])
    assert not output.exists() or output.read_text() == ""
    assert len(server.received) == 1


@pytest.mark.process
def test_cancel_during_a_batch_says_rollouts_may_have_started(tmp_path, scripted):
    server: ScriptedServer = scripted(Reply(delay=30, body={"errcode": 0, "errmsg": "ok", "result": "succ",
                                                            "run_id": "too-late"}))
    inputs = good_inputs(server.url, timeout_seconds="60",
                         services=json.dumps([{"server_name": "api"}, {"server_name": "worker"}]))
    code, stdout, stderr = _start_and_cancel(tmp_path, inputs, lambda: len(server.received) == 2)
    assert code == 143
    [error] = [line for line in stdout.splitlines() if line.startswith("::error")]
    assert error.startswith("::error title=Cancelled::cancelled by signal 15 while 2 rollouts were in flight")
    assert MAY in error
    assert "Traceback" not in stdout + stderr
    output = tmp_path / "file_commands" / "output"
    assert not output.exists() or output.read_text() == ""


@pytest.mark.process
def test_cancel_in_a_batch_names_the_run_ids_received_and_the_calls_in_flight(tmp_path):
    def route(received: Received) -> Reply:
        service = received.json()["server_name"]
        return Reply(delay=30, body={}) if service == "admin" else ok(f"Run-{service}")

    server = RoutedServer(route)
    try:
        services = json.dumps([{"server_name": name} for name in ("api", "worker", "admin")])
        code, stdout, stderr = _start_and_cancel(
            tmp_path, good_inputs(server.url, timeout_seconds="60", services=services),
            lambda: len(server.received) == 3)
    finally:
        server.close()
    assert code == 143
    [error] = [line for line in stdout.splitlines() if line.startswith("::error")]
    assert "while 1 rollout was in flight (admin)" in error
    assert "api (run_id Run-api, not promoted)" in error and "worker (run_id Run-worker, not promoted)" in error
    assert MAY in error and "Traceback" not in stdout + stderr


@pytest.mark.process
def test_cancel_during_a_wait_says_the_rollout_goes_on_and_was_not_promoted(tmp_path):
    reads: list[int] = []

    def route(received: Received) -> Reply:
        if received.path == API_PATH:
            return ok("Run-waiting")
        reads.append(1)
        return Reply(body={"errcode": 0, "errmsg": "ok", "status": "deploying" if len(reads) > 1 else "normal",
                           "updated_time": "2026-11-30 10:00:00"})

    server = RoutedServer(route)
    try:
        code, stdout, _ = _start_and_cancel(
            tmp_path, good_inputs(server.url, version_name="api-007", promote="true", wait_interval_seconds="1"),
            lambda: len(reads) >= 2, signal.SIGINT)
    finally:
        server.close()
    assert code == 130
    [error] = [line for line in stdout.splitlines() if line.startswith("::error")]
    assert "while waiting for api to settle" in error and "api (run_id Run-waiting, not promoted)" in error
    assert MAY not in error, "the roll-update had been answered: nothing is in doubt"


# -- api_base_url: https, or http to loopback only ------------------------------------

@pytest.mark.parametrize("url", ["http://example.com", "http://api.weixin.qq.com", "ftp://127.0.0.1",
                                 "http://10.0.0.1", "http://169.254.169.254"])
def test_plain_http_to_a_remote_host_is_refused(step, url):
    result = step(good_inputs(url))
    assert result.returncode == 2
    [error] = result.annotations("error")
    assert "api_base_url" in error and "https" in error
    assert "no request was sent" in result.stdout


@pytest.mark.parametrize("host", ["0x7f.1", "2130706433", "127.1", "0.0.0.0", "127.0.0.1.nip.io"])  # noqa: S104
def test_loopback_in_disguise_is_refused_before_any_connection(step, scripted, host):
    server = scripted(ok())
    port = server.server_address[1]
    result = step(good_inputs(f"http://{host}:{port}"))
    assert result.returncode == 2
    assert "api_base_url" in result.annotations("error")[0]
    time.sleep(0.1)
    assert server.received == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST"])
def test_http_to_loopback_is_accepted(step, scripted, host):
    server = scripted(ok("Run-loop"))
    result = step(good_inputs(f"http://{host}:{server.server_address[1]}"))
    assert result.returncode == 0, result.log
    assert len(server.received) == 1


def test_http_to_any_127_address_is_accepted(step):
    """127.0.0.0/8 is loopback: the input is accepted and the call is tried (nothing listens there)."""
    result = step(good_inputs(f"http://127.0.0.2:{free_port()}", max_attempts="1"))
    assert result.returncode == 1
    assert "could not connect to http://127.0.0.2" in result.annotations("error")[0]


def test_http_to_ipv6_loopback_is_accepted(step):
    server = ScriptedServer6([ok("Run-v6")])
    try:
        result = step(good_inputs(server.url))
    finally:
        server.close()
    assert result.returncode == 0, result.log
    assert result.outputs["run_id"] == "Run-v6"
    assert len(server.received) == 1


@pytest.mark.parametrize("url", ["https://api.weixin.qq.com", "https://api.weixin.qq.com/",
                                 "https://proxy.example:8443"])
def test_https_base_url_is_accepted(step, url):
    result = step(good_inputs(url, dry_run="true"))
    assert result.returncode == 0, result.log
    assert json.loads(result.outputs["request"])["server_name"] == "api"


def test_drip_server_really_trickles():
    """The trickling server can hold a client that only has a read timeout (else the tests above prove nothing)."""
    server = DripServer("drip-body")
    try:
        with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=0.5) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            started, got = time.monotonic(), b""
            while time.monotonic() - started < 1.2:
                got += sock.recv(100)  # never times out: a piece every 0.2 s
            assert got.startswith(b"HTTP/1.1 200 OK") and len(got) < 200
    finally:
        server.close()


# -- found in acceptance review --------------------------------------------------------

def test_an_error_reply_with_empty_or_null_fields_still_reports_its_errcode(scripted, step):
    server = scripted(Reply(body={"errcode": 40097, "errmsg": None, "result": "fail", "run_id": ""}))
    result = step(good_inputs(server.url))
    assert result.returncode == 1
    assert len(server.received) == 1
    [error] = result.annotations("error")
    assert "errcode 40097" in error and ROLL_UPDATE_ERRORS[40097].remedy_zh in error
    assert MAY not in error
    assert "| failed: errcode 40097" in result.summary


def test_each_retry_is_logged_with_its_reason_and_delay(scripted, step):
    server = scripted(err(-1, "busy"), Reply(status=503, headers={"Retry-After": "0"}), ok("Run-after"))
    result = step(good_inputs(server.url))
    assert result.returncode == 0, result.log
    retries = [line for line in result.stdout.splitlines() if "retrying in" in line]
    assert len(retries) == 2
    assert retries[0].startswith("api: attempt 1 of 3 failed (errcode -1: busy")
    assert "HTTP 503" in retries[1] and "attempt 2 of 3" in retries[1]
    assert all("nothing was started" in line for line in retries)


def test_a_busy_token_endpoint_is_retried(scripted, step):
    server = scripted(err(-1, "busy"), Reply(body={"component_access_token": "minted-TOKEN-0123456789",
                                                   "expires_in": 7200}), ok("Run-minted"))
    inputs = good_inputs(server.url, component_appid="wx1", component_appsecret="appsecret-0123456789",
                         component_verify_ticket="ticket-0123456789")
    del inputs["access_token"]
    result = step(inputs)
    assert result.returncode == 0, result.log
    assert [r.path for r in server.received] == [TOKEN_PATH, TOKEN_PATH, API_PATH]
    assert result.outputs["run_id"] == "Run-minted"


def test_the_summary_names_the_kind_of_transport_failure(scripted, step):
    server = scripted(Reply(status=502, body="<html>bad gateway</html>"))
    result = step(good_inputs(server.url))
    assert result.returncode == 1
    row = next(line for line in result.summary.splitlines() if line.startswith("| prod-"))
    assert "failed: HTTP 502 from" in row and "may have started" in row
    assert "bad gateway" not in result.summary
    assert result.stdout.count("HTTP 502") == 1, "one error line, not the annotation and a copy"
