"""The GitHub Actions front end: INPUT_* in; masks, annotations, outputs and a step summary out
(through github-action-utils). The work itself is core.run's.

Every line printed goes through the Redactor. Outputs tell what happened: run_id and
version_name whenever a rollout was accepted, status whenever one was read, even
when the step then fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import github_action_utils as gha

from cloudbase_rollout.errors import InvalidInput, OutputsNotWritten, Problem, RolloutError
from cloudbase_rollout.front import report
from cloudbase_rollout.inputs import plan, settings
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.run import core
from cloudbase_rollout.wechat.api import WeChat

FILE_COMMANDS = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")


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
            with self._file_commands():
                for name, value in values.items():
                    gha.set_output(name, self.redact(value))

    def summary(self, markdown: str) -> None:
        if self.env.get("GITHUB_STEP_SUMMARY"):
            try:
                with self._file_commands():
                    gha.append_job_summary(self.redact(markdown))
            except OSError as error:
                self.warning(f"could not write the step summary: {error}")

    @contextlib.contextmanager
    def _file_commands(self) -> Iterator[None]:
        """github-action-utils finds the files in os.environ; the step's own mapping decides which."""
        saved = {name: os.environ.get(name) for name in FILE_COMMANDS}
        os.environ.update({name: self.env[name] for name in FILE_COMMANDS if name in self.env})
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def read_inputs(env: Mapping[str, str]) -> tuple[dict[str, str], list[Problem], list[str]]:
    """INPUT_<NAME> for every declared input (hyphens kept, as the runner does).

    An undeclared INPUT_* that folds (case, - and _) onto a declared input is a
    misspelling that would otherwise be ignored (`dry-run: true` next to the
    default INPUT_DRY_RUN=false would roll out for real): a problem. Others warn.
    """
    names = settings.input_names()
    declared = {f"INPUT_{name.upper()}" for name in names}
    folded = {_fold(name): name for name in names}
    problems, warnings = [], []
    for variable in sorted(env):
        if not variable.startswith("INPUT_") or variable in declared:
            continue
        given = variable.removeprefix("INPUT_").lower()
        meant = folded.get(_fold(given))
        if meant is not None:
            problems.append(Problem(given, f"is not an input of this action; write it as {meant} "
                                    "(with an underscore), or it is ignored"))
        elif env[variable].strip():
            warnings.append(f"{given} is not an input of this action and is ignored")
    found = {name: env.get(f"INPUT_{name.upper()}") for name in names}
    raw = plan.with_secret_env({k: v for k, v in found.items() if v is not None}, env)
    return raw, problems, warnings


def _fold(name: str) -> str:
    return name.lower().replace("-", "_").replace(" ", "_")


