"""inputs/shard.py: `shard: I/N` splits a fleet into disjoint, complete shards that stay put.

A unit's shard is a function of that unit alone, so the partition is checked directly:
every shard of a fleet taken with `select`, their union and their overlaps.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import NamedTuple

import pytest

from cloudbase_rollout.inputs.shard import (
    ACCEPTED,
    MAX_SHARDS,
    WHOLE,
    Shard,
    fingerprint,
    parse,
    select,
    shard_of,
    unit_key,
)


class U(NamedTuple):
    env_id: str
    server_name: str


def fleet(size: int, services: int = 1) -> list[U]:
    """`size` units: environments like a platform's (env-<n>-<hex>), `services` services each."""
    return [U(f"env-{n}-{hashlib.blake2s(str(n).encode()).hexdigest()[:8]}", f"svc-{k}")
            for n in range(math.ceil(size / services)) for k in range(services)][:size]


def partition(units: list[U], count: int) -> list[list[U]]:
    return [select(units, Shard(index, count)) for index in range(1, count + 1)]


def assert_exact(units: list[U], count: int) -> list[list[U]]:
    shards = partition(units, count)
    flat = [u for part in shards for u in part]
    assert len(flat) == len(units), "disjoint and complete: each unit in exactly one shard"
    assert set(flat) == set(units)
    for part in shards:  # each shard keeps the given order
        members = set(part)
        assert part == [u for u in units if u in members]
    return shards


# -- parse ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("3/8", Shard(3, 8)), ("1/1", Shard(1, 1)), ("256/256", Shard(256, 256)), (" 2 / 4 ", Shard(2, 4)),
    ("1/256", Shard(1, 256)), ("08/08", Shard(8, 8)),
])
def test_accepted_shards(text: str, expected: Shard) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["0/8", "9/8", "1/257", "257/257", "0/0", "3", "3/", "/8", "a/b", "", "3/8/1",
                                  "-1/8", "1.0/8", "3 of 8", "３/８", "3/8\n4/8", "1/99999999"])
def test_refused_shards_name_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="is not accepted") as caught:
        parse(text)
    assert str(caught.value).endswith(ACCEPTED)
    assert ACCEPTED == "expected I/N with 1 <= I <= N <= 256, e.g. 3/8"


def test_the_message_quotes_the_value() -> None:
    with pytest.raises(ValueError) as caught:
        parse("0/8")
    assert str(caught.value) == "'0/8' is not accepted; expected I/N with 1 <= I <= N <= 256, e.g. 3/8"


def test_shard_prints_as_given() -> None:
    assert str(Shard(3, 8)) == "3/8" and Shard(1, 1) == WHOLE


# -- shard_of -------------------------------------------------------------------------------

def test_shard_of_is_pinned() -> None:
    """Every job of a matrix, whatever its Python or PYTHONHASHSEED, and every release of the tool must
    agree: these values change only with the hash, which would move units between shards."""
    assert shard_of("prod-1", "api", 8) == 7
    assert shard_of("prod-6gxk23no5605e14f", "shop-api", 256) == 207
    digest = hashlib.sha256(b"prod-1/api").digest()
    assert shard_of("prod-1", "api", 1000) == int.from_bytes(digest[:8], "big") % 1000 + 1


def test_shard_of_folds_case() -> None:
    for count in (2, 8, 256):
        assert shard_of("Prod-1", "API", count) == shard_of("prod-1", "api", count)
    assert unit_key("Prod-1", "Shop-API") == "prod-1/shop-api"


def test_shard_of_depends_on_both_names() -> None:
    units = fleet(200)
    assert len({shard_of(u.env_id, "a", 256) for u in units}) > 100
    assert len({shard_of("prod-1", f"svc-{n}", 256) for n in range(200)}) > 100


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 16, 100, 255, 256])
def test_shard_of_is_in_range(count: int) -> None:
    assert {shard_of(u.env_id, u.server_name, count) for u in fleet(3000)} <= set(range(1, count + 1))


# -- select: the partition ------------------------------------------------------------------

