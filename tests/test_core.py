"""core.run on its own: a real WeChat client against loopback servers, a Plan from prepare_plan, a fake clock.

Unit level: the Results core.run returns and the requests that reached the server, not the
Action's outputs (tests/test_lifecycle.py covers those end to end).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudbase_rollout import API_PATH, RELEASE_PATH, VERSION_DETAIL_PATH, VERSION_LIST_PATH
from cloudbase_rollout.errors import MAY_HAVE_STARTED, Cancelled, LifecycleError, RolloutError
from cloudbase_rollout.inputs import plan
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.run import core
from cloudbase_rollout.run.scheduler import Call, Program
from cloudbase_rollout.wechat.api import WeChat
from tests.conftest import TOKEN
from tests.loopback import Received, Reply, RoutedServer, ScriptedServer, err, ok
from tests.runner import FakeClock

ENV = "prod-6gxk23no5605e14f"
T0, T1, T2 = "2026-11-30 10:00:00", "2026-11-30 11:00:01", "2026-11-30 11:00:09"


def detail(status: str, updated: str = T0) -> Reply:
    return Reply(body={"errcode": 0, "errmsg": "ok", "status": status, "created_time": T0, "updated_time": updated})


def listing(*names: tuple[str, str]) -> Reply:
    items = [{"version_name": n, "status": "normal", "created_time": c} for n, c in names]
    return Reply(body={"errcode": 0, "errmsg": "ok", "total": len(items), "items": items})


def released(result: str = "success", order: int = 26182) -> Reply:
    return Reply(body={"errcode": 0, "errmsg": "ok", "result": result, "release_order_id": order})


def rollout_inputs(url: str, **extra: str) -> dict[str, str]:
    return {"access_token": TOKEN, "api_base_url": url, "env_id": ENV, "server_name": "api",
            "image": "ccr.ccs.tencentyun.com/ns/shop-api", "image_tag": "v1", "version_name": "api-007",
            "upload_type": "image", "max_attempts": "1", **extra}


def read_inputs(url: str, command: str, **extra: str) -> dict[str, str]:
    return {"access_token": TOKEN, "api_base_url": url, "env_id": ENV, "server_name": "api",
            "version_name": "api-007", "command": command, "max_attempts": "1", **extra}


def make_plan(raw: dict[str, str], tmp_path: Path) -> plan.Plan:
    return plan.prepare_plan(raw, {}, tmp_path)


@dataclasses.dataclass
class Run:
    results: list[core.Result]
    lines: list[str]
    clock: FakeClock


def run(the_plan: plan.Plan) -> Run:
    clock, lines = FakeClock(), []
    api = WeChat(the_plan.call, Redactor(), sleep=clock.sleep, backoff_base=0.0)
    results = core.run(core.Context(the_plan, api, lines.append, clock, clock.sleep))
    return Run(results, lines, clock)


def paths(server: ScriptedServer) -> list[str]:
    return [r.path for r in server.received]


def service_of(received: Received) -> str:
    body = received.json()
    return str(body.get("server_name") or body.get("service_name"))


class Fleet:
    """A route by service name: per service and path, replies in order (the last repeats).

    A service or path without a script answers 40097, as WeChat does for an unknown service.
    """

    def __init__(self, script: dict[str, dict[str, list[Reply]]]) -> None:
        self.script = {name: {path: list(replies) for path, replies in paths.items()}
                       for name, paths in script.items()}
        self.lock = threading.Lock()

    def __call__(self, received: Received) -> Reply:
        name = service_of(received)
        with self.lock:
            queue = self.script.get(name, {}).get(received.path)
            if not queue:
                return err(40097, f"service {name} not found")
            return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def routed() -> Iterator[Callable[[Callable[[Received], Reply]], RoutedServer]]:
    servers: list[RoutedServer] = []

    def make(route: Callable[[Received], Reply]) -> RoutedServer:
        server = RoutedServer(route)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def services(*entries: dict[str, Any]) -> str:
    return json.dumps(list(entries))


# -- rollout -------------------------------------------------------------------------------------------


def test_rollout_without_wait_makes_one_call_and_reads_nothing(scripted, tmp_path):
    server = scripted(ok("Run-1"))
    out = run(make_plan(rollout_inputs(server.url), tmp_path))
    [r] = out.results
    assert paths(server) == [API_PATH]
    assert server.received[0].json()["server_name"] == "api"
    assert (r.run_id, r.result, r.attempts, r.error) == ("Run-1", "succ", 1, None)
    assert r.status is None and r.waited is None and r.before is None and not r.promoted
    assert r.phase == "done"
    assert out.clock.sleeps == []


def test_rollout_with_wait_reads_first_then_rolls_out_then_polls(scripted, tmp_path):
    server = scripted(detail("normal"), ok("Run-2"), detail("deploying", T1), detail("normal", T2))
    out = run(make_plan(rollout_inputs(server.url, wait="true", wait_interval_seconds="7"), tmp_path))
    [r] = out.results
    assert paths(server) == [VERSION_DETAIL_PATH, API_PATH, VERSION_DETAIL_PATH, VERSION_DETAIL_PATH]
    assert server.received[0].json() == {"env": ENV, "service_name": "api", "version_name": "api-007"}
    assert r.error is None and r.run_id == "Run-2"
    assert r.before is not None and r.before.status == "normal" and r.before.updated_time == T0
    assert r.status == "normal" and r.waited == 7
    assert r.timeline == [(0, "deploying"), (7, "normal")]
    assert out.clock.sleeps == [7]
    assert not r.promoted and RELEASE_PATH not in paths(server)
    assert out.lines[0] == "api: version api-007 is normal before the rollout"
    assert "api: status normal after 7 s" in out.lines


def test_rollout_with_wait_resolves_latest_but_sends_latest(scripted, tmp_path):
    server = scripted(listing(("api-001", "2026-10-01 09:00:00"), ("api-003", "2026-11-20 09:00:00"),
                              ("api-002", "2026-11-01 09:00:00")),
                      detail("normal"), ok("Run-3"), detail("normal", T1))
    out = run(make_plan(rollout_inputs(server.url, wait="true", version_name="latest"), tmp_path))
    [r] = out.results
    assert paths(server) == [VERSION_LIST_PATH, VERSION_DETAIL_PATH, API_PATH, VERSION_DETAIL_PATH]
    assert server.received[1].json()["version_name"] == "api-003"
    assert server.received[2].json()["version_name"] == "latest"
    assert server.received[3].json()["version_name"] == "api-003", "the wait reads the resolved version"
    assert r.error is None and r.version_name == "api-003"


def test_an_unreadable_version_stops_the_rollout_and_names_the_versions(scripted, tmp_path):
    server = scripted(err(40097, "version not found"), listing(("api-001", T0), ("api-002", T1)))
    out = run(make_plan(rollout_inputs(server.url, wait="true", version_name="api-999"), tmp_path))
    [r] = out.results
    assert API_PATH not in paths(server)
    assert isinstance(r.error, LifecycleError) and r.error.kind == "preflight"
    assert r.error.versions == ("api-001", "api-002")
    assert r.run_id is None


def test_promote_releases_only_after_healthy(scripted, tmp_path):
    server = scripted(detail("normal"), ok("Run-4"), detail("deploying", T1), detail("normal", T2), released(order=9))
    out = run(make_plan(rollout_inputs(server.url, promote="true"), tmp_path))
    [r] = out.results
    assert paths(server) == [VERSION_DETAIL_PATH, API_PATH, VERSION_DETAIL_PATH, VERSION_DETAIL_PATH, RELEASE_PATH]
    assert server.received[-1].json() == {"env_id": ENV, "server_name": "api", "release_version": "api-007"}
    assert r.error is None and r.promoted and r.release_order_id == 9
    assert out.lines[-1] == "api: released api-007: it takes all the traffic (release_order_id 9)"


@pytest.mark.parametrize(("polls", "kind"), [
    ([detail("deploying", T1), detail("build_fail", T2)], "failed"),
    ([detail("normal")], "timeout"),  # normal without evidence of the new rollout: never healthy
    ([detail("deploying", T1)], "timeout"),
])
def test_promote_never_releases_a_version_that_is_not_healthy(scripted, tmp_path, polls, kind):
    server = scripted(detail("normal"), ok("Run-5"), *polls)
    out = run(make_plan(rollout_inputs(server.url, promote="true", wait_timeout_seconds="20",
                                       wait_interval_seconds="10"), tmp_path))
    [r] = out.results
    assert RELEASE_PATH not in paths(server)
    assert isinstance(r.error, LifecycleError) and r.error.kind == kind
    assert r.error.run_id == "Run-5" and r.run_id == "Run-5"
    assert not r.promoted and r.release_order_id is None


def test_a_release_answered_failed_is_an_error_and_not_promoted(scripted, tmp_path):
    server = scripted(detail("normal"), ok("Run-6"), detail("normal", T1), released("failed", 0))
    [r] = run(make_plan(rollout_inputs(server.url, promote="true"), tmp_path)).results
    assert isinstance(r.error, LifecycleError) and r.error.kind == "release_failed"
    assert not r.promoted and r.release_order_id is None and r.run_id == "Run-6"  # an id only when released


def test_a_read_error_during_the_wait_makes_the_rollout_unwatchable(scripted, tmp_path):
    server = scripted(detail("normal"), ok("Run-7"), err(40014, "bad token"))
    [r] = run(make_plan(rollout_inputs(server.url, wait="true"), tmp_path)).results
    assert isinstance(r.error, LifecycleError) and r.error.kind == "unwatchable"
    assert r.error.run_id == "Run-7" and "errcode 40014" in str(r.error)


# -- batch -----------------------------------------------------------------------------------------------


def test_every_waiting_version_is_read_before_any_roll_update(routed, tmp_path):
    names = ("api", "worker", "admin")
    fleet = Fleet({name: {VERSION_DETAIL_PATH: [detail("normal"), detail("normal", T1)],
                          API_PATH: [ok(f"Run-{name}")]} for name in names})
    server = routed(fleet)
    raw = rollout_inputs(server.url, wait="true", services=services(*({"server_name": n} for n in names)))
    out = run(make_plan(raw, tmp_path))
    assert [r.error for r in out.results] == [None, None, None]
    kinds = paths(server)
    assert kinds.count(API_PATH) == 3
    first_roll = kinds.index(API_PATH)
    reads_before = [service_of(r) for r in server.received[:first_roll]]
    assert sorted(reads_before) == sorted(names)
    assert all(path == VERSION_DETAIL_PATH for path in kinds[:first_roll])


def test_a_non_waiting_service_in_a_batch_is_not_read(routed, tmp_path):
    fleet = Fleet({"api": {VERSION_DETAIL_PATH: [detail("normal"), detail("normal", T1)], API_PATH: [ok("Run-a")]},
                   "worker": {API_PATH: [ok("Run-w")]}})
    server = routed(fleet)
    raw = rollout_inputs(server.url, services=services({"server_name": "api", "wait": True},
                                                       {"server_name": "worker"}))
    out = run(make_plan(raw, tmp_path))
    assert [r.run_id for r in out.results] == ["Run-a", "Run-w"]
    assert [r.error for r in out.results] == [None, None]
    assert [(r.path, service_of(r)) for r in server.received if service_of(r) == "worker"] == [(API_PATH, "worker")]


def test_one_unreadable_version_stops_every_roll_update_in_the_batch(routed, tmp_path):
    fleet = Fleet({"api": {VERSION_DETAIL_PATH: [detail("normal")], API_PATH: [ok("Run-a")]},
                   "admin": {API_PATH: [ok("Run-admin")]}})  # admin does not wait; worker is unknown
    server = routed(fleet)
    raw = rollout_inputs(server.url, services=services({"server_name": "api", "wait": True},
                                                       {"server_name": "worker", "wait": True},
                                                       {"server_name": "admin"}))
    out = run(make_plan(raw, tmp_path))
    assert API_PATH not in paths(server), "nothing is rolled out when one version cannot be read"
    api, worker, admin = out.results
    assert isinstance(worker.error, LifecycleError) and worker.error.kind == "preflight"
    for other in (api, admin):
        assert other.run_id is None
        assert other.error is not None and "worker" in str(other.error) and "nothing was changed" in str(other.error)
        assert not isinstance(other.error, LifecycleError)


def test_each_service_is_judged_on_its_own(routed, tmp_path):
    fleet = Fleet({"api": {VERSION_DETAIL_PATH: [detail("normal"), detail("normal", T1)], API_PATH: [ok("Run-a")],
                           RELEASE_PATH: [released(order=1)]},
                   "worker": {VERSION_DETAIL_PATH: [detail("normal"), detail("build_fail", T1)],
                              API_PATH: [ok("Run-w")], RELEASE_PATH: [released(order=2)]}})
    server = routed(fleet)
    raw = rollout_inputs(server.url, promote="true", services=services({"server_name": "api"},
                                                                       {"server_name": "worker"}))
    api, worker = run(make_plan(raw, tmp_path)).results
    assert api.error is None and api.promoted and api.release_order_id == 1
    assert isinstance(worker.error, LifecycleError) and worker.error.kind == "failed" and not worker.promoted
    assert [service_of(r) for r in server.received if r.path == RELEASE_PATH] == ["api"]


def test_a_bug_in_one_services_thread_is_its_error_and_the_others_complete(routed, tmp_path):
    fleet = Fleet({name: {API_PATH: [ok(f"Run-{name}")]} for name in ("api", "worker", "admin")})
    server = routed(fleet)
    raw = rollout_inputs(server.url, services=services({"server_name": "api"}, {"server_name": "worker"},
                                                       {"server_name": "admin"}))
    the_plan = make_plan(raw, tmp_path)
    the_plan.targets[1] = dataclasses.replace(the_plan.targets[1], body=None)  # a target core cannot handle
    api, worker, admin = run(the_plan).results
    assert api.run_id == "Run-api" and admin.run_id == "Run-admin"
    assert api.error is None and admin.error is None
    assert type(worker.error) is RolloutError and str(worker.error).startswith("internal error: ")
    assert worker.run_id is None and worker.phase == "done"
    assert sorted(service_of(r) for r in server.received) == ["admin", "api"]


def test_the_services_of_a_batch_run_concurrently(routed, tmp_path):
    names = [f"svc-{n}" for n in range(5)]
    server = routed(lambda received: dataclasses.replace(ok(f"Run-{service_of(received)}"), delay=0.3))
    raw = rollout_inputs(server.url, services=services(*({"server_name": n} for n in names)))
    the_plan = make_plan(raw, tmp_path)
    started = time.monotonic()
    results = run(the_plan).results
    elapsed = time.monotonic() - started
    assert [r.run_id for r in results] == [f"Run-{n}" for n in names]
    assert elapsed < 1.2, f"5 calls of 0.3 s took {elapsed:.2f} s: not concurrent"


def test_results_keep_the_order_of_the_targets_whatever_order_they_finish_in(routed, tmp_path):
    delays = {"zeta": 0.45, "alpha": 0.3, "mid": 0.15, "last": 0.0}
    server = routed(lambda received: dataclasses.replace(ok(f"Run-{service_of(received)}"),
                                                         delay=delays[service_of(received)]))
    raw = rollout_inputs(server.url, services=services(*({"server_name": n} for n in delays)))
    results = run(make_plan(raw, tmp_path)).results
    assert [r.target.id for r in results] == list(delays)
    assert [r.run_id for r in results] == [f"Run-{n}" for n in delays]


# -- command release --------------------------------------------------------------------------------------


def test_release_releases_a_normal_version_without_rolling_out(scripted, tmp_path):
    server = scripted(detail("normal"), released(order=7))
    [r] = run(make_plan(read_inputs(server.url, "release"), tmp_path)).results
    assert paths(server) == [VERSION_DETAIL_PATH, RELEASE_PATH]
    assert r.error is None and r.promoted and r.release_order_id == 7 and r.status == "normal"
    assert r.run_id is None


def test_release_without_wait_refuses_a_moving_version(scripted, tmp_path):
    server = scripted(detail("deploying"), released())
    out = run(make_plan(read_inputs(server.url, "release"), tmp_path))
    [r] = out.results
    assert paths(server) == [VERSION_DETAIL_PATH]
    assert isinstance(r.error, LifecycleError) and r.error.kind == "refused" and r.error.command == "release"
    assert "wait: true" in str(r.error)
    assert r.status == "deploying" and not r.promoted and out.clock.sleeps == []


@pytest.mark.parametrize("wait", ["false", "true"])
def test_release_never_releases_a_failed_version(scripted, tmp_path, wait):
    server = scripted(detail("deploy_failed"), released())
    out = run(make_plan(read_inputs(server.url, "release", wait=wait), tmp_path))
    [r] = out.results
    assert paths(server) == [VERSION_DETAIL_PATH], "a failed version is settled: no wait, no release"
    assert isinstance(r.error, LifecycleError) and r.error.kind == "refused"
    assert "never released" in str(r.error) and not r.promoted


def test_release_with_wait_waits_for_normal_then_releases(scripted, tmp_path):
    server = scripted(detail("deploying"), detail("deploying"), detail("normal"), released())
    out = run(make_plan(read_inputs(server.url, "release", wait="true", wait_interval_seconds="3"), tmp_path))
    [r] = out.results
    assert paths(server) == [VERSION_DETAIL_PATH] * 3 + [RELEASE_PATH]
    assert out.clock.sleeps == [3, 3]
    assert r.error is None and r.promoted and r.status == "normal"


def test_release_with_wait_that_times_out_is_a_timeout_and_not_released(scripted, tmp_path):
    server = scripted(detail("deploying"))
    out = run(make_plan(read_inputs(server.url, "release", wait="true", wait_timeout_seconds="10",
                                    wait_interval_seconds="5"), tmp_path))
    [r] = out.results
    assert RELEASE_PATH not in paths(server)
    assert isinstance(r.error, LifecycleError) and r.error.kind == "timeout" and not r.promoted


# -- command status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["normal", "build_fail", "abnormal", "deploying", "warming_up"])
def test_status_without_wait_reads_once_and_never_fails(scripted, tmp_path, word):
    server = scripted(detail(word))
    out = run(make_plan(read_inputs(server.url, "status"), tmp_path))
    [r] = out.results
    assert paths(server) == [VERSION_DETAIL_PATH]
    assert r.error is None and r.status == word and r.version_name == "api-007"
    assert out.lines == [f"api: version api-007 is {word}"]


@pytest.mark.parametrize(("polls", "kind"), [([detail("deploying"), detail("build_fail")], "failed"),
                                             ([detail("deploying")], "timeout")])
def test_status_with_wait_fails_when_it_does_not_settle_healthy(scripted, tmp_path, polls, kind):
    server = scripted(*polls)
    [r] = run(make_plan(read_inputs(server.url, "status", wait="true", wait_timeout_seconds="10"), tmp_path)).results
    assert isinstance(r.error, LifecycleError) and r.error.kind == kind


def test_status_with_wait_succeeds_once_normal(scripted, tmp_path):
    server = scripted(detail("deploying"), detail("normal"))
    [r] = run(make_plan(read_inputs(server.url, "status", wait="true"), tmp_path)).results
    assert r.error is None and r.status == "normal" and not r.promoted
    assert RELEASE_PATH not in paths(server)


# -- cancellation: a Cancelled in the main thread becomes an account of what had started -------------------


@pytest.fixture
def cancel_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    core.install_cancel_handlers()
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def main_thread_joins() -> bool:
    """Whether the main thread waits in the scheduler's loop for calls (all units started): where a cancel
    usually lands."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "_collect":
            return True
        frame = frame.f_back
    return False


