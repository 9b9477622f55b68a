"""One rollout from raw inputs to a Reply, shared by the Action and the CLI.

`prepare` does everything that needs no network and reports every problem at
once; `execute` makes the call. The presenters (action.py, cli.py) only decide
how the results look.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudbase_rollout import request, settings, validate
from cloudbase_rollout.client import Client, Reply
from cloudbase_rollout.errors import InvalidInput, Problem
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.settings import CallSettings

#: Environment variables that stand in for secret inputs (never pass secrets as CLI flags).
SECRET_ENV = {
    "access_token": "COMPONENT_ACCESS_TOKEN",
    "component_appid": "COMPONENT_APPID",
    "component_appsecret": "COMPONENT_APPSECRET",
    "component_verify_ticket": "COMPONENT_VERIFY_TICKET",
}


@dataclass
class Plan:
    """A validated request, ready to send."""

    body: dict[str, Any]
    call: CallSettings
    warnings: list[str] = field(default_factory=list)

    @property
    def request_json(self) -> str:
        """The token-free body, as sent."""
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))


def with_secret_env(raw: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """Secrets may come from COMPONENT_* variables when the input is absent."""
    merged = settings.present(raw)
    for name, variable in SECRET_ENV.items():
        if name not in merged and env.get(variable, "").strip():
            merged[name] = env[variable]
    return merged


def register_secrets(raw: Mapping[str, str], redactor: Redactor, mask: Callable[[str], None]) -> None:
    """Mask every secret before anything else is printed."""
    for name in settings.SECRET_INPUTS:
        value = raw.get(name, "")
        for secret in {value, value.strip()}:
            if secret.strip():
                redactor.add(secret)
                mask(secret)


def prepare(raw: Mapping[str, str], env: Mapping[str, str], workspace: Path) -> Plan:
    """Build and validate; raise InvalidInput with every problem, before any connection."""
    call, problems = settings.call_settings(raw)
    built = request.build(raw, env, workspace)
    problems = [*problems, *built.problems]
    problems += validate.request_problems(built.body, built.sources)
    if problems or call is None:
        raise InvalidInput(_unique(problems))
    warnings = built.warnings + validate.convention_warnings(built.body)
    return Plan(built.body, call, warnings)


def execute(plan: Plan, redactor: Redactor, on_secret: Callable[[str], None]) -> Reply:
    client = Client(plan.call, redactor, on_secret=on_secret)
    return client.roll_update(plan.body)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for problem in problems:
        if str(problem) not in seen:
            seen.add(str(problem))
            out.append(problem)
    return out


def install_cancel_handlers() -> None:
    """A cancelled job sends SIGTERM (Ctrl-C: SIGINT); stop at once with a clear error.

    Raising from the handler interrupts a blocking socket read (PEP 475 retries
    only when the handler returns), so a slow call cannot hold the step.
    """
    import signal

    from cloudbase_rollout.errors import Cancelled

    def handler(signum: int, _frame: object) -> None:
        raise Cancelled(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)
