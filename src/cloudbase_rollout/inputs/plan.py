"""From raw inputs to a Plan: everything that needs no network, every problem at once.

The Action and the CLI both call `prepare_plan`; core.py runs what it returns.
Nothing here opens a connection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudbase_rollout import jsontext
from cloudbase_rollout.errors import InvalidInput, Problem, unique
from cloudbase_rollout.inputs import discovery, fleet, request, settings, shard, targets, validate
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.wechat.api import CallSettings
from cloudbase_rollout.words import Command, Input

#: Environment variables that stand in for secret inputs (the CLI's way to keep them out of argv).
SECRET_ENV = {
    "access_token": "COMPONENT_ACCESS_TOKEN",
    "component_appid": "COMPONENT_APPID",
    "component_appsecret": "COMPONENT_APPSECRET",
    "component_verify_ticket": "COMPONENT_VERIFY_TICKET",
}
#: Inputs a `services` entry may set besides body fields; call settings and secrets belong to the step.
PER_SERVICE = ("id", *targets.PER_TARGET)
#: What release and status take: the version's address and nothing that builds a body.
READ_INPUTS = ("env_id", "server_name", "version_name")
SERVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


@dataclass
class Target:
    """One service: `id` names its outputs (run_id_<id>) and summary row."""

    id: str
    env_id: str
    server_name: str
    version_name: str  #: as given: may be `latest`
    wait: bool
    promote: bool
    body: dict[str, Any] | None = None  #: the roll-update body, for command rollout
    warnings: list[str] = field(default_factory=list)

    @property
    def request_json(self) -> str:
        """The token-free body, exactly as sent (the `request` output)."""
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Plan:
    command: str
    targets: list[Target]
    call: CallSettings
    timeout: int
    interval: int
    batch: bool
    fleet: fleet.Fleet | None = None  #: targets, discover or services in waves (inputs/fleet.py)


def with_secret_env(raw: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """Secrets may come from COMPONENT_* variables when the input is absent."""
    merged = settings.present(raw)
    for name, variable in SECRET_ENV.items():
        if name not in merged and env.get(variable, "").strip():
            merged[name] = env[variable]
    return merged


def register_secrets(raw: Mapping[str, str], redactor: Redactor, mask: Callable[[str], None]) -> None:
    """Mask every secret before anything else is printed.

    A value too short to be a secret is refused before any call (settings.credential_problems)
    and never printed; masking it would turn every `x` or `2` in the messages into `***`.
    """
    for name in settings.SECRET_INPUTS:
        value = raw.get(name, "")
        for secret in {value, value.strip()}:
            if len(secret.strip()) >= settings.MIN_SECRET:
                redactor.add(secret)
                mask(secret)


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


def prepare_plan(raw: Mapping[str, str], env: Mapping[str, str], workspace: Path,
                 discovered: discovery.Found | None = None) -> Plan:
    """The whole step: one target without `services`, else one per entry, or a fleet's units; every problem
    at once. With `discover`, first without `discovered` (every input checked, no target yet), then again
    with what discovery found."""
    base = {name: value for name, value in raw.items() if name != "services"}
    call, problems = settings.call_settings(base)  # once: the step's, not each entry's
    problems += unused(raw)
    life, life_problems = settings.lifecycle(base)
    problems += life_problems
    command = life.command if life else _command_given(base)
    if fleet.is_fleet(raw):
        found, the_fleet, fleet_problems = _fleet(raw, base, env, workspace, command, discovered)
        problems += fleet_problems
        if problems or call is None or life is None or the_fleet is None:
            raise InvalidInput(unique(problems))
        return Plan(command, found, call, life.timeout, life.interval, True, the_fleet)
    found, batch, listed = _listed(raw, base, env, workspace, command, call is not None)
    problems += listed
    if problems or call is None or life is None:
        raise InvalidInput(unique(problems))
    return Plan(command, found, call, life.timeout, life.interval, batch)


def _listed(raw: Mapping[str, str], base: Mapping[str, str], env: Mapping[str, str], workspace: Path, command: str,
            named: bool) -> tuple[list[Target], bool, list[Problem]]:
    """The targets of a single rollout (one) or of `services` (one per entry), and their problems."""
    batch = "services" in raw
    entries, problems = read_services(raw["services"]) if batch else ([{}], [])
    found: list[Target] = []
    for index, entry in enumerate(entries):
        if entry is None:
            continue  # not an object: read_services said so
        label = f"services[{index}] " if batch else ""
        target, trouble = _target(base, entry, env, workspace, command)
        problems += [Problem(f"{label}{p.input}", p.message, p.kind) for p in trouble]
        if target is not None and named:
            problems += _id_problems(target, found, label)
            found.append(target)
    return found, batch, problems


def _fleet(raw: Mapping[str, str], base: Mapping[str, str], env: Mapping[str, str], workspace: Path, command: str,
           discovered: discovery.Found | None) -> tuple[list[Target], fleet.Fleet | None, list[Problem]]:
    """A fleet's targets (this shard's) and its Fleet; each unit's body from the one builder."""
    options, problems = settings.fleet_options(base)
    asked, found = discovery.parse(base)
    problems += found
    the_shard, found = fleet.shard_of_raw(base)
    problems += found
    if command not in ("rollout", "plan"):
        problems += [Problem(name, ("is used with ", Command("rollout"), " or ", Command("plan")))
                     for name in fleet.FLEET_SOURCES if base.get(name, "").strip()]
    explicit = any(base.get(name, "").strip() for name in fleet.FLEET_SOURCES)
    if explicit:
        if base.get("env_id", "").strip() and not base.get("discover", "").strip():  # discover says so itself
            problems.append(Problem("env_id", ("is not used with ", Input("targets"), " or ", Input("targets_file"),
                                               ": they give the environments")))
        services = None
        if "services" in raw:
            entries, found = read_services(raw["services"])
            problems += found
            services = [entry for entry in entries if entry is not None]
        units, found = fleet.units_of(base, workspace, services, discovered)
        problems += found
        whole, fingerprint = fleet.describe(units)
        units = shard.select(units, the_shard)
        listed, found = fleet.build_targets(units, lambda entry: _target(base, entry, env, workspace, command))
        problems += found
    else:  # services (or one service) as a fleet: today's targets, in waves
        listed, _batch, found = _listed(raw, base, env, workspace, command, True)
        problems += found
        whole, fingerprint = fleet.describe(listed)
        listed = shard.select(listed, the_shard)
    if options is None or problems:
        return [], None, problems
    sizes = fleet.waves_of(len(listed), options.waves)
    fleet.imply_wait(listed, options, len(sizes))
    the_fleet = fleet.Fleet(options, sizes, the_shard, whole, fingerprint, base.get("max_failures", "").strip() or "0",
                            explicit, asked, discovered, list(discovered.skipped) if discovered else [])
    return ([] if the_fleet.pending_discovery else listed), the_fleet, []


