"""The inputs: one per body field of the spec (from schema/) plus the convenience ones.

The same names serve the Action (INPUT_*), the CLI (--kebab-case) and the
request_file; empty text counts as absent everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from cloudbase_rollout.errors import Problem
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.wechat.api import CallSettings
from cloudbase_rollout.wechat.transport import is_loopback
from cloudbase_rollout.words import Command, Input

if TYPE_CHECKING:
    from cloudbase_rollout.inputs.waves import Size


@dataclass(frozen=True)
class Option:
    name: str
    description: str
    default: str | None = None
    secret: bool = False


def _as_text(value: object) -> str | None:
    """A schema default as the runner passes it: text (true/false for booleans)."""
    if value is None:
        return None
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _options() -> tuple[Option, ...]:
    """Inputs that are not body fields, from schema/options.schema.json, in action.yml's order."""
    nodes = schemas.options_schema()["properties"]
    return tuple(Option(name, node["description"], _as_text(node.get("default")), bool(node.get("x-secret")))
                 for name, node in nodes.items())


OPTIONS = _options()
BODY_DEFAULTS = {"version_name": "latest", "upload_type": "image"}
SECRET_INPUTS = tuple(o.name for o in OPTIONS if o.secret)
OPTION_NAMES = tuple(o.name for o in OPTIONS)
MINT_INPUTS = ("component_appid", "component_appsecret", "component_verify_ticket")
T = TypeVar("T")
TRUE, FALSE = ("true", "True", "TRUE"), ("false", "False", "FALSE")


def input_names() -> tuple[str, ...]:
    """Every input, body fields first in the spec's order."""
    return (*schemas.body_fields(), *OPTION_NAMES)


def defaults() -> dict[str, str]:
    found = {o.name: o.default for o in OPTIONS if o.default is not None}
    return {**BODY_DEFAULTS, **found}


def present(raw: Mapping[str, str | None]) -> dict[str, str]:
    """Known inputs with text; empty and whitespace-only values are absent."""
    return {
        name: value
        for name in input_names()
        if (value := raw.get(name)) is not None and value.strip() != ""
    }


def parse_bool(text: str) -> bool:
    text = text.strip()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean; expected true or false "
                     "(YAML 1.2: true, True, TRUE, false, False, FALSE)")


COMMANDS: tuple[str, ...] = tuple(schemas.options_schema()["properties"]["command"]["enum"])
#: Inputs of the lifecycle: what to do after (or instead of) the roll-update.
LIFECYCLE_INPUTS = ("command", "wait", "wait_timeout_seconds", "wait_interval_seconds", "promote")


@dataclass(frozen=True)
class Lifecycle:
    command: str
    wait: bool
    promote: bool
    timeout: int
    interval: int


def lifecycle(raw: Mapping[str, str]) -> tuple[Lifecycle | None, list[Problem]]:
    """command, wait and promote; promote implies wait (the runner always passes wait's default)."""
    merged = {**defaults(), **raw}
    problems: list[Problem] = []
    command = _checked(problems, "command", merged["command"], _command)
    wait = _checked(problems, "wait", merged["wait"], parse_bool)
    promote = _checked(problems, "promote", merged["promote"], parse_bool)
    timeout, interval = (_checked(problems, name, merged[name], _seconds(name))
                         for name in ("wait_timeout_seconds", "wait_interval_seconds"))
    if command == "status" and promote:
        problems.append(Problem("promote", ("does not go with ", Command("status"), " (it only reads); use ",
                                            Command("release"), " to promote a version")))
    if command is None or wait is None or promote is None or timeout is None or interval is None:
        return None, problems
    implied = promote and command == "rollout"
    return Lifecycle(command, wait or implied, promote or command == "release", timeout, interval), problems


def implies_wait(raw: Mapping[str, str]) -> bool:
    """Whether these inputs ask to wait (wait, or promote with rollout); False when they are invalid."""
    life, _ = lifecycle(raw)
    return life is not None and life.wait


def _command(text: str) -> str:
    word = text.strip()
    if word not in COMMANDS:  # the schema's enum
        raise ValueError(f"{word!r} is not a command; expected one of {', '.join(COMMANDS)}")
    return word


def _seconds(name: str, what: str = "whole seconds") -> Callable[[str], int]:
    """Whole seconds (or another whole `what`) within the schema's minimum and maximum for the input."""
    node = schemas.options_schema()["properties"][name]
    low, high = int(node["minimum"]), int(node["maximum"])

    def parse(text: str) -> int:
        text = text.strip()
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise ValueError(f"{text!r} is not accepted; expected {what} from {low} to {high}")
        return int(text)

    return parse


#: Inputs of a fleet (with targets, or services): how many units at once, in which waves, how many may fail.
FLEET_INPUTS = ("waves", "max_parallel", "max_failures", "bake_seconds", "skip_current")


@dataclass(frozen=True)
class FleetOptions:
    waves: tuple[Size, ...]  #: as written; () is one wave (see inputs/waves.py)
    max_parallel: int
    max_failures: Size
    bake_seconds: int
    skip_current: bool


