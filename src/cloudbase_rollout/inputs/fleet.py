"""A fleet's plan: its units (from targets, targets_file, discovery or services), this shard's part, the waves.

Pure, no network. `prepare` turns the units into plan Targets through the one body builder the
single rollout uses (plan.py passes it in, so this module does not import plan), every problem
at once. A body is built once per distinct set of overrides and copied for each unit with its
address: 10,000 units of one release cost one build, not 10,000 (docs/performance.md).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cloudbase_rollout.errors import Problem
from cloudbase_rollout.inputs import settings, shard, targets
from cloudbase_rollout.inputs.discovery import Discovery, Found, Skip
from cloudbase_rollout.inputs.settings import FleetOptions

if TYPE_CHECKING:
    from cloudbase_rollout.inputs.plan import Target
    from cloudbase_rollout.inputs.waves import Size

T = TypeVar("T")
#: Inputs that make a step a fleet even without services.
FLEET_SOURCES = ("targets", "targets_file", "discover")
#: An address that stands in for the environments discovery will find, so the body is checked before any call.
PLACEHOLDER_ENV = "discovered-env"


class Build(Protocol):
    def __call__(self, entry: Mapping[str, str]) -> tuple[Target | None, list[Problem]]: ...


@dataclass
class Fleet:
    """What a fleet step does beyond its targets: waves, budget, shard, and what the whole fleet is."""

    options: FleetOptions
    waves: list[int]  #: units per wave, in order
    shard: shard.Shard
    whole: int  #: units in the whole fleet, before sharding
    fingerprint: str
    max_failures: str  #: as given (the results file records it)
    explicit: bool  #: targets, targets_file or discover: no run_id_<id> outputs
    discovery: Discovery | None = None
    discovered: Found | None = None
    skipped: list[Skip] = field(default_factory=list)

    @property
    def pending_discovery(self) -> bool:
        """Discovery asked for and not yet made: the targets are still to come."""
        return self.discovery is not None and self.discovered is None


def is_fleet(raw: Mapping[str, str]) -> bool:
    """A step is a fleet with targets, targets_file, discover or command plan; or services with a fleet input."""
    given = {name for name, value in raw.items() if value.strip() and value.strip() != settings.defaults().get(name)}
    if given & {*FLEET_SOURCES, "shard"} or raw.get("command", "").strip() == "plan":
        return True
    return "services" in given and bool(given & {*settings.FLEET_INPUTS, "results_file", "max_failures"})


def units_of(raw: Mapping[str, str], workspace: Path, services: Sequence[Mapping[str, str]] | None,
             discovered: Found | None) -> tuple[list[targets.Unit], list[Problem]]:
    """The whole fleet's units, in order, from whichever source the inputs name."""
    if discovered is not None:
        entries = [targets.Entry(env_id, None, {}, f"discovered {env_id}") for env_id in discovered.env_ids]
        if not entries:
            return [], []
    elif raw.get("discover", "").strip():
        entries = [targets.Entry(PLACEHOLDER_ENV, None, {}, "discover")]
    elif raw.get("targets", "").strip():
        if raw.get("targets_file", "").strip():
            return [], [Problem("targets_file", "cannot be used together with targets; give the fleet once")]
        entries, problems = targets.parse(raw["targets"], "targets")
        if problems:
            return [], problems
    else:
        entries, problems = targets.read_file(raw["targets_file"], workspace)
        if problems:
            return [], problems
    return targets.expand(entries, services, raw.get("server_name"))


def build_targets(units: Sequence[targets.Unit], build: Build) -> tuple[list[Target], list[Problem]]:
    """One Target per unit, each body built once per distinct overrides and copied with the unit's address."""
    built: dict[tuple[tuple[str, str], ...], Target] = {}
    found: list[Target] = []
    problems: list[Problem] = []
    for unit in units:
        key = tuple(sorted(unit.overrides.items()))
        template = built.get(key)
        if template is None:
            template, trouble = build({**unit.overrides, "env_id": unit.env_id, "server_name": unit.server_name})
            problems += [Problem(f"{unit.label}: {p.input}", p.message, p.kind) for p in trouble]
            if template is None:
                continue
            built[key] = template
        found.append(_addressed(template, unit))
    return found, problems


def _addressed(template: Target, unit: targets.Unit) -> Target:
    body: dict[str, Any] | None = None
    if template.body is not None:
        body = copy.deepcopy(template.body)
        body["env_id"], body["server_name"] = unit.env_id, unit.server_name
    name = f"{unit.env_id}/{unit.server_name}"
    return dataclasses.replace(template, id=name, env_id=unit.env_id,
                        server_name=unit.server_name, body=body, warnings=list(template.warnings))


def shard_of_raw(raw: Mapping[str, str]) -> tuple[shard.Shard, list[Problem]]:
    text = raw.get("shard", "").strip()
    if not text:
        return shard.WHOLE, []
    try:
        return shard.parse(text), []
    except ValueError as error:
        return shard.WHOLE, [Problem("shard", str(error))]


def waves_of(count: int, sizes: Sequence[Size]) -> list[int]:
    """Units per wave among this shard's `count` units (the `waves` input's sizes)."""
    from cloudbase_rollout.inputs import waves

    ends = waves.wave_ends(sizes, count)
    return [end - start for start, end in zip([0, *ends], ends, strict=False)]


def split(items: Sequence[T], sizes: Sequence[int]) -> list[list[T]]:
    """The items in their waves, in order, given the units per wave (Fleet.waves): the run, the dry run
    and its outputs all cut the same way."""
    found, start = [], 0
    for size in sizes:
        found.append(list(items[start:start + size]))
        start += size
    return found


def imply_wait(found: Sequence[Target], options: FleetOptions, wave_count: int) -> None:
    """More than one wave (or a bake) implies wait, as promote does: a wave is done when it serves."""
    if wave_count > 1 or options.bake_seconds > 0:
        for target in found:
            target.wait = True


def describe(units: Sequence[shard.Unit]) -> tuple[int, str]:
    """The whole fleet's size and fingerprint (before sharding), of its units or of the targets made of them."""
    return len(units), shard.fingerprint(units)

