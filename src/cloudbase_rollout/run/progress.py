"""A fleet's progress in few lines: one when a wave starts, at most one per `every` seconds while it runs,
one when it ends. The log grows with changes, not with polls: a tick counts the units only when a
line is due and says it only when the counts moved, so 10,000 completions cost 10,000 clock reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloudbase_rollout.run.core import Result

EVERY = 30.0
#: Unit states that count as healthy, failed, and in progress.
HEALTHY_STATES = ("succeeded", "current")


def elapsed(seconds: float) -> str:
    """1m30s, 45s, 2h05m: short enough for a progress line."""
    whole = int(seconds)
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def counts(units: Sequence[Result]) -> dict[str, int]:
    found = {"healthy": 0, "failed": 0, "deploying": 0, "waiting": 0, "skipped": 0, "planned": 0}
    for r in units:
        if r.state in HEALTHY_STATES:
            found["healthy"] += 1
        elif r.state == "planned":  # command plan: read, nothing rolled
            found["planned"] += 1
        elif r.state == "failed":
            found["failed"] += 1
        elif r.state == "skipped":
            found["skipped"] += 1
        elif r.state == "started":
            found["deploying"] += 1
        else:
            found["waiting"] += 1
    return found


def counts_text(found: dict[str, int]) -> str:
    shown = [f"{found[k]} {k}" for k in ("healthy", "failed", "deploying", "waiting", "skipped", "planned")
             if found[k] or (k in ("healthy", "failed") and not found["planned"])]
    return ", ".join(shown)


class Progress:
    """Progress lines of one fleet step; `say` prints one (the CLI on a terminal rewrites one line)."""

    def __init__(self, waves: int, clock: Callable[[], float], say: Callable[[str], None],
                 every: float = EVERY) -> None:
        self.waves, self.clock, self.say, self.every = waves, clock, say, every
        self.started = 0.0
        self.last = 0.0
        self.shown: dict[str, int] | None = None
        self.wave = 0

    def wave_started(self, wave: int, units: Sequence[Result]) -> None:
        self.wave, self.started, self.last, self.shown = wave, self.clock(), self.clock(), None
        names = ", ".join(r.target.id for r in units[:5]) + (f", ... ({len(units) - 5} more)" if len(units) > 5 else "")
        self.say(f"wave {wave}/{self.waves}: starting {len(units)} unit(s): {names}")

    def tick(self, units: Sequence[Result]) -> None:
        """A line when one is due (every `every` seconds at most) and the counts moved since the last."""
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        found = counts(units)
        if found != self.shown:
            self.shown = found
            self.say(f"wave {self.wave}/{self.waves} {elapsed(now - self.started)}: {counts_text(found)}")

    def wave_ended(self, units: Sequence[Result]) -> None:
        found = counts(units)
        self.say(f"wave {self.wave}/{self.waves} done in {elapsed(self.clock() - self.started)}: "
                 f"{counts_text(found)}")
