"""Run a Plan: roll out, wait, release or read, for one service or many. The Action and the CLI both call `run`.

Each service is a program of steps on one scheduler (run/scheduler.py): at most
MAX_PARALLEL in progress, the calls on a small pool, a waiting service holding no
thread. The main thread runs the loop, so SIGTERM/SIGINT stop the step at once with
an account of what had started. With `wait`, every service's version is read before any roll-update is
sent: a version that cannot be read fails the step before anything changes.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cloudbase_rollout.errors import NOT_THE_ADDRESS, Cancelled, LifecycleError, RolloutError, WaitKind, cancelled_text
from cloudbase_rollout.inputs.plan import Plan, Target
from cloudbase_rollout.run.scheduler import Call, Program, Scheduler, Step, Task, calling
from cloudbase_rollout.vocabulary.statuses import FAILED, HEALTHY, classify
from cloudbase_rollout.wechat import cloudrun
from cloudbase_rollout.wechat.api import WeChat
from cloudbase_rollout.wechat.cloudrun import Version

if TYPE_CHECKING:
    from cloudbase_rollout.run import waiting

#: At most this many services in flight (Tencent documents 1000 requests/s for the API).
MAX_PARALLEL = 20


@dataclass
class Result:
    """What happened to one service: the one shape both front ends present."""

    target: Target
    version_name: str | None = None  #: concrete once resolved (or as given when nothing was read)
    run_id: str | None = None
    result: str | None = None  #: the roll-update's result word (succ)
    errmsg: str | None = None
    attempts: int = 0
    status: str | None = None  #: the last status read
    waited: float | None = None
    timeline: list[tuple[float, str]] = field(default_factory=list)
    release_order_id: int | None = None
    promoted: bool = False
    error: RolloutError | None = None
    phase: str = "pending"  #: pending, reading, calling, waiting, releasing, baking, done
    before: Version | None = None
    wave: int = 1  #: a fleet's wave (1 is the canary's)
    state: str | None = None  #: a fleet's unit state once known (schema/results.schema.json): current, skipped, ...
    reason: str | None = None  #: why a unit was skipped or could not be watched
    changes: list[Any] | None = None  #: skip_current and plan: the fields that differ (vocabulary/fields.Change)


@dataclass
class Context:
    plan: Plan
    api: WeChat
    say: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    #: `start` before a service's first call (for a rollout: the roll-update), `accepted` after it;
    #: `unsettled` when the version read before a rollout is moving or failed.
    on_event: Callable[[str, Result], None] = lambda _event, _r: None
    #: A fleet sends a roll-update refused with 45011 again after the shared pause (it started nothing).
    quota_resends: int = 0


def run(ctx: Context) -> list[Result]:
    """Every target's steps; preflight reads for all waiting rollouts first."""
    results = [Result(target, version_name=target.version_name) for target in ctx.plan.targets]
    if ctx.plan.command == "rollout":
        early = [r for r in results if r.target.wait]
        _parallel(ctx, early, _preflight)
        unreadable = [r for r in early if r.error is not None]
        if unreadable:
            for r in results:
                if r.error is None:
                    r.error = RolloutError("not rolled out: the version of " + ", ".join(
                        u.target.id for u in unreadable) + " cannot be read, so nothing was changed")
                    r.error.attempts = 0  # nothing was called for it
            return results
    _parallel(ctx, results, STEPS[ctx.plan.command])
    return results


def _parallel(ctx: Context, results: Sequence[Result], step: Callable[[Context, Result], Program]) -> None:
    """Run step's program for each result on one scheduler: at most MAX_PARALLEL in progress, no thread each.

    The main thread runs the scheduler's loop, so SIGTERM/SIGINT stop the step at once.
    """
    scheduler = Scheduler(MAX_PARALLEL, ctx.clock, ctx.sleep)
    pending = deque(results)

    def start_next(_done: Task | None = None) -> None:
        if pending:
            r = pending.popleft()
            scheduler.spawn(_guarded(ctx, r, step), start_next)

    try:
        for _ in range(min(MAX_PARALLEL, len(results))):
            start_next()
        scheduler.run()
    except Cancelled as cancelled:
        states = [(r.target.id, r.phase, r.run_id, r.promoted) for r in results]
        detail, may = cancelled_text(ctx.plan.call.api_base_url, states)
        raise Cancelled(cancelled.signum, detail, may_have_started=may) from None


