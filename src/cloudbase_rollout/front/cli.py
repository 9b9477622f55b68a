"""`cloudbase-rollout`: the same steps for GitLab CI, Jenkins and laptops.

    cloudbase-rollout [rollout] FLAGS   roll out (the bare form stays what it always was)
    cloudbase-rollout release FLAGS     give an existing version all the traffic
    cloudbase-rollout status FLAGS      read a version's status
    cloudbase-rollout plan FLAGS        read-only: what a rollout of a fleet would change
    cloudbase-rollout emulator | demo   the local emulator; the demo against it

Every input is a --kebab-case flag, never abbreviated (front/cli_args.py reads argv).
stdout carries only the result (run_id, the released version, the status; or --json:
one JSON document, an invalid input's too); progress and errors go to stderr, in the
CLI's words (`--wait-timeout-seconds`, `cloudbase-rollout status`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from cloudbase_rollout import __version__
from cloudbase_rollout.errors import InvalidInput, RolloutError
from cloudbase_rollout.front import cli_args, report
from cloudbase_rollout.inputs import plan, settings
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.run import core
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.wechat.api import WeChat
from cloudbase_rollout.words import Words

COMMANDS = {
    "rollout": "roll out a service version (updateCloudbaseServiceVersion); the default",
    "release": "give an existing version all the traffic (releasecloudbaserunversion)",
    "status": "read a version's status (getcsversiondetail)",
    "plan": "read-only: resolve a fleet, read each unit, say current or would roll (and what differs)",
    "emulator": "run the local emulator of the endpoints",
    "demo": "roll out, wait and promote against a bundled emulator",
    "report": "merge results files (one per shard) into one and judge the fleet; calls no API",
}
EPILOG = ("Secrets: COMPONENT_ACCESS_TOKEN (or COMPONENT_APPID, COMPONENT_APPSECRET, COMPONENT_VERIFY_TICKET to "
          "mint one). Flags such as --access-token work too, but show in the process list and shell history. "
          "Exit 0 success, 1 failure, 2 invalid input, 130/143 cancelled.")
#: What release and status take besides the call settings and secrets.
READ_FLAGS = (*plan.READ_INPUTS, "wait", "wait_timeout_seconds", "wait_interval_seconds")
ROLLOUT_ONLY = ("image", "image_tag", "request_file", "promote", "command")
#: How the CLI names things in its messages: flags, its subcommands, the variables for secrets.
WORDS = Words(cli_args.PROG, frozenset(settings.input_names()) - {"command"}, plan.SECRET_ENV)


def parser(command: str = "rollout", named: bool = False) -> argparse.ArgumentParser:
    prog = "cloudbase-rollout" + (f" {command}" if named or command != "rollout" else "")
    commands = "\n".join(f"  {name:<9} {text}" for name, text in COMMANDS.items())
    p = cli_args.Parser(prog=prog, description=f"{COMMANDS[command]}.\n\ncommands:\n{commands}",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"cloudbase-rollout {__version__}")
    p.add_argument("--json", action="store_true", help="print the whole result (or the dry-run plan) as JSON")
    def keep(name: str) -> bool:
        return command in ("rollout", "plan") or name in READ_FLAGS or (name in settings.OPTION_NAMES
                                                              and name not in ROLLOUT_ONLY)

    body = p.add_argument_group("request body fields (the API's own names)")
    for name in filter(keep, schemas.body_fields()):
        _add(body, name, schemas.field_schema(name), settings.BODY_DEFAULTS.get(name))
    extra = p.add_argument_group("options")
    for option in settings.OPTIONS:
        if option.name != "command" and keep(option.name):  # the subcommand is the command
            _add(extra, option.name, {"description": option.description}, option.default)
    return p


def _add(group: argparse._ArgumentGroup, name: str, node: dict[str, object], default: str | None) -> None:
    flag = "--" + name.replace("_", "-")
    text = str(node.get("x-accepts") or node.get("description") or "")
    if default is not None:
        text += f" (default: {default})"
    if name in ("dry_run", "wait", "promote") or node.get("type") == "boolean":
        group.add_argument(flag, dest=name, nargs="?", const="true", metavar="BOOL", help=text.replace("%", "%%"))
    else:
        group.add_argument(flag, dest=name, metavar=name.upper(), help=text.replace("%", "%%"))


def main(argv: Sequence[str] | None = None, *, env: dict[str, str] | None = None,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        given = cli_args.split(args, COMMANDS)
        if given.command in ("emulator", "demo"):
            return emulator(given)
        if given.command == "report":  # its own flags: files, not a rollout's inputs
            from cloudbase_rollout.front import report_command

            return report_command.cli_main([*given.lead, *given.rest])
        rollout = parser() if given.command != "rollout" else None
        options = cli_args.parse(parser(given.command, given.named), given.flags, rollout)
    except InvalidInput as error:
        return invalid(error, cli_args.wants_json(args), lambda line: print(line, file=sys.stderr, flush=True), str)
    raw = {name: value for name, value in vars(options).items() if isinstance(value, str)}
    raw["command"] = given.command
    return run(raw, as_json=options.json, env=env, clock=clock, sleep=sleep)


def emulator(given: cli_args.Argv) -> int:
    """`emulator` and `demo` parse their own flags; of the global ones only --version means anything to them."""
    if "--version" in given.lead:
        print(f"cloudbase-rollout {__version__}")
        return 0
    if given.command == "emulator":
        from cloudbase_rollout.emulator import server

        return server.main(given.rest)
    from cloudbase_rollout.emulator import demo

    code: int = demo.main(given.rest)
    return code


def run(raw: dict[str, str], *, as_json: bool, env: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> int:
    env = dict(os.environ if env is None else env)
    redactor = Redactor()

    def say(message: str) -> None:
        print(redactor(message), file=sys.stderr, flush=True)

    try:
        core.install_cancel_handlers()
        merged = plan.with_secret_env(raw, env)
        plan.register_secrets(merged, redactor, lambda _s: None)
        the_plan = plan.prepare_plan(merged, env, Path.cwd())
        for target in the_plan.targets:
            for warning in target.warnings:
                say(f"warning: {target.id + ': ' if the_plan.batch else ''}{warning}")
        if the_plan.fleet is not None:
            return fleet(the_plan, merged, env, redactor, as_json, say, clock, sleep)
        if the_plan.call.dry_run:
            return dry_run(the_plan, as_json, say)
        api = WeChat(the_plan.call, redactor, on_retry=say, sleep=sleep, pool_size=core.MAX_PARALLEL,
                     backoff_base=core.backoff_base(env))
        results = core.run(core.Context(the_plan, api, say, clock, sleep,
                                        lambda event, r: say(("warning: " if event == "unsettled" else "")
                                                           + report.event_line(the_plan, event, r))))
    except InvalidInput as error:
        return invalid(error, as_json, say, redactor)
    except RolloutError as error:
        say(f"error: {error.text(WORDS)}")
        return error.exit_code
    except Exception:
        say("internal error, please report it:\n" + traceback.format_exc(limit=8))
        return 1
    return show(the_plan, results, as_json, say, redactor)


def fleet(the_plan: plan.Plan, raw: dict[str, str], env: dict[str, str], redactor: Redactor, as_json: bool,
          say: Callable[[str], None], clock: Callable[[], float], sleep: Callable[[float], None]) -> int:
    """A fleet (front/fleet_step.py): on a terminal one live progress line; stdout the plan or the counts."""
    from cloudbase_rollout.front import fleet_report, fleet_step, results_file
    from cloudbase_rollout.run.fleet import POOL

    live = sys.stderr.isatty()

    def progress(line: str) -> None:
        if live:
            print("\r" + redactor(line)[:200] + "\x1b[K", end="", file=sys.stderr, flush=True)
        else:
            say(line)

    hooks = fleet_step.Hooks(say, lambda _line: None, lambda line: say(f"warning: {line}"), progress, redactor, WORDS)
    assert the_plan.fleet is not None
    if the_plan.call.dry_run:
        for line in fleet_step.dry_run_lines(the_plan):
            say(line)
        return 0
    api = WeChat(the_plan.call, redactor, on_retry=say, sleep=sleep, pool_size=POOL,
                 backoff_base=core.backoff_base(env))
    if the_plan.fleet.pending_discovery:
        the_plan = fleet_step.discover(the_plan, api, raw, env, Path.cwd(), hooks)
    given = raw.get("results_file", "").strip()
    path = results_file.results_path(given, env, Path.cwd()) if given else None
    ran = fleet_step.run(the_plan, api, hooks, path, clock, sleep)
    if live:
        print(file=sys.stderr)
    say(fleet_report.headline(the_plan, ran.results, ran.outcome))
    if as_json:
        document = results_file.document(the_plan, ran.results, complete=True, stopped=ran.outcome.stopped,
                                         budget_exceeded=ran.outcome.budget_exceeded)
        print(redactor(json.dumps(document, ensure_ascii=False)))
    else:
        lines = fleet_step.plan_lines(ran) if the_plan.command == "plan" else \
            [" ".join(f"{k}={v}" for k, v in results_file.totals(ran.results).items() if v)]
        for line in lines:
            print(redactor(line))
    return ran.exit_code


def invalid(error: InvalidInput, as_json: bool, say: Callable[[str], None], redact: Callable[[str], str]) -> int:
    """Every problem on stderr; with --json also one record on stdout, so a script always reads one document."""
    for problem in error.problems:
        say(f"error: {problem.text(WORDS)}")
    say("no request was sent")
    if as_json:
        problems = [{"input": p.input, "message": WORDS.compose(p.message)} for p in error.problems]
        record = {"error": "invalid input", "exit_code": error.exit_code, "problems": problems}
        print(redact(json.dumps(record, ensure_ascii=False)))
    return error.exit_code


def dry_run(the_plan: plan.Plan, as_json: bool, say: Callable[[str], None]) -> int:
    say("dry run: the plan is valid and nothing was called")
    if as_json:
        shown = [{"id": t.id, "command": the_plan.command, "request": t.body, "version_name": t.version_name,
                  "plan": report.plan_lines(the_plan, t)} for t in the_plan.targets]
        print(json.dumps(shown if the_plan.batch else shown[0], ensure_ascii=False, indent=2))
        return 0
    for t in the_plan.targets:
        for line in report.plan_lines(the_plan, t):
            say(line)
    bodies = [t.body for t in the_plan.targets if t.body is not None]
    if bodies:
        print(json.dumps(bodies if the_plan.batch else bodies[0], ensure_ascii=False, indent=2))
    return 0


def show(the_plan: plan.Plan, results: list[core.Result], as_json: bool,
         say: Callable[[str], None], redactor: Redactor) -> int:
    """stdout: the result word per service (`id word` with --services), or --json."""
    for r in results:
        prefix = f"{r.target.id}: " if the_plan.batch else ""
        for line in report.result_lines(r):
            say(prefix + line)
        if r.error is not None:
            say(f"error: {prefix}{r.error.text(WORDS)}")
        value = _stdout_value(the_plan.command, r)
        if value is not None and not as_json:
            print(f"{r.target.id} {value}" if the_plan.batch else value)
    if as_json:
        records = [report.record(r, WORDS) for r in results]
        print(redactor(json.dumps(records if the_plan.batch else records[0], ensure_ascii=False)))
    failed = [r.error for r in results if r.error is not None]
    return max((e.exit_code for e in failed), default=0)


def _stdout_value(command: str, r: core.Result) -> str | None:
    if command == "rollout":
        return r.run_id
    if command == "release":
        return r.version_name if r.promoted else None
    return r.status
