"""The whole story against the bundled emulator, as the runner runs it (a subprocess, real time):
roll out, wait with progress lines, promote; and a version that settles failed is never promoted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cloudbase_rollout.emulator.server import Emulator, State
from tests.conftest import TOKEN, good_inputs


@pytest.fixture
def settling() -> Iterator[Emulator]:
    server = Emulator(State(TOKEN, settle_seconds=1.5)).start()
    yield server
    server.shutdown()
    server.server_close()


def test_roll_out_wait_and_promote_against_the_emulator(settling, subprocess_step):
    result = subprocess_step(good_inputs(settling.url, promote="true", wait_interval_seconds="1"))
    assert result.returncode == 0, result.log
    [rollout] = settling.state.rollouts
    [release] = settling.state.releases
    out = result.outputs
    assert out["run_id"] == rollout["run_id"] and out["version_name"] == release["release_version"] == "api-001"
    assert out["status"] == "normal" and out["release_order_id"] == str(release["release_order_id"])
    assert 1 <= int(out["waited_seconds"]) <= 4
    assert "api: status deploying after 0 s" in result.stdout and "api: status normal after" in result.stdout
    assert "| normal | yes |" in result.summary
    versions = settling.state.snapshot()["services"][0]["versions"]
    assert [v["flow_ratio"] for v in versions if v["version_name"] == "api-001"] == [100]


def test_a_version_that_settles_failed_fails_the_step_and_is_not_promoted(settling, subprocess_step):
    settling.state.fail_settling(_failure("build_fail"))
    result = subprocess_step(good_inputs(settling.url, promote="true", wait_interval_seconds="1"))
    assert result.returncode == 1
    assert settling.state.releases == []
    [error] = result.annotations("error")
    assert "build_fail" in error and settling.state.rollouts[0]["run_id"] in error
    assert result.outputs["run_id"] == settling.state.rollouts[0]["run_id"]


def _failure(status: str) -> Any:
    from cloudbase_rollout.emulator.state import SettleFailure

    return SettleFailure(None, None, None, status, 1)