def main(env: Mapping[str, str] | None = None, *, clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> int:
    env = dict(os.environ if env is None else env)
    redactor = Redactor()
    runner = Runner(env, redactor)
    try:
        core.install_cancel_handlers()
        raw, problems, warnings = read_inputs(env)
        plan.register_secrets(raw, redactor, runner.mask)
        for warning in warnings:
            runner.warning(warning)
        if problems:
            raise InvalidInput(problems)
        return run(raw, env, runner, clock, sleep)
    except InvalidInput as error:
        return invalid(runner, error)
    except RolloutError as error:
        return fail(runner, error)
    except Exception:
        runner.error("an unexpected error; please report it with this log:\n"
                     + traceback.format_exc(limit=8), title="cloudbase-rollout internal error")
        return 1


def invalid(runner: Runner, error: InvalidInput) -> int:
    for problem in error.problems:
        runner.error(str(problem), title="Invalid input")
    runner.log(f"{len(error.problems)} invalid input(s); no request was sent.")
    return error.exit_code


def run(raw: Mapping[str, str], env: Mapping[str, str], runner: Runner,
        clock: Callable[[], float], sleep: Callable[[float], None]) -> int:
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    if raw.get("command", "").strip() == "report":  # merges files: no API, no token, no body
        from cloudbase_rollout.front import report_command

        return report_command.action_report(raw, workspace, runner, runner.env)
    the_plan = plan.prepare_plan(raw, env, workspace)
    for target in the_plan.targets:
        prefix = f"{target.id}: " if the_plan.batch else ""
        for warning in target.warnings:
            runner.warning(prefix + warning)
        if target.body is not None:
            runner.debug(f"{prefix}request body: {target.request_json}")
    if the_plan.fleet is not None:
        return fleet(raw, env, runner, the_plan, workspace, clock, sleep)
    if the_plan.call.dry_run:
        return dry_run(runner, the_plan)
    api = WeChat(the_plan.call, runner.redact, on_secret=runner.mask, on_retry=runner.log, sleep=sleep,
                 pool_size=core.MAX_PARALLEL, backoff_base=core.backoff_base(env))

    def on_event(event: str, r: core.Result) -> None:
        line = report.event_line(the_plan, event, r)
        if event == "unsettled":
            runner.warning(line)
        else:
            runner.log(line)

    results = core.run(core.Context(the_plan, api, runner.log, clock, sleep, on_event))
    return finish(runner, the_plan, results)


def fleet(raw: Mapping[str, str], env: Mapping[str, str], runner: Runner, the_plan: plan.Plan, workspace: Path,
          clock: Callable[[], float], sleep: Callable[[float], None]) -> int:
    """targets, discover or services in waves (front/fleet_step.py); the results file by default in RUNNER_TEMP."""
    from cloudbase_rollout.front import fleet_report, fleet_step, results_file
    from cloudbase_rollout.run.fleet import POOL

    hooks = fleet_step.Hooks(runner.log, runner.debug, runner.warning, runner.log, runner.redact)
    assert the_plan.fleet is not None
    if the_plan.call.dry_run:
        for line in fleet_step.dry_run_lines(the_plan):
            runner.log(line)
        runner.outputs({} if the_plan.fleet.pending_discovery else fleet_report.dry_run_outputs(the_plan))
        return 0
    api = WeChat(the_plan.call, runner.redact, on_secret=runner.mask, on_retry=runner.log, sleep=sleep,
                 pool_size=POOL, backoff_base=core.backoff_base(env))
    if the_plan.fleet.pending_discovery:
        the_plan = fleet_step.discover(the_plan, api, raw, env, workspace, hooks)
    path = results_file.results_path(raw.get("results_file", ""), env, workspace)
    ran = fleet_step.run(the_plan, api, hooks, path, clock, sleep)
    for line in fleet_step.plan_lines(ran) if the_plan.command == "plan" else []:
        runner.log(line)
    headline = fleet_report.headline(the_plan, ran.results, ran.outcome)
    runner.log(headline)
    runner.summary(fleet_report.summary(the_plan, ran.results, ran.outcome, path))
    try:
        runner.outputs(fleet_report.outputs(the_plan, ran.results, path))
    except OSError as error:
        return fail(runner, OutputsNotWritten(f"could not write the step outputs ({error}); every unit is in "
                                              f"the results file {path}"))
    if ran.exit_code:
        runner.error(headline, title="Fleet failed")
    return ran.exit_code


def finish(runner: Runner, the_plan: plan.Plan, results: list[core.Result]) -> int:
    """Log each result; write outputs and the summary; the exit code."""
    for result in results:
        prefix = f"{result.target.id}: " if the_plan.batch else ""
        for line in report.result_lines(result):
            runner.log(prefix + line)
        if result.error is not None:
            fail(runner, result.error, prefix)
    runner.summary(report.summary(the_plan, results))
    try:
        runner.outputs(report.outputs(the_plan, results))
    except OSError as error:
        return fail(runner, OutputsNotWritten(report.outputs_lost(error, results)))
    failed = [r.error for r in results if r.error is not None]
    if failed and the_plan.batch:
        what = "rollouts" if the_plan.command == "rollout" else "services"
        runner.log(f"{len(failed)} of {len(results)} {what} failed.")
    return max((e.exit_code for e in failed), default=0)


def dry_run(runner: Runner, the_plan: plan.Plan) -> int:
    for line in report.dry_run_lines(the_plan):
        runner.log(line)
    runner.outputs(report.dry_run_outputs(the_plan))
    runner.summary(report.summary(the_plan, [core.Result(t, version_name=t.version_name) for t in the_plan.targets],
                                  dry_run=True))
    return 0


def fail(runner: Runner, error: RolloutError, prefix: str = "") -> int:
    runner.error(prefix + str(error), title=error.title)
    return error.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
