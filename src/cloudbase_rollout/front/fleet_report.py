"""What a fleet step shows: the dry run's waves, the outputs, and a step summary that stays under GitHub's
1 MiB (one table of counts per wave, every failed and skipped unit with its reason, the succeeded
collapsed; what does not fit is in the results file).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from cloudbase_rollout.front import merge, results_file
from cloudbase_rollout.front.report_command import capped, cell
from cloudbase_rollout.inputs.fleet import split
from cloudbase_rollout.inputs.plan import Plan
from cloudbase_rollout.run.core import Result
from cloudbase_rollout.run.fleet import Outcome

#: The `results` output holds the records up to this many units; the file always has them all.
RESULTS_OUTPUT_UNITS = 256
#: GitHub refuses a summary over 1 MiB; leave room for the tables around the lists.
SUMMARY_BUDGET = 900_000
STATES = merge.STATES
CELL = 300


def dry_run_lines(plan: Plan) -> list[str]:
    """The units in their waves (and the shard's part); the canary's body, as every body is built alike."""
    fleet = plan.fleet
    assert fleet is not None
    of = f" (shard {fleet.shard} of a fleet of {fleet.whole} units)" if fleet.shard.count > 1 else ""
    lines = [f"Dry run: {len(plan.targets)} unit(s) in {len(fleet.waves)} wave(s){of}; nothing was called."]
    for number, wave in enumerate(split(plan.targets, fleet.waves), 1):
        lines.append(f"wave {number}/{len(fleet.waves)}: {len(wave)} unit(s)")
        lines += [f"  {t.id}" for t in wave]
    canary = plan.targets[0] if plan.targets else None
    if canary is not None and canary.body is not None:
        lines += [f"The request of {canary.id} (the others differ in env_id, server_name and their overrides):",
                  json.dumps(canary.body, ensure_ascii=False, indent=2)]
    return lines


def dry_run_outputs(plan: Plan) -> dict[str, str]:
    """The dry run's `results`: each unit with its wave and the request it would send (up to 256 units)."""
    fleet = plan.fleet
    assert fleet is not None
    if len(plan.targets) > RESULTS_OUTPUT_UNITS:
        return {}
    return {"results": json.dumps([{"id": t.id, "env_id": t.env_id, "server_name": t.server_name, "wave": number,
                                    "request": t.body}
                                   for number, wave in enumerate(split(plan.targets, fleet.waves), 1) for t in wave],
                                  ensure_ascii=False)}


def outputs(plan: Plan, results: Sequence[Result], path: Path | None) -> dict[str, str]:
    """Counts always; the file's path when written; `results` up to 256 units; run_id_<id> only for services."""
    fleet = plan.fleet
    assert fleet is not None
    found = results_file.totals(results)
    values = {state: str(found[state]) for state in ("succeeded", "current", "failed", "skipped")}
    if path is not None:
        values["results_file"] = str(path)
    if len(results) <= RESULTS_OUTPUT_UNITS:
        values["results"] = json.dumps([results_file.unit_record(r) for r in results], ensure_ascii=False)
    if not fleet.explicit:
        values.update({f"run_id_{r.target.id}": r.run_id for r in results if r.run_id is not None})
    return values


def headline(plan: Plan, results: Sequence[Result], outcome: Outcome) -> str:
    found = results_file.totals(results)
    said = ", ".join(f"{found[s]} {s}" for s in STATES if found[s]) or "no unit"
    why = {"budget": f"; stopped: failures exceeded max_failures ({outcome.failures} > {outcome.allowed})",
           "daily_quota": "; stopped: the daily quota (45009) is spent", "cancelled": "; cancelled"}
    return f"{len(results)} unit(s): {said}{why.get(outcome.stopped or '', '')}"


def summary(plan: Plan, results: Sequence[Result], outcome: Outcome, path: Path | None) -> str:
    fleet = plan.fleet
    assert fleet is not None
    title = "plan" if plan.command == "plan" else "fleet rollout"
    shard = f", shard {fleet.shard} of a fleet of {fleet.whole}" if fleet.shard.count > 1 else ""
    lines = [f"### CloudBase Run {title}", "", headline(plan, results, outcome) + shard, "",
             "| wave | units | " + " | ".join(STATES) + " |", "|---|---|" + "---|" * len(STATES)]
    for number in range(1, len(fleet.waves) + 1):
        wave = [r for r in results if r.wave == number]
        found = results_file.totals(wave)
        lines.append(f"| {number} | {len(wave)} | " + " | ".join(str(found[s]) for s in STATES) + " |")
    budget = SUMMARY_BUDGET - sum(_size(line) for line in lines)
    for state in ("failed", "started", "skipped"):
        listed = [r for r in results if r.state == state]
        if listed:
            lines += ["", f"#### {len(listed)} {state}", ""]
            shown, budget = _capped([f"- `{_cell(r.target.id)}` (wave {r.wave}): {_cell(_reason(r))}"
                                     for r in listed], budget)
            lines += shown
    done = [r for r in results if r.state in ("succeeded", "current", "planned")]
    if done:
        shown, budget = _capped([f"- `{_cell(r.target.id)}`: {r.state}" + (f", run_id {r.run_id}" if r.run_id else "")
                                 for r in done], budget)
        lines += ["", f"<details><summary>{len(done)} succeeded, current or planned</summary>", "", *shown, "",
                  "</details>"]
    if path is not None:
        lines += ["", f"Every unit is in the results file `{_cell(str(path))}`."]
    return "\n".join(lines) + "\n"


def _reason(r: Result) -> str:
    if r.reason:
        return r.reason
    return r.error.short() if r.error is not None else r.state or ""


def _capped(items: list[str], budget: int) -> tuple[list[str], int]:
    """The items that fit in what is left of the summary's bytes (keeping 200 for the lines after)."""
    shown, left = capped(items, budget - 200)
    if left:
        return [*shown, f"- ... and {left} more (the results file has them all)"], 0
    return shown, budget - sum(_size(item) for item in shown)


def _size(line: str) -> int:
    return len(line.encode("utf-8")) + 1


def _cell(value: str) -> str:
    return cell(value, CELL)
