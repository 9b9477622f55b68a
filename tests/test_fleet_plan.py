"""prepare_plan in fleet mode: targets, targets_file, services crossed, waves, the problems; the dry run,
command plan against the emulator, and the CLI's `plan` and fleet rollout."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudbase_rollout.emulator import Emulator, State
from cloudbase_rollout.errors import InvalidInput
from cloudbase_rollout.front import cli, merge
from cloudbase_rollout.inputs.plan import Plan, prepare_plan
from tests.conftest import TOKEN, good_inputs
from tests.runner import FakeClock, run_inprocess

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a call would fail the step
SEEDED = "ccr.ccs.tencentyun.com/demo/{service}"


def fleet_inputs(url: str = NOWHERE, **extra: str) -> dict[str, str]:
    inputs = good_inputs(url, **extra)
    inputs.pop("env_id")
    return inputs


def plan_of(tmp_path: Path, **extra: str) -> Plan:
    return prepare_plan(fleet_inputs(**extra), {}, tmp_path)


def problems_of(tmp_path: Path, **extra: str) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        plan_of(tmp_path, **extra)
    return [str(p) for p in caught.value.problems]


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def shared(clock: FakeClock) -> Iterator[Emulator]:
    server = Emulator(State(TOKEN, clock=clock)).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def emu(shared: Emulator) -> Emulator:
    shared.state.reset()
    return shared


# --- the fleet's sources ---------------------------------------------------------------------------------------


def test_targets_lines_each_a_unit_with_its_address(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, targets="prod-a\n# a comment\n\nprod-b/web  # the web one\n")
    assert plan.fleet is not None and plan.fleet.explicit
    assert [t.id for t in plan.targets] == ["prod-a/api", "prod-b/web"]
    assert [(t.body or {})["env_id"] for t in plan.targets] == ["prod-a", "prod-b"]
    assert [(t.body or {})["server_name"] for t in plan.targets] == ["api", "web"]
    assert plan.fleet.whole == 2 and plan.batch


def test_targets_json_with_overrides(tmp_path: Path) -> None:
    targets = json.dumps([{"env_id": "prod-a"}, {"env_id": "prod-b", "server_name": "web", "image_tag": "v9",
                                                  "cpu": 2, "mem": 4}])
    plan = plan_of(tmp_path, targets=targets)
    first, second = (t.body or {} for t in plan.targets)
    assert first["image_info"]["image_url"].endswith(":v1")
    assert (second["env_id"], second["server_name"]) == ("prod-b", "web")
    assert second["image_info"]["image_url"].endswith(":v9")
    assert (str(second["cpu"]), str(second["mem"])) == ("2", "4")
    assert "cpu" not in first


@pytest.mark.parametrize("name, text", [
    ("fleet.json", json.dumps([{"env_id": "prod-a"}, {"env_id": "prod-b", "image_tag": "v7"}])),
    ("fleet.txt", "prod-a\nprod-b\n"),
])
def test_targets_file_in_the_workspace(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / "fleets").mkdir()
    (tmp_path / "fleets" / name).write_text(text, encoding="utf-8")
    plan = plan_of(tmp_path, targets_file=f"fleets/{name}")
    assert [t.id for t in plan.targets] == ["prod-a/api", "prod-b/api"]
    tag = "v7" if name.endswith(".json") else "v1"
    assert (plan.targets[1].body or {})["image_info"]["image_url"].endswith(f":{tag}")


def test_targets_file_outside_the_workspace_is_refused(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (tmp_path / "fleet.txt").write_text("prod-a\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        prepare_plan(fleet_inputs(targets_file="../fleet.txt"), {}, workspace)
    assert any(p.input == "targets_file" for p in caught.value.problems), caught.value.problems


def test_targets_and_targets_file_together_refused(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("prod-a\n", encoding="utf-8")
    found = problems_of(tmp_path, targets="prod-b", targets_file="f.txt")
    assert any(p.startswith("targets_file:") for p in found), found


def test_targets_crossed_with_services(tmp_path: Path) -> None:
    services = json.dumps([{"server_name": "api", "image_tag": "v2"},
                           {"server_name": "web", "image": "ccr.ccs.tencentyun.com/ns/web", "cpu": 1, "mem": 2}])
    targets = json.dumps([{"env_id": "prod-a"}, {"env_id": "prod-b", "image_tag": "v3"},
                          {"env_id": "prod-c", "server_name": "web"}])
    plan = plan_of(tmp_path, targets=targets, services=services)
    assert [t.id for t in plan.targets] == ["prod-a/api", "prod-a/web", "prod-b/api", "prod-b/web", "prod-c/web"]
    bodies = {t.id: t.body or {} for t in plan.targets}
    for name, body in bodies.items():
        assert f"{body['env_id']}/{body['server_name']}" == name
    url = {name: body["image_info"]["image_url"] for name, body in bodies.items()}
    assert url["prod-a/api"] == "ccr.ccs.tencentyun.com/ns/shop-api:v2"  # the service's override
    assert url["prod-a/web"] == "ccr.ccs.tencentyun.com/ns/web:v1"
    assert url["prod-b/api"] == "ccr.ccs.tencentyun.com/ns/shop-api:v3"  # the target's over the service's
    assert url["prod-b/web"] == "ccr.ccs.tencentyun.com/ns/web:v3"
    assert (str(bodies["prod-a/web"]["cpu"]), str(bodies["prod-c/web"]["mem"])) == ("1", "2")
    assert "cpu" not in bodies["prod-a/api"]
    assert plan.fleet is not None and plan.fleet.whole == 5


def test_a_target_naming_a_service_that_services_lack_is_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path, targets="prod-a/db", services=json.dumps([{"server_name": "api"}]))
    assert any("targets line 1 server_name" in p and "'db'" in p for p in found), found


def test_duplicate_units_ignoring_case_name_both(tmp_path: Path) -> None:
    found = problems_of(tmp_path, targets="prod-a/api\nprod-b\nPROD-A/Api\n")
    assert len(found) == 1, found
    assert "targets line 3" in found[0] and "targets line 1" in found[0], found
    assert "ignoring case" in found[0]


def test_waves_cut_ten_units(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, targets="\n".join(f"prod-{i}" for i in range(10)), waves="1, 30%, 100%")
    assert plan.fleet is not None and plan.fleet.waves == [1, 2, 7]
    assert all(t.wait for t in plan.targets), "more than one wave implies wait"


def test_one_wave_does_not_imply_wait(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, targets="prod-a\nprod-b", waves="100%")
    assert plan.fleet is not None and plan.fleet.waves == [2]
    assert not any(t.wait for t in plan.targets)


def test_bad_fleet_inputs_are_all_named_at_once(tmp_path: Path) -> None:
    found = problems_of(tmp_path, targets="prod-a", waves="0, 200%", max_parallel="many", max_failures="lots",
                        shard="9/8")
    named = {p.split(":", 1)[0] for p in found}
    assert {"waves", "max_parallel", "max_failures", "shard"} <= named, found
    waves = next(p for p in found if p.startswith("waves:"))
    assert "'0'" in waves and "'200%'" in waves


@pytest.mark.parametrize("command", ["release", "status"])
def test_targets_with_a_read_command_is_refused(tmp_path: Path, command: str) -> None:
    found = problems_of(tmp_path, targets="prod-a", command=command)
    assert any(p.startswith("targets: is used with") and "rollout" in p and "plan" in p for p in found), found


def test_fleet_inputs_without_a_fleet_are_unused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        prepare_plan(good_inputs(NOWHERE, results_files="a/*.json"), {}, tmp_path)
    assert [p.input for p in caught.value.problems] == ["results_files"]


# --- the dry run ---------------------------------------------------------------------------------------------


def test_dry_run_lists_waves_and_units_and_calls_nothing(tmp_path: Path) -> None:
    units = [f"prod-{i:02d}" for i in range(10)]
    done = run_inprocess(tmp_path, fleet_inputs(targets="\n".join(units), waves="1, 30%, 100%", dry_run="true"))
    assert done.returncode == 0, done.log
    for number, size in enumerate([1, 2, 7], 1):
        assert f"wave {number}/3: {size} unit(s)" in done.log
    lines = done.log.splitlines()
    for unit in units:
        assert f"  {unit}/api" in lines
    assert "nothing was called" in done.log
    assert "127.0.0.1:9" not in done.log.replace('"api_base_url"', "")  # no connection error


def test_dry_run_of_ten_thousand_units(tmp_path: Path) -> None:
    units = [f"prod-{i:05d}" for i in range(10_000)]
    done = run_inprocess(tmp_path, fleet_inputs(targets="\n".join(units), waves="1, 1%, 10%, 50%", dry_run="true"))
    assert done.returncode == 0, done.log[-2000:]
    for number, size in enumerate([1, 99, 900, 4000, 5000], 1):
        assert f"wave {number}/5: {size} unit(s)" in done.log
    listed = {line.strip() for line in done.log.splitlines() if line.startswith("  prod-")}
    assert listed == {f"{unit}/api" for unit in units}


# --- command plan against the emulator -----------------------------------------------------------------------


def test_command_plan_reads_and_rolls_nothing(tmp_path: Path, emu: Emulator, clock: FakeClock) -> None:
    env_ids = emu.state.seed_fleet(3, services=("api",))
    # the first two would get v2; the third is given v1, the image it already serves
    targets = json.dumps([{"env_id": env_ids[0]}, {"env_id": env_ids[1]},
                          {"env_id": env_ids[2], "image_tag": "v1"}])
    done = run_inprocess(tmp_path, fleet_inputs(emu.url, command="plan", targets=targets,
                                                 image=SEEDED.format(service="api"), image_tag="v2"),
                         clock=clock, sleep=clock.sleep)
    assert done.returncode == 0, done.log
    assert emu.state.rollouts == [] and emu.state.releases == []
    old, new = SEEDED.format(service="api") + ":v1", SEEDED.format(service="api") + ":v2"
    for env_id in env_ids[:2]:
        assert f"{env_id}/api: would roll: image_url: {old} -> {new}" in done.log
    assert f"{env_ids[2]}/api: current" in done.log.splitlines()
    path = Path(done.outputs["results_file"])
    document = merge.read_results(path)
    assert document["command"] == "plan"
    assert [u["state"] for u in document["units"]] == ["planned"] * 3
    assert document["totals"]["planned"] == 3 and document["complete"] is True


# --- the CLI ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def kept_signals() -> Iterator[None]:
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def run_cli(args: list[str], clock: FakeClock, **env: str) -> int:
    with kept_signals():
        return cli.main(args, env={"COMPONENT_ACCESS_TOKEN": TOKEN, "CLOUDBASE_ROLLOUT_BACKOFF_BASE": "0.01", **env},
                        clock=clock, sleep=clock.sleep)


def cli_flags(url: str, targets: str, image_tag: str) -> list[str]:
    return ["--targets", targets, "--server-name", "api", "--image", SEEDED.format(service="api"),
            "--image-tag", image_tag, "--flow-ratio", "100", "--container-port", "80", "--api-base-url", url]


def test_cli_plan(tmp_path: Path, emu: Emulator, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    env_ids = emu.state.seed_fleet(2, services=("api",))
    code = run_cli(["plan", *cli_flags(emu.url, "\n".join(env_ids), "v2")], clock)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert emu.state.rollouts == []
    lines = out.splitlines()
    assert len(lines) == 2, out
    for env_id, line in zip(env_ids, lines, strict=True):
        assert line.startswith(f"{env_id}/api: would roll: image_url: ")
        assert line.endswith(":v1 -> " + SEEDED.format(service="api") + ":v2")
    assert TOKEN not in out + err
    assert not list(tmp_path.glob("*.json")), "the CLI writes a results file only when asked"


def test_cli_plan_json(tmp_path: Path, emu: Emulator, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    env_ids = emu.state.seed_fleet(2, services=("api",))
    code = run_cli(["plan", "--json", *cli_flags(emu.url, "\n".join(env_ids), "v1")], clock)
    out, err = capsys.readouterr()
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    assert document["command"] == "plan"
    assert [u["id"] for u in document["units"]] == [f"{e}/api" for e in env_ids]
    assert emu.state.rollouts == []


def test_cli_plan_invalid_fleet_input(tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code = run_cli(["plan", *cli_flags(NOWHERE, "prod-a", "v1"), "--waves", "0"], clock)
    _out, err = capsys.readouterr()
    assert code == 2
    assert "--waves" in err and "no request was sent" in err


def test_cli_fleet_rollout_writes_the_results_file(tmp_path: Path, emu: Emulator, clock: FakeClock,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    env_ids = emu.state.seed_fleet(3, services=("api",))
    code = run_cli([*cli_flags(emu.url, "\n".join(env_ids), "v2"), "--results-file", "out/results.json"], clock)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "succeeded=3" in out
    assert sorted(r["body"]["env_id"] for r in emu.state.rollouts) == sorted(env_ids)
    document = merge.read_results(tmp_path / "out" / "results.json")
    assert document["command"] == "rollout" and document["complete"] is True
    assert [u["state"] for u in document["units"]] == ["succeeded"] * 3
    run_ids = {r["run_id"] for r in emu.state.rollouts}
    assert {u["run_id"] for u in document["units"]} == run_ids
    assert document["fleet"]["units"] == 3 and document["shard"] == {"index": 1, "count": 1}
