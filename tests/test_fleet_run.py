"""A fleet run end to end, in process, against the emulator on 127.0.0.1 with a fake clock (and once against
a scripted loopback server): waves in order, the failure budget, max_parallel, skip_current, the shared
quota, the bake, the results file and the outputs, and a log that grows with waves, not with units."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cloudbase_rollout import API_PATH, RELEASE_PATH, VERSION_DETAIL_PATH, VERSION_LIST_PATH
from cloudbase_rollout.emulator import Emulator, State
from cloudbase_rollout.emulator import endpoints as emulator_endpoints
from cloudbase_rollout.emulator.gateway import Refused
from cloudbase_rollout.front import merge
from tests.conftest import TOKEN, good_inputs
from tests.loopback import ScriptedServer, ok
from tests.runner import FakeClock, StepResult, run_inprocess

SEEDED = "ccr.ccs.tencentyun.com/demo/api"  # seed_fleet's default image for service "api", without its tag


@dataclass
class Seen:
    """One call the emulator answered: its endpoint, the unit, the errcode and the fake clock's time."""

    path: str
    env_id: str | None
    errcode: int
    at: float


@dataclass
class Fleet:
    clock: FakeClock
    state: State
    emu: Emulator
    calls: list[Seen] = field(default_factory=list)
    after: list[Callable[[Seen], None]] = field(default_factory=list)  #: hooks run after each call

    @property
    def url(self) -> str:
        return self.emu.url

    def seed(self, count: int, **kwargs: Any) -> list[str]:
        return self.state.seed_fleet(count, services=("api",), **kwargs)

    def of(self, path: str, errcode: int | None = 0) -> list[Seen]:
        return [c for c in self.calls if c.path == path and (errcode is None or c.errcode == errcode)]

    def run(self, tmp: Path, inputs: dict[str, str], env: dict[str, str] | None = None) -> StepResult:
        return run_inprocess(tmp, inputs, env, clock=self.clock, sleep=self.clock.sleep)


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    """A fresh emulator on a fake clock; every endpoint call it answers is recorded in order."""
    clock = FakeClock()
    state = State(TOKEN, clock=clock)
    server = Emulator(state).start()
    made = Fleet(clock, state, server)

    for path, endpoint in list(emulator_endpoints.ENDPOINTS.items()):
        def wrapped(st: State, method: str, token: str, raw: bytes, endpoint: Any = endpoint,
                    path: str = path) -> dict[str, Any]:
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
            env_id = (body.get("env_id") or body.get("env")) if isinstance(body, dict) else None
            try:
                reply: dict[str, Any] = endpoint(st, method, token, raw)
            except Refused as refused:
                made.calls.append(Seen(path, env_id, refused.reply["errcode"], clock()))
                raise
            seen = Seen(path, env_id, int(reply.get("errcode", 0)), clock())
            made.calls.append(seen)
            for hook in made.after:
                hook(seen)
            return reply

        monkeypatch.setitem(emulator_endpoints.ENDPOINTS, path, wrapped)
    yield made
    server.shutdown()
    server.server_close()


def fleet_inputs(url: str, envs: list[str], **extra: str) -> dict[str, str]:
    inputs = good_inputs(url, targets="\n".join(envs), wait_interval_seconds="1", **extra)
    inputs.pop("env_id")
    return inputs


def results_of(res: StepResult) -> dict[str, Any]:
    document: dict[str, Any] = merge.read_results(Path(res.outputs["results_file"]))
    return document


def units_of(res: StepResult) -> dict[str, dict[str, Any]]:
    return {u["env_id"]: u for u in results_of(res)["units"]}


def text_lines(res: StepResult) -> list[str]:
    return [line for line in res.stdout.splitlines() if line and not line.startswith("::")]


# -- 1. waves in order -----------------------------------------------------------------------------------------


