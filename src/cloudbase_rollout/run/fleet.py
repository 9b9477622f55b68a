"""A fleet on the one scheduler: waves in order, at most max_parallel units in progress, a failure budget,
a bake, one quota for all, and a state for every unit even when the step stops early.

Each unit is core's program (read, roll-update, wait, release) with two fleet steps before it: the
read that skip_current compares (vocabulary/fields.py), and the resend of a roll-update that the
minute quota refused. The controller admits units from the wave's queue as others settle; it starts
no unit once failures exceed max_failures (the ones in progress run to their end) and stops every
unit at its next step once the daily quota (45009) is spent. SIGTERM/SIGINT leave the loop at once;
every unit then gets its state, so the results file keeps every run_id received.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cloudbase_rollout.errors import Cancelled, RolloutError
from cloudbase_rollout.inputs.fleet import Fleet, split
from cloudbase_rollout.inputs.waves import allowed
from cloudbase_rollout.run import core, progress
from cloudbase_rollout.run.scheduler import Program, Scheduler, Sleep, Task, calling, errcode
from cloudbase_rollout.vocabulary import fields
from cloudbase_rollout.vocabulary.statuses import HEALTHY, classify

#: Calls in flight at most: enough to keep the API busy, and with the transport's deadline thread per call
#: still under 50 threads; never a thread per unit (max_parallel may be 1000).
POOL = 20
DAILY_QUOTA = 45009
#: A roll-update refused with 45011 is sent again after each shared pause, this many times at most.
QUOTA_RESENDS = 10


@dataclass
class Outcome:
    stopped: str | None = None  #: budget, daily_quota or cancelled; None when every wave ran
    failures: int = 0
    allowed: int = 0

    @property
    def budget_exceeded(self) -> bool:
        return self.failures > self.allowed


class Controller:
    """Waves one after another; within a wave, units admitted as others settle."""

    def __init__(self, ctx: core.Context, results: Sequence[core.Result], fleet: Fleet,
                 on_change: Callable[[core.Result | None], None], say: Callable[[str], None]) -> None:
        self.ctx, self.fleet, self.on_change = ctx, fleet, on_change
        self.options = fleet.options
        self.scheduler = Scheduler(min(self.options.max_parallel, POOL), ctx.clock, ctx.sleep,
                                   on_pause=lambda s: say(f"the minute quota (45011) is spent: every unit's next "
                                                          f"call waits {s:.0f} s, once for all"))
        self.waves = split(results, fleet.waves)
        for number, wave in enumerate(self.waves, 1):
            for r in wave:
                r.wave = number
        self.results = results
        self.outcome = Outcome(allowed=allowed(self.options.max_failures, len(results)))
        self.progress = progress.Progress(len(self.waves), ctx.clock, say)
        self.current = 0
        self.pending: deque[core.Result] = deque()
        self.active = 0
        self.filling = False

    def run(self) -> Outcome:
        try:
            self._start_wave(0)
            self.scheduler.run()
        except Cancelled:
            self.outcome.stopped = "cancelled"
            self._finalize()
            raise
        self._finalize()
        return self.outcome

    def _start_wave(self, index: int) -> None:
        if index >= len(self.waves):
            return
        self.current = index
        if self.outcome.stopped is None:
            self.progress.wave_started(index + 1, self.waves[index])
        self.pending = deque(self.waves[index])
        self._fill()

    def _fill(self) -> None:
        self.filling = True
        try:
            while self.pending and self.active < self.options.max_parallel:
                r = self.pending.popleft()
                if self.outcome.stopped is not None:
                    continue  # skipped, with its reason, by _finalize
                self.active += 1
                r.state = "started"
                self.scheduler.spawn(_guarded(self._program(r), r), _then(self._done, r))
        finally:
            self.filling = False
        if self.active == 0 and (not self.pending or self.outcome.stopped is not None):
            self._wave_done()

    def _program(self, r: core.Result) -> Program:
        return unit_program(self.ctx, r, self.options.skip_current)

    def _done(self, r: core.Result) -> None:
        self.active -= 1
        self._settle(r)
        self.on_change(r)
        self.progress.tick(self.waves[self.current])
        if not self.filling:
            self._fill()

    def _settle(self, r: core.Result) -> None:
        """The unit's state once its program ended (or was stopped); a failure counts against the budget."""
        error = r.error
        daily = errcode(error) == DAILY_QUOTA
        if daily:
            self._halt("daily_quota")
        if r.phase != "done":  # stopped at its next step: _finalize says started or skipped
            return
        if error is None:
            r.state = r.state if r.state in ("current", "planned") else "succeeded"
            return
        if daily:  # not a failure of the unit: the fleet stopped
            r.state, r.phase = ("started", "waiting") if r.run_id else (None, "pending")
            return
        r.state = "failed"
        self.outcome.failures += 1
        self.ctx.on_event("failed", r)
        if self.outcome.budget_exceeded and self.outcome.stopped is None:
            self.outcome.stopped = "budget"

    def _halt(self, why: str) -> None:
        if self.outcome.stopped != why:
            self.outcome.stopped = why
            self.scheduler.stop()

    def _wave_done(self) -> None:
        if self.outcome.stopped is None:
            self.progress.wave_ended(self.waves[self.current])
        bake = self.options.bake_seconds
        healthy = [r for r in self.waves[self.current] if r.state == "succeeded"]
        if not (bake and healthy and self.outcome.stopped is None and self.ctx.plan.command == "rollout"):
            self._start_wave(self.current + 1)
            return
        self.progress.say(f"wave {self.current + 1}/{len(self.waves)}: baking {bake} s, then reading its "
                     f"{len(healthy)} healthy unit(s) again")
        left = [len(healthy)]

        def baked(r: core.Result) -> None:
            left[0] -= 1
            if r.state == "failed":
                self.outcome.failures += 1
                self.ctx.on_event("failed", r)
                self.on_change(r)
            if left[0] == 0:
                if self.outcome.budget_exceeded and self.outcome.stopped is None:
                    self.outcome.stopped = "budget"
                self._start_wave(self.current + 1)

        for r in healthy:
            self.scheduler.spawn(_baked(self.ctx, r, bake), _then(baked, r))

    def _finalize(self) -> None:
        """Every unit a state: in progress when the step stopped is `started`; never started is `skipped`."""
        for r in self.results:
            if r.state in (None, "started"):
                r.state, r.reason = _stopped_state(r, self.outcome)
        self.on_change(None)


