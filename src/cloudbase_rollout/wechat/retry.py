"""The one retry policy: retry only what cannot start a second rollout.

Any endpoint may be retried when the request provably never arrived (connection
refused, DNS, connect timeout, a failed TLS handshake) or when WeChat said so
(errcode -1, HTTP 429/503). Only endpoints that are safe to repeat (the reads)
are also retried after an answer was lost, on a 5xx, or on the minute quota.
"""

from __future__ import annotations

import datetime
import email.utils
import random
import time

from cloudbase_rollout.errors import ApiError, RolloutError, TransportError

RETRY_AFTER_CAP = 30.0
BACKOFF_CAP = 10.0
#: Statuses with which a server says "not now": nothing was done.
RETRY_STATUS = (429, 503)
#: Daily quota: retrying within a job is futile (docs/spec/NEIGHBOURS.md section 6).
MINUTE_QUOTA = 45011


def retryable(error: RolloutError, safe: bool) -> bool:
    """May this failure be retried on an endpoint that is (or is not) safe to repeat?"""
    if isinstance(error, ApiError):
        return error.errcode == -1 or (safe and error.errcode == MINUTE_QUOTA)
    if isinstance(error, TransportError):
        if error.kind == "not_sent" or error.status in RETRY_STATUS:
            return True
        if not safe:
            return False
        return error.kind in ("no_reply", "timed_out") or (error.status is not None and error.status >= 500)
    return False


def delay(attempt: int, retry_after: float | None, base: float = 1.0) -> float:
    """Retry-After when the server gave one (capped), else exponential backoff with jitter."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), RETRY_AFTER_CAP)
    backoff: float = min(BACKOFF_CAP, base * 2 ** (attempt - 1))
    return backoff * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not crypto)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), RETRY_AFTER_CAP)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:  # asctime form or -0000: GMT (RFC 9110), never the runner's zone
            when = when.replace(tzinfo=datetime.UTC)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
