"""Rollouts from raw inputs to Replies, shared by the Action and the CLI.

`prepare_all` does everything that needs no network and reports every problem
at once (for one service, or each `services` entry); `execute_all` makes the
calls. The presenters (action.py, cli.py) only decide how the results look.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudbase_rollout import request, schemas, settings, validate
from cloudbase_rollout.client import Client, Reply
from cloudbase_rollout.errors import MAY_HAVE_STARTED, Cancelled, InvalidInput, Problem, RolloutError, unique
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


def prepare(raw: Mapping[str, str], env: Mapping[str, str], workspace: Path,
            overrides: Mapping[str, str] | None = None) -> Plan:
    """Build and validate; raise InvalidInput with every problem, before any connection."""
    call, problems = settings.call_settings(raw)
    built, body_problems = _body(raw, env, workspace, overrides)
    problems += body_problems
    if problems or call is None:
        raise InvalidInput(unique(problems))
    return Plan(built.body, call, built.warnings)


def _body(raw: Mapping[str, str], env: Mapping[str, str], workspace: Path,
          overrides: Mapping[str, str] | None) -> tuple[request.Built, list[Problem]]:
    """The body and its problems; convention warnings join built.warnings."""
    built = request.build(raw, env, workspace, overrides)
    problems = [*built.problems, *validate.request_problems(built.body, built.sources)]
    if any(p.input in ("image", "image_tag") for p in built.problems):
        # the image input was given but is wrong: "image_info is required" would only repeat it
        problems = [p for p in problems if not (p.kind == "required" and p.input.startswith("image_info"))]
    if not problems:
        built.warnings += validate.convention_warnings(built.body)
    return built, problems


# -- several services from one step (the `services` input) ---------------------

#: Inputs a `services` entry may set; call settings and secrets belong to the step.
PER_SERVICE = ("id", "image", "image_tag", "request_file")
SERVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
#: At most this many calls in flight (Tencent documents 1000 requests/s for the API).
MAX_PARALLEL = 20


@dataclass
class Target:
    """One service's rollout; `id` names its outputs (run_id_<id>) and summary row."""

    id: str
    plan: Plan


@dataclass
class Outcome:
    target: Target
    reply: Reply | None = None
    error: RolloutError | None = None


def prepare_all(raw: Mapping[str, str], env: Mapping[str, str], workspace: Path) -> list[Target]:
    """One Target without `services`; otherwise one per entry, every problem reported at once."""
    if "services" not in raw:
        plan = prepare(raw, env, workspace)
        return [Target(str(plan.body.get("server_name", "")), plan)]
    entries = parse_services(raw["services"])
    base = {name: value for name, value in raw.items() if name != "services"}
    call, problems = settings.call_settings(base)  # once: the step's, not each entry's
    targets: list[Target] = []
    for index, entry in enumerate(entries):
        label = f"services[{index}]"
        built, body_problems = _body(base, env, workspace, {k: v for k, v in entry.items() if k != "id"})
        problems += [Problem(f"{label} {p.input}", p.message, p.kind) for p in body_problems]
        if body_problems or call is None:
            continue
        plan = Plan(built.body, call, built.warnings)
        target_id = entry.get("id") or str(plan.body.get("server_name", ""))
        if not SERVICE_ID.match(target_id):
            problems.append(Problem(f"{label} id", f"{target_id!r} is not accepted; expected letters, digits, - and _"))
        elif any(t.id == target_id for t in targets):
            problems.append(Problem(f"{label} id", f"{target_id!r} repeats another entry; give each entry a unique id"))
        targets.append(Target(target_id, plan))
    if problems:
        raise InvalidInput(unique(problems))
    return targets


def parse_services(text: str) -> list[dict[str, str]]:
    """A JSON array of per-service overrides (objects of input names) or request_file paths."""
    try:
        entries = request.loads(text)
    except ValueError as error:
        raise InvalidInput([Problem("services", f"is not valid JSON ({error}); expected a JSON array of "
                                    "objects of input names, e.g. [{\"server_name\": \"api\"}]")]) from None
    if not isinstance(entries, list) or not entries:
        raise InvalidInput([Problem("services", "expected a non-empty JSON array of objects or request_file paths")])
    allowed = (*schemas.body_fields(), *PER_SERVICE)
    parsed, problems = [], []
    for index, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"request_file": entry}
        if not isinstance(entry, dict):
            problems.append(Problem(f"services[{index}]", "expected an object of input names or a request_file path"))
            continue
        for key in entry:
            if key not in allowed:
                problems.append(Problem(f"services[{index}] {key}", "is not a per-service input; accepted: "
                                        "the API's body fields, image, image_tag, request_file, id"))
        parsed.append({k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                       for k, v in entry.items() if v is not None})
    if problems:
        raise InvalidInput(problems)
    return parsed


def execute_all(targets: Sequence[Target], redactor: Redactor, on_secret: Callable[[str], None],
                on_retry: Callable[[str], None] = lambda _m: None) -> list[Outcome]:
    """Roll out every target through one Client, at most MAX_PARALLEL at a time.

    Daemon threads, so a cancelled step exits at once instead of waiting for calls.
    """
    client = Client(targets[0].plan.call, redactor, on_secret=on_secret, on_retry=on_retry, pool_size=MAX_PARALLEL)
    outcomes = [Outcome(target) for target in targets]
    if len(outcomes) == 1:
        _roll(client, outcomes[0])
        return outcomes
    slots = threading.BoundedSemaphore(MAX_PARALLEL)
    threads = [threading.Thread(target=_roll, args=(client, outcome, slots), daemon=True) for outcome in outcomes]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # short joins keep the main thread responsive to signals
    except Cancelled as cancelled:
        raise Cancelled(cancelled.signum, f"while {len(targets)} rollouts were in flight. {MAY_HAVE_STARTED}") from None
    return outcomes


def _roll(client: Client, outcome: Outcome, slots: threading.BoundedSemaphore | None = None) -> None:
    if slots is not None:
        slots.acquire()
    try:
        outcome.reply = client.roll_update(outcome.target.plan.body)
    except RolloutError as error:
        outcome.error = error
    except Exception as error:  # a bug in one thread must still fail the step, not vanish
        outcome.error = RolloutError(f"internal error: {type(error).__name__}: {error}")
    finally:
        if slots is not None:
            slots.release()


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
