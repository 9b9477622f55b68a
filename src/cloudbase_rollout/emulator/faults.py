"""The faults a test injects into the emulator: failing calls, failing or slow units, the quota.

A mixin of `State`, kept apart so that `State` stays about what the endpoints remember; every
method takes the state's lock. Each fault is keyed the way the endpoints look things up (a dict
by (env_id, server_name)), so a bench can make a few of 10,000 units fail at no cost to the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cloudbase_rollout.emulator.quota import Quota
from cloudbase_rollout.emulator.versions import FAILED, HEALTHY, Key

#: What a rollout of a unit made to fail (fail_units, --fail-unit) settles to.
UNIT_FAILED = "deploy_failed"


@dataclass
class SettleFailure:
    """The next `count` rollouts matching (None matches anything) settle to `status`, not normal."""

    env_id: str | None
    server_name: str | None
    version_name: str | None
    status: str = FAILED
    count: int = 1

    def matches(self, key: Key, names: set[str]) -> bool:
        return (self.count > 0 and self.env_id in (None, key[0]) and self.server_name in (None, key[1])
                and (self.version_name is None or self.version_name in names))


class Faults:
    """Injected faults; the attributes are `State`'s dataclass fields."""

    lock: threading.Lock
    clock: Callable[[], float]
    quota: Quota
    calls: int
    fail_next: int
    fail_errcode: int
    reads: int
    read_fail_next: int
    read_fail_errcode: int
    read_fail_http: int
    settle_failures: list[SettleFailure]
    failing: dict[Key, str]
    slow: dict[Key, float]

    def take_quota(self) -> int | None:
        """45011 or 45009 when the token's quota refuses this call (see `quota`); None lets it through."""
        with self.lock:
            return self.quota.take(self.clock())

    def set_quota(self, minute_after: int | None = None, minute_seconds: float = 60.0,
                  daily_after: int | None = None) -> None:
        """Limit the calls from now on (None: no limit); the counts start again from zero."""
        if any(n is not None and n < 0 for n in (minute_after, daily_after)) or not 0 <= minute_seconds < 1e9:
            raise ValueError("quota counts and minute_seconds must be 0 or more")
        with self.lock:
            self.quota = Quota(minute_after, minute_seconds, daily_after)

    def take_failure(self) -> int | None:
        """The errcode for a roll-update the /_emulator/fail control fails, or None."""
        with self.lock:
            self.calls += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_errcode
        return None

    def take_read_failure(self) -> tuple[int, int] | None:
        """(HTTP status, errcode) when a read is to fail (the /_emulator/read-fail control)."""
        with self.lock:
            self.reads += 1
            if self.read_fail_next > 0:
                self.read_fail_next -= 1
                return self.read_fail_http, self.read_fail_errcode
        return None

    def fail_settling(self, rule: SettleFailure) -> None:
        with self.lock:
            self.settle_failures.append(rule)

    def settle_word(self, key: Key, names: set[str]) -> str:
        """What a rollout of this unit settles to: its failing status, a matching rule's, or normal.
        The caller holds the lock."""
        if key in self.failing:
            return self.failing[key]
        rule = next((r for r in self.settle_failures if r.matches(key, names)), None)
        if rule is None:
            return HEALTHY
        rule.count -= 1
        self.settle_failures = [r for r in self.settle_failures if r.count > 0]
        return rule.status

    def fail_units(self, units: Iterable[Key], status: str = UNIT_FAILED) -> None:
        """Every rollout of these (env_id, server_name) units settles to `status` (normal: heals them)."""
        with self.lock:
            for key in units:
                if status == HEALTHY:
                    self.failing.pop(key, None)
                else:
                    self.failing[key] = status

    def settle_slowly(self, env_id: str, server_name: str, seconds: float) -> None:
        """Rollouts of this unit settle after `seconds` instead of settle_seconds."""
        with self.lock:
            self.slow[(env_id, server_name)] = seconds

    def faults(self) -> dict[str, Any]:
        """The quota and the failing and slow units, for GET /_emulator/faults."""
        with self.lock:
            return {"quota": self.quota.view(self.clock()),
                    "fail_units": [{"env_id": k[0], "server_name": k[1], "status": s} for k, s in self.failing.items()],
                    "slow_units": [{"env_id": k[0], "server_name": k[1], "settle_seconds": s}
                                   for k, s in self.slow.items()]}
