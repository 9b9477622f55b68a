"""One scheduler for one unit or ten thousand: a unit is a generator of steps, and holds no thread.

A unit's program is written as plain sequential code that *yields* what it needs: `Call(fn)`
(run fn on the bounded pool; the generator is resumed with its value, or its RolloutError
thrown in) or `Sleep(seconds)` (a timer). The scheduler owns every unit's timers in one heap
and the calls in one small pool of daemon threads, so a unit waiting for its next poll costs a
heap entry, not a thread. The main thread only runs the loop: SIGTERM/SIGINT interrupt it at
once, as they interrupt core's joins today.

One token is one quota for every unit (docs/spec/FLEET.md section 3): a minute-quota refusal
(45011) on any call pauses every unit's next call until the quota can serve again, once for
all. Clock and sleep are parameters: with a fake clock, time moves only when no call is in
flight, so tests are deterministic.

core.run (one service, or services) and run/fleet.py (waves of units) both run on it.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from cloudbase_rollout.errors import ApiError, RolloutError
from cloudbase_rollout.wechat import retry

#: "retry next minute" (docs/spec/NEIGHBOURS.md section 6).
QUOTA_PAUSE = 60.0
#: How long the loop blocks for a completion before looking at its timers again (real seconds).
SLICE = 0.2


@dataclass(frozen=True)
class Call:
    """Run `fn` on the pool; the unit resumes with its value (or its error thrown in)."""

    fn: Callable[[], Any]


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = Call | Sleep
Program = Generator[Step, Any, Any]


def errcode(error: BaseException | None) -> int | None:
    """WeChat's errcode behind an error, also when a lifecycle error carries it as its cause (a read
    that failed before a rollout is a LifecycleError whose cause is the ApiError)."""
    for found in (error, getattr(error, "cause", None)):
        if isinstance(found, ApiError):
            return found.errcode
    return None


def calling(fn: Callable[[], Any], resends: int = 0) -> Generator[Step, Any, Any]:
    """`yield Call(fn)`, sent again (up to `resends` times) when the minute quota (45011) refused it: a
    refusal started nothing, and the scheduler holds the resend until its one shared pause is over."""
    for attempt in range(resends + 1):
        try:
            return (yield Call(fn))
        except RolloutError as error:
            if errcode(error) != retry.MINUTE_QUOTA or attempt == resends:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(eq=False)
class Task:
    """One unit's program and what to do when it ends (its return value, or the error that ended it)."""

    program: Program
    on_done: Callable[[Task], None]
    result: Any = None
    error: BaseException | None = None
    calling: bool = False  #: a call of this task is in flight


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    task: Task = field(compare=False)
    call: Call | None = field(compare=False, default=None)  #: dispatch this call when due (a quota pause)


class Scheduler:
    """Drives tasks until none is left; at most `pool_size` calls in flight."""

    def __init__(self, pool_size: int = 16, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, on_pause: Callable[[float], None] = lambda _s: None):
        self.clock, self.sleep, self.on_pause = clock, sleep, on_pause
        self.pool_size = pool_size
        self.paused_until = 0.0
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._work: queue.SimpleQueue[tuple[Task, Call] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[Task, Any, BaseException | None]] = queue.SimpleQueue()
        self._workers = 0
        self._inflight = 0
        self._live = 0
        self._stopping = False

    def stop(self) -> None:
        """End every task at its next step (the daily quota is spent): a call in flight still delivers its
        value first (a run_id is never lost), then the program is closed; timers are dropped now."""
        self._stopping = True
        timers, self._timers = self._timers, []
        for timer in timers:
            timer.task.program.close()
            self._end(timer.task, None, None)

    def spawn(self, program: Program, on_done: Callable[[Task], None] = lambda _t: None) -> Task:
        """Start a program now (its first step runs at once, on this thread)."""
        task = Task(program, on_done)
        self._live += 1
        self._resume(task, None, None)
        return task

    def run(self) -> None:
        """Until every task has ended. A signal's exception leaves it at once; calls in flight are abandoned."""
        try:
            while self._live:
                self._fire_due()
                if self._inflight:
                    self._collect()
                elif self._timers:
                    self.sleep(max(0.0, self._timers[0].due - self.clock()))
        finally:
            if not self._live:
                self._stop_workers()

    @property
    def threads(self) -> int:
        """Pool threads started so far (never more than pool_size)."""
        return self._workers

    def _fire_due(self) -> None:
        now = self.clock()
        while self._timers and self._timers[0].due <= now:
            timer = heapq.heappop(self._timers)
            if timer.call is not None:
                self._dispatch(timer.task, timer.call)
            else:
                self._resume(timer.task, None, None)

    def _collect(self) -> None:
        """Block for one completion (in short slices, so timers and signals are seen), then take the rest."""
        wait = SLICE if not self._timers else min(SLICE, max(0.0, self._timers[0].due - self.clock()))
        try:
            item = self._done.get(timeout=wait)
        except queue.Empty:
            return
        while True:
            task, value, error = item
            if isinstance(error, RolloutError):
                self._note_quota(error)
            self._inflight -= 1
            task.calling = False
            self._resume(task, value, error)
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                return

    def _resume(self, task: Task, value: Any, error: BaseException | None) -> None:
        try:
            step = task.program.throw(error) if error is not None else task.program.send(value)
        except StopIteration as stop:
            self._end(task, stop.value, None)
            return
        except Exception as failure:  # the program let an error out: it ends with it, the others go on
            self._end(task, None, failure)
            return
        if self._stopping:
            task.program.close()
            self._end(task, None, None)
        elif isinstance(step, Sleep):
            self._at(self.clock() + max(0.0, step.seconds), task)
        elif self.clock() < self.paused_until:
            self._at(self.paused_until, task, step)
        else:
            self._dispatch(task, step)

    def _end(self, task: Task, result: Any, error: BaseException | None) -> None:
        task.result, task.error = result, error
        self._live -= 1
        task.on_done(task)

    def _at(self, due: float, task: Task, call: Call | None = None) -> None:
        heapq.heappush(self._timers, _Timer(due, next(self._seq), task, call))

    def _dispatch(self, task: Task, call: Call) -> None:
        if self._workers < min(self.pool_size, self._inflight + 1):
            self._workers += 1
            threading.Thread(target=self._worker, name="cloudbase-rollout-unit", daemon=True).start()
        self._inflight += 1
        task.calling = True
        self._work.put((task, call))

    def _worker(self) -> None:
        while (item := self._work.get()) is not None:
            task, call = item
            try:
                self._done.put((task, call.fn(), None))
            except Exception as error:  # a bug in a call still ends its unit, not the pool
                self._done.put((task, None, error))

    def _note_quota(self, error: RolloutError) -> None:
        """45011 on any call: one shared pause for every unit's next call (said once per pause)."""
        if errcode(error) == retry.MINUTE_QUOTA:
            until = self.clock() + QUOTA_PAUSE
            if until > self.paused_until + 1.0:
                first = self.paused_until <= self.clock()
                self.paused_until = until
                if first:
                    self.on_pause(QUOTA_PAUSE)

    def _stop_workers(self) -> None:
        for _ in range(self._workers):
            self._work.put(None)
        self._workers = 0
