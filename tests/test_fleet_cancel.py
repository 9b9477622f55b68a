"""A cancelled fleet (SIGTERM, as the runner sends it; SIGINT, as Ctrl-C) keeps every run_id it received:
the results file is written with each started unit and its run_id, the rest skipped, and the log says
how many were started and not promoted. A true process test: only a process shows a signal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudbase_rollout.emulator import Emulator, State
from tests.conftest import TOKEN, good_inputs
from tests.runner import ENTRYPOINT, base_env

UNITS = 8


@pytest.fixture
def slow_fleet() -> Iterator[tuple[Emulator, list[str]]]:
    state = State(TOKEN, settle_seconds=600.0)  # nothing settles while the test runs
    env_ids = state.seed_fleet(UNITS, services=("api",))
    server = Emulator(state).start()
    yield server, env_ids
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_cancelled_fleet_writes_every_run_id_it_received(tmp_path: Path, slow_fleet: tuple[Emulator, list[str]],
                                                          signum: int, code: int) -> None:
    server, env_ids = slow_fleet
    inputs = good_inputs(server.url, targets="\n".join(env_ids), max_parallel="3", wait="true",
                         wait_interval_seconds="1")
    inputs.pop("env_id")
    env = base_env(tmp_path)
    env.update({f"INPUT_{name.upper()}": value for name, value in inputs.items()})
    proc = subprocess.Popen([sys.executable, str(ENTRYPOINT)], env=env, cwd=env["GITHUB_WORKSPACE"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while len(server.state.rollouts) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.state.rollouts) == 3, "three units were to be in progress (max_parallel 3)"
    time.sleep(1.0)  # the replies reach the step (milliseconds; a second on a loaded machine): now it waits
    proc.send_signal(signum)
    log, _ = proc.communicate(timeout=30)
    assert proc.returncode == code, log
    document = json.loads((Path(env["RUNNER_TEMP"]) / "cloudbase-rollout-results.json").read_text("utf-8"))
    received = {r["run_id"] for r in server.state.rollouts}
    started = [u for u in document["units"] if u["state"] == "started"]
    assert {u["run_id"] for u in started} == received and len(started) == 3
    assert sum(u["state"] == "skipped" for u in document["units"]) == UNITS - 3
    assert document["stopped"] == "cancelled" and document["complete"] is False
    assert "3 unit(s) were started and not promoted" in log
    assert [line for line in log.splitlines() if TOKEN in line] == [f"::add-mask::{TOKEN}"]
