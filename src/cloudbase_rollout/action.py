"""Adapt a rollout to the GitHub Actions runner: INPUT_* in; masks, annotations,
outputs and a step summary out (through github-action-utils).

Every line printed goes through the Redactor; outputs are written only after a
successful call, all together, so a failed step sets nothing.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import github_action_utils as gha

from cloudbase_rollout import rollout, settings
from cloudbase_rollout.errors import MAY_HAVE_STARTED, ApiError, InvalidInput, RolloutError, TransportError
from cloudbase_rollout.redact import Redactor

SUMMARY_CELL = 200
MAX_SUMMARY_ROWS = 200


def command_data(text: str) -> str:
    """Escape a workflow command's data as the runner decodes it (%, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


class Runner:
    """The runner side of one step; every text is redacted on the way out."""

    def __init__(self, env: Mapping[str, str], redactor: Redactor) -> None:
        self.env = env
        self.redact = redactor
        self.debugging = env.get("RUNNER_DEBUG") == "1"

    def mask(self, secret: str) -> None:
        gha.echo(f"::add-mask::{command_data(secret)}")

    def log(self, message: str) -> None:
        gha.echo(self.redact(message))

    def debug(self, message: str) -> None:
        if self.debugging:
            gha.echo(f"::debug::{command_data(self.redact(message))}")

    def warning(self, message: str, title: str = "cloudbase-rollout") -> None:
        gha.warning(self.redact(message), title=title)

    def error(self, message: str, title: str) -> None:
        gha.error(self.redact(message), title=title)

    def outputs(self, values: Mapping[str, str]) -> None:
        if self.env.get("GITHUB_OUTPUT"):
            for name, value in values.items():
                gha.set_output(name, self.redact(value))

    def summary(self, markdown: str) -> None:
        if self.env.get("GITHUB_STEP_SUMMARY"):
            try:
                gha.append_job_summary(self.redact(markdown))
            except OSError as error:
                self.warning(f"could not write the step summary: {error}")


def read_inputs(env: Mapping[str, str]) -> dict[str, str]:
    """INPUT_<NAME> for every known input (hyphens kept, as the runner does)."""
    found = {name: env.get(f"INPUT_{name.upper()}") for name in settings.input_names()}
    return rollout.with_secret_env({k: v for k, v in found.items() if v is not None}, env)