def _then(action: Callable[[core.Result], None], r: core.Result) -> Callable[[Task], None]:
    """A task's on_done that acts on its unit."""
    return lambda _task: action(r)


def _stopped_state(r: core.Result, outcome: Outcome) -> tuple[str, str | None]:
    why = {"budget": f"not started: {outcome.failures} failure(s), more than max_failures tolerates "
                     f"({outcome.allowed})",
           "daily_quota": "the daily quota (45009) is spent",
           "cancelled": "the step was cancelled"}.get(outcome.stopped or "", "not started")
    if r.run_id is not None:
        return "started", f"started (run_id {r.run_id}) and cannot be watched: {why}"
    if r.state == "started" and r.phase == "calling":
        return "started", f"the roll-update may have started and cannot be watched: {why}"
    return "skipped", why if outcome.stopped == "budget" else f"not started: {why}"


def unit_program(ctx: core.Context, r: core.Result, skip_current: bool) -> Program:
    """One unit: the read (for wait, skip_current and plan), then plan's account or core's rollout."""
    t = r.target
    if ctx.plan.command == "plan" or t.wait or skip_current:
        r.before = yield from _read(ctx, r)
        r.status = r.before.status
        changes = fields.changes(t.body or {}, r.before.detail)
        r.changes = changes
        if ctx.plan.command == "plan":
            r.state = "planned"
            return
        if skip_current and changes == [] and classify(r.status) == HEALTHY:
            r.state = "current"
            return
        if classify(r.status) != HEALTHY:
            ctx.on_event("unsettled", r)
    yield from core.STEPS["rollout"](ctx, r)


def _read(ctx: core.Context, r: core.Result) -> Program:
    """The version, read again after the shared pause when the minute quota refused it."""
    return (yield from calling(lambda: core.read(ctx, r), QUOTA_RESENDS))


def _guarded(program: Program, r: core.Result) -> Program:
    """The unit's error is its result; `done` only when the program ran to its end (not when stopped)."""
    try:
        yield from program
    except RolloutError as error:
        r.error = error
    except Exception as error:  # a bug in one unit must still fail it, not the fleet
        r.error = RolloutError(f"internal error: {type(error).__name__}: {error}")
    r.phase = "done"


def _baked(ctx: core.Context, r: core.Result, seconds: int) -> Program:
    """Wait the bake, then read the unit again: one no longer normal is a failure of its wave."""
    yield Sleep(seconds)
    r.phase = "baking"
    try:
        version = yield from _read(ctx, r)
        r.status = version.status
        error = None if classify(version.status) == HEALTHY else RolloutError(
            f"after the bake of {seconds} s the version is {version.status or '(empty)'}, no longer normal")
    except RolloutError as failure:
        error = failure
    r.phase = "done"
    if error is not None:
        r.state, r.error = "failed", error