def fleet_options(raw: Mapping[str, str]) -> tuple[FleetOptions | None, list[Problem]]:
    """The fleet's inputs, each read by its type in the schema (as the wait's are), every problem at once."""
    # Imported here, not at the top: only a fleet reads waves (docs/performance.md, process cost).
    from cloudbase_rollout.inputs.waves import parse_budget, parse_waves

    merged = {**defaults(), **raw}
    problems: list[Problem] = []
    sizes = _checked(problems, "waves", merged.get("waves", ""), parse_waves)
    parallel = _checked(problems, "max_parallel", merged["max_parallel"], _seconds("max_parallel", "an integer"))
    # No default in action.yml (report must tell "not given" from "0"); a rollout's budget is 0 unless given.
    budget = _checked(problems, "max_failures", merged.get("max_failures") or "0", parse_budget)
    bake = _checked(problems, "bake_seconds", merged["bake_seconds"], _seconds("bake_seconds"))
    skip = _checked(problems, "skip_current", merged["skip_current"], parse_bool)
    if sizes is None or parallel is None or budget is None or bake is None or skip is None:
        return None, problems
    return FleetOptions(sizes, parallel, budget, bake, skip), problems


def call_settings(raw: Mapping[str, str]) -> tuple[CallSettings | None, list[Problem]]:
    """How to call: everything but the body. Problems name their input."""
    merged = {**defaults(), **raw}
    problems: list[Problem] = []
    base = _checked(problems, "api_base_url", merged["api_base_url"], api_base_url)
    timeout = _checked(problems, "timeout_seconds", merged["timeout_seconds"], _timeout)
    attempts = _checked(problems, "max_attempts", merged["max_attempts"], _attempts)
    dry_run = _checked(problems, "dry_run", merged["dry_run"], parse_bool)
    mint = _mint_credentials(raw, problems)
    token = raw.get("access_token", "").strip() or None
    problems += credential_problems(raw)
    if not token and not mint and dry_run is False:
        problems.append(Problem("access_token", (
            "is required: the component_access_token, from a secret (or give ", Input("component_appid"), ", ",
            Input("component_appsecret"), " and ", Input("component_verify_ticket"), " to mint one)")))
    if problems or base is None or timeout is None or attempts is None or dry_run is None:
        return None, problems
    return CallSettings(base, timeout, attempts, dry_run, token, mint), []


#: Real component_access_tokens have over 100 characters, appsecrets 32: a shorter secret was cut when pasted.
MIN_SECRET = 16


def credential_problems(raw: Mapping[str, str]) -> list[Problem]:
    """Credentials as WeChat issued them. Never echo a value: it is (usually) a secret."""
    problems = []
    for name in ("access_token", *MINT_INPUTS):
        value = raw.get(name, "").strip()
        if value and not all("!" <= c <= "~" for c in value):
            problems.append(Problem(name, "holds a space, line break, control or non-ASCII character; expected the "
                                    "value exactly as WeChat issued it (printable ASCII; the value is not shown)"))
        elif value and name in SECRET_INPUTS and len(value) < MIN_SECRET:
            problems.append(Problem(name, f"looks truncated: it is shorter than {MIN_SECRET} characters, and a real "
                                    "one is longer (a component_access_token has over 100, a component_appsecret "
                                    "32); give the whole value (the value is not shown)"))
    return problems


def _mint_credentials(raw: Mapping[str, str], problems: list[Problem]) -> tuple[str, str, str] | None:
    given = [name for name in MINT_INPUTS if raw.get(name, "").strip()]
    if not given:
        return None
    missing = [name for name in MINT_INPUTS if name not in given]
    for name in missing:
        named: list[str | Input] = [Input(given[0]), *(part for other in given[1:] for part in (", ", Input(other)))]
        problems.append(Problem(name, ("is required with ", *named, " to mint a token")))
    if missing:
        return None
    appid, secret, ticket = (raw[name].strip() for name in MINT_INPUTS)
    return appid, secret, ticket


def _checked(problems: list[Problem], name: str, text: str, parse: Callable[[str], T]) -> T | None:
    try:
        return parse(text)
    except ValueError as error:
        problems.append(Problem(name, str(error)))
        return None


def api_base_url(text: str) -> str:
    """https only; plain http is allowed for loopback hosts (tests, the emulator)."""
    text = text.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must be a plain base URL such as https://api.weixin.qq.com (no user, query or fragment)")
    if not parts.hostname:
        raise ValueError(f"{text!r} is not a URL; expected https://HOST such as https://api.weixin.qq.com")
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname)):
        return text
    raise ValueError(f"{text!r} is refused: the token may only travel over https "
                     "(http is accepted for loopback hosts: 127.0.0.0/8, ::1, localhost)")


def _timeout(text: str) -> float:
    high = schemas.options_schema()["properties"]["timeout_seconds"]["maximum"]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value <= high):
        raise ValueError(f"{text.strip()!r} is not accepted; expected seconds, a number above 0 and at most {high}")
    return value


def _attempts(text: str) -> int:
    node = schemas.options_schema()["properties"]["max_attempts"]
    low, high = node["minimum"], node["maximum"]
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise ValueError(f"{text!r} is not accepted; expected an integer from {low} to {high}")
    return int(text)
