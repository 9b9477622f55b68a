"""Discovery (envs against the emulator, appids against a scripted server), its failures, and shards:
disjoint and covering, recorded in each results file, merged back by command report."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from cloudbase_rollout import API_PATH, BATCH_ENV_ID_PATH, CLOUDRUN_ENVS_PATH
from cloudbase_rollout.emulator import Emulator, State
from cloudbase_rollout.front import merge
from cloudbase_rollout.inputs import shard
from cloudbase_rollout.inputs.plan import prepare_plan
from tests.conftest import TOKEN, good_inputs
from tests.loopback import Received, Reply, RoutedServer, err, ok
from tests.runner import FakeClock, StepResult, run_inprocess

NOWHERE = "http://127.0.0.1:9"


def fleet_inputs(url: str, **extra: str) -> dict[str, str]:
    inputs = good_inputs(url, **extra)
    inputs.pop("env_id")
    return inputs


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


@pytest.fixture
def routed() -> Iterator[list[RoutedServer]]:
    servers: list[RoutedServer] = []
    yield servers
    for server in servers:
        server.close()


def step(tmp: Path, inputs: dict[str, str], clock: FakeClock) -> StepResult:
    tmp.mkdir(parents=True, exist_ok=True)
    return run_inprocess(tmp, inputs, clock=clock, sleep=clock.sleep)


def rolled(emu: Emulator) -> list[str]:
    return [f"{r['body']['env_id']}/{r['body']['server_name']}" for r in emu.state.rollouts]


# --- discover envs -------------------------------------------------------------------------------------------


def test_discover_envs_skips_unavailable(tmp_path: Path, emu: Emulator, clock: FakeClock) -> None:
    env_ids = emu.state.seed_fleet(6, services=("api",), unavailable=2, seed=5)
    down = set(emu.state.fleet.view()["unavailable"])
    assert len(down) == 2
    done = step(tmp_path, fleet_inputs(emu.url, discover="envs"), clock)
    assert done.returncode == 0, done.log
    assert sorted(rolled(emu)) == sorted(f"{e}/api" for e in env_ids if e not in down)
    for env_id in down:
        assert f"skipped environment {env_id}: status UNAVAILABLE" in done.log
    assert "6 Cloud Run environment(s) listed" in done.log and "4 in the fleet, 2 skipped" in done.log
    assert done.outputs["failed"] == "0" and done.outputs["succeeded"] == "4"
    assert "run_id_" not in " ".join(done.outputs), "a discovered fleet has no run_id_<id> outputs"


def test_discover_envs_by_alias_glob(tmp_path: Path, emu: Emulator, clock: FakeClock) -> None:
    shops = emu.state.seed_fleet(3, services=("api",), alias="shop")
    emu.state.seed_fleet(2, services=("api",), alias="blog")
    done = step(tmp_path, fleet_inputs(emu.url, discover="envs", env_alias="shop-*"), clock)
    assert done.returncode == 0, done.log
    assert sorted(rolled(emu)) == sorted(f"{e}/api" for e in shops)
    assert "5 Cloud Run environment(s) listed, 3 with an alias matching 'shop-*'" in done.log


def test_dry_run_with_discover_calls_nothing(tmp_path: Path, emu: Emulator, clock: FakeClock) -> None:
    emu.state.seed_fleet(2, services=("api",))
    calls = emu.state.calls
    done = step(tmp_path, fleet_inputs(emu.url, discover="envs", env_alias="shop-*", dry_run="true"), clock)
    assert done.returncode == 0, done.log
    assert "would discover the Cloud Run environments (describecloudbaserunenvs), those whose alias matches " \
           "'shop-*'; nothing was called" in done.log
    assert emu.state.calls == calls and emu.state.rollouts == []


def test_dry_run_with_discover_appids_calls_nothing(tmp_path: Path, clock: FakeClock) -> None:
    done = step(tmp_path, fleet_inputs(NOWHERE, discover="appids", appids="wxa, wxb\nwxc", dry_run="true"), clock)
    assert done.returncode == 0, done.log
    assert "would discover the environments of 3 appid(s) (batchgetenvid); nothing was called" in done.log


@pytest.mark.parametrize("extra", [{"targets": "prod-a"}, {"env_id": "prod-a"}])
def test_discover_with_explicit_targets_is_invalid(tmp_path: Path, extra: dict[str, str], clock: FakeClock) -> None:
    done = step(tmp_path, {**fleet_inputs(NOWHERE, discover="envs"), **extra}, clock)
    assert done.returncode == 2, done.log
    assert f"discover: cannot be used together with {next(iter(extra))}" in done.log


# --- discover appids ----------------------------------------------------------------------------------------


APPIDS = [f"wx{i:016x}" for i in range(250)]
UNANSWERED = {APPIDS[3], APPIDS[150], APPIDS[249]}


def env_of(appid: str) -> str:
    return f"env-{int(appid[2:], 16) % 5}"


def route_appids(received: Received) -> Reply:
    if received.path == BATCH_ENV_ID_PATH:
        asked = received.json()["appids"]
        return Reply(body={"errcode": 0, "errmsg": "ok",
                           "relation_data": [{"appid": a, "env_list": [env_of(a)]} for a in asked
                                             if a not in UNANSWERED],
                           "err_list": [{"appid": a, "errmsg": "invalid appid"} for a in asked if a in UNANSWERED]})
    if received.path == API_PATH:
        return ok(f"run{received.json()['env_id'][-1]}xxxxxxxxx")
    return err(-1, f"unexpected {received.path}")


def test_discover_appids_in_chunks_of_100(tmp_path: Path, routed: list[RoutedServer], clock: FakeClock) -> None:
    server = RoutedServer(route_appids)
    routed.append(server)
    done = step(tmp_path, fleet_inputs(server.url, discover="appids", appids="\n".join(APPIDS)), clock)
    assert done.returncode == 0, done.log
    asks = [r.json() for r in server.received if r.path == BATCH_ENV_ID_PATH]
    assert [a["appids"] for a in asks] == [APPIDS[:100], APPIDS[100:200], APPIDS[200:]]
    assert all(a["source_type"] == 1 for a in asks)
    rolls = sorted(r.json()["env_id"] for r in server.received if r.path == API_PATH)
    assert rolls == [f"env-{i}" for i in range(5)], "each environment once, however many appids share it"
    for appid in UNANSWERED:
        assert f"skipped appid {appid}: batchgetenvid could not answer it: invalid appid" in done.log
    assert done.outputs["failed"] == "0" and done.outputs["succeeded"] == "5"
    order = [r.path for r in server.received]
    assert order.index(API_PATH) > max(i for i, p in enumerate(order) if p == BATCH_ENV_ID_PATH)


@pytest.mark.parametrize("errcode", [40014, 45009])
@pytest.mark.parametrize("kind, path", [("envs", CLOUDRUN_ENVS_PATH), ("appids", BATCH_ENV_ID_PATH)])
def test_a_failing_discovery_fails_before_any_rollout(tmp_path: Path, routed: list[RoutedServer], clock: FakeClock,
                                                     errcode: int, kind: str, path: str) -> None:
    def route(received: Received) -> Reply:
        if received.path == BATCH_ENV_ID_PATH and received.json()["appids"][0] != APPIDS[0]:
            return err(errcode, "refused")  # the second chunk: the first chunk's finds must not be rolled
        if received.path == path:
            return err(errcode, "refused") if kind == "envs" else route_appids(received)
        return ok()

    server = RoutedServer(route)
    routed.append(server)
    extra = {"discover": "envs"} if kind == "envs" else {"discover": "appids", "appids": ",".join(APPIDS[:150])}
    done = step(tmp_path, fleet_inputs(server.url, **extra), clock)
    assert done.returncode == 1, done.log
    assert f"errcode {errcode}" in done.log
    assert [r.path for r in server.received if r.path == API_PATH] == []


# --- shards -----------------------------------------------------------------------------------------------------


class Piece(NamedTuple):
    document: dict[str, Any]
    path: Path


def test_shards_of_a_discovered_fleet_cover_it_and_report_merges(tmp_path: Path, emu: Emulator,
                                                                 clock: FakeClock) -> None:
    env_ids = emu.state.seed_fleet(40, services=("api", "web"), unavailable=3, seed=11)
    down = set(emu.state.fleet.view()["unavailable"])
    fleet = {f"{e}/{s}" for e in env_ids if e not in down for s in ("api", "web")}
    services = json.dumps([{"server_name": "api"}, {"server_name": "web"}])
    pieces: list[Piece] = []
    for index in range(1, 9):
        done = step(tmp_path / f"job{index}", fleet_inputs(emu.url, discover="envs", services=services,
                                                           shard=f"{index}/8", max_failures="0"), clock)
        assert done.returncode == 0, done.log
        path = Path(done.outputs["results_file"])
        pieces.append(Piece(merge.read_results(path), path))
    units = [{u["id"] for u in piece.document["units"]} for piece in pieces]
    assert sum(len(u) for u in units) == len(fleet) == len(set().union(*units)), "disjoint"
    assert set().union(*units) == fleet, "covering"
    assert sorted(rolled(emu)) == sorted(fleet), "each unit rolled once, by its shard"
    assert [p.document["shard"] for p in pieces] == [{"index": i, "count": 8} for i in range(1, 9)]
    assert len({p.document["fleet"]["fingerprint"] for p in pieces}) == 1
    assert {p.document["fleet"]["units"] for p in pieces} == {len(fleet)}
    # the report job: the eight files copied into its workspace
    report = tmp_path / "report"
    (report / "workspace" / "results").mkdir(parents=True)
    for index, piece in enumerate(pieces, 1):
        shutil.copy(piece.path, report / "workspace" / "results" / f"shard-{index}.json")
    done = step(report, {"command": "report", "results_files": "results/*.json"}, clock)
    assert done.returncode == 0, done.log
    assert done.outputs["succeeded"] == str(len(fleet)) and done.outputs["failed"] == "0"
    merged = merge.read_results(Path(done.outputs["results_file"]))
    assert merged["totals"]["units"] == len(fleet) == sum(p.document["totals"]["units"] for p in pieces)


def test_report_refuses_a_missing_shard(tmp_path: Path, emu: Emulator, clock: FakeClock) -> None:
    env_ids = emu.state.seed_fleet(12, services=("api",))
    workspace = tmp_path / "report" / "workspace"
    workspace.mkdir(parents=True)
    for index in range(1, 4):  # shard 4 of 4 never ran
        done = step(tmp_path / f"job{index}", fleet_inputs(emu.url, targets="\n".join(env_ids), shard=f"{index}/4"),
                    clock)
        assert done.returncode == 0, done.log
        shutil.copy(done.outputs["results_file"], workspace / f"r{index}.json")
    done = step(tmp_path / "report", {"command": "report", "results_files": "*.json"}, clock)
    assert done.returncode == 1, done.log


def test_shards_of_explicit_targets(tmp_path: Path) -> None:
    targets = "\n".join(f"prod-{i:03d}" for i in range(300))
    pieces = [prepare_plan(fleet_inputs(NOWHERE, targets=targets, shard=f"{i}/8", waves="1, 10%"), {}, tmp_path)
              for i in range(1, 9)]
    units = [[t.id for t in p.targets] for p in pieces]
    every = [f"prod-{i:03d}/api" for i in range(300)]
    assert sorted(u for part in units for u in part) == every
    for part in units:
        assert part == [u for u in every if u in set(part)], "each shard keeps the fleet's order"
        assert part, "300 units over 8 shards: none is empty"
    fleets = {(p.fleet.whole, p.fleet.fingerprint) for p in pieces if p.fleet is not None}
    assert len(fleets) == 1 and next(iter(fleets))[0] == 300
    for p in pieces:
        assert p.fleet is not None and sum(p.fleet.waves) == len(p.targets)


# --- shard.select, the property ------------------------------------------------------------------------------


class U(NamedTuple):
    env_id: str
    server_name: str


SIZES = (1, 2, 3, 7, 99, 256, 1000, 10_000)


@pytest.mark.parametrize("count", [1, 2, 7, 256])
def test_select_partitions_every_fleet_size(count: int) -> None:
    rng = random.Random(count)
    for size in SIZES:
        units = [U(f"env-{rng.getrandbits(40):010x}", rng.choice(("api", "web", "Job"))) for _ in range(size)]
        units = list(dict.fromkeys(units))
        parts = [shard.select(units, shard.Shard(i, count)) for i in range(1, count + 1)]
        members = [set(part) for part in parts]
        assert sum(map(len, parts)) == len(units)
        assert sorted(u for part in parts for u in part) == sorted(units)
        for index, (part, member) in enumerate(zip(parts, members, strict=True), 1):
            assert all(shard.shard_of(u.env_id, u.server_name, count) == index for u in part)
            assert part == [u for u in units if u in member], "in the order given"
        shuffled = units[:]
        rng.shuffle(shuffled)
        grown = [*units, U("env-new-unit", "api")]
        checked = range(1, count + 1) if count <= 8 else (1, 2, count // 2, count)  # 256 x 10,000 hashes is slow
        for index in checked:
            assert set(shard.select(shuffled, shard.Shard(index, count))) == members[index - 1], "reordering"
            moved = set(shard.select(grown, shard.Shard(index, count))) - {grown[-1]}
            assert moved == members[index - 1], "adding a unit moves no other"


def test_select_ignores_case_as_units_do() -> None:
    for count in (2, 7, 256):
        assert shard.shard_of("Prod-A", "API", count) == shard.shard_of("prod-a", "api", count)


def test_select_balances_roughly() -> None:
    units = [U(f"env-{i}", "api") for i in range(10_000)]
    sizes = [len(shard.select(units, shard.Shard(i, 8))) for i in range(1, 9)]
    assert all(abs(size - 1250) < 200 for size in sizes), sizes
