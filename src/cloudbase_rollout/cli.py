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
from collections.abc import Sequence
from pathlib import Path

from cloudbase_rollout import __version__, rollout, schemas, settings
from cloudbase_rollout.errors import InvalidInput, RolloutError
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
        plan = rollout.prepare(merged, env, Path.cwd())
        for warning in plan.warnings:
            say(f"warning: {warning}")
        if plan.call.dry_run:
            say("dry run: the request is valid and was NOT sent")
            print(json.dumps(plan.body, ensure_ascii=False, indent=2))
            return 0
        reply = rollout.execute(plan, redactor, lambda _s: None)
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
    if as_json:
        result = {"errcode": reply.errcode, "errmsg": reply.errmsg, "result": reply.result,
                  "run_id": reply.run_id, "attempts": reply.attempts, "request": plan.body}
        print(redactor(json.dumps(result, ensure_ascii=False)))
    else:
        print(reply.run_id)
    return 0
