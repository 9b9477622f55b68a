"""A fleet step, for both front ends: discover (when asked), run the waves, keep the results file, judge.

The Action and the CLI differ only in their Hooks (where a line, a warning and a progress line go,
and the words of their messages); what a fleet does and what it says is here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cloudbase_rollout.errors import Cancelled
from cloudbase_rollout.front import fleet_report, report, results_file
from cloudbase_rollout.inputs import discovery, plan
from cloudbase_rollout.run import core, fleet
from cloudbase_rollout.wechat import envs
from cloudbase_rollout.wechat.api import WeChat
from cloudbase_rollout.words import ACTION, Words


@dataclass
class Hooks:
    log: Callable[[str], None]
    debug: Callable[[str], None]  #: per-unit detail: a fleet's log grows with changes, not with units' polls
    warning: Callable[[str], None]
    progress: Callable[[str], None]
    redact: Callable[[str], str]
    words: Words = ACTION


@dataclass
class Ran:
    plan: plan.Plan
    results: list[core.Result]
    outcome: fleet.Outcome
    path: Path | None

    @property
    def exit_code(self) -> int:
        if self.outcome.budget_exceeded or self.outcome.stopped == "daily_quota":
            return 1
        return 1 if self.plan.command == "plan" and self.outcome.failures else 0


def discover(the_plan: plan.Plan, api: WeChat, raw: Mapping[str, str], env: Mapping[str, str], workspace: Path,
             hooks: Hooks) -> plan.Plan:
    """The fleet from the API, before any roll-update; a failing call fails the step here (nothing changed)."""
    assert the_plan.fleet is not None and the_plan.fleet.discovery is not None
    asked = the_plan.fleet.discovery
    if asked.kind == "envs":
        found = discovery.fleet_from(asked, envs.describe_envs(api))
    else:
        found = discovery.fleet_from(asked, envs.envs_for_appids(api, asked.appids))
    hooks.log(found.note)
    for skip in found.skipped:
        hooks.log(f"skipped {'environment' if skip.kind == 'env' else 'appid'} {skip.what}: {skip.reason}")
    return plan.prepare_plan(raw, env, workspace, discovered=found)


def dry_run_lines(the_plan: plan.Plan) -> list[str]:
    """What a fleet's dry run says: the discovery it would make, or the units in their waves."""
    assert the_plan.fleet is not None
    return [would_discover(the_plan)] if the_plan.fleet.pending_discovery else fleet_report.dry_run_lines(the_plan)


def would_discover(the_plan: plan.Plan) -> str:
    assert the_plan.fleet is not None and the_plan.fleet.discovery is not None
    asked = the_plan.fleet.discovery
    if asked.kind == "envs":
        glob = f", those whose alias matches {asked.alias!r}" if asked.alias else ""
        return f"would discover the Cloud Run environments (describecloudbaserunenvs){glob}; nothing was called"
    return (f"would discover the environments of {len(asked.appids)} appid(s) (batchgetenvid); "
            "nothing was called")


def run(the_plan: plan.Plan, api: WeChat, hooks: Hooks, path: Path | None, clock: Callable[[], float],
        sleep: Callable[[float], None]) -> Ran:
    """Every wave; the results file is rewritten as units finish and always at the end (also on cancel)."""
    assert the_plan.fleet is not None
    if the_plan.fleet.shard.count > 1:
        hooks.log(f"shard {the_plan.fleet.shard}: {len(the_plan.targets)} of the fleet's {the_plan.fleet.whole} "
                  "unit(s); waves, max_parallel and max_failures apply to these")
    results = [core.Result(t, version_name=t.version_name) for t in the_plan.targets]
    writer = results_file.Writer(path, hooks.redact, clock)
    ctx = core.Context(the_plan, api, hooks.debug, clock, sleep, lambda event, r: _event(hooks, the_plan, event, r),
                       quota_resends=fleet.QUOTA_RESENDS)
    controller: fleet.Controller

    def write(last: core.Result | None) -> None:
        outcome = controller.outcome
        writer.write(lambda: results_file.document(
            the_plan, results, complete=last is None and outcome.stopped != "cancelled", stopped=outcome.stopped,
            budget_exceeded=outcome.budget_exceeded), force=last is None)

    controller = fleet.Controller(ctx, results, the_plan.fleet, write, hooks.progress)
    try:
        outcome = controller.run()
    except Cancelled as cancelled:
        raise Cancelled(cancelled.signum, cancelled_detail(results, path)) from None
    return Ran(the_plan, results, outcome, path)


def cancelled_detail(results: list[core.Result], path: Path | None) -> str:
    started = [r for r in results if r.run_id and not r.promoted]
    kept = f" Every run_id received is in the results file {path}." if path is not None else ""
    return (f"while the fleet ran: {len(started)} unit(s) were started and not promoted; "
            f"{sum(r.state == 'skipped' for r in results)} never started.{kept}")


def _event(hooks: Hooks, the_plan: plan.Plan, event: str, r: core.Result) -> None:
    """A failure is said at once; an unsettled version too (report.event_line words it, as for one service);
    the rest of a unit's story is detail."""
    if event == "failed" and r.error is not None:
        hooks.warning(f"{r.target.id} (wave {r.wave}) failed: {r.error.text(hooks.words)}")
    elif event == "unsettled":
        hooks.log(report.event_line(the_plan, event, r))
    elif event == "accepted":
        hooks.debug(report.event_line(the_plan, event, r))


def plan_lines(ran: Ran) -> list[str]:
    """command plan: each unit current or would roll, with the fields that differ."""
    lines = []
    for r in ran.results:
        if r.state == "failed" and r.error is not None:
            lines.append(f"{r.target.id}: cannot be read: {r.error.short()}")
        elif r.changes is None:
            lines.append(f"{r.target.id}: would roll (upload_type repository is never current)")
        elif not r.changes:
            current = "current" if r.status == "normal" else f"would roll (status {r.status or '(empty)'})"
            lines.append(f"{r.target.id}: {current}")
        else:
            lines.append(f"{r.target.id}: would roll: " + "; ".join(c.text() for c in r.changes))
    return lines

