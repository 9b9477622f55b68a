"""What the front ends show of a plan and its results: log lines, the record, outputs, the summary.

One record shape (`record`) serves the `results` output and the CLI's --json; the
summary cells are bounded and escaped, whatever a server sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cloudbase_rollout.errors import ApiError
from cloudbase_rollout.inputs.plan import Plan, Target
from cloudbase_rollout.run.core import Result
from cloudbase_rollout.words import ACTION, Words

SUMMARY_CELL = 200
MAX_SUMMARY_ROWS = 200
COLUMNS = ("env", "service", "version", "image", "flow ratio", "run_id", "result", "status", "promoted")


def event_line(plan: Plan, event: str, r: Result) -> str:
    """The log line of a step as it happens: `start` (before the first call that changes or reads
    the service), `accepted` (the roll-update answered succ: its run_id, at once) and `unsettled`
    (the version read before the rollout is still moving or has failed: a warning)."""
    prefix = f"{r.target.id}: " if plan.batch else ""
    if event == "unsettled":
        return (f"{prefix}version {r.version_name} is {r.status or '(empty)'} before the rollout, not normal: "
                "the new rollout may be refused, or supersede the one still running")
    if event == "accepted":
        return f"{prefix}Rollout started: run_id {r.run_id} (result {r.result}, {r.attempts} attempt(s))"
    verb = {"rollout": "Rolling out", "release": "Releasing", "status": "Reading"}[plan.command]
    return f"{prefix}{verb} {_address(r.target)} through {plan.call.api_base_url}"


def _address(t: Target) -> str:
    return f"{t.server_name}@{t.version_name} in {t.env_id}"


def result_lines(r: Result) -> list[str]:
    """What is left to say when a service is done (its run_id was said when it came)."""
    lines = []
    if r.error is None and r.status is not None:
        lines.append(f"version {r.version_name}: status {r.status}"
                     + (f" after waiting {r.waited:.0f} s" if r.waited is not None else ""))
    return lines


def record(r: Result, words: Words = ACTION) -> dict[str, Any]:
    """One service's result, for the `results` output and --json (its error in the front end's words)."""
    t, error = r.target, r.error
    api = error if isinstance(error, ApiError) else None
    return {
        "id": t.id, "env_id": t.env_id, "server_name": t.server_name, "request": t.body,
        "version_name": r.version_name, "run_id": r.run_id,
        "result": r.result if r.run_id else ("failed" if error is not None else None),
        "errcode": api.errcode if api else (0 if r.run_id else None),
        "errmsg": api.errmsg if api else r.errmsg,
        "status": r.status, "promoted": r.promoted, "release_order_id": r.release_order_id,
        "waited_seconds": _seconds(r.waited), "timeline": [[round(at, 1), word] for at, word in r.timeline],
        "attempts": error.attempts if error is not None and r.run_id is None else r.attempts,
        "may_have_started": bool(error.may_have_started) if error is not None else r.run_id is not None,
        "error": error.text(words) if error is not None else None,
    }


def _seconds(waited: float | None) -> int | None:
    return None if waited is None else round(waited)


def outputs(plan: Plan, results: list[Result]) -> dict[str, str]:
    """What happened, as outputs: a failed step still tells the run_id it started and the status it read."""
    if plan.batch:
        found = {f"run_id_{r.target.id}": r.run_id for r in results if r.run_id is not None}
        return {**found, "results": json.dumps([record(r) for r in results], ensure_ascii=False)}
    [r] = results
    values: dict[str, Any] = {}
    if r.run_id is not None:
        values.update(run_id=r.run_id, result=r.result, request=r.target.request_json, version_name=r.version_name)
    if r.status is not None:
        values.update(status=r.status, version_name=r.version_name)
    if r.release_order_id is not None:
        values["release_order_id"] = str(r.release_order_id)
    if r.waited is not None:
        values["waited_seconds"] = str(_seconds(r.waited))
    return {name: str(value) for name, value in values.items() if value is not None}


def outputs_lost(error: OSError, results: list[Result]) -> str:
    started = ", ".join(f"{r.target.id} run_id {r.run_id}" for r in results if r.run_id)
    return (f"could not write the step outputs ({error}). Rollouts started: {started or 'none'}. Do not run "
            "this step again for them: that would start a second rollout.")


def plan_lines(plan: Plan, t: Target) -> list[str]:
    """What the step would do after the body: the dry run's account of the plan."""
    what = f"version {t.version_name} of {t.server_name}"
    resolve = " (latest resolved with getcsversionlist: the newest by created_time)" if t.version_name == "latest" \
        else ""
    patience = f"up to {plan.timeout} s, reading every {plan.interval} s"
    lines = []
    if plan.command == "rollout" and t.wait:
        lines += [f"would read {what} first{resolve}", f"would wait for {what} to become healthy ({patience})"]
    elif plan.command != "rollout":
        lines.append(f"would read {what}{resolve}")
        if t.wait:
            lines.append(f"would wait for {what} to settle ({patience})")
    if t.promote:
        lines.append(f"would release {what} (all the traffic) once it is normal")
    return lines


def dry_run_lines(plan: Plan) -> list[str]:
    lines = []
    for t in plan.targets:
        of = f" of {t.id}" if plan.batch else ""
        if t.body is not None:
            lines += [f"Dry run{of}: the request below is valid and was NOT sent.",
                      json.dumps(t.body, ensure_ascii=False, indent=2)]
        else:
            lines.append(f"Dry run{of}: command {plan.command} for {_address(t)}; nothing was called.")
        lines += plan_lines(plan, t)
    return lines


def dry_run_outputs(plan: Plan) -> dict[str, str]:
    if plan.batch:
        return {"results": json.dumps([{"id": t.id, "request": t.body, "version_name": t.version_name}
                                       for t in plan.targets], ensure_ascii=False)}
    [t] = plan.targets
    return {"request": t.request_json} if t.body is not None else {"version_name": t.version_name}


def summary(plan: Plan, results: list[Result], *, dry_run: bool = False) -> str:
    """One row per service, then each waited service's timeline."""
    title = {"rollout": "rollout", "release": "release", "status": "status"}[plan.command]
    lines = [f"### CloudBase Run {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results[:MAX_SUMMARY_ROWS]:
        lines.append("| " + " | ".join(_cell(c) for c in _row(r, dry_run)) + " |")
    for r in results[:MAX_SUMMARY_ROWS]:
        if r.timeline:
            lines += ["", f"#### {_cell(r.target.id)}: {_cell(r.version_name)}", ""]
            lines += [f"- {at:.0f} s: {_cell(word)}" for at, word in r.timeline]
    return "\n".join(lines) + "\n"


def _row(r: Result, dry_run: bool) -> tuple[Any, ...]:
    body: Mapping[str, Any] = r.target.body or {}
    info = body.get("image_info")
    image = info.get("image_url", "") if isinstance(info, dict) else ""
    if dry_run:
        result = "dry run (nothing sent)"
    elif r.error is not None:
        result = f"failed: {r.error.short()}"
    else:
        result = r.result or "ok"
    promoted = "yes" if r.promoted else ("no" if r.target.promote and not dry_run else "")
    return (r.target.env_id, r.target.server_name, r.version_name or "", image, body.get("flow_ratio", ""),
            r.run_id or "", result, r.status or "", promoted)


def _cell(value: Any) -> str:
    text = str(value)[:SUMMARY_CELL]
    text = "".join(c if c.isprintable() else " " for c in text)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;") or "-"
