"""Split a fleet over a GitHub Actions matrix: `shard: I/N` keeps the units of shard I.

A unit's shard is a hash of that unit alone (env_id/server_name, case folded), modulo N:
so the shards of a fleet are disjoint and together hold every unit, reordering the targets
moves nothing, and adding or removing a unit moves no other. (Balance is the hash's: for a
fleet of n units each shard holds about n/N, within a few sqrt(n/N).) Equal-ignoring-case
units are one unit everywhere else too, so case folding here can never split a unit in two.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

MAX_SHARDS = 256
ACCEPTED = f"expected I/N with 1 <= I <= N <= {MAX_SHARDS}, e.g. 3/8"
FORM = re.compile(r"\s*([0-9]{1,6})\s*/\s*([0-9]{1,6})\s*")


class Unit(Protocol):
    """Anything with an address: the fleet's unit, a results record, a (env_id, server_name) NamedTuple."""

    @property
    def env_id(self) -> str: ...

    @property
    def server_name(self) -> str: ...


U = TypeVar("U", bound=Unit)


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`; 1/1 is the whole fleet."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard(1, 1)


def parse(text: str) -> Shard:
    """`I/N` as the `shard` input gives it; ValueError names what is accepted."""
    match = FORM.fullmatch(text)
    if match is None:
        raise ValueError(f"{text.strip()[:40]!r} is not accepted; {ACCEPTED}")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count <= MAX_SHARDS:
        raise ValueError(f"{text.strip()!r} is not accepted; {ACCEPTED}")
    return Shard(index, count)


def shard_of(env_id: str, server_name: str, count: int) -> int:
    """The shard (1..count) that holds the unit env_id/server_name, in every job of the matrix.

    sha256, not hash(): Python salts str hashes per process, and every job must agree.
    """
    digest = hashlib.sha256(unit_key(env_id, server_name).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select(units: Iterable[U], shard: Shard) -> list[U]:
    """The units of `shard`, in the order given (so waves and the canary keep their order)."""
    if shard.count == 1:
        return list(units)
    return [unit for unit in units if shard_of(unit.env_id, unit.server_name, shard.count) == shard.index]


def unit_key(env_id: str, server_name: str) -> str:
    """How a unit is named for its shard and the fleet's fingerprint: case folded, as units are compared."""
    return f"{env_id}/{server_name}".casefold()


def fingerprint(units: Iterable[Unit]) -> str:
    """sha256 of the sorted unit keys, one a line (each line ends in a newline): the whole fleet, before
    sharding, so report can tell pieces of different fleets apart (schema/results.schema.json, fleet)."""
    keys = sorted(unit_key(u.env_id, u.server_name) for u in units)
    return hashlib.sha256("".join(f"{key}\n" for key in keys).encode("utf-8")).hexdigest()
