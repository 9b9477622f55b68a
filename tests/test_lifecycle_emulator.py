"""Issue 8 against the bundled emulator, in-process, with one fake clock shared by the emulator
(when versions settle) and the step (when it polls): deterministic, and nothing sleeps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudbase_rollout.emulator.server import Emulator, State
from cloudbase_rollout.emulator.state import SettleFailure
from tests.conftest import TOKEN, good_inputs
from tests.runner import FakeClock, StepResult, run_inprocess


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator3(clock: FakeClock) -> Iterator[Emulator]:
    server = Emulator(State(TOKEN, settle_seconds=12, clock=clock)).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def act(tmp_path: Path, clock: FakeClock):
    def run(inputs: dict[str, str]) -> StepResult:
        return run_inprocess(tmp_path, inputs, None, clock, clock.sleep)

    return run


def flow(emulator: Emulator, server_name: str) -> dict[str, int]:
    [service] = [s for s in emulator.state.snapshot()["services"] if s["server_name"] == server_name]
    return {v["version_name"]: v["flow_ratio"] for v in service["versions"]}


def test_promote_gives_the_new_version_all_the_traffic(emulator3, act, clock):
    emulator3.state.seed("prod-6gxk23no5605e14f", "api", [
        {"version_name": "api-001", "status": "normal", "created_time": "2026-10-01 10:00:00", "flow_ratio": 100},
        {"version_name": "api-002", "status": "normal", "created_time": "2026-11-01 10:00:00", "flow_ratio": 0}])
    result = act(good_inputs(emulator3.url, promote="true", flow_ratio="10"))
    assert result.returncode == 0, result.log
    assert result.outputs["version_name"] == "api-002", "latest: the newest by created_time"
    assert flow(emulator3, "api") == {"api-001": 0, "api-002": 100}
    assert result.outputs["waited_seconds"] == "15", "settles at 12 s, noticed at the next 5 s poll"


def test_each_service_is_waited_and_promoted_on_its_own(emulator3, act):
    emulator3.state.fail_settling(SettleFailure(None, "worker", None, "deploy_failed", 1))
    services = json.dumps([{"server_name": "api"}, {"server_name": "worker"},
                           {"server_name": "admin", "promote": False}])
    result = act(good_inputs(emulator3.url, promote="true", services=services))
    assert result.returncode == 1
    results = {r["id"]: r for r in json.loads(result.outputs["results"])}
    assert results["api"]["promoted"] is True and results["api"]["release_order_id"] is not None
    assert results["worker"]["promoted"] is False and results["worker"]["status"] == "deploy_failed"
    assert results["admin"]["promoted"] is False and results["admin"]["status"] == "normal"
    assert results["admin"]["error"] is None, "waited (step-level promote implies wait) and healthy"
    released = [r["server_name"] for r in emulator3.state.releases]
    assert released == ["api"], "a failed version is never promoted; admin opted out"
    assert all(f"run_id_{name}" in result.outputs for name in ("api", "worker", "admin"))
    assert "deploy_failed" in "\n".join(result.annotations("error"))


def test_busy_reads_are_retried(emulator3, act):
    with emulator3.state.lock:
        emulator3.state.read_fail_next, emulator3.state.read_fail_errcode = 3, 45011
    result = act(good_inputs(emulator3.url, version_name="api-001", wait="true", max_attempts="4"))
    assert result.returncode == 0, result.log
    assert result.outputs["status"] == "normal"


def test_a_slow_version_times_out_and_the_step_says_it_goes_on(emulator3, act):
    emulator3.state.settle_slowly("prod-6gxk23no5605e14f", "api", 600)
    result = act(good_inputs(emulator3.url, wait="true", wait_timeout_seconds="60"))
    assert result.returncode == 1
    error = "\n".join(result.annotations("error"))
    assert "last status: deploying" in error and "goes on" in error
    assert result.outputs["waited_seconds"] == "60"


def test_an_unknown_status_word_is_shown_verbatim_and_never_taken_for_healthy(emulator3, act):
    emulator3.state.seed("prod-6gxk23no5605e14f", "api", [{"version_name": "api-001", "status": "normal"}])
    emulator3.state.show("prod-6gxk23no5605e14f", "api", "api-001", "warming_up", None)
    result = act(good_inputs(emulator3.url, wait="true", wait_timeout_seconds="30"))
    assert result.returncode == 1
    assert "status warming_up after 0 s" in result.stdout


def test_status_and_release_commands_after_a_canary(emulator3, act, clock):
    rolled = act(good_inputs(emulator3.url, version_name="api-001", flow_ratio="10"))
    assert rolled.returncode == 0, rolled.log
    address = {"access_token": TOKEN, "api_base_url": emulator3.url, "env_id": "prod-6gxk23no5605e14f",
               "server_name": "api", "version_name": "api-001"}
    status = act({**address, "command": "status"})
    assert (status.returncode, status.outputs["status"]) == (0, "deploying")
    refused = act({**address, "command": "release"})
    assert refused.returncode == 1 and emulator3.state.releases == []
    released = act({**address, "command": "release", "wait": "true"})
    assert released.returncode == 0, released.log
    assert released.outputs["release_order_id"] == str(emulator3.state.releases[-1]["release_order_id"])
