"""front/fleet_step.py: what a fleet step says and how it is judged, without a server."""

from __future__ import annotations

from pathlib import Path

from cloudbase_rollout.errors import ApiError
from cloudbase_rollout.front import fleet_step
from cloudbase_rollout.inputs import plan
from cloudbase_rollout.run import core, fleet
from cloudbase_rollout.vocabulary.fields import Change
from tests.conftest import good_inputs

URL = "http://127.0.0.1:9"


def _plan(**extra: str) -> plan.Plan:
    inputs = good_inputs(URL, targets="env-a\nenv-b\nenv-c", **extra)
    inputs.pop("env_id")
    return plan.prepare_plan(inputs, {}, Path("."))


def _ran(the_plan: plan.Plan, outcome: fleet.Outcome) -> fleet_step.Ran:
    return fleet_step.Ran(the_plan, [core.Result(t) for t in the_plan.targets], outcome, None)


def test_the_exit_code_is_1_only_when_the_budget_or_the_daily_quota_stopped_the_fleet() -> None:
    the_plan = _plan()
    assert _ran(the_plan, fleet.Outcome(failures=1, allowed=1)).exit_code == 0
    assert _ran(the_plan, fleet.Outcome(stopped="budget", failures=2, allowed=1)).exit_code == 1
    assert _ran(the_plan, fleet.Outcome(stopped="daily_quota")).exit_code == 1


def test_a_plan_with_an_unreadable_unit_exits_1() -> None:
    the_plan = _plan(command="plan")
    assert _ran(the_plan, fleet.Outcome()).exit_code == 0
    assert _ran(the_plan, fleet.Outcome(failures=1, allowed=5)).exit_code == 1


def test_plan_lines_say_current_would_roll_and_what_differs() -> None:
    ran = _ran(_plan(command="plan"), fleet.Outcome())
    same, differs, unread = ran.results
    same.status, same.changes = "normal", []
    differs.status, differs.changes = "normal", [Change("image_url", "r/a:v1", "r/a:v2")]
    unread.state, unread.error = "failed", ApiError(40097, "invalid args", "")
    lines = fleet_step.plan_lines(ran)
    assert lines[0] == "env-a/api: current"
    assert lines[1] == "env-b/api: would roll: image_url: r/a:v1 -> r/a:v2"
    assert lines[2].startswith("env-c/api: cannot be read: ") and "40097" in lines[2]


def test_a_version_not_normal_is_never_current_in_a_plan() -> None:
    ran = _ran(_plan(command="plan"), fleet.Outcome())
    ran.results[0].status, ran.results[0].changes = "deploying", []
    assert fleet_step.plan_lines(ran)[0] == "env-a/api: would roll (status deploying)"


def test_the_cancel_detail_counts_started_and_unstarted_and_names_the_file() -> None:
    the_plan = _plan()
    results = [core.Result(t) for t in the_plan.targets]
    results[0].run_id, results[0].promoted = "run-1", True
    results[1].run_id = "run-2"
    results[2].state = "skipped"
    text = fleet_step.cancelled_detail(results, Path("/tmp/r.json"))
    assert "1 unit(s) were started and not promoted; 1 never started" in text and "/tmp/r.json" in text


def test_would_discover_names_the_endpoint_and_calls_nothing() -> None:
    inputs = good_inputs(URL, discover="envs", env_alias="shop-*")
    inputs.pop("env_id")
    the_plan = plan.prepare_plan(inputs, {}, Path("."))
    assert the_plan.fleet is not None and the_plan.fleet.pending_discovery and the_plan.targets == []
    text = fleet_step.would_discover(the_plan)
    assert "describecloudbaserunenvs" in text and "'shop-*'" in text and "nothing was called" in text


def test_a_shard_says_which_part_of_the_fleet_it_holds(tmp_path: Path) -> None:
    from cloudbase_rollout.emulator import Emulator, State
    from tests.conftest import TOKEN
    from tests.runner import run_inprocess

    state = State(TOKEN)
    env_ids = state.seed_fleet(20, services=("api",))
    server = Emulator(state).start()
    try:
        inputs = good_inputs(server.url, targets="\n".join(env_ids), shard="2/4")
        inputs.pop("env_id")
        result = run_inprocess(tmp_path, inputs)
    finally:
        server.shutdown()
        server.server_close()
    held = int(result.outputs["succeeded"])
    assert result.returncode == 0 and 0 < held < 20
    assert f"shard 2/4: {held} of the fleet's 20 unit(s)" in result.log
    assert len(state.rollouts) == held


def test_env_id_with_targets_is_refused_rather_than_ignored() -> None:
    import pytest

    from cloudbase_rollout.errors import InvalidInput

    with pytest.raises(InvalidInput) as raised:
        plan.prepare_plan(good_inputs(URL, targets="env-a"), {}, Path("."))
    assert [p.input for p in raised.value.problems] == ["env_id"]
    assert "is not used with targets or targets_file" in str(raised.value.problems[0])
