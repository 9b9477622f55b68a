"""`command: report`: merge the shards' results files into one, and judge the release as a whole.

A matrix job that crashed uploads nothing, a re-run may upload its shard twice, and an
artifact pattern can sweep in another fleet's file: so before any count is believed, the
pieces must be exactly the shards 1..N of one fleet, each unit once (refusals, exit 1).
Then the whole fleet's failures are held to max_failures, a count or a percentage of the
whole fleet. A file that is not a results file is invalid input (exit 2). No API, no token.
The merged document is itself a results file: shard 1/1 of the same fleet.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cloudbase_rollout import __version__, jsontext
from cloudbase_rollout.errors import InvalidInput, Problem
from cloudbase_rollout.inputs import shard
from cloudbase_rollout.vocabulary.validator import reply_errors

#: 10,000 units of a few hundred bytes each fit many times over; a bigger file is not ours.
MAX_RESULTS_FILE = 64 << 20
STATES = ("succeeded", "current", "failed", "skipped", "started", "planned")
BUDGET = re.compile(r"\s*(?:([0-9]{1,9})|([0-9]{1,3}(?:\.[0-9]{1,4})?)\s*%)\s*")
BUDGET_ACCEPTS = "a count (e.g. 2) or a percentage of the whole fleet's units (e.g. 5%)"


@dataclass
class Merged:
    """The merged results file, the files it came from and their documents (by shard), and what is wrong
    with the whole (each refusal one line; any means exit 1)."""

    document: dict[str, Any]
    paths: list[Path]
    docs: list[dict[str, Any]]
    refusals: list[str] = field(default_factory=list)
    allowed: int | None = None  #: failures tolerated across the fleet (None when max_failures could not apply)

    @property
    def totals(self) -> dict[str, int]:
        return dict(self.document["totals"])

    @property
    def exit_code(self) -> int:
        return 1 if self.refusals else 0


def merge(paths: Sequence[Path], max_failures: str | None = None) -> Merged:
    """Every file read and held to schema/results.schema.json (InvalidInput naming each bad one), then merged.

    `max_failures` (the report step's input) wins over what the files record.
    """
    if not paths:
        raise InvalidInput([Problem("results_files", "no results file was given")])
    loaded = read_all(paths)
    loaded.sort(key=lambda pair: pair[1]["shard"]["index"])
    refusals = [*_shard_refusals(loaded), *_fleet_refusals(loaded)]
    # A shard given twice is counted once from here on: its units are not "twice" on top of that.
    first = list({doc["shard"]["index"]: (path, doc) for path, doc in reversed(loaded)}.values())[::-1]
    docs = [doc for _, doc in first]
    if len({doc["shard"]["count"] for doc in docs}) == 1:
        refusals += _unit_refusals(first)
    if not refusals:
        refusals += _coverage_refusals(docs)
    refusals += _stopped_refusals(docs)
    document = combine(docs)
    allowed, budget_refusals = _budget(document, docs, max_failures)
    return Merged(document, [path for path, _ in first], docs, refusals + budget_refusals, allowed)


def read_all(paths: Sequence[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """(path, document) of each file; every file that is not a results file is named at once."""
    loaded, problems = [], []
    for path in paths:
        try:
            loaded.append((path, read_results(path)))
        except ValueError as error:
            problems.append(Problem("results_files", f"{path} is not a results file: {error}"))
    if problems:
        raise InvalidInput(problems)
    return loaded


def read_results(path: Path) -> dict[str, Any]:
    """One results file: a regular file of at most MAX_RESULTS_FILE bytes, UTF-8 JSON, on its schema."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ValueError("it is not a regular file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_RESULTS_FILE + 1)
    except OSError as error:
        raise ValueError(f"it cannot be read ({error.strerror or error})") from None
    if len(raw) > MAX_RESULTS_FILE:
        raise ValueError(f"it is larger than {MAX_RESULTS_FILE >> 20} MiB")
    try:
        data = jsontext.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None
    except ValueError as error:
        raise ValueError(f"it is not JSON ({str(error)[:100]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
    problems = reply_errors("results", data)
    if problems:
        raise ValueError(f"it does not fit schema/results.schema.json ({'; '.join(problems[:3])[:300]})")
    return data


def _shard_refusals(loaded: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """Every file names the same N, and each shard 1..N comes exactly once."""
    counts = sorted({doc["shard"]["count"] for _, doc in loaded})
    if len(counts) > 1:
        return [f"the files disagree on the number of shards ({', '.join(map(str, counts))}): " + _by_shard(loaded)]
    count = counts[0]
    seen: dict[int, list[Path]] = {}
    for path, doc in loaded:
        seen.setdefault(doc["shard"]["index"], []).append(path)
    refusals = [f"shard {index}/{count} is present {len(found)} times: {', '.join(map(str, found))}"
                for index, found in sorted(seen.items()) if len(found) > 1]
    missing = [index for index in range(1, count + 1) if index not in seen]
    if missing:
        them = "it" if len(missing) == 1 else "them"
        refusals.append(f"{_some(missing)} of {count} missing: no results file holds {them} (did its job fail "
                        "before uploading its results?)")
    return refusals


def _some(indexes: list[int]) -> str:
    shown = ", ".join(map(str, indexes[:20])) + (f" and {len(indexes) - 20} more" if len(indexes) > 20 else "")
    return f"shard{'s' if len(indexes) > 1 else ''} {shown}"


def _by_shard(loaded: list[tuple[Path, dict[str, Any]]]) -> str:
    return ", ".join(f"{path} says {doc['shard']['index']}/{doc['shard']['count']}" for path, doc in loaded[:10])


def _fleet_refusals(loaded: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """One fleet (fingerprint and size) and one command: pieces of another release must not count."""
    refusals = []
    fleets = {(doc["fleet"]["fingerprint"], doc["fleet"]["units"]) for _, doc in loaded}
    if len(fleets) > 1:
        named = "; ".join(f"{path}: fleet {doc['fleet']['fingerprint'][:12]} of {doc['fleet']['units']} units"
                          for path, doc in loaded[:10])
        refusals.append(f"the files come from {len(fleets)} different fleets: {named}")
    commands = sorted({doc["command"] for _, doc in loaded})
    if len(commands) > 1:
        refusals.append(f"the files come from different commands ({', '.join(commands)})")
    return refusals


def _unit_refusals(loaded: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """Each unit once across all files (compared ignoring case, as units are)."""
    where: dict[str, Path] = {}
    twice: list[str] = []
    for path, doc in loaded:
        for unit in doc["units"]:
            key = shard.unit_key(unit["env_id"], unit["server_name"])
            if key in where:
                twice.append(f"{unit['env_id']}/{unit['server_name']} ({where[key]} and {path})")
            else:
                where[key] = path
    if not twice:
        return []
    more = f" and {len(twice) - 10} more" if len(twice) > 10 else ""
    return [f"{len(twice)} unit(s) appear more than once: {'; '.join(twice[:10])}{more}"]


def _coverage_refusals(docs: list[dict[str, Any]]) -> list[str]:
    """With every shard there once, the units must be exactly the fleet the files record."""
    units = [u for doc in docs for u in doc["units"]]
    fleet = docs[0]["fleet"]
    found = shard.fingerprint(_Address(u["env_id"], u["server_name"]) for u in units)
    if found == fleet["fingerprint"]:
        return []
    return [f"the shards' {len(units)} units are not the fleet of {fleet['units']} units that the files record "
            f"(fingerprint {fleet['fingerprint'][:12]}, the units give {found[:12]}): a unit is missing or extra"]


@dataclass(frozen=True)
class _Address:
    env_id: str
    server_name: str


def _stopped_refusals(docs: list[dict[str, Any]]) -> list[str]:
    """A shard that did not run to its end leaves units undone, whatever the failure count says."""
    refusals = []
    for doc in docs:
        where = f"shard {doc['shard']['index']}/{doc['shard']['count']}"
        if not doc["complete"]:
            refusals.append(f"{where} did not finish (complete: false): it was cancelled or is still running")
        elif doc.get("stopped"):
            refusals.append(f"{where} stopped early ({doc['stopped']}): {_undone(doc)}")
    return refusals


def _undone(doc: dict[str, Any]) -> str:
    counts = {s: sum(1 for u in doc["units"] if u["state"] == s) for s in ("skipped", "started")}
    return f"{counts['skipped']} unit(s) skipped, {counts['started']} started and not watched to their end"


def combine(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The shards as one results file: shard 1/1, units in shard order, totals counted, waves summed."""
    units = [u for doc in docs for u in doc["units"]]
    totals = dict.fromkeys(STATES, 0)
    for unit in units:
        totals[unit["state"]] += 1
    width = max((len(doc.get("waves", [])) for doc in docs), default=0)
    waves = [sum(doc.get("waves", [])[k] for doc in docs if k < len(doc.get("waves", []))) for k in range(width)]
    stops = sorted({doc["stopped"] for doc in docs if doc.get("stopped")})
    fleet = {key: value for key, value in docs[0]["fleet"].items() if key != "max_failures"}
    return {"format": "cloudbase-rollout/results", "version": 1, "tool_version": __version__,
            "command": docs[0]["command"], "dry_run": any(doc.get("dry_run", False) for doc in docs),
            "complete": all(doc["complete"] for doc in docs), "fleet": fleet, "shard": {"index": 1, "count": 1},
            "waves": waves, "units": units, "totals": {"units": len(units), **totals},
            "budget_exceeded": any(doc.get("budget_exceeded", False) for doc in docs),
            "stopped": ",".join(stops) or None}


def _budget(document: dict[str, Any], docs: list[dict[str, Any]], given: str | None) -> tuple[int | None, list[str]]:
    """(failures allowed, refusal): the input wins; else what every file records; else 0."""
    recorded = sorted({doc["fleet"]["max_failures"].strip() for doc in docs if "max_failures" in doc["fleet"]})
    if given is None and len(recorded) > 1:
        return None, [f"the files record different max_failures ({', '.join(recorded)}): give max_failures to "
                      "the report step"]
    text = given if given is not None else (recorded[0] if recorded else "0")
    fleet_units = int(document["fleet"]["units"])
    try:
        allowed = allowed_failures(text, fleet_units)
    except ValueError as error:
        if given is not None:
            raise InvalidInput([Problem("max_failures", str(error))]) from None
        return None, [f"the files record a max_failures that is not accepted: {error}"]
    document["fleet"]["max_failures"] = text.strip()
    failed = document["totals"]["failed"]
    if failed <= allowed:
        return allowed, []
    document["budget_exceeded"] = True
    return allowed, [f"{failed} of the fleet's {fleet_units} units failed: more than max_failures {text.strip()} "
                     f"allows ({allowed})"]


def allowed_failures(text: str, units: int) -> int:
    """Failures tolerated: a count as given, or a percentage of `units` rounded down (exceeding 5% of 30
    units means a 2nd failure: 1.5 allowed is 1). Exact decimal arithmetic: 0.1% of 10,000 is 10, not 9."""
    match = BUDGET.fullmatch(text)
    if match is None:
        raise ValueError(f"{text.strip()[:40]!r} is not accepted; expected {BUDGET_ACCEPTS}")
    if match[1] is not None:
        return int(match[1])
    try:
        percent = Decimal(match[2])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"{text.strip()!r} is not accepted; expected {BUDGET_ACCEPTS}") from None
    if percent > 100:
        raise ValueError(f"{text.strip()!r} is not accepted; a percentage is at most 100%")
    return math.floor(percent * units / 100)