def cancel_during(the_plan: plan.Plan, setup: Callable[[core.Result], None],
                  joining: bool = True) -> tuple[Cancelled, float]:
    """Run _parallel with a step that sets up its Result, then calls (once all have) what sends SIGTERM
    and blocks.

    With joining, the signal waits until the main thread waits for the calls; without, it is sent at once.
    """
    results = [core.Result(t, version_name=t.version_name) for t in the_plan.targets]
    ready = threading.Barrier(len(results))
    hold = threading.Event()

    def block() -> None:  # on a pool thread, as every call runs
        if ready.wait(5) == 0:
            deadline = time.monotonic() + 5
            while joining and not main_thread_joins() and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGTERM)
        hold.wait(10)

    def step(_ctx: core.Context, r: core.Result) -> Program:
        setup(r)
        yield Call(block)

    clock = FakeClock()
    ctx = core.Context(the_plan, WeChat(the_plan.call, Redactor()), lambda _m: None, clock, clock.sleep)
    started = time.monotonic()
    try:
        with pytest.raises(Cancelled) as caught:
            core._parallel(ctx, results, step)
    finally:
        hold.set()
    return caught.value, time.monotonic() - started


def test_a_cancel_during_calls_says_which_were_in_flight(cancel_handlers, tmp_path):
    the_plan = make_plan(rollout_inputs("http://127.0.0.1:9", services=services({"server_name": "api"},
                                                                              {"server_name": "worker"})), tmp_path)

    def calling(r: core.Result) -> None:
        r.phase = "calling"

    cancelled, took = cancel_during(the_plan, calling)
    assert took < 5, "the main thread stops at once, not when the calls end"
    assert cancelled.signum == signal.SIGTERM and cancelled.exit_code == 128 + signal.SIGTERM
    text = str(cancelled)
    assert text.startswith(f"cancelled by signal {int(signal.SIGTERM)} while 2 rollouts were in flight (api, worker)")
    assert MAY_HAVE_STARTED in text and cancelled.may_have_started