def test_no_unit_of_a_wave_is_rolled_before_every_unit_of_the_wave_before_is_released(
        fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(10)
    fleet.state.settle_slowly(envs[0], "api", 9)  # a slow canary: the next wave must wait for it
    fleet.state.settle_slowly(envs[2], "api", 7)  # and a slow unit of wave 2
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, waves="1, 30%, 100%", promote="true",
                                           max_parallel="10"))
    assert res.returncode == 0, res.log
    document = results_of(res)
    assert document["waves"] == [1, 2, 7]
    wave = {u["env_id"]: u["wave"] for u in document["units"]}
    assert [wave[e] for e in envs] == [1, 2, 2, 3, 3, 3, 3, 3, 3, 3]
    order = [(c.path, c.env_id) for c in fleet.calls if c.path in (API_PATH, RELEASE_PATH) and c.errcode == 0]
    assert len(order) == 20
    for k in (1, 2):
        last_release = max(i for i, (path, env) in enumerate(order) if path == RELEASE_PATH and wave[env] == k)
        first_roll = min(i for i, (path, env) in enumerate(order) if path == API_PATH and wave[env] == k + 1)
        assert last_release < first_roll, (k, order)
    rolled_at = {c.env_id: c.at for c in fleet.of(API_PATH)}
    assert rolled_at[envs[1]] >= rolled_at[envs[0]] + 9, "wave 2 waited for the slow canary to settle"
    assert min(rolled_at[e] for e in envs[3:]) >= rolled_at[envs[2]] + 7


# -- 2. the failure budget ---------------------------------------------------------------------------------------


def test_a_failing_canary_with_max_failures_0_stops_the_fleet_and_skips_every_other_unit(
        fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(10)
    fleet.state.fail_units([(envs[0], "api")])
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, waves="1, 30%, 100%", max_failures="0"))
    assert res.returncode == 1, res.log
    assert len(fleet.state.rollouts) == 1 and len(fleet.of(API_PATH, None)) == 1
    units = units_of(res)
    assert units[envs[0]]["state"] == "failed"
    for env_id in envs[1:]:
        assert units[env_id]["state"] == "skipped", units[env_id]
        assert "max_failures" in units[env_id]["error"]["reason"]
        assert units[env_id]["run_id"] is None
    document = results_of(res)
    assert document["stopped"] == "budget" and document["budget_exceeded"] is True
    assert (res.outputs["failed"], res.outputs["skipped"], res.outputs["succeeded"]) == ("1", "9", "0")
    assert any("Fleet failed" in line for line in res.annotations("error"))


def test_a_percentage_budget_tolerates_its_rounded_down_share(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(10)
    fleet.state.fail_units([(envs[3], "api")])
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, waves="1, 30%, 100%", max_failures="10%"))
    assert res.returncode == 0, res.log
    assert (res.outputs["succeeded"], res.outputs["failed"]) == ("9", "1")
    [warning] = res.annotations("warning")
    assert f"{envs[3]}/api" in warning and "failed" in warning
    assert results_of(res)["budget_exceeded"] is False


def test_two_failures_exceed_a_10_percent_budget_of_10_units_and_the_next_wave_is_skipped(
        fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(10)
    fleet.state.fail_units([(envs[1], "api"), (envs[2], "api")])  # both of wave 2
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, waves="1, 30%, 100%", max_failures="10%"))
    assert res.returncode == 1, res.log
    units = units_of(res)
    assert [units[e]["state"] for e in envs[:3]] == ["succeeded", "failed", "failed"]
    assert {units[e]["state"] for e in envs[3:]} == {"skipped"}
    assert len(fleet.state.rollouts) == 3, "wave 3 never started"
    assert "(1)" in units[envs[3]]["error"]["reason"], "the reason names the failures tolerated"


# -- 3. max_parallel -----------------------------------------------------------------------------------------------


def test_never_more_than_max_parallel_units_in_progress(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(6)
    for env_id, seconds in zip(envs, (9, 2, 5, 3, 8, 1), strict=True):
        fleet.state.settle_slowly(env_id, "api", seconds)
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, max_parallel="2", promote="true"))
    assert res.returncode == 0, res.log
    assert results_of(res)["waves"] == [6]
    in_progress, most = set(), 0
    for c in fleet.calls:
        if c.errcode:
            continue
        if c.path == API_PATH:
            in_progress.add(c.env_id)
        elif c.path == RELEASE_PATH:
            in_progress.discard(c.env_id)
        most = max(most, len(in_progress))
    assert most == 2, "two at once, never three"
    # A unit is admitted only once another has ended: its first read comes after a release.
    first_read = {}
    for i, c in enumerate(fleet.calls):
        first_read.setdefault(c.env_id, i)
    releases = [i for i, c in enumerate(fleet.calls) if c.path == RELEASE_PATH]
    for env_id in envs[2:]:
        assert any(r < first_read[env_id] for r in releases), env_id


# -- 4. skip_current -------------------------------------------------------------------------------------------


