"""`cloudbase-rollout`: the same rollout for GitLab CI, Jenkins and laptops.

Every input is a --kebab-case flag; secrets come from COMPONENT_* variables (or
flags, for completeness). stdout carries only the result (run_id, or --json);
everything else goes to stderr. Exit 0 success, 1 the API or transport failed,
2 invalid input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from cloudbase_rollout import __version__, rollout, schemas, settings
from cloudbase_rollout.errors import ApiError, InvalidInput, RolloutError
from cloudbase_rollout.redact import Redactor


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cloudbase-rollout",
        description="Roll out a WeChat CloudBase Run service version (updateCloudbaseServiceVersion). "
        "Run `cloudbase-rollout emulator --help` for the local emulator.",
        epilog="Secrets: COMPONENT_ACCESS_TOKEN (or COMPONENT_APPID, COMPONENT_APPSECRET, "
        "COMPONENT_VERIFY_TICKET to mint one). Exit 0 success, 1 failure, 2 invalid input.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    body = p.add_argument_group("request body fields (the API's own names)")
    for name in schemas.body_fields():
        _add(body, name, schemas.field_schema(name), settings.BODY_DEFAULTS.get(name))
    extra = p.add_argument_group("rollout options")
    for option in settings.OPTIONS:
        _add(extra, option.name, {"description": option.description}, option.default)
    return p


def _add(group: argparse._ArgumentGroup, name: str, node: dict[str, object], default: str | None) -> None:
    flag = "--" + name.replace("_", "-")
    text = str(node.get("x-accepts") or node.get("description") or "")
    if default is not None:
        text += f" (default: {default})"
    if name == "dry_run" or node.get("type") == "boolean":
        group.add_argument(flag, dest=name, nargs="?", const="true", metavar="BOOL", help=text)
    else:
        group.add_argument(flag, dest=name, metavar=name.upper(), help=text.replace("%", "%%"))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["emulator"]:
        from cloudbase_rollout import emulator

        return emulator.main(args[1:])
    if args[:1] == ["demo"]:
        from cloudbase_rollout import emulator

        return emulator.demo(args[1:])
    options = parser().parse_args(args)
    raw = {name: value for name, value in vars(options).items() if isinstance(value, str)}
    return run(raw, as_json=options.json)


def run(raw: dict[str, str], *, as_json: bool) -> int:
    env = dict(os.environ)
    redactor = Redactor()

    def say(message: str) -> None:
        print(redactor(message), file=sys.stderr, flush=True)

    try:
        rollout.install_cancel_handlers()
        merged = rollout.with_secret_env(raw, env)
        rollout.register_secrets(merged, redactor, lambda _s: None)
        targets = rollout.prepare_all(merged, env, Path.cwd())
        batch = "services" in merged
        for target in targets:
            for warning in target.plan.warnings:
                say(f"warning: {target.id + ': ' if batch else ''}{warning}")
        if targets[0].plan.call.dry_run:
            say("dry run: the request is valid and was NOT sent")
            bodies = [t.plan.body for t in targets]
            print(json.dumps(bodies if batch else bodies[0], ensure_ascii=False, indent=2))
            return 0
        outcomes = rollout.execute_all(targets, redactor, lambda _s: None, say)
    except InvalidInput as error:
        for problem in error.problems:
            say(f"error: {problem}")
        say("no request was sent")
        return error.exit_code
    except RolloutError as error:
        say(f"error: {error}")
        return error.exit_code
    except Exception:
        say("internal error, please report it:\n" + traceback.format_exc(limit=8))
        return 1
    return show(outcomes, batch, as_json, say, redactor)


def show(outcomes: list[rollout.Outcome], batch: bool, as_json: bool,
         say: Callable[[str], None], redactor: Redactor) -> int:
    """stdout: run_id (one `id run_id` line per service with --services), or --json."""
    results = []
    for outcome in outcomes:
        reply, error = outcome.reply, outcome.error
        if error is not None:
            say(f"error: {outcome.target.id + ': ' if batch else ''}{error}")
        results.append(_result(outcome))
        if reply is not None and not as_json:
            print(f"{outcome.target.id} {reply.run_id}" if batch else reply.run_id)
    if as_json:
        print(redactor(json.dumps(results if batch else results[0], ensure_ascii=False)))
    failed = [o.error for o in outcomes if o.error is not None]
    return max(e.exit_code for e in failed) if failed else 0


def _result(outcome: rollout.Outcome) -> dict[str, object]:
    """One service's result for --json: the API's fields, and `error` when it failed."""
    reply, error = outcome.reply, outcome.error
    result: dict[str, object] = {"id": outcome.target.id, "request": outcome.target.plan.body}
    if reply is not None:
        return {**result, "errcode": reply.errcode, "errmsg": reply.errmsg, "result": reply.result,
                "run_id": reply.run_id, "attempts": reply.attempts, "error": None}
    api = error if isinstance(error, ApiError) else None
    return {**result, "errcode": api.errcode if api else None, "errmsg": api.errmsg if api else None,
            "result": "failed", "run_id": None, "attempts": getattr(error, "attempts", 1),
            "may_have_started": bool(getattr(error, "may_have_started", False)), "error": str(error)}