#: Inputs only a fleet reads (targets, targets_file, discover or services give it).
FLEET_ONLY = (*settings.FLEET_INPUTS, "shard", "results_file", "max_failures", "env_alias", "appids")
#: What only command report reads.
REPORT_INPUTS = ("results_files",)


def unused(raw: Mapping[str, str]) -> list[Problem]:
    """Fleet inputs given to a single rollout, and report inputs given to another command: refused, not ignored."""
    given = {name: value.strip() for name, value in raw.items()
             if value.strip() and value.strip() != settings.defaults().get(name)}  # the runner passes defaults
    problems = [] if fleet.is_fleet(raw) else [
        Problem(name, ("is used by a fleet: give ", Input("targets"), ", ", Input("targets_file"), ", ",
                       Input("discover"), " or ", Input("services")))
        for name in FLEET_ONLY if name in given]
    return problems + [Problem(name, "is only read by command report (merging results files)")
                       for name in REPORT_INPUTS if name in given]


def _command_given(raw: Mapping[str, str]) -> str:
    """The command, even when another lifecycle input is wrong: its checks still apply."""
    given = raw.get("command", "rollout").strip()
    return given if given in settings.COMMANDS else "rollout"


def _target(base: Mapping[str, str], entry: Mapping[str, str], env: Mapping[str, str], workspace: Path,
            command: str) -> tuple[Target | None, list[Problem]]:
    merged = {**base, **entry}
    if "promote" in entry and "wait" not in entry and settings.implies_wait(base):
        merged["wait"] = "true"  # an entry that opts out of promote is still watched, as the step asked
    life, problems = settings.lifecycle({k: v for k, v in merged.items() if k in settings.LIFECYCLE_INPUTS})
    if command not in ("rollout", "plan"):
        problems += _refused(base, entry, command)
        address = {name: merged.get(name, settings.BODY_DEFAULTS.get(name, "")).strip() for name in READ_INPUTS}
        problems += validate.address_problems(address)
        if problems or life is None:
            return None, problems
        return Target(entry.get("id") or address["server_name"], address["env_id"], address["server_name"],
                      address["version_name"], life.wait, life.promote), []
    overrides = {k: v for k, v in entry.items() if k not in ("id", "wait", "promote")}
    built, body_problems = _body(base, env, workspace, overrides if entry else None)
    problems += body_problems
    if problems or life is None:
        return None, problems
    body = built.body
    server_name = str(body.get("server_name", ""))
    return Target(entry.get("id") or server_name, str(body.get("env_id", "")), server_name,
                  str(body.get("version_name", "")), life.wait, life.promote, body, built.warnings), []