def test_skip_current_leaves_a_unit_that_already_serves_the_image_alone(fleet: Fleet, tmp_path: Path) -> None:
    same = fleet.seed(3)
    other = fleet.seed(1, image="ccr.ccs.tencentyun.com/demo/{service}:v0")
    envs = [*same, *other]
    inputs = fleet_inputs(fleet.url, envs, image=SEEDED, image_tag="v1", skip_current="true", wait="true")
    res = fleet.run(tmp_path, inputs)
    assert res.returncode == 0, res.log
    assert [r["body"]["env_id"] for r in fleet.state.rollouts] == other
    units = units_of(res)
    assert [units[e]["state"] for e in envs] == ["current", "current", "current", "succeeded"]
    assert all(units[e]["run_id"] is None and units[e]["changes"] == [] for e in same)
    assert units[other[0]]["changes"] == [{"field": "image_url", "current": f"{SEEDED}:v0",
                                           "wanted": f"{SEEDED}:v1"}]
    assert (res.outputs["current"], res.outputs["succeeded"]) == ("3", "1")

    (tmp_path / "again").mkdir()
    again = fleet.run(tmp_path / "again", inputs)
    assert again.returncode == 0, again.log
    assert len(fleet.state.rollouts) == 1, "a second run after success sends no roll-update"
    assert (again.outputs["current"], again.outputs["succeeded"]) == ("4", "0")
    assert {u["state"] for u in units_of(again).values()} == {"current"}


def test_skip_current_rolls_a_unit_with_the_image_that_is_not_normal(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(2)
    fleet.state.show(envs[1], "api", "api-001", "build_fail", 2)  # the list and the detail of its first read
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, image=SEEDED, image_tag="v1", skip_current="true",
                                           wait="true"))
    assert res.returncode == 0, res.log
    assert [r["body"]["env_id"] for r in fleet.state.rollouts] == [envs[1]]
    units = units_of(res)
    assert (units[envs[0]]["state"], units[envs[1]]["state"]) == ("current", "succeeded")


def test_without_skip_current_every_unit_is_rolled(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(3)
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, image=SEEDED, image_tag="v1", wait="true"))
    assert res.returncode == 0, res.log
    assert len(fleet.state.rollouts) == 3 and res.outputs["current"] == "0"


# -- 5. the minute quota ---------------------------------------------------------------------------------------


def test_the_minute_quota_pauses_every_unit_once_and_the_refused_roll_updates_are_sent_again(
        fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(6)
    fleet.state.set_quota(minute_after=3, minute_seconds=60)
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, max_parallel="6"))
    assert res.returncode == 0, res.log
    assert res.outputs["succeeded"] == "6"
    assert res.log.count("minute quota") == 1, res.log
    refused = fleet.of(API_PATH, 45011)
    assert refused and {c.env_id for c in refused} <= set(envs)
    assert len(fleet.of(API_PATH)) == 6, "three passed, the refused ones passed when sent again"
    assert sorted(r["body"]["env_id"] for r in fleet.state.rollouts) == sorted(envs), "each unit rolled once"
    for c in refused:  # every refused unit was sent again, a pause later
        resent = [s for s in fleet.of(API_PATH) if s.env_id == c.env_id]
        assert len(resent) == 1 and resent[0].at >= c.at + 60
    assert 60 <= sum(fleet.clock.sleeps) < 70, fleet.clock.sleeps


def test_the_minute_quota_while_waiting_does_not_fail_the_units(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(4)
    fleet.state.set_quota(minute_after=14, minute_seconds=60)
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, wait="true", max_parallel="4"))
    assert fleet.of(API_PATH, None) and fleet.state.quota.refused_minute > 0, "the quota was reached"
    assert res.returncode == 0, res.log
    assert res.outputs["succeeded"] == "4"


def test_the_minute_quota_on_the_read_before_a_rollout_is_read_again_after_the_pause(
        fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(4)
    fleet.state.set_quota(minute_after=2, minute_seconds=60)  # two reads pass, the other two are refused
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, wait="true", max_parallel="4", max_attempts="1"))
    refused_reads = [c for c in fleet.of(VERSION_DETAIL_PATH, 45011)]
    assert refused_reads, "a read before a rollout was refused"
    assert res.returncode == 0, res.log
    assert res.outputs["succeeded"] == "4" and res.outputs["failed"] == "0"


# -- 6. the daily quota ----------------------------------------------------------------------------------------


