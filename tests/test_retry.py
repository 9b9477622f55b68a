"""The retry policy on its own: which failures are retried, how long to wait, Retry-After."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator

import pytest

from cloudbase_rollout.errors import ApiError, InvalidInput, Problem, RolloutError, TransportError, TransportKind
from cloudbase_rollout.wechat.retry import BACKOFF_CAP, RETRY_AFTER_CAP, delay, retry_after, retryable


def api(errcode: int) -> ApiError:
    return ApiError(errcode, "message", "remedy")


def transport(kind: TransportKind, status: int | None = None) -> TransportError:
    return TransportError("summary", kind=kind, status=status)


# -- retryable(error, safe): the whole table -------------------------------------

#: (error, retried on an endpoint that is safe to repeat, retried on one that is not)
TABLE = [
    pytest.param(api(-1), True, True, id="errcode -1 busy"),
    pytest.param(api(45011), True, False, id="errcode 45011 minute quota"),
    pytest.param(api(45009), False, False, id="errcode 45009 daily quota"),
    pytest.param(api(42001), False, False, id="errcode 42001"),
    pytest.param(api(-1000), False, False, id="errcode -1000"),
    pytest.param(api(40097), False, False, id="errcode 40097"),
    pytest.param(api(0), False, False, id="errcode 0"),
    pytest.param(transport("not_sent"), True, True, id="not sent"),
    pytest.param(transport("no_reply"), True, False, id="no reply"),
    pytest.param(transport("timed_out"), True, False, id="timed out"),
    pytest.param(transport("cert"), False, False, id="certificate"),
    pytest.param(transport("unreadable"), False, False, id="unreadable"),
    pytest.param(transport("http", 429), True, True, id="HTTP 429"),
    pytest.param(transport("http", 503), True, True, id="HTTP 503"),
    pytest.param(transport("http", 500), True, False, id="HTTP 500"),
    pytest.param(transport("http", 502), True, False, id="HTTP 502"),
    pytest.param(transport("http", 504), True, False, id="HTTP 504"),
    pytest.param(transport("http", 501), True, False, id="HTTP 501"),
    pytest.param(transport("http", 599), True, False, id="HTTP 599"),
    pytest.param(transport("http", 499), False, False, id="HTTP 499"),
    pytest.param(transport("http", 404), False, False, id="HTTP 404"),
    pytest.param(transport("http", 400), False, False, id="HTTP 400"),
    pytest.param(transport("http", 302), False, False, id="HTTP 302"),
    pytest.param(transport("http", None), False, False, id="HTTP without a status"),
]


@pytest.mark.parametrize(("error", "when_safe", "when_unsafe"), TABLE)
def test_retryable_decision_table(error: RolloutError, when_safe: bool, when_unsafe: bool) -> None:
    assert retryable(error, safe=True) is when_safe
    assert retryable(error, safe=False) is when_unsafe


@pytest.mark.parametrize("error", [RolloutError("x"), InvalidInput([Problem("env_id", "missing")])])
def test_other_errors_are_never_retried(error: RolloutError) -> None:
    assert retryable(error, safe=True) is False
    assert retryable(error, safe=False) is False


def test_the_status_decides_whatever_the_kind() -> None:
    """429/503 mean "not now" even when the error's kind says the answer was lost."""
    assert retryable(transport("no_reply", 503), safe=False) is True
    assert retryable(transport("unreadable", 429), safe=False) is True
    assert retryable(transport("unreadable", 500), safe=True) is True
    assert retryable(transport("unreadable", 500), safe=False) is False


# -- delay(attempt, retry_after, base) ---------------------------------------------

@pytest.mark.parametrize(("given", "slept"), [(0.0, 0.0), (2.5, 2.5), (29.9, 29.9), (30.0, 30.0),
                                              (31.0, RETRY_AFTER_CAP), (1e9, RETRY_AFTER_CAP), (-3.0, 0.0)])
def test_retry_after_is_used_as_given_within_zero_and_the_cap(given: float, slept: float) -> None:
    for attempt in (1, 4):
        assert delay(attempt, given) == slept
        assert delay(attempt, given, base=0.01) == slept  # base does not touch Retry-After


def samples(attempt: int, base: float = 1.0, n: int = 300) -> list[float]:
    return [delay(attempt, None, base) for _ in range(n)]


@pytest.mark.parametrize(("attempt", "base", "backoff"), [
    (1, 1.0, 1.0), (2, 1.0, 2.0), (3, 1.0, 4.0), (4, 1.0, 8.0),
    (5, 1.0, BACKOFF_CAP), (9, 1.0, BACKOFF_CAP),  # capped: 16, 256 -> 10
    (1, 0.01, 0.01), (3, 0.01, 0.04), (2, 3.0, 6.0), (3, 3.0, BACKOFF_CAP),
])
def test_backoff_is_exponential_capped_and_jittered_between_half_and_whole(attempt: int, base: float,
                                                                           backoff: float) -> None:
    got = samples(attempt, base)
    assert all(0.5 * backoff <= x <= backoff for x in got), (min(got), max(got))
    # jitter: spread over the whole range, not a constant (p of a false failure ~ 0.8**300)
    assert min(got) < 0.6 * backoff and max(got) > 0.9 * backoff
    assert len(set(got)) > 100


def test_backoff_cap_is_ten_seconds() -> None:
    assert BACKOFF_CAP == 10.0
    assert RETRY_AFTER_CAP == 30.0


# -- retry_after(header) -----------------------------------------------------------

@pytest.mark.parametrize(("header", "seconds"), [
    ("0", 0.0), ("1", 1.0), ("7", 7.0), (" 12 ", 12.0), ("30", 30.0),
    ("31", RETRY_AFTER_CAP), ("3600", RETRY_AFTER_CAP), ("9" * 400, RETRY_AFTER_CAP),
])
def test_delta_seconds_are_read_and_capped_at_30(header: str, seconds: float) -> None:
    assert retry_after(header) == seconds


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "-5", "+5", "1.5", "1e3", "5s", "Mon,",
                                    "\u0663",  # an Arabic-Indic digit: isdigit() but not delta-seconds
                                    "Mon, 99 Foo 2026 25:61:61 GMT"])
def test_unusable_values_give_none(header: str | None) -> None:
    assert retry_after(header) is None


@pytest.mark.parametrize("ahead", [5, 20])
def test_an_http_date_gives_the_seconds_until_then(ahead: int) -> None:
    header = email.utils.formatdate(time.time() + ahead, usegmt=True)  # IMF-fixdate, whole seconds
    got = retry_after(header)
    assert got is not None and ahead - 2 <= got <= ahead


def test_an_http_date_in_the_past_gives_zero() -> None:
    assert retry_after("Sun, 06 Nov 1994 08:49:37 GMT") == 0.0
    assert retry_after(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0


def test_a_far_http_date_is_capped_by_delay() -> None:
    seconds = retry_after(email.utils.formatdate(time.time() + 3600, usegmt=True))
    assert seconds is not None and seconds > RETRY_AFTER_CAP  # the date form is not capped here...
    assert delay(1, seconds) == RETRY_AFTER_CAP  # ...but the wait is


@pytest.fixture
def shanghai_time() -> Iterator[None]:
    """The process runs in UTC+8 (a self-hosted runner in China), restored afterwards."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        yield
    finally:
        mp.undo()
        time.tzset()


def test_an_asctime_http_date_is_gmt_whatever_the_local_zone(shanghai_time: None) -> None:
    header = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(time.time() + 20))  # asctime form, GMT
    got = retry_after(header)
    assert got is not None and 18 <= got <= 20
