"""Waves and the failure budget: `waves` and `max_failures` as sizes of the fleet, in exact integer math.

A size is a count of units or a whole percentage of them, as Ansible's `serial` and
`max_fail_percentage` and CloudFormation StackSets' MaxConcurrent/FailureTolerance take them.
Waves are cumulative (`1, 10%, 100%`: the canary, then up to a tenth of the fleet in all, then
the rest) and a percentage of a wave rounds up, so a wave is never empty; a budget's percentage
rounds down, so "at most 2% may fail" never tolerates more than 2%. Percentages are whole:
a count gives any finer step (`1, 50, 10%`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

from cloudbase_rollout.vocabulary import schemas

T = TypeVar("T")
#: A count or a whole percentage; nine digits at most, so a typo cannot build a huge number.
_SIZE = re.compile(r"([0-9]{1,9})\s*(%?)\Z")


def _accepts(name: str) -> str:
    return str(schemas.options_schema()["properties"][name]["x-accepts"])


WAVES_ACCEPTS = _accepts("waves")
BUDGET_ACCEPTS = _accepts("max_failures") + ": a whole number from 0, or a whole percentage from 0% to 100%"


@dataclass(frozen=True)
class Size:
    """A count of units (`value`), or `value` percent of them."""

    value: int
    percent: bool

    def of(self, total: int) -> int:
        """The units this size is of `total`: a count as is (not capped: see wave_ends), a percentage
        rounded up, in integer math (ceil(total * value / 100) with no float on the way)."""
        return -(-total * self.value // 100) if self.percent else self.value

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


def _size(item: str) -> Size | None:
    match = _SIZE.fullmatch(item.strip())
    return Size(int(match[1]), bool(match[2])) if match else None


def parse_waves(text: str) -> tuple[Size, ...]:
    """The sizes of `waves`, as written; () for one wave. ValueError names every item refused and what
    is accepted.

    Strictly increasing applies where two sizes compare as written (two counts, two percentages):
    `5, 10%` is fine, its rounding is wave_ends' concern. Nothing may follow 100%: every unit has started.
    """
    if not text.strip():
        return ()
    sizes: list[Size] = []
    refused: list[str] = []
    for item in text.split(","):
        size = _size(item)
        why = _wave_refusal(item, size, sizes)
        if why:
            refused.append(why)
        elif size is not None:
            sizes.append(size)
    if refused:
        raise ValueError(f"{'; '.join(refused)}; expected {WAVES_ACCEPTS} (counts above 0, whole percentages "
                         "above 0% and at most 100%)")
    return tuple(sizes)


def _wave_refusal(item: str, size: Size | None, earlier: Sequence[Size]) -> str | None:
    shown = repr(item.strip()[:40])
    if size is None:
        return f"{shown} is not a count or a whole percentage" if item.strip() else "an empty size (a comma too many?)"
    if size.value == 0:
        return f"{shown} is not above 0"
    if size.percent and size.value > 100:
        return f"{shown} is over 100%"
    if any(s.percent and s.value == 100 for s in earlier):
        return f"{shown} follows 100% (every unit has started by then)"
    same = [s for s in earlier if s.percent == size.percent]
    if same and size.value <= same[-1].value:
        return f"{shown} is not above the earlier {same[-1]} (sizes are cumulative)"
    return None


def wave_ends(sizes: Sequence[Size], total: int) -> list[int]:
    """Where each wave ends among `total` units (cumulative, each at most total, increasing): sizes that
    end where an earlier one did, or before, add no wave (`1, 10%` of 5 units: [1, 5]), and the last wave
    ends at total (a last wave of 100% is implied). No unit, no wave: []."""
    ends: list[int] = []
    for size in sizes:
        end = min(size.of(total), total)
        if end > (ends[-1] if ends else 0):
            ends.append(end)
    if total > 0 and (not ends or ends[-1] < total):
        ends.append(total)
    return ends


def cut(items: Sequence[T], sizes: Sequence[Size]) -> list[list[T]]:
    """The waves themselves, in order: the items as given, so the first is the canary."""
    starts = [0, *wave_ends(sizes, len(items))]
    return [list(items[start:end]) for start, end in pairwise(starts)]


def parse_budget(text: str) -> Size:
    """`max_failures`: a count (0 and up) or a whole percentage (0% to 100%); ValueError names what is accepted."""
    size = _size(text)
    if size is None or (size.percent and size.value > 100):
        raise ValueError(f"{text.strip()[:40]!r} is not accepted; expected {BUDGET_ACCEPTS}")
    return size


def allowed(budget: Size, total: int) -> int:
    """Failures tolerated among `total` units: a count as is; a percentage rounded down.

    Down, as StackSets' FailureTolerancePercentage does, and exactly Ansible's "more than p% failed":
    for a whole number of failures, failures > total * p / 100 holds just when failures > floor(that).
    So `2%` of 30 units tolerates none (0.6), of 50 units one.
    """
    return total * budget.value // 100 if budget.percent else budget.value


def exceeded(failures: int, budget: Size, total: int) -> bool:
    """Whether `failures` are more than the budget tolerates: then no further unit starts."""
    return failures > allowed(budget, total)
