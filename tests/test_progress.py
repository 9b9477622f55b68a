"""run/progress.py: a fleet's progress in few lines, with a fake clock and a list as `say`."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from cloudbase_rollout.run import progress
from cloudbase_rollout.run.progress import Progress, counts, counts_text, elapsed


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def unit(state: str | None, name: str = "u") -> Any:
    return SimpleNamespace(state=state, target=SimpleNamespace(id=name))


def units(*states: str | None) -> list[Any]:
    return [unit(state, f"env-{i}/api") for i, state in enumerate(states)]


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.9, "0s"), (45, "45s"), (59.99, "59s"), (60, "1m00s"), (90, "1m30s"), (61.5, "1m01s"),
    (3599, "59m59s"), (3600, "1h00m"), (3661, "1h01m"), (7500, "2h05m"), (36000 + 59 * 60 + 59, "10h59m"),
])
def test_elapsed_is_short(seconds: float, text: str) -> None:
    assert elapsed(seconds) == text


def test_counts_sorts_every_state_into_one_bucket() -> None:
    found = counts(units("succeeded", "current", "failed", "failed", "skipped", "started", None, "started"))
    assert found == {"healthy": 2, "failed": 2, "deploying": 2, "waiting": 1, "skipped": 1, "planned": 0}
    assert counts([]) == {"healthy": 0, "failed": 0, "deploying": 0, "waiting": 0, "skipped": 0, "planned": 0}


def test_planned_units_are_counted_apart_from_healthy_ones() -> None:
    found = counts(units("planned", "planned", "failed", None))
    assert (found["planned"], found["healthy"], found["failed"], found["waiting"]) == (2, 0, 1, 1)
    assert counts_text(found) == "1 failed, 1 waiting, 2 planned", "a plan shows no '0 healthy'"


def test_counts_text_always_shows_healthy_and_failed_and_the_rest_when_nonzero() -> None:
    assert counts_text(counts([])) == "0 healthy, 0 failed"
    assert counts_text(counts(units("started", None, "skipped", "succeeded"))) == (
        "1 healthy, 0 failed, 1 deploying, 1 waiting, 1 skipped")
    assert counts_text({"healthy": 2, "failed": 1, "deploying": 0, "waiting": 0, "skipped": 3, "planned": 0}) == (
        "2 healthy, 1 failed, 3 skipped")


def test_wave_started_names_at_most_five_units() -> None:
    said: list[str] = []
    p = Progress(3, Clock(), said.append)
    p.wave_started(2, units(*["started"] * 7))
    assert said == ["wave 2/3: starting 7 unit(s): env-0/api, env-1/api, env-2/api, env-3/api, env-4/api, "
                    "... (2 more)"]
    said.clear()
    p.wave_started(1, units("started"))
    assert said == ["wave 1/3: starting 1 unit(s): env-0/api"]
    said.clear()
    p.wave_started(3, units(*["started"] * 5))
    assert said == ["wave 3/3: starting 5 unit(s): env-0/api, env-1/api, env-2/api, env-3/api, env-4/api"]


def test_wave_started_with_many_units_names_five() -> None:
    said: list[str] = []
    Progress(1, Clock(), said.append).wave_started(1, units(*[None] * 10_000))
    [line] = said
    assert line.count("/api") == 5 and line.endswith("... (9995 more)")


def test_tick_says_nothing_before_every_seconds() -> None:
    clock, said = Clock(), []
    p = Progress(2, clock, said.append)
    wave = units("started", "started")
    p.wave_started(1, wave)
    said.clear()
    for step in range(29):
        clock.now += 1
        wave[step % 2].state = "succeeded" if step % 3 else "started"
        p.tick(wave)
    assert said == []


def test_tick_says_one_line_when_due_and_the_counts_moved() -> None:
    clock, said = Clock(), []
    p = Progress(2, clock, said.append)
    wave = units("started", "started", None)
    p.wave_started(1, wave)
    said.clear()
    clock.now += 30
    wave[0].state = "succeeded"
    p.tick(wave)
    assert said == ["wave 1/2 30s: 1 healthy, 0 failed, 1 deploying, 1 waiting"]
    for _ in range(100):  # many completions within the next 30 s: no line
        clock.now += 0.2
        p.tick(wave)
    assert len(said) == 1


def test_tick_says_nothing_when_due_but_the_counts_did_not_move() -> None:
    clock, said = Clock(), []
    p = Progress(1, clock, said.append)
    wave = units("started", None)
    p.wave_started(1, wave)
    said.clear()
    clock.now += 31
    p.tick(wave)
    assert len(said) == 1
    clock.now += 31
    p.tick(wave)  # same counts
    clock.now += 60
    p.tick(wave)
    assert len(said) == 1
    wave[1].state = "failed"
    clock.now += 5
    p.tick(wave)
    assert len(said) == 1, "counts moved but not yet due"
    clock.now += 30
    p.tick(wave)
    assert said[-1] == "wave 1/1 2m37s: 0 healthy, 1 failed, 1 deploying"


def test_at_most_one_line_per_every_seconds_over_a_long_wave() -> None:
    clock, said = Clock(), []
    p = Progress(1, clock, said.append, every=30)
    wave = units(*["started"] * 600)
    p.wave_started(1, wave)
    said.clear()
    for i in range(600):  # a unit settles every second for ten minutes
        clock.now += 1
        wave[i].state = "succeeded"
        p.tick(wave)
    assert 1 <= len(said) <= 600 // 30
    assert len(said) == 20


def test_tick_with_a_custom_every() -> None:
    clock, said = Clock(), []
    p = Progress(1, clock, said.append, every=5)
    wave = units("started")
    p.wave_started(1, wave)
    said.clear()
    clock.now += 4.9
    wave[0].state = "succeeded"
    p.tick(wave)
    assert said == []
    clock.now += 0.1
    p.tick(wave)
    assert said == ["wave 1/1 5s: 1 healthy, 0 failed"]


def test_a_new_wave_restarts_the_throttle_and_the_elapsed_time() -> None:
    clock, said = Clock(), []
    p = Progress(2, clock, said.append)
    first = units("started")
    p.wave_started(1, first)
    clock.now += 40
    first[0].state = "succeeded"
    p.tick(first)
    p.wave_ended(first)
    assert said[-1] == "wave 1/2 done in 40s: 1 healthy, 0 failed"
    second = units("started", "started")
    p.wave_started(2, second)
    clock.now += 10
    second[0].state = "succeeded"
    p.tick(second)
    assert said[-1].startswith("wave 2/2: starting"), "not due: the new wave's throttle started at its start"
    clock.now += 20
    p.tick(second)
    assert said[-1] == "wave 2/2 30s: 1 healthy, 0 failed, 1 deploying"
    clock.now += 65
    second[1].state = "failed"
    p.wave_ended(second)
    assert said[-1] == "wave 2/2 done in 1m35s: 1 healthy, 1 failed"


def test_wave_ended_always_says_a_line() -> None:
    clock, said = Clock(), []
    p = Progress(1, clock, said.append)
    wave = units("succeeded")
    p.wave_started(1, wave)
    p.wave_ended(wave)
    p.wave_ended(wave)
    assert said[1:] == ["wave 1/1 done in 0s: 1 healthy, 0 failed"] * 2


def test_the_default_throttle_is_30_seconds() -> None:
    assert progress.EVERY == 30.0
    assert set(progress.HEALTHY_STATES) == {"succeeded", "current"}
