"""Wait for a version to settle: poll, judge each status, report changes, never sleep for real in tests.

The loop takes its clock and sleep as parameters. A `normal` read counts as the
new rollout only with evidence that it is new (`Watch.before`): its updated_time
changed, a status other than normal was seen since the call, or its run_id is
ours. Without that evidence it is the old state, not success.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from cloudbase_rollout.errors import ApiError, RolloutError
from cloudbase_rollout.run.scheduler import QUOTA_PAUSE, Call, Sleep, Step
from cloudbase_rollout.vocabulary.statuses import FAILED, HEALTHY, classify
from cloudbase_rollout.wechat import retry
from cloudbase_rollout.wechat.cloudrun import Version

HEARTBEAT = 30.0
MINUTE = QUOTA_PAUSE  #: one minute-quota pause, the scheduler's and the wait's


@dataclass
class Watch:
    """What to wait for, and how."""

    read: Callable[[], Version]
    timeout: float
    interval: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    say: Callable[[str], None]
    #: The version as read before the rollout; None when any settled state will do.
    before: Version | None = None
    run_id: str | None = None
    #: A read just made (release, status): the loop starts from it, and sleeps before reading again.
    first: Version | None = None


@dataclass
class Waited:
    outcome: str  #: healthy, failed, timeout, or unwatchable (a read error that retrying cannot cure)
    status: str | None
    seconds: float
    timeline: list[tuple[float, str]] = field(default_factory=list)
    error: RolloutError | None = None


@dataclass
class _Seen:
    start: float
    status: str | None = None
    moved: bool = False
    last_line: float = 0.0
    last_error: str | None = None
    pause: float | None = None  #: the next sleep, when a reply asked for a longer one
    error: RolloutError | None = None
    timeline: list[tuple[float, str]] = field(default_factory=list)


def wait(watch: Watch) -> Waited:
    """Poll every `interval` until the version settles or `timeout` passes, on this thread.

    The synchronous driver of `watching`: calls run here, sleeps are `watch.sleep`. The
    scheduler (run/scheduler.py) drives the same program for many units with no thread each.
    """
    program = watching(watch)
    value: Any = None
    error: RolloutError | None = None
    while True:
        try:
            step = program.throw(error) if error is not None else program.send(value)
        except StopIteration as stop:
            waited: Waited = stop.value
            return waited
        value, error = None, None
        if isinstance(step, Sleep):
            watch.sleep(step.seconds)
            continue
        try:
            value = step.fn()
        except RolloutError as failed:
            error = failed


def watching(watch: Watch) -> Generator[Step, Any, Waited]:
    """The wait as a program of steps: `Call(watch.read)` for each read, `Sleep` between them.

    A read error that retrying can cure (busy, minute quota, 429/503, a lost
    connection) does not end the wait; any other ends it as `unwatchable`, with
    what was seen until then.
    """
    seen = _Seen(watch.clock())
    seen.last_line = seen.start
    deadline = seen.start + watch.timeout
    if watch.first is not None:  # a settled first read never gets here: the caller had its answer
        _observe(watch, seen, watch.first)
        yield Sleep(min(watch.interval, watch.timeout))
    while True:
        try:
            outcome = _judge(watch, seen, (yield Call(watch.read)))
        except RolloutError as error:
            outcome = _trouble(watch, seen, error)
        now = watch.clock()
        if outcome is not None:
            return Waited(outcome, seen.status, now - seen.start, seen.timeline, seen.error)
        if now >= deadline:
            return Waited("timeout", seen.status, now - seen.start, seen.timeline)
        if now - seen.last_line >= HEARTBEAT:
            watch.say(f"still {seen.status or 'unknown'} after {now - seen.start:.0f} s")
            seen.last_line = now
        yield Sleep(min(seen.pause or watch.interval, deadline - now))
        seen.pause = None


def _trouble(watch: Watch, seen: _Seen, error: RolloutError) -> str | None:
    """A read failed: `unwatchable` when retrying cannot cure it, else None (said once per kind)."""
    if not retry.retryable(error, safe=True):
        seen.error = error
        return "unwatchable"
    if isinstance(error, ApiError) and error.errcode == retry.MINUTE_QUOTA:
        seen.pause = max(watch.interval, MINUTE)  # "retry next minute" (docs/spec/NEIGHBOURS.md section 6)
    if error.short() != seen.last_error:  # once per kind of trouble, not once per poll
        watch.say(f"reading the status failed ({error.short()}); still waiting")
        seen.last_error = error.short()
    return None


def _judge(watch: Watch, seen: _Seen, version: Version) -> str | None:
    seen.last_error = None
    return _observe(watch, seen, version)


def _observe(watch: Watch, seen: _Seen, version: Version) -> str | None:
    elapsed = watch.clock() - seen.start
    if version.status != seen.status:
        seen.timeline.append((elapsed, version.status))
        watch.say(f"status {version.status or '(empty)'} after {elapsed:.0f} s")
        seen.status, seen.last_line = version.status, watch.clock()
    state = classify(version.status)
    if state not in (HEALTHY, FAILED):
        seen.moved = True
        return None
    return state if _is_new(watch, seen, version) else None


def _is_new(watch: Watch, seen: _Seen, version: Version) -> bool:
    """Evidence that a settled status belongs to our rollout, not to the state before it."""
    before = watch.before
    if before is None:
        return True
    return (seen.moved or version.updated_time != before.updated_time
            or (watch.run_id is not None and version.run_id == watch.run_id))
