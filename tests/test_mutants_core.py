"""Tests that kill the mutants left alive in errors, redact, jsontext (mutation follow-up).

Each test pins one rule whose weakening a surviving mutant showed was unguarded: a shorter secret
inside a longer one, every control character a runner could act on, JSON depth through objects, and
the exact words of a failed wait, preflight or refusal (run_id, "not promoted", "Nothing was changed",
which inputs to check).
"""

from __future__ import annotations

from typing import Any

import pytest

from cloudbase_rollout import jsontext
from cloudbase_rollout.errors import CONSOLE, ApiError, LifecycleError, TransportError
from cloudbase_rollout.redact import MASK, Redactor, neutralize

WHAT = "version api-007 of api"
NOT_CHANGED = "Nothing was changed: no request that changes the service was sent."
CHECK = "Check env_id, server_name and version_name."
STARTED = "The rollout was started (run_id Run-2) and goes on; it was not promoted."
AGAIN = (f"Do not run this step again blindly: check {CONSOLE} first, then raise wait_timeout_seconds or look "
         "again with command: status.")
NOT_SENT = TransportError("could not connect to http://127.0.0.1:9", kind="not_sent")


def error(kind: str, **fields: object) -> str:
    values: dict[str, Any] = {"server_name": "api", "version_name": "api-007", **fields}
    return str(LifecycleError(kind, **values))


# -- redaction -------------------------------------------------------------------------------------------------


def test_a_secret_inside_a_longer_one_does_not_leave_the_longer_ones_edges():
    """Longest first by length: reverse lexicographic order would mask "b" first and print a***c."""
    redactor = Redactor()
    redactor.add("b")
    redactor.add("abc")
    assert redactor("abc") == MASK
    assert redactor("x abc b") == f"x {MASK} {MASK}"


# -- neutralize: nothing from a server can start a runner command -----------------------------------------------


@pytest.mark.parametrize(("text", "shown"), [
    ("a\rb\tc\nd", "a\\rb\\tc\\nd"),
    ("\x00\x1b\x1f", "\\x00\\x1b\\x1f"),  # C0 controls, in the short \x form
    ("\x7f", "\\x7f"),  # DEL
    ("\x80\x85\x9f", "\\x80\\x85\\x9f"),  # C1 controls (0x85 is NEL, a line break)
    ("\u2028\u2029", "\\u2028\\u2029"),  # Unicode line and paragraph separators, in the \u form
])
def test_every_control_character_is_an_escape(text, shown):
    assert neutralize(text, 100) == shown


@pytest.mark.parametrize("text", ["\xa0", "X", "é 中 ok", " !~"])
def test_printable_characters_are_kept(text):
    assert neutralize(text, 100) == text


def test_runner_group_and_command_markers_lose_their_meaning():
    assert neutralize("##[group]x", 100) == "#\u200b#[group]x"
    assert neutralize("a\n::error::x", 100) == "a\\n:\u200b:error:\u200b:x"


def test_a_text_of_exactly_the_limit_is_not_marked_cut():
    assert neutralize("x" * 5, 5) == "xxxxx"
    assert neutralize("x" * 6, 5) == "xxxxx..."


# -- JSON depth: objects count as much as arrays ------------------------------------------------------------------


