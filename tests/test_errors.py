"""errors.py: how a failed wait, preflight or release is worded, what a cancel says, and the one-line short()."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cloudbase_rollout.errors import (
    CONSOLE,
    MAY_HAVE_RELEASED,
    MAY_HAVE_STARTED,
    TITLES,
    ApiError,
    Cancelled,
    InvalidInput,
    LifecycleError,
    Problem,
    RolloutError,
    TransportError,
    cancelled_text,
    lifecycle_text,
)

WHERE = "http://127.0.0.1:9"
CAUSE = ApiError(40014, "invalid access_token", "check the token", effect="read")


def error(kind: str, **fields: object) -> LifecycleError:
    values: dict[str, Any] = {"server_name": "api", "version_name": "api-007", **fields}
    return LifecycleError(kind, **values)


def assert_clean(text: str) -> None:
    """One readable paragraph: no doubled spaces, no loose punctuation, nothing dangling."""
    assert text == text.strip()
    assert "  " not in text and " ." not in text and ".." not in text and "()" not in text
    assert "None" not in text


# -- lifecycle_text, kind by kind ------------------------------------------------------------------------------


def test_failed_names_the_status_the_run_id_and_the_logs_and_says_not_promoted():
    e = error("failed", status="build_fail", run_id="Run-9", waited=14.4)
    assert str(e) == lifecycle_text(e) == (
        f"version api-007 of api settled in status build_fail after 14 s (run_id Run-9): it is not serving the "
        f"new version. Look at {CONSOLE}. It was not promoted.")
    assert e.title == "Rollout failed" and e.may_have_started


def test_failed_without_a_run_id_or_a_wait():
    e = error("failed", status="deploy_failed", command="status")
    text = str(e)
    assert text == f"version api-007 of api settled in status deploy_failed. Look at {CONSOLE}."
    assert "run_id" not in text and "promoted" not in text and e.title == "Version failed"
    assert_clean(text)


def test_timeout_says_the_rollout_goes_on_and_not_to_run_again_blindly():
    e = error("timeout", status="deploying", run_id="Run-2", waited=900.0, limit=900)
    text = str(e)
    assert text.startswith("version api-007 of api did not settle within wait_timeout_seconds (900 s); "
                           "last status: deploying. The rollout was started (run_id Run-2) and goes on; it was not "
                           "promoted. Do not run this step again blindly")
    assert "raise wait_timeout_seconds or look again with command: status" in text and CONSOLE in text
    assert "nothing showed" not in text
    assert e.title == "Wait timed out"
    assert_clean(text)


def test_a_timeout_on_normal_says_why_normal_did_not_count():
    text = str(error("timeout", status="normal", run_id="Run-2", waited=60.0, limit=60))
    assert "It reads normal, but nothing showed that this is the new rollout" in text
    assert_clean(text)


def test_timeout_without_a_rollout_claims_none():
    text = str(error("timeout", status="deploying", waited=60.0, command="release"))
    assert "run_id" not in text and "was started" not in text
    assert_clean(text)


def test_unwatchable_says_the_rollout_started_and_why_it_cannot_be_watched():
    e = error("unwatchable", status="deploying", run_id="Run-4", cause=CAUSE)
    text = str(e)
    assert text == ("The rollout was started (run_id Run-4) and goes on; it was not promoted. But version api-007 "
                    f"of api cannot be watched: reading it failed ({CAUSE}). Check it in the console.")
    assert e.title == "Cannot watch the rollout" and e.may_have_started


def test_unwatchable_without_a_rollout_is_a_clean_sentence():
    text = str(error("unwatchable", status="deploying", cause=CAUSE, command="status"))
    assert not text.startswith((" ", "But"))


def test_preflight_names_the_cause_the_versions_and_that_nothing_changed():
    e = error("preflight", version_name="api-999", cause=CAUSE, versions=("api-001", "api-002"))
    text = str(e)
    assert text == (f"version api-999 of api cannot be read before the rollout ({CAUSE}). The service's versions: "
                    "api-001, api-002. Nothing was changed: no request that changes the service was sent.")
    unknown = str(error("preflight", cause=ApiError(40097, "invalid args", "参数错误", effect="read")))
    assert unknown.endswith("Check env_id, server_name and version_name."), "the address may be wrong"
    assert e.title == "Cannot read the version" and not e.may_have_started


@pytest.mark.parametrize("cause", [ApiError(40014, "invalid access_token", "r"), ApiError(45009, "quota", "r"),
                                   TransportError("could not connect to x", kind="not_sent")])
def test_preflight_does_not_blame_the_address_for_a_token_quota_or_connection_failure(cause):
    text = str(error("preflight", cause=cause))
    assert "Check env_id" not in text and "Nothing was changed" in text


def test_preflight_of_status_says_only_that_it_cannot_be_read():
    text = str(error("preflight", cause=CAUSE, command="status"))
    assert text.startswith("version api-007 of api cannot be read (") and "Nothing was changed" not in text


def test_preflight_of_latest_without_versions_names_the_command():
    text = str(error("preflight", version_name="latest", command="release"))
    assert text.startswith("version latest of api cannot be read before the release. Nothing was changed")
    assert "versions:" not in text
    assert_clean(text)


def test_refused_tells_a_moving_version_from_a_failed_one():
    moving = str(error("refused", status="deploying", command="release"))
    assert moving == ("version api-007 of api is in status deploying, not normal: it was not released. Set wait: true "
                      "to wait until it is normal.")
    for word in ("build_fail", "Deploy_Failed", "abnormal"):
        failed = str(error("refused", status=word, command="release"))
        assert failed == f"version api-007 of api is in status {word}: a failed version is never released. Look at " \
                         f"{CONSOLE}."
    assert error("refused", status="x").title == "Release refused"


def test_release_failed_names_the_cause_and_the_started_rollout():
    text = str(error("release_failed", status="normal", run_id="Run-5", cause=RolloutError("result failed")))
    assert text == ("releasing version api-007 of api failed (result failed). The rollout was started (run_id Run-5) "
                    "and goes on; it was not promoted.")
    alone = str(error("release_failed", cause=RolloutError("result failed"), command="release"))
    assert alone == "releasing version api-007 of api failed (result failed)."
    assert error("release_failed").title == "Release failed"


def test_every_kind_has_a_title():
    for kind, title in TITLES.items():
        assert error(kind, run_id="Run-1").title == title
    assert error("unwatchable", command="status").title == "Cannot watch the version"


# -- short(): one line for a summary cell ---------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "short"), [
    ("failed", "api-007: settled build_fail"), ("timeout", "api-007: timed out in status build_fail"),
    ("unwatchable", "api-007: cannot be watched"), ("preflight", "api-007: cannot be read"),
    ("refused", "api-007: not released: status build_fail"), ("release_failed", "api-007: release failed"),
])
def test_lifecycle_short(kind, short):
    assert error(kind, status="build_fail", run_id="Run-1", cause=CAUSE).short() == short


def test_short_is_one_bounded_line():
    assert len(error("failed", version_name="v" * 128, status="s" * 64).short()) == 160
    assert RolloutError("first line\nsecond line").short() == "first line"
    assert RolloutError("x" * 400).short() == "x" * 160


def test_short_of_invalid_input_names_the_first_problem():
    assert InvalidInput([Problem("flow_ratio", "150 is above the maximum 100"), Problem("cpu", "bad")]).short() == \
        "invalid input: flow_ratio: 150 is above the maximum 100"
    assert InvalidInput([]).short() == "invalid input"


def test_short_of_call_errors_says_what_may_have_happened():
    assert ApiError(40097, "bad args", "fix it").short() == "errcode 40097 bad args"
    assert ApiError(-1000, "system error", "check", may_have_started=True).short() == \
        "errcode -1000 system error (the rollout may have started)"
    assert ApiError(-1000, "system error", "check", may_have_started=True, effect="release").short() == \
        "errcode -1000 system error (the release may have been made)"
    lost = TransportError("HTTP 502 from " + WHERE, "bad gateway", kind="http", may_have_started=True, status=502)
    assert lost.short() == f"HTTP 502 from {WHERE} (the rollout may have started)"
    read = TransportError("HTTP 502 from " + WHERE, kind="http", may_have_started=True, effect="read")
    assert read.short() == f"HTTP 502 from {WHERE}"


# -- cancelled_text: what a cancel interrupted -------------------------------------------------------------------


def started_entry(text: str, sid: str, run_id: str) -> str:
    found = re.search(rf"{sid} \(run_id {run_id}\b[^)]*\)", text)
    assert found, f"{sid} with run_id {run_id} not named in {text!r}"
    return found.group(0)


def test_cancel_during_the_one_call():
    text, may = cancelled_text(WHERE, [("api", "calling", None, False)])
    assert text == f"while waiting for {WHERE} to answer the rollout call. {MAY_HAVE_STARTED}"
    assert may


def test_cancel_with_several_calls_in_flight_names_them_and_the_rollouts_already_started():
    text, may = cancelled_text(WHERE, [("api", "calling", None, False), ("worker", "done", "Run-w", False),
                                       ("admin", "calling", None, False), ("web", "waiting", "Run-x", False),
                                       ("ops", "pending", None, False)])
    assert text.startswith("while 2 rollouts were in flight (api, admin).")
    assert "Run-w" in started_entry(text, "worker", "Run-w")
    assert text.endswith(MAY_HAVE_STARTED) and may


def test_cancel_during_waits_names_each_started_rollout_and_whether_it_was_promoted():
    text, may = cancelled_text(WHERE, [("api", "waiting", "Run-a", False), ("worker", "done", "Run-w", True),
                                       ("admin", "waiting", "Run-m", False)])
    assert text.startswith("while waiting for api, admin to settle.")
    assert "not promoted" in started_entry(text, "api", "Run-a")
    assert "not promoted" in started_entry(text, "admin", "Run-m")
    worker = started_entry(text, "worker", "Run-w")
    assert "promoted" in worker and "not promoted" not in worker
    assert MAY_HAVE_STARTED not in text and not may


def test_cancel_during_a_release_says_it_may_have_been_made():
    text, may = cancelled_text(WHERE, [("api", "releasing", "Run-a", False), ("worker", "waiting", "Run-w", False)])
    assert text.startswith(f"while releasing api. {MAY_HAVE_RELEASED}")
    started_entry(text, "api", "Run-a")
    started_entry(text, "worker", "Run-w")
    assert MAY_HAVE_STARTED not in text and not may


def test_cancel_of_the_release_command_has_no_run_id():
    text, may = cancelled_text(WHERE, [("api", "releasing", None, False)])
    assert text == f"while releasing api. {MAY_HAVE_RELEASED}" and not may


@pytest.mark.parametrize("phases", [[], ["pending"], ["reading", "pending"], ["done", "reading"]])
def test_cancel_before_anything_was_sent(phases):
    text, may = cancelled_text(WHERE, [(f"s{n}", phase, None, False) for n, phase in enumerate(phases)])
    assert (text, may) == ("before any rollout was sent.", False)


def test_cancelled_carries_the_signal_the_exit_code_and_the_account():
    detail, may = cancelled_text(WHERE, [("api", "calling", None, False)])
    cancelled = Cancelled(15, detail, may_have_started=may)
    assert str(cancelled) == f"cancelled by signal 15 {detail}"
    assert (cancelled.signum, cancelled.exit_code, cancelled.may_have_started) == (15, 143, True)
    assert cancelled.title == "Cancelled"
    bare = Cancelled(2)
    assert (str(bare), bare.exit_code, bare.may_have_started) == ("cancelled by signal 2", 130, False)


def test_cancel_after_the_rollouts_finished_reads_cleanly():
    detail, _ = cancelled_text(WHERE, [("api", "done", "Run-a", False), ("worker", "done", "Run-w", True)])
    assert " ." not in str(Cancelled(15, detail))