def _refused(base: Mapping[str, str], entry: Mapping[str, str], command: str) -> list[Problem]:
    """Roll-update inputs given with release or status: refused, not silently ignored."""
    found = []
    for layer in (base, entry):
        for name, value in layer.items():
            if name in READ_INPUTS or (name in settings.OPTION_NAMES and name not in _BODY_BUILDERS) or name == "id":
                continue
            if name in ("wait", "promote") or value.strip() == settings.BODY_DEFAULTS.get(name):
                continue  # the runner passes action.yml's defaults as if given
            found.append(Problem(name, (
                "is not used by ", Command(command), ": it takes only ", Input("env_id"), ", ", Input("server_name"),
                ", ", Input("version_name"), " and the wait inputs (roll-update inputs go with ", Command("rollout"),
                ")")))
    return found


_BODY_BUILDERS = ("image", "image_tag", "request_file")


def _id_problems(target: Target, earlier: list[Target], label: str) -> list[Problem]:
    """Ids name outputs, which the runner keeps case-insensitively: run_id_WEB would overwrite run_id_web."""
    if not label:
        return []
    if not SERVICE_ID.match(target.id):
        return [Problem(f"{label}id", f"{target.id!r} is not accepted; expected letters, digits, - and _")]
    for other in earlier:
        if other.id.lower() == target.id.lower():
            same = "repeats another entry" if other.id == target.id else f"differs from {other.id!r} only in case"
            return [Problem(f"{label}id", f"{target.id!r} {same}; give each entry a unique id (outputs are "
                            "case-insensitive)")]
    return []


def parse_services(text: str, command: str = "rollout") -> list[dict[str, str]]:
    """A JSON array of per-service overrides (objects of input names) or request_file paths."""
    entries, problems = read_services(text)
    if problems:
        raise InvalidInput(problems)
    return [entry for entry in entries if entry is not None]


def read_services(text: str) -> tuple[list[dict[str, str] | None], list[Problem]]:
    """The entries, None where one is not an object, and their problems, so that prepare_plan
    still checks every usable entry: every problem at once, each naming its entry. A key that
    is not a per-service input is reported and left out of its entry."""
    try:
        entries = jsontext.loads(text)
    except ValueError as error:
        return [], [Problem("services", f"is not valid JSON ({error}); expected a JSON array of "
                            "objects of input names, e.g. [{\"server_name\": \"api\"}]")]
    if not isinstance(entries, list) or not entries:
        return [], [Problem("services", "expected a non-empty JSON array of objects or request_file paths")]
    allowed = (*schemas.body_fields(), *PER_SERVICE)
    parsed: list[dict[str, str] | None] = []
    problems = []
    for index, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"request_file": entry}
        if not isinstance(entry, dict):
            problems.append(Problem(f"services[{index}]", "expected an object of input names or a request_file path"))
            parsed.append(None)
            continue
        for key in entry:
            if key not in allowed:
                problems.append(Problem(f"services[{index}] {key}", "is not a per-service input; accepted: "
                                        "the API's body fields, image, image_tag, request_file, id, wait, promote"))
        parsed.append({k: targets.as_text(v) for k, v in entry.items() if v is not None and k in allowed})
    return parsed, problems