def test_a_cancel_during_a_wait_names_the_started_rollouts(cancel_handlers, tmp_path):
    the_plan = make_plan(rollout_inputs("http://127.0.0.1:9", wait="true"), tmp_path)

    def waiting(r: core.Result) -> None:
        r.phase, r.run_id = "waiting", "Run-cancel"

    cancelled, _ = cancel_during(the_plan, waiting)
    text = str(cancelled)
    assert "while waiting for api to settle" in text and "Run-cancel" in text
    assert MAY_HAVE_STARTED not in text and not cancelled.may_have_started


# -- backoff_base -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(None, 1.0), ("0.01", 0.01), ("0", 0.0), ("-3", 0.0),
                                                 ("10", 10.0), ("99", 10.0), ("soon", 1.0), ("", 1.0)])
def test_backoff_base_reads_the_variable_within_bounds(value, expected):
    env = {} if value is None else {"CLOUDBASE_ROLLOUT_BACKOFF_BASE": value}
    assert core.backoff_base(env) == expected


def test_backoff_base_of_nan_is_a_delay_within_bounds():
    value = core.backoff_base({"CLOUDBASE_ROLLOUT_BACKOFF_BASE": "nan"})
    assert math.isfinite(value) and 0.0 <= value <= 10.0


def test_a_cancel_while_threads_are_still_starting_is_also_accounted_for(cancel_handlers, tmp_path):
    the_plan = make_plan(rollout_inputs("http://127.0.0.1:9"), tmp_path)  # its thread signals at once

    def calling(r: core.Result) -> None:
        r.phase = "calling"

    cancelled, _ = cancel_during(the_plan, calling, joining=False)
    assert "while waiting for http://127.0.0.1:9 to answer the rollout call" in str(cancelled)
    assert cancelled.may_have_started