def _guarded(ctx: Context, r: Result, step: Callable[[Context, Result], Program]) -> Program:
    try:
        yield from step(ctx, r)
    except RolloutError as error:
        r.error = error
    except Exception as error:  # a bug in one unit must still fail the step, not vanish
        r.error = RolloutError(f"internal error: {type(error).__name__}: {error}")
    finally:
        r.phase = "done"


def _say(ctx: Context, r: Result) -> Callable[[str], None]:
    return lambda message: ctx.say(f"{r.target.id}: {message}")


def _preflight(ctx: Context, r: Result) -> Program:
    """Read the version before anything changes: its state is the 'before' of the evidence rule."""
    r.before = yield Call(lambda: read(ctx, r))
    r.status = r.before.status
    _say(ctx, r)(f"version {r.version_name} is {r.status or '(empty)'} before the rollout")
    if classify(r.status) != HEALTHY:
        ctx.on_event("unsettled", r)  # a warning: known before the rollout, so said before it
    r.phase = "pending"


def read(ctx: Context, r: Result) -> Version:
    """Resolve `latest` and read the version; any failure is a preflight error naming what exists."""
    t, api = r.target, ctx.api
    r.phase = "reading"
    versions: list[Version] = []
    listed = (r.version_name or t.version_name) == "latest"  # resolved once: a resend after 45011 reads on
    try:
        if listed:
            versions = cloudrun.list_versions(api, t.env_id, t.server_name)
            found = cloudrun.newest(versions)
            if found is None:
                raise LifecycleError("preflight", t.server_name, "latest", command=ctx.plan.command)
            r.version_name = found.name
        return cloudrun.read_version(api, t.env_id, t.server_name, r.version_name or t.version_name)
    except LifecycleError:
        raise
    except RolloutError as error:
        # List once at most, and not when the read was refused for the token or its quota (NOT_THE_ADDRESS):
        # the list would be refused too, and spend the quota a resend needs.
        known = listed or getattr(error, "errcode", None) in NOT_THE_ADDRESS
        names = tuple(v.name for v in versions) or (() if known else _known(ctx, t))
        raise LifecycleError("preflight", t.server_name, r.version_name or t.version_name, cause=error,
                             versions=names, command=ctx.plan.command) from None


def _known(ctx: Context, t: Target) -> tuple[str, ...]:
    """The service's versions for an error message, when they can be listed."""
    try:
        return tuple(v.name for v in cloudrun.list_versions(ctx.api, t.env_id, t.server_name))[:20]
    except RolloutError:
        return ()


def _rollout(ctx: Context, r: Result) -> Program:
    t = r.target
    body = t.body
    assert body is not None
    ctx.on_event("start", r)
    r.phase = "calling"
    reply = yield from calling(lambda: cloudrun.roll_update(ctx.api, body), ctx.quota_resends)
    r.run_id, r.result, r.errmsg, r.attempts = reply.run_id, reply.result, reply.errmsg, reply.attempts
    ctx.on_event("accepted", r)
    if not t.wait:
        return
    r.phase = "waiting"
    outcome = yield from _wait(ctx, r, r.before)
    if outcome.outcome != HEALTHY:
        raise _unsettled(ctx, r, outcome.outcome)
    if t.promote:
        yield from _release(ctx, r)


def _wait(ctx: Context, r: Result, before: Version | None,
          first: Version | None = None) -> Generator[Step, Any, waiting.Waited]:
    # Imported here, not at the top: only a wait (rollout, release or status) needs it (docs/performance.md).
    from cloudbase_rollout.run import waiting

    t = r.target
    version = r.version_name or t.version_name
    watch = waiting.Watch(lambda: _read_for_wait(ctx, r, version, before), ctx.plan.timeout, ctx.plan.interval,
                          ctx.clock, ctx.sleep, _say(ctx, r), before, r.run_id, first)
    outcome = yield from waiting.watching(watch)
    r.status = outcome.status or r.status
    r.waited, r.timeline = outcome.seconds, outcome.timeline
    if outcome.error is not None:
        raise LifecycleError("unwatchable", t.server_name, version, r.status, r.run_id, r.waited,
                             cause=outcome.error, command=ctx.plan.command)
    return outcome


