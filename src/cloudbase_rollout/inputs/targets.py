"""The fleet from `targets` or `targets_file`: entries as written, then units (env_id, server_name).

Pure, no network: `parse` reads the two forms (lines, or a JSON array of objects), `expand`
crosses them with `services` into units, `fingerprint` names the whole fleet. Every problem
comes at once, each naming where it is ("targets line 3", "targets_file[2] cpu") and what is
accepted, so a fleet of thousands is fixed in one edit, not one run per typo.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from cloudbase_rollout import jsontext
from cloudbase_rollout.errors import Problem
from cloudbase_rollout.inputs import request_file, shard
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.words import Input

#: Inputs a target may set besides body fields (a services entry's, but `id`: a unit is named by its address).
#: Defined here, not in plan.py, so that plan can import this module.
PER_TARGET = ("image", "image_tag", "request_file", "wait", "promote")
#: A unit's address: an entry's own fields, never among its overrides.
ADDRESS = ("env_id", "server_name")
MAX_TARGETS_FILE = 8 << 20
LINE_FORM = "one target a line: ENV_ID or ENV_ID/SERVER_NAME (blank lines and # comments are skipped)"
JSON_FORM = 'a JSON array of objects, each with env_id and per-target inputs, e.g. [{"env_id": "prod-1"}]'
TARGETS_FILE_ACCEPTS = (f"a regular UTF-8 file in the workspace, at most {request_file.size_text(MAX_TARGETS_FILE)} "
                        "(a .json file: a JSON array of objects with env_id; any other: ENV_ID[/SERVER_NAME] lines)")
PER_TARGET_ACCEPTS = "accepted: env_id, the API's body fields, image, image_tag, request_file, wait, promote"
_ALLOWED = frozenset((*schemas.body_fields(), *PER_TARGET))
#: A comment: `#` at the start of a line or after a space; `a#b` stays, and is refused as an env_id.
_COMMENT = re.compile(r"(?:\A|\s)#")


@dataclass(frozen=True)
class Entry:
    """One target as written: an environment, maybe one service of it, and its own inputs.

    `overrides` are input names to text, as `services` entries take them (never env_id or
    server_name, which are fields); `label` is how problems name it ("targets line 3", "targets[2]").
    """

    env_id: str
    server_name: str | None
    overrides: dict[str, str]
    label: str


@dataclass(frozen=True)
class Unit:
    """One (env_id, server_name) of the fleet: what is rolled out, waved, counted and reported.

    `overrides` are the inputs that build its body on top of the step's (never env_id or
    server_name); `service_id` is the services entry's id (or server_name) when it came from services.
    """

    env_id: str
    server_name: str
    overrides: dict[str, str]
    label: str
    service_id: str | None


class _Address(NamedTuple):
    env_id: str
    server_name: str


def parse(text: str, source: str = "targets", json_form: bool | None = None) -> tuple[list[Entry], list[Problem]]:
    """The entries of `source` (the input's name, which labels them) and every problem in it.

    The JSON form when `json_form`, or (None) when the text starts with `[`; else lines.
    An empty fleet is a problem: a step that rolls out to nobody was not what anyone meant.
    """
    if json_form is None:
        json_form = text.lstrip().startswith("[")
    items, problems = _json_items(text, source) if json_form else (_line_items(text, source), [])
    read = _json_entry if json_form else _line_entry
    entries: list[Entry] = []
    for item, label in items:
        entry, found = read(item, label)
        problems += found
        entries += [entry] if entry is not None else []
    if not items and not problems:
        problems.append(Problem(source, f"names no target; expected {LINE_FORM}, or {JSON_FORM}"))
    return entries, problems


def read_file(name: str, workspace: Path) -> tuple[list[Entry], list[Problem]]:
    """targets_file: read as request_file is (inside the workspace after every symlink, a regular file,
    UTF-8), at most 8 MiB; a `.json` name is the JSON form, any other the lines form."""
    problems: list[Problem] = []
    text = request_file.read_text(name, workspace, problems, label="targets_file", limit=MAX_TARGETS_FILE,
                                  accepts=TARGETS_FILE_ACCEPTS)
    if text is None:
        return [], problems
    return parse(text, "targets_file", json_form=Path(name.strip()).suffix.lower() == ".json")


def _line_items(text: str, source: str) -> list[tuple[Any, str]]:
    """Each line that is not blank or a comment, trimmed, with its label (lines count from 1, blank ones too)."""
    items = []
    for number, raw in enumerate(text.split("\n"), start=1):
        comment = _COMMENT.search(raw)
        line = (raw[:comment.start()] if comment else raw).strip()
        if line:
            items.append((line, f"{source} line {number}"))
    return items


def _line_entry(line: str, label: str) -> tuple[Entry | None, list[Problem]]:
    if line.count("/") > 1 or any(c.isspace() for c in line):
        return None, [Problem(label, f"{_show(line)} is not accepted; expected {LINE_FORM}")]
    env_id, slash, server_name = line.partition("/")
    problems = _address_problems(label, {"env_id": env_id, **({"server_name": server_name} if slash else {})})
    if problems:
        return None, problems
    return Entry(env_id, server_name if slash else None, {}, label), []


def _json_items(text: str, source: str) -> tuple[list[tuple[Any, str]], list[Problem]]:
    try:
        data = jsontext.loads(text)
    except ValueError as error:
        return [], [Problem(source, f"is not valid JSON ({error}); expected {JSON_FORM}")]
    if not isinstance(data, list):
        return [], [Problem(source, f"holds {_kind(data)}; expected {JSON_FORM}")]
    return [(item, f"{source}[{index}]") for index, item in enumerate(data)], []


def _json_entry(item: Any, label: str) -> tuple[Entry | None, list[Problem]]:
    if not isinstance(item, dict):
        return None, [Problem(label, f"holds {_kind(item)}; expected an object with env_id and per-target inputs")]
    problems = [Problem(f"{label} {_key(key)}", f"is not a per-target input; {PER_TARGET_ACCEPTS}")
                for key in item if key not in _ALLOWED]
    address: dict[str, str] = {}
    for name in ADDRESS:
        value = item.get(name)
        if isinstance(value, str):
            address[name] = value
        elif value is not None or name == "env_id":
            what = "is required" if value is None else f"holds {_kind(value)}"
            problems.append(Problem(f"{label} {name}", f"{what}; expected {_rule(name)[1]}"))
    problems += _address_problems(label, address)
    if problems:
        return None, problems
    overrides = {key: as_text(value) for key, value in item.items() if key not in ADDRESS and value is not None}
    return Entry(address["env_id"], address.get("server_name"), overrides, label), []


def _address_problems(label: str, address: Mapping[str, str]) -> list[Problem]:
    """env_id and server_name against the request schema, so a bad one names its line, not a unit's body."""
    problems = []
    for name, value in address.items():
        pattern, accepts = _rule(name)
        if not pattern.fullmatch(value):
            problems.append(Problem(f"{label} {name}", f"{_show(value)} is not accepted; expected {accepts}"))
    return problems


@cache
def _rule(name: str) -> tuple[re.Pattern[str], str]:
    """The schema's pattern and length for a body field as one regex, and the words for what it accepts."""
    node = schemas.field_schema(name)
    low, high = int(node.get("minLength", 1)), int(node.get("maxLength", 128))
    pattern = str(node["pattern"]).removeprefix("^").removesuffix("$")
    regex = re.compile(f"(?=.{{{low},{high}}}\\Z)(?:{pattern})", re.DOTALL)
    return regex, f"{schemas.accepts(node)} ({low}-{high} characters matching {node['pattern']})"


def expand(entries: Sequence[Entry], services: Sequence[Mapping[str, str]] | None,
           step_server_name: str | None) -> tuple[list[Unit], list[Problem]]:
    """The units of the fleet, in order (target-major: the first unit is the canary), and every problem.

    Without services (None or empty), each entry is one unit; its server_name is its own, else the
    step's (`step_server_name`: the server_name input, or the one its request_file gives).
    With services, each target gets every service of services (the cross product), unless it names
    its own server_name: then it gets just that service, which must be one that services names,
    with that entry's inputs (so `prod-9/api` never rolls api with another service's image).
    A services entry names its service by its server_name key, else the step's: expand reads no
    file, so a caller whose services entries give server_name only in their request_file fills it in.
    Overrides: the services entry's, then the target's over them, by input name (a target's
    env_params replaces the service's whole): the target is the more specific, one customer.
    Two units equal ignoring case are one problem each time, naming both.
    """
    step = (step_server_name or "").strip() or None
    if services:
        units, problems = _crossed(entries, services, step)
    else:
        units, problems = _single(entries, step)
    return _distinct(units, problems)


def _single(entries: Sequence[Entry], step: str | None) -> tuple[list[Unit], list[Problem]]:
    units: list[Unit] = []
    problems: list[Problem] = []
    for entry in entries:
        server_name = entry.server_name or step
        if server_name is None:
            problems.append(Problem(entry.label, (
                "names no service; expected ENV_ID/SERVER_NAME (lines), a server_name key (JSON), or the step's ",
                Input("server_name"), " or ", Input("services"))))
        else:
            units.append(Unit(entry.env_id, server_name, dict(entry.overrides), entry.label, None))
    return units, problems


class _Service(NamedTuple):
    server_name: str
    label: str
    overrides: dict[str, str]
    id: str


def _services(services: Sequence[Mapping[str, str]], step: str | None) -> tuple[list[_Service], list[Problem]]:
    """The services rolled out in every target, each checked once (not once per target)."""
    found: list[_Service] = []
    problems: list[Problem] = []
    first: dict[str, str] = {}
    for index, entry in enumerate(services):
        label = f"services[{index}]"
        if "env_id" in entry:
            problems.append(Problem(f"{label} env_id", ("is not accepted with ", Input("targets"),
                                                        ": the targets give the environments, services the "
                                                        "services rolled out in each")))
        server_name = entry.get("server_name", "").strip() or step
        if server_name is None:
            problems.append(Problem(label, ("names no service; with ", Input("targets"), " each services entry "
                                            "needs a server_name (or the step's ", Input("server_name"), ")")))
            continue
        named = _address_problems(label, {"server_name": server_name})
        earlier = first.setdefault(server_name.casefold(), label)
        if earlier != label and not named:
            named.append(Problem(f"{label} server_name", f"{_show(server_name)} repeats {earlier} ignoring case; "
                                 "expected each service once"))
        problems += named
        if not named:
            overrides = {k: v for k, v in entry.items() if k not in (*ADDRESS, "id")}
            found.append(_Service(server_name, label, overrides, entry.get("id") or server_name))
    return found, problems


def _crossed(entries: Sequence[Entry], services: Sequence[Mapping[str, str]],
             step: str | None) -> tuple[list[Unit], list[Problem]]:
    crossing, problems = _services(services, step)
    by_name = {service.server_name.casefold(): service for service in crossing}
    units: list[Unit] = []
    for entry in entries:
        chosen = crossing
        if entry.server_name is not None:
            match = by_name.get(entry.server_name.casefold())
            if match is None:
                problems += [_not_a_service(entry, crossing)] if crossing or not problems else []
                continue
            chosen = [match]
        units += [Unit(entry.env_id, service.server_name, {**service.overrides, **entry.overrides},
                       f"{entry.label} x {service.label}", service.id) for service in chosen]
    return units, problems


def _not_a_service(entry: Entry, crossing: Sequence[_Service]) -> Problem:
    names = ", ".join(service.server_name for service in crossing[:10]) + (", ..." if len(crossing) > 10 else "")
    return Problem(f"{entry.label} server_name", (
        f"{_show(entry.server_name or '')} is not a service of ", Input("services"),
        f"; expected one of them ({names}), or none for every one"))


def _distinct(units: list[Unit], problems: list[Problem]) -> tuple[list[Unit], list[Problem]]:
    """Units equal ignoring case are one problem each, naming both: CloudBase names are compared as
    the shards and the results file compare them, so two spellings must never be two rollouts."""
    first: dict[str, Unit] = {}
    kept: list[Unit] = []
    for unit in units:
        earlier = first.setdefault(shard.unit_key(unit.env_id, unit.server_name), unit)
        if earlier is unit:
            kept.append(unit)
            continue
        same = "repeats" if (earlier.env_id, earlier.server_name) == (unit.env_id, unit.server_name) else \
            f"is {earlier.env_id}/{earlier.server_name} ignoring case, the unit of"
        problems.append(Problem(unit.label, f"{unit.env_id}/{unit.server_name} {same} {earlier.label}; expected "
                                "each env_id/server_name once (compared ignoring case)"))
    return kept, problems


def fingerprint(units: Sequence[tuple[str, str]]) -> str:
    """The whole fleet's name (before sharding), from its (env_id, server_name) pairs: shard.fingerprint,
    the one the results file and report use, so that the two can never disagree."""
    return shard.fingerprint(_Address(env_id, server_name) for env_id, server_name in units)


def as_text(value: Any) -> str:
    """An override as input text, as targets and services entries take them: JSON for what is not a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _key(key: str) -> str:
    """A JSON key as a label: as written when plain, else quoted and cut (a key can hold a line break)."""
    return key if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key) else repr(key[:64])


def _show(value: str) -> str:
    return repr(value) if len(value) <= 64 else repr(value[:64]) + "..."