def test_objects_nested_deeper_than_the_limit_are_refused():
    depth = jsontext.MAX_DEPTH
    assert jsontext.loads('{"a":' * depth + "1" + "}" * depth) is not None
    with pytest.raises(ValueError, match="nested deeper than"):
        jsontext.loads('{"a":' * (depth + 1) + "1" + "}" * (depth + 1))
    with pytest.raises(ValueError, match="nested deeper than"):
        jsontext.loads('[{"a":' * (depth // 2 + 1) + "1" + "}]" * (depth // 2 + 1))


# -- TransportError without a detail -----------------------------------------------------------------------------


def test_a_transport_error_without_detail_is_its_summary_alone():
    assert str(NOT_SENT) == "could not connect to http://127.0.0.1:9"
    assert NOT_SENT.detail == ""


# -- failed: the run_id and the wait appear exactly when known ----------------------------------------------------


def test_failed_rollout_without_run_id_or_wait_still_says_not_promoted():
    assert error("failed", status="build_fail") == (
        f"{WHAT} settled in status build_fail: it is not serving the new version. Look at {CONSOLE}. "
        "It was not promoted.")


def test_failed_rollout_names_a_short_wait_and_the_run_id():
    assert error("failed", status="build_fail", run_id="Run-9", waited=0.4) == (
        f"{WHAT} settled in status build_fail after 0 s (run_id Run-9): it is not serving the new version. "
        f"Look at {CONSOLE}. It was not promoted.")


def test_failed_status_names_the_wait_when_known():
    assert error("failed", status="build_fail", waited=3.0, command="status") == (
        f"{WHAT} settled in status build_fail after 3 s. Look at {CONSOLE}.")


# -- timeout: the limit and the started rollout appear exactly when known -----------------------------------------


def test_timeout_of_a_release_without_limit_or_rollout():
    assert error("timeout", status="deploying", command="release") == (
        f"{WHAT} did not settle within wait_timeout_seconds; last status: deploying. {AGAIN}")


def test_timeout_on_normal_says_why_in_full_and_that_the_rollout_goes_on():
    assert error("timeout", status="normal", run_id="Run-2", waited=60.0, limit=60) == (
        f"{WHAT} did not settle within wait_timeout_seconds (60 s); last status: normal. It reads normal, but "
        "nothing showed that this is the new rollout (updated_time unchanged, no other status seen since the "
        "call): the platform may not have picked it up, or latest may name another version. "
        f"{STARTED} {AGAIN}")


# -- unwatchable -------------------------------------------------------------------------------------------------


def test_unwatchable_without_a_rollout_is_one_capitalised_sentence():
    assert error("unwatchable", status="deploying", command="status") == (
        "Version api-007 of api cannot be watched: reading it failed. Check it in the console.")


def test_unwatchable_after_a_rollout_says_it_started_and_was_not_promoted():
    assert error("unwatchable", status="deploying", run_id="Run-2") == (
        f"{STARTED} But {WHAT} cannot be watched: reading it failed. Check it in the console.")


# -- preflight ---------------------------------------------------------------------------------------------------


def test_preflight_without_a_cause_blames_the_address_and_changes_nothing():
    assert error("preflight") == f"{WHAT} cannot be read before the rollout. {NOT_CHANGED} {CHECK}"


def test_preflight_of_status_without_a_cause():
    assert error("preflight", command="status") == f"{WHAT} cannot be read. {CHECK}"


def test_preflight_after_a_connection_failure_lists_the_versions_and_does_not_blame_the_address():
    assert error("preflight", cause=NOT_SENT, versions=("api-001", "api-002")) == (
        f"{WHAT} cannot be read before the rollout (could not connect to http://127.0.0.1:9). The service's "
        f"versions: api-001, api-002. {NOT_CHANGED}")


def test_preflight_of_an_unknown_version_blames_the_address():
    cause = ApiError(40097, "invalid args", "参数错误", effect="read")
    assert error("preflight", cause=cause, versions=("api-001",), command="release") == (
        f"{WHAT} cannot be read before the release ({cause}). The service's versions: api-001. {NOT_CHANGED} "
        f"{CHECK}")


# -- refused -----------------------------------------------------------------------------------------------------


def test_refused_release_of_a_failed_and_of_a_moving_version():
    assert error("refused", status="build_fail", command="release") == (
        f"{WHAT} is in status build_fail: a failed version is never released. Look at {CONSOLE}.")
    assert error("refused", status="deploying", command="release") == (
        f"{WHAT} is in status deploying, not normal: it was not released. Set wait: true to wait until it is "
        "normal.")