@pytest.mark.parametrize("size", [1, 2, 5, 17, 100, 1000])
@pytest.mark.parametrize("count", [1, 2, 3, 8, 64, 256])
def test_shards_partition_small_and_middle_fleets_exactly(size: int, count: int) -> None:
    assert_exact(fleet(size, services=2), count)


@pytest.mark.parametrize("count", [1, 8, 16])
def test_shards_partition_a_fleet_of_10000_exactly(count: int, big: list[U]) -> None:
    assert_exact(big, count)


def test_256_shards_of_a_fleet_of_10000(big: list[U]) -> None:
    """Each unit's shard computed once; select agrees with it on a sample of shards (all 256 selects
    would cost 2.5 million hashes for what the mapping already shows)."""
    where = {u: shard_of(u.env_id, u.server_name, 256) for u in big}
    assert set(where.values()) == set(range(1, 257)), "every shard holds some of 10,000 units"
    for index in (1, 2, 100, 255, 256):
        assert select(big, Shard(index, 256)) == [u for u in big if where[u] == index]


@pytest.fixture(scope="module")
def big() -> list[U]:
    return fleet(10_000, services=3)


def test_reordering_moves_no_unit(big: list[U]) -> None:
    shuffled = big[:]
    random.Random(13).shuffle(shuffled)
    for count in (3, 256):
        for index in (1, count // 2 + 1, count):
            mine = set(select(big, Shard(index, count)))
            theirs = select(shuffled, Shard(index, count))
            assert set(theirs) == mine
            assert theirs == [u for u in shuffled if u in mine], "and each keeps its own order"


def test_growth_and_removal_move_no_other_unit(big: list[U]) -> None:
    before = big[:6000]
    grown = [*big[:3000], *fleet(50, services=1), *big[3000:]]  # units added in the middle
    shrunk = big[::2]  # half removed
    for count in (7, 256):
        where = {u: shard_of(u.env_id, u.server_name, count) for u in before}
        for after in (grown, shrunk):
            for index in (1, count):
                for u in select(after, Shard(index, count)):
                    assert where.get(u, index) == index


def test_the_whole_fleet_is_one_shard(big: list[U]) -> None:
    assert select(big, WHOLE) == big
    assert select(iter(big[:5]), WHOLE) == big[:5]


@pytest.mark.parametrize("count", [8, 64, 256])
def test_balance_is_reasonable(count: int, big: list[U]) -> None:
    """Each shard holds about n/N units: within 5 standard deviations of a fair split."""
    sizes = [0] * count
    for u in big:
        sizes[shard_of(u.env_id, u.server_name, count) - 1] += 1
    mean = len(big) / count
    spread = 5 * math.sqrt(mean)
    assert all(mean - spread <= size <= mean + spread for size in sizes), (min(sizes), max(sizes), mean)
    assert max(sizes) / mean < 1.8


def test_a_sample_of_n_from_1_to_256_partitions_a_mid_fleet() -> None:
    units = fleet(2500, services=5)
    for count in [*range(1, 12), 31, 97, 128, 200, MAX_SHARDS]:
        sizes = [0] * count
        for u in units:
            sizes[shard_of(u.env_id, u.server_name, count) - 1] += 1
        assert sum(sizes) == len(units)
        index = count // 3 + 1
        assert len(select(units, Shard(index, count))) == sizes[index - 1]


# -- fingerprint ------------------------------------------------------------------------------

def test_fingerprint_is_of_the_sorted_folded_unit_list() -> None:
    units = [U("prod-2", "API"), U("prod-1", "web")]
    assert fingerprint(units) == hashlib.sha256(b"prod-1/web\nprod-2/api\n").hexdigest()
    assert fingerprint(reversed(units)) == fingerprint(units)
    assert fingerprint([U("PROD-2", "api"), U("prod-1", "WEB")]) == fingerprint(units)


def test_fingerprint_changes_with_the_fleet() -> None:
    units = fleet(100)
    assert fingerprint(units[1:]) != fingerprint(units)
    assert fingerprint([*units, U("x", "y")]) != fingerprint(units)
    assert fingerprint([]) == hashlib.sha256(b"").hexdigest()
