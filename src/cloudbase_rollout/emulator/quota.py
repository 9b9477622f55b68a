"""The token's API quota, as WeChat's gateway enforces it: 45011 for the minute, 45009 for the day.

Every call of a fleet shares one component_access_token, so one quota (docs/spec/FLEET.md
section 3): the emulator counts every call that passes the token check, on every endpoint but
minting. A refusal comes from the gateway, before the call reaches CloudBase, so it starts
nothing and is not counted against either quota.

The minute quota lets `minute_after` calls through, then refuses every call for
`minute_seconds` (on the emulator's clock, so tests move time instead of sleeping); then the
count starts again, as a new minute would. The daily quota lets `daily_after` calls through in
all, then refuses every call until the quota is set again (or the emulator reset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MINUTE, DAILY = 45011, 45009
ERRMSG = {MINUTE: "api minute-quota reach limit, retry next minute", DAILY: "reach max api daily quota limit"}


@dataclass
class Quota:
    """Both quotas (None: no limit) and what they counted."""

    minute_after: int | None = None
    minute_seconds: float = 60.0
    daily_after: int | None = None
    passed: int = 0  # calls let through, in all
    in_minute: int = 0  # calls let through since the last pause ended
    paused_until: float | None = None  # clock time until which the minute quota refuses
    refused_minute: int = 0
    refused_daily: int = 0

    def take(self, now: float) -> int | None:
        """The errcode refusing one call at clock time `now`, or None when it may go through."""
        if self.daily_after is not None and self.passed >= self.daily_after:
            self.refused_daily += 1
            return DAILY
        if self.paused_until is not None and now >= self.paused_until:
            self.paused_until, self.in_minute = None, 0
        if self.paused_until is None and self.minute_after is not None and self.in_minute >= self.minute_after:
            self.paused_until = now + self.minute_seconds
        if self.paused_until is not None:
            self.refused_minute += 1
            return MINUTE
        self.passed += 1
        self.in_minute += 1
        return None

    def view(self, now: float) -> dict[str, Any]:
        """For GET /_emulator/faults: the settings, the counts and the pause left."""
        left = None if self.paused_until is None else max(0.0, self.paused_until - now)
        return {"minute_after": self.minute_after, "minute_seconds": self.minute_seconds,
                "daily_after": self.daily_after, "passed": self.passed, "paused_seconds_left": left,
                "refused": {str(MINUTE): self.refused_minute, str(DAILY): self.refused_daily}}
