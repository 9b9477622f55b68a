"""Adapt a rollout to the GitHub Actions runner: INPUT_* in; masks, annotations,
outputs and a step summary out (through github-action-utils).

Every line printed goes through the Redactor; outputs are written only after a
successful call, all together, so a failed step sets nothing.
"""

from __future__ import annotations

import json
import os
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
        return fail(runner, error, None)
    except Exception:
        runner.error("an unexpected error; please report it with this log:\n"
                     + traceback.format_exc(limit=8), title="cloudbase-rollout internal error")
        return 1


def run(raw: Mapping[str, str], env: Mapping[str, str], runner: Runner) -> int:
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    try:
        plan = rollout.prepare(raw, env, workspace)
    except InvalidInput as error:
        for problem in error.problems:
            runner.error(str(problem), title="Invalid input")
        runner.log(f"{len(error.problems)} invalid input(s); no request was sent.")
        return error.exit_code
    for warning in plan.warnings:
        runner.warning(warning)
    runner.debug(f"request body: {plan.request_json}")
    if plan.call.dry_run:
        return dry_run(runner, plan)
    runner.log(f"Rolling out {_target(plan.body)} through {plan.call.api_base_url}")
    try:
        reply = rollout.execute(plan, runner.redact, runner.mask)
    except RolloutError as error:
        return fail(runner, error, plan)
    runner.log(f"Rollout started: run_id {reply.run_id} (result {reply.result}, {reply.attempts} attempt(s))")
    runner.outputs({"run_id": reply.run_id, "result": reply.result, "request": plan.request_json})
    runner.summary(summary_table(plan.body, reply.run_id, reply.result))
    return 0


def dry_run(runner: Runner, plan: rollout.Plan) -> int:
    runner.log("Dry run: the request below is valid and was NOT sent.")
    runner.log(json.dumps(plan.body, ensure_ascii=False, indent=2))
    runner.outputs({"request": plan.request_json})
    runner.summary(summary_table(plan.body, "", "dry run (nothing sent)"))
    return 0


def fail(runner: Runner, error: RolloutError, plan: rollout.Plan | None) -> int:
    message = str(error)
    if isinstance(error, (ApiError, TransportError)) and error.may_have_started and MAY_HAVE_STARTED not in message:
        message += f" {MAY_HAVE_STARTED}"
    runner.error(message, title=error.title)
    runner.log(f"Error: {message}")
    if plan is not None:
        runner.summary(summary_table(plan.body, "", f"failed: {_short(error)}"))
    return error.exit_code


def _short(error: RolloutError) -> str:
    if isinstance(error, ApiError):
        return f"errcode {error.errcode} {error.errmsg}"
    return error.title


def _target(body: Mapping[str, Any]) -> str:
    return f"{body.get('server_name')}@{body.get('version_name')} in {body.get('env_id')}"


def summary_table(body: Mapping[str, Any], run_id: str, result: str) -> str:
    image = body.get("image_info", {}).get("image_url", "") if isinstance(body.get("image_info"), dict) else ""
    rows = [
        ("env", body.get("env_id", "")), ("service", body.get("server_name", "")),
        ("version", body.get("version_name", "")), ("image", image),
        ("flow ratio", body.get("flow_ratio", "")), ("run_id", run_id), ("result", result),
    ]
    lines = ["### CloudBase Run rollout", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {_cell(value)} |" for name, value in rows]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    text = str(value)[:SUMMARY_CELL]
    text = "".join(c if c.isprintable() else " " for c in text)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;") or "-"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
