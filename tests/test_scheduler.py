"""The scheduler on its own: programs of Call and Sleep steps, a fake clock, real pool threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from cloudbase_rollout.errors import ApiError
from cloudbase_rollout.run.scheduler import QUOTA_PAUSE, Call, Program, Scheduler, Sleep, Task
from tests.runner import FakeClock


def scheduler(pool_size: int = 4) -> tuple[Scheduler, FakeClock, list[float]]:
    clock, pauses = FakeClock(0.0), []
    return Scheduler(pool_size, clock, clock.sleep, pauses.append), clock, pauses


def poll(n: int, settle: float, interval: float = 1.0) -> Program:
    """A unit that calls, then polls every interval until `settle` seconds have passed on the clock."""
    yield Call(lambda: n)
    waited = 0.0
    while waited < settle:
        yield Sleep(interval)
        waited += interval
        yield Call(lambda: n)
    return n


def test_many_units_wait_together_the_time_of_the_slowest_not_the_sum() -> None:
    s, clock, _ = scheduler(pool_size=8)
    done: list[Task] = []
    for n in range(2000):
        s.spawn(poll(n, settle=float(n % 5)), done.append)
    s.run()
    assert sorted(t.result for t in done) == list(range(2000))
    assert clock.now == 4.0, "the slowest settle, not the sum of them"
    assert s.threads <= 8


def test_no_thread_per_unit_the_pool_stays_bounded() -> None:
    s, _, _ = scheduler(pool_size=3)
    seen: set[str] = set()

    def call() -> None:
        seen.add(threading.current_thread().name + str(threading.get_ident()))

    def unit() -> Program:
        for _ in range(3):
            yield Call(call)
            yield Sleep(5)

    for _ in range(500):
        s.spawn(unit())
    s.run()
    assert 1 <= len(seen) <= 3 and s.threads <= 3


def test_a_calls_error_is_thrown_into_its_program_only() -> None:
    s, _, _ = scheduler()
    outcomes: dict[str, Any] = {}

    def failing() -> None:
        raise ApiError(40097, "invalid args", "check the body")

    def unit(name: str, fn: Any) -> Program:
        try:
            yield Call(fn)
        except ApiError as error:
            return f"caught {error.errcode}"
        return "ok"

    s.spawn(unit("a", failing), lambda t: outcomes.update(a=t.result))
    s.spawn(unit("b", lambda: None), lambda t: outcomes.update(b=t.result))
    s.run()
    assert outcomes == {"a": "caught 40097", "b": "ok"}


def test_a_program_that_lets_an_error_out_ends_with_it_and_the_others_go_on() -> None:
    s, _, _ = scheduler()
    ended: list[Task] = []

    def broken() -> Program:
        yield Sleep(1)
        raise RuntimeError("a bug")

    s.spawn(broken(), ended.append)
    s.spawn(poll(1, 3), ended.append)
    s.run()
    assert isinstance(ended[0].error, RuntimeError) and ended[1].result == 1


def test_the_minute_quota_pauses_every_units_next_call_once() -> None:
    s, clock, pauses = scheduler(pool_size=1)
    calls: list[tuple[str, float]] = []
    refused = [True]

    def call(name: str) -> None:
        calls.append((name, clock()))
        if name == "a" and refused[0]:
            refused[0] = False
            raise ApiError(45011, "api minute-quota reach limit", "retry next minute")

    def unit(name: str) -> Program:
        while True:
            try:
                yield Call(lambda: call(name))
                return name
            except ApiError:
                continue  # a quota refusal started nothing: send it again, after the shared pause

    s.spawn(unit("a"))
    s.run()
    assert pauses == [QUOTA_PAUSE], "said once"
    assert calls[0] == ("a", 0.0) and calls[1] == ("a", QUOTA_PAUSE), "sent again only after the pause"


def test_calls_wait_out_a_pause_in_progress() -> None:
    s, clock, _ = scheduler()
    s.paused_until = 30.0
    at: list[float] = []

    def unit() -> Program:
        yield Call(lambda: at.append(clock()))

    s.spawn(unit())
    s.spawn(unit())
    s.run()
    assert at == [30.0, 30.0] and clock.sleeps == [30.0], "one sleep for all, not one per unit"


@pytest.mark.parametrize("pool_size", [1, 16])
def test_time_moves_only_when_no_call_is_in_flight(pool_size: int) -> None:
    s, clock, _ = scheduler(pool_size)
    stamps: list[float] = []
    gate = threading.Event()

    def slow() -> None:
        gate.wait(2)
        stamps.append(clock())

    def unit() -> Program:
        yield Call(slow)

    def sleeper() -> Program:
        yield Sleep(10)
        stamps.append(clock())

    s.spawn(sleeper())
    s.spawn(unit())
    threading.Timer(0.3, gate.set).start()
    s.run()
    assert stamps == [0.0, 10.0], "the call returned at fake time 0; the sleep fired after it"
