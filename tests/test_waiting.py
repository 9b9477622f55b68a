"""The wait loop on its own: a scripted read, a fake clock, no sleeping."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cloudbase_rollout.errors import ApiError, TransportError
from cloudbase_rollout.run.waiting import HEARTBEAT, Waited, Watch, wait
from cloudbase_rollout.wechat.cloudrun import Version

BEFORE = Version("api-001", "normal", "2026-11-01 10:00:00", "2026-11-01 10:00:00")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def reads(*items: Version | Exception) -> Callable[[], Version]:
    queue = list(items)

    def read() -> Version:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return read


def run(read: Callable[[], Version], *, before: Version | None = BEFORE, run_id: str | None = "Run-1",
        timeout: float = 60, interval: float = 5) -> tuple[Waited, Clock, list[str]]:
    clock, lines = Clock(), []
    result = wait(Watch(read, timeout, interval, clock, clock.sleep, lines.append, before, run_id))
    return result, clock, lines


def v(status: str, updated: str = "2026-11-01 10:00:00", run_id: str | None = None) -> Version:
    return Version("api-001", status, "2026-11-01 10:00:00", updated, run_id)


def test_moving_then_normal_is_healthy_and_each_change_is_one_line() -> None:
    result, clock, lines = run(reads(v("deploying"), v("deploying"), v("normal")))
    assert result.outcome == "healthy" and result.status == "normal"
    assert clock.sleeps == [5, 5]
    assert result.timeline == [(0, "deploying"), (10, "normal")]
    assert lines == ["status deploying after 0 s", "status normal after 10 s"]


def test_normal_without_evidence_is_the_old_state_and_times_out() -> None:
    result, clock, _lines = run(reads(v("normal")), timeout=20)
    assert result.outcome == "timeout" and result.status == "normal"
    assert clock.now - 1000 == 20


def test_normal_with_a_new_updated_time_is_healthy_at_once() -> None:
    result, clock, _ = run(reads(v("normal", updated="2026-11-01 10:05:00")))
    assert result.outcome == "healthy" and clock.sleeps == []


def test_normal_with_our_run_id_is_healthy() -> None:
    result, _, _ = run(reads(v("normal", run_id="Run-1")))
    assert result.outcome == "healthy"


def test_normal_with_another_run_id_is_not_evidence() -> None:
    result, _, _ = run(reads(v("normal", run_id="Run-other")), timeout=10)
    assert result.outcome == "timeout"


def test_without_a_before_any_settled_status_ends_the_wait() -> None:
    result, _, _ = run(reads(v("normal")), before=None)
    assert result.outcome == "healthy"


@pytest.mark.parametrize("word", ["build_fail", "BUILD_FAILED", "deploy_failed", "Abnormal"])
def test_failed_words_end_the_wait_as_failed(word: str) -> None:
    result, _, _ = run(reads(v("deploying"), v(word)))
    assert result.outcome == "failed" and result.status == word


def test_an_old_failed_status_without_evidence_does_not_end_the_wait() -> None:
    result, _, _ = run(reads(v("build_fail"), v("deploying"), v("normal")), before=v("build_fail"))
    assert result.outcome == "healthy"


@pytest.mark.parametrize("word", ["running", "warming_up", "succ", "", "NORMAL-ish"])
def test_unknown_words_are_shown_verbatim_and_keep_waiting(word: str) -> None:
    result, _, lines = run(reads(v(word)), timeout=15)
    assert result.outcome == "timeout" and result.status == word
    assert lines[0] == f"status {word or '(empty)'} after 0 s"


def test_status_words_compare_case_insensitively() -> None:
    result, _, _ = run(reads(v("Deploying"), v("NORMAL")))
    assert result.outcome == "healthy"


def test_a_long_unchanged_status_gets_one_heartbeat_per_30_s_not_a_line_per_poll() -> None:
    result, clock, lines = run(reads(v("deploying")), timeout=95, interval=1)
    assert result.outcome == "timeout"
    assert len(clock.sleeps) == 95
    heartbeats = [line for line in lines if line.startswith("still")]
    assert heartbeats == [f"still deploying after {s} s" for s in (30, 60, 90)]
    assert len(lines) == 1 + len(heartbeats)
    assert HEARTBEAT == 30


def test_the_last_sleep_is_cut_to_the_deadline() -> None:
    result, clock, _ = run(reads(v("deploying")), timeout=12, interval=5)
    assert clock.sleeps == [5, 5, 2]
    assert result.seconds == 12


@pytest.mark.parametrize("error", [
    ApiError(-1, "busy", "retry"), ApiError(45011, "minute quota", "retry"),
    TransportError("HTTP 503 from x", kind="http", status=503),
    TransportError("could not connect to x", kind="not_sent"),
    TransportError("lost the connection", kind="no_reply"),
])
def test_transient_read_errors_do_not_end_the_wait(error: Exception) -> None:
    result, _, lines = run(reads(v("deploying"), error, error, v("normal")), timeout=600)
    assert result.outcome == "healthy"
    assert len([line for line in lines if "reading the status failed" in line]) == 1, "once, not per poll"


@pytest.mark.parametrize("errcode", [40014, 85088, 45009, 40097])
def test_other_read_errors_end_the_wait_keeping_what_was_seen(errcode: int) -> None:
    error = ApiError(errcode, "no", "remedy")
    result, _, _ = run(reads(v("deploying"), error))
    assert result.outcome == "unwatchable" and result.error is error
    assert result.status == "deploying" and result.timeline == [(0, "deploying")]
    assert result.seconds == 5


def test_an_unreadable_reply_ends_the_wait() -> None:
    error = TransportError("a reply that does not fit", kind="unreadable")
    result, _, _ = run(reads(error))
    assert result.outcome == "unwatchable" and result.error is error and result.status is None


def test_the_minute_quota_pauses_a_minute_before_the_next_read() -> None:
    result, clock, _ = run(reads(v("deploying"), ApiError(45011, "minute quota", "retry"), v("normal")),
                           timeout=600)
    assert result.outcome == "healthy"
    assert clock.sleeps == [5, 60]


def test_the_same_wait_runs_under_the_scheduler_for_many_versions_at_once() -> None:
    """The program `wait` drives on one thread, the scheduler drives for hundreds with no thread each."""
    from cloudbase_rollout.run.scheduler import Scheduler
    from cloudbase_rollout.run.waiting import watching

    clock = Clock()
    scheduler = Scheduler(4, clock, clock.sleep)
    results: list[Waited] = []
    for n in range(300):
        read = reads(*[v("deploying")] * (1 + n % 3), v("normal", "2026-11-01 10:05:00"))
        watch = Watch(read, 60, 5, clock, clock.sleep, lambda _line: None, BEFORE, "Run-1")
        scheduler.spawn(watching(watch), lambda task: results.append(task.result))
    scheduler.run()
    assert len(results) == 300 and {r.outcome for r in results} == {"healthy"}
    assert clock.now - 1000 == 15, "the slowest version's wait, not the sum"
    assert scheduler.threads <= 4