def test_the_daily_quota_stops_the_fleet_and_keeps_every_run_id(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(5)
    fleet.state.settle_seconds = 1000  # the started units are still deploying when the quota is spent
    # Two units in progress: 2 reads each, 2 roll-updates, then 2 polls, then 45009.
    fleet.state.set_quota(daily_after=8)
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, wait="true", max_parallel="2"))
    assert res.returncode == 1, res.log
    daily = [i for i, c in enumerate(fleet.calls) if c.errcode == 45009]
    assert daily
    assert not [c for c in fleet.calls[daily[0]:] if c.path == API_PATH], "no roll-update after the 45009"
    assert len(daily) <= 2, "only the calls in flight: no unit starts after it"
    document = results_of(res)
    assert document["stopped"] == "daily_quota" and document["complete"] is True
    units = {u["env_id"]: u for u in document["units"]}
    rolled = {r["body"]["env_id"]: r["run_id"] for r in fleet.state.rollouts}
    assert set(rolled) == set(envs[:2])
    for env_id in envs[:2]:
        assert units[env_id]["state"] == "started"
        assert units[env_id]["run_id"] == rolled[env_id]
        assert "cannot be watched" in units[env_id]["error"]["reason"]
    for env_id in envs[2:]:
        assert units[env_id]["state"] == "skipped" and units[env_id]["run_id"] is None
    assert any("daily quota" in line for line in res.annotations("error"))


# -- 7. the bake ---------------------------------------------------------------------------------------------------


def test_the_next_wave_starts_a_bake_after_the_wave_is_healthy(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(3)
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, waves="1, 100%", bake_seconds="300", promote="true"))
    assert res.returncode == 0, res.log
    released = next(c for c in fleet.of(RELEASE_PATH) if c.env_id == envs[0])
    second = min(c.at for c in fleet.of(API_PATH) if c.env_id in envs[1:])
    assert 300 <= second - released.at < 305
    bake_reads = [c for c in fleet.calls if c.env_id == envs[0] and c.at > released.at
                  and c.path in (VERSION_LIST_PATH, VERSION_DETAIL_PATH)]
    assert bake_reads and min(c.at for c in bake_reads) >= released.at + 300, "read again after the bake"
    assert any(s >= 299 for s in fleet.clock.sleeps), fleet.clock.sleeps


def test_the_bake_is_said_in_the_log(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(2)
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, waves="1, 100%", bake_seconds="300"))
    assert res.returncode == 0, res.log
    assert "baking 300 s" in "\n".join(text_lines(res))


def test_a_unit_that_turns_unhealthy_during_the_bake_fails(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(3)

    def sicken(seen: Seen) -> None:  # once the canary is released, its reads say build_fail
        if seen.path == RELEASE_PATH and seen.env_id == envs[0]:
            fleet.state.show(envs[0], "api", "api-001", "build_fail", None)

    fleet.after.append(sicken)
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, waves="1, 100%", bake_seconds="60", promote="true"))
    assert res.returncode == 1, res.log
    units = units_of(res)
    assert units[envs[0]]["state"] == "failed" and units[envs[0]]["promoted"] is True
    assert "bake" in units[envs[0]]["error"]["reason"]
    assert {units[e]["state"] for e in envs[1:]} == {"skipped"}
    assert len(fleet.state.rollouts) == 1
    assert any(envs[0] in line for line in res.annotations("warning"))


# -- 8. the results file ---------------------------------------------------------------------------------------


def test_the_results_file_is_valid_complete_holds_no_token_and_report_agrees(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(6)
    fleet.state.fail_units([(envs[4], "api")])
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, waves="1, 100%", max_failures="1",
                                           results_file="results/fleet.json"))
    assert res.returncode == 0, res.log
    path = Path(res.outputs["results_file"])
    assert path == tmp_path / "workspace" / "results" / "fleet.json"
    document = merge.read_results(path)
    assert document["complete"] is True and document["stopped"] is None
    assert TOKEN not in path.read_text(encoding="utf-8")
    assert document["totals"] == {"units": 6, "succeeded": 5, "current": 0, "failed": 1, "skipped": 0,
                                  "started": 0, "planned": 0}
    assert [p.name for p in path.parent.iterdir()] == ["fleet.json"], "no temporary file left beside it"

    report = run_inprocess(tmp_path, {"command": "report", "results_files": "results/*.json"},
                           env={"GITHUB_OUTPUT": str(tmp_path / "report-output")})
    assert report.returncode == 0, report.log
    assert {k: report.outputs[k] for k in ("succeeded", "current", "failed", "skipped")} == {
        k: res.outputs[k] for k in ("succeeded", "current", "failed", "skipped")}
    merged = merge.read_results(Path(report.outputs["results_file"]))
    assert merged["totals"] == document["totals"]