def _read_for_wait(ctx: Context, r: Result, version: str, before: Version | None) -> Version:
    """The version's detail; when it reads as the old `normal`, also its list item's run_id.

    getcsversiondetail carries no run_id; a list item may (Tencent's model has RunId,
    docs/spec/NEIGHBOURS.md section 4), and ours there proves the rollout landed.
    """
    t = r.target
    found = cloudrun.read_version(ctx.api, t.env_id, t.server_name, version, attempts=1)
    old_normal = before is not None and classify(found.status) == HEALTHY and found.updated_time == before.updated_time
    if not old_normal or found.run_id is not None or r.run_id is None:
        return found
    try:  # extra evidence only: a list that cannot be read leaves the detail as it is
        listed = {v.name: v for v in cloudrun.list_versions(ctx.api, t.env_id, t.server_name, 1)}.get(version)
    except RolloutError:
        return found
    return replace(found, run_id=listed.run_id) if listed is not None and listed.run_id else found


def _unsettled(ctx: Context, r: Result, outcome: str) -> LifecycleError:
    kind: WaitKind = "failed" if outcome == FAILED else "timeout"
    return LifecycleError(kind, r.target.server_name, r.version_name or "", r.status, r.run_id, r.waited,
                          command=ctx.plan.command, limit=ctx.plan.timeout)


def _release(ctx: Context, r: Result) -> Program:
    t = r.target
    version = r.version_name or t.version_name
    r.phase = "releasing"
    word, order = yield Call(lambda: cloudrun.release(ctx.api, t.env_id, t.server_name, version))
    if word != "success":
        raise LifecycleError("release_failed", t.server_name, version, word, r.run_id,
                             cause=RolloutError(f"result {word}"), command=ctx.plan.command)
    r.promoted, r.release_order_id = True, order
    _say(ctx, r)(f"released {version}: it takes all the traffic (release_order_id {order})")


def _release_command(ctx: Context, r: Result) -> Program:
    """Promote an existing version: only a normal one (after waiting, with wait)."""
    state = yield from _settle(ctx, r)
    if state == "timeout":
        raise _unsettled(ctx, r, state)
    if state != HEALTHY:
        raise LifecycleError("refused", r.target.server_name, r.version_name or "", r.status,
                             waited=r.waited, command="release")
    yield from _release(ctx, r)


def _status_command(ctx: Context, r: Result) -> Program:
    """Read (and with wait, wait until settled); only a failed settle fails the step."""
    state = yield from _settle(ctx, r)
    if r.target.wait and state != HEALTHY:
        raise _unsettled(ctx, r, state)


def _settle(ctx: Context, r: Result) -> Generator[Step, Any, str]:
    ctx.on_event("start", r)
    version = yield Call(lambda: read(ctx, r))
    r.status = version.status
    _say(ctx, r)(f"version {r.version_name} is {r.status or '(empty)'}")
    state = classify(version.status)
    if r.target.wait and state not in (HEALTHY, FAILED):
        r.phase = "waiting"
        state = (yield from _wait(ctx, r, None, version)).outcome
    return state


STEPS: dict[str, Callable[[Context, Result], Program]] = {
    "rollout": _rollout, "release": _release_command, "status": _status_command,
}


def backoff_base(env: Mapping[str, str]) -> float:
    """The first retry delay, in seconds; tests shorten it with CLOUDBASE_ROLLOUT_BACKOFF_BASE."""
    try:
        base = float(env.get("CLOUDBASE_ROLLOUT_BACKOFF_BASE", "1.0"))
    except ValueError:
        return 1.0
    return min(max(base, 0.0), 10.0) if math.isfinite(base) else 1.0


def install_cancel_handlers() -> None:
    """A cancelled job sends SIGTERM (Ctrl-C: SIGINT); stop at once with a clear error.

    Raising from the handler interrupts a blocking wait (PEP 475 retries only when
    the handler returns), so a slow call or a long wait cannot hold the step.
    """
    import signal

    def handler(signum: int, _frame: object) -> None:
        raise Cancelled(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)