def main(env: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    redactor = Redactor()
    runner = Runner(env, redactor)
    try:
        rollout.install_cancel_handlers()
        raw = read_inputs(env)
        rollout.register_secrets(raw, redactor, runner.mask)
        return run(raw, env, runner)
    except RolloutError as error:
        return fail(runner, error)
    except Exception:
        runner.error("an unexpected error; please report it with this log:\n"
                     + traceback.format_exc(limit=8), title="cloudbase-rollout internal error")
        return 1


def run(raw: Mapping[str, str], env: Mapping[str, str], runner: Runner) -> int:
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    try:
        targets = rollout.prepare_all(raw, env, workspace)
    except InvalidInput as error:
        for problem in error.problems:
            runner.error(str(problem), title="Invalid input")
        runner.log(f"{len(error.problems)} invalid input(s); no request was sent.")
        return error.exit_code
    batch = "services" in raw
    for target in targets:
        prefix = f"{target.id}: " if batch else ""
        for warning in target.plan.warnings:
            runner.warning(prefix + warning)
        runner.debug(f"{prefix}request body: {target.plan.request_json}")
    call = targets[0].plan.call
    if call.dry_run:
        return dry_run(runner, targets, batch)
    for target in targets:
        runner.log(f"Rolling out {_target(target.plan.body)} through {call.api_base_url}")
    outcomes = rollout.execute_all(targets, runner.redact, runner.mask, runner.log)
    return report(runner, outcomes, batch)


def report(runner: Runner, outcomes: list[rollout.Outcome], batch: bool) -> int:
    """Log each outcome; write outputs and one summary table.

    A single rollout sets outputs only on success. With `services`, the run_ids
    of the services that did start are written even when others failed, so a
    later step can see what is rolling out.
    """
    failed = [o for o in outcomes if o.reply is None]
    for outcome in outcomes:
        prefix = f"{outcome.target.id}: " if batch else ""
        if outcome.reply is not None:
            reply = outcome.reply
            runner.log(f"{prefix}Rollout started: run_id {reply.run_id} (result {reply.result}, "
                       f"{reply.attempts} attempt(s))")
        elif outcome.error is not None:
            fail(runner, outcome.error, prefix)
    runner.summary(summary_table([(o.target.plan.body, *_status(o)) for o in outcomes]))
    try:
        runner.outputs(_outputs(outcomes, batch) if batch or not failed else {})
    except OSError as error:
        started = ", ".join(f"{o.target.id} run_id {o.reply.run_id}" for o in outcomes if o.reply)
        runner.error(f"could not write the step outputs ({error}). Rollouts started: {started}. Do not run "
                     "this step again for them: that would start a second rollout.", title="Outputs not written")
        return 1
    if failed:
        if batch:
            runner.log(f"{len(failed)} of {len(outcomes)} rollouts failed.")
        return max(o.error.exit_code if o.error else 1 for o in failed)
    return 0


def _outputs(outcomes: list[rollout.Outcome], batch: bool) -> dict[str, str]:
    if not batch:
        [outcome] = outcomes
        assert outcome.reply is not None
        return {"run_id": outcome.reply.run_id, "result": outcome.reply.result,
                "request": outcome.target.plan.request_json}
    results = [{"id": o.target.id, "env_id": o.target.plan.body.get("env_id"),
                "server_name": o.target.plan.body.get("server_name"),
                "run_id": o.reply.run_id if o.reply else None,
                "result": o.reply.result if o.reply else "failed",
                "error": None if o.error is None else _short(o.error)}
               for o in outcomes]
    found = {f"run_id_{o.target.id}": o.reply.run_id for o in outcomes if o.reply is not None}
    return {**found, "results": json.dumps(results, ensure_ascii=False)}


def _status(outcome: rollout.Outcome) -> tuple[str, str]:
    if outcome.reply is not None:
        return outcome.reply.run_id, outcome.reply.result
    assert outcome.error is not None
    return "", f"failed: {_short(outcome.error)}"


def dry_run(runner: Runner, targets: list[rollout.Target], batch: bool) -> int:
    for target in targets:
        runner.log(f"Dry run{' of ' + target.id if batch else ''}: the request below is valid and was NOT sent.")
        runner.log(json.dumps(target.plan.body, ensure_ascii=False, indent=2))
    if batch:
        runner.outputs({"results": json.dumps([{"id": t.id, "request": t.plan.body} for t in targets],
                                              ensure_ascii=False)})
    else:
        runner.outputs({"request": targets[0].plan.request_json})
    runner.summary(summary_table([(t.plan.body, "", "dry run (nothing sent)") for t in targets]))
    return 0


def fail(runner: Runner, error: RolloutError, prefix: str = "") -> int:
    message = str(error)
    if isinstance(error, (ApiError, TransportError)) and error.may_have_started and MAY_HAVE_STARTED not in message:
        message += f" {MAY_HAVE_STARTED}"
    runner.error(prefix + message, title=error.title)
    return error.exit_code


def _short(error: RolloutError) -> str:
    """One line for the summary cell and `results`: the code, or the kind of failure."""
    if isinstance(error, ApiError):
        text = f"errcode {error.errcode} {error.errmsg}"
    else:  # our own words up to the first detail, never the server's excerpt
        text = re.split(r": | \(|\. ", str(error), maxsplit=1)[0][:160]
    if getattr(error, "may_have_started", False):
        text += " (the rollout may have started)"
    return text


def _target(body: Mapping[str, Any]) -> str:
    return f"{body.get('server_name')}@{body.get('version_name')} in {body.get('env_id')}"


SUMMARY_COLUMNS = ("env", "service", "version", "image", "flow ratio", "run_id", "result")


def summary_table(rows: list[tuple[Mapping[str, Any], str, str]]) -> str:
    """One row per service; cells are bounded and escaped, whatever the server sent."""
    lines = ["### CloudBase Run rollout", "", "| " + " | ".join(SUMMARY_COLUMNS) + " |",
             "|" + "---|" * len(SUMMARY_COLUMNS)]
    for body, run_id, result in rows[:MAX_SUMMARY_ROWS]:
        info = body.get("image_info")
        image = info.get("image_url", "") if isinstance(info, dict) else ""
        cells = (body.get("env_id", ""), body.get("server_name", ""), body.get("version_name", ""),
                 image, body.get("flow_ratio", ""), run_id, result)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    text = str(value)[:SUMMARY_CELL]
    text = "".join(c if c.isprintable() else " " for c in text)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;") or "-"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