# -- 9. outputs --------------------------------------------------------------------------------------------------


def test_a_targets_fleet_writes_counts_and_results_but_no_run_id_outputs(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(4)
    fleet.state.fail_units([(envs[3], "api")])
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, wait="true", max_failures="1"))
    assert res.returncode == 0, res.log
    outputs = res.outputs
    assert not [name for name in outputs if name.startswith("run_id")]
    assert {k: outputs[k] for k in ("succeeded", "current", "failed", "skipped")} == {
        "succeeded": "3", "current": "0", "failed": "1", "skipped": "0"}
    records = json.loads(outputs["results"])
    assert [r["env_id"] for r in records] == envs
    assert [r["state"] for r in records] == ["succeeded"] * 3 + ["failed"]
    assert TOKEN not in res.output_file + res.summary


def test_results_output_is_left_out_above_256_units(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(300)
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, wait="false"))
    assert res.returncode == 0, res.log
    assert "results" not in res.outputs
    assert res.outputs["succeeded"] == "300" and len(fleet.state.rollouts) == 300
    assert len(results_of(res)["units"]) == 300


def test_results_output_holds_exactly_256_units(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(256)
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, wait="false"))
    assert res.returncode == 0, res.log
    assert len(json.loads(res.outputs["results"])) == 256


# -- 10. services as a fleet -------------------------------------------------------------------------------------


def test_services_with_waves_run_as_a_fleet_and_write_run_id_outputs(fleet: Fleet, tmp_path: Path) -> None:
    services = json.dumps([{"server_name": "api"}, {"server_name": "worker"}, {"server_name": "web"}])
    res = fleet.run(tmp_path, good_inputs(fleet.url, services=services, waves="1, 100%",
                                          wait_interval_seconds="1"))
    assert res.returncode == 0, res.log
    document = results_of(res)
    assert document["waves"] == [1, 2]
    assert [u["wave"] for u in document["units"]] == [1, 2, 2]
    received = {r["body"]["server_name"]: r["run_id"] for r in fleet.state.rollouts}
    assert set(received) == {"api", "worker", "web"}
    for name, run_id in received.items():
        assert res.outputs[f"run_id_{name}"] == run_id
    rolled = {c.env_id: c.at for c in fleet.of(API_PATH)}
    assert len(rolled) == 1, "one environment"
    order = [c for c in fleet.calls if c.path == API_PATH]
    assert order[0].at < order[1].at, "the canary settled before wave 2 (waves imply wait)"
    assert "wave 2/2" in res.stdout


# -- 11. a scripted server, not only the emulator ---------------------------------------------------------------


def test_a_fleet_without_wait_sends_one_roll_update_per_unit_to_a_scripted_server(
        scripted: Callable[..., ScriptedServer], tmp_path: Path) -> None:
    server = scripted(ok("Run-1"), ok("Run-2"), ok("Run-3"))
    envs = ["prod-a1", "prod-b2", "prod-c3"]
    res = run_inprocess(tmp_path, fleet_inputs(server.url, envs))
    assert res.returncode == 0, res.log
    assert len(server.received) == 3
    assert {r.path for r in server.received} == {API_PATH}
    assert sorted(r.json()["env_id"] for r in server.received) == sorted(envs)
    assert all(r.query["access_token"] == [TOKEN] for r in server.received)
    records = json.loads(res.outputs["results"])
    assert sorted(r["run_id"] for r in records) == ["Run-1", "Run-2", "Run-3"]
    assert res.outputs["succeeded"] == "3"


# -- 12. the log stays small -------------------------------------------------------------------------------------


def test_a_200_unit_fleet_logs_lines_per_wave_not_per_poll(fleet: Fleet, tmp_path: Path) -> None:
    envs = fleet.seed(200)
    fleet.state.settle_seconds = 8  # several polls each
    res = fleet.run(tmp_path, fleet_inputs(fleet.url, envs, waves="1, 10%, 100%", max_parallel="200"))
    assert res.returncode == 0, res.log
    assert res.outputs["succeeded"] == "200"
    polls = len(fleet.of(VERSION_DETAIL_PATH))
    assert polls > 200 * 5, "each unit was polled many times"
    lines = text_lines(res)
    assert len(lines) < 50, "\n".join(lines)
    assert sum(line.startswith("wave ") for line in lines) >= 6, "a start and an end line per wave"
