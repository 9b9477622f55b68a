"""Tests that kill the mutants left alive in errors, redact, jsontext, request_file (mutation follow-up).

Each test pins one rule whose weakening a surviving mutant showed was unguarded: a shorter secret
inside a longer one, every control character a runner could act on, JSON depth through objects, and
the exact words of a failed wait, preflight or refusal (run_id, "not promoted", "Nothing was changed",
which inputs to check).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from cloudbase_rollout import jsontext
from cloudbase_rollout.errors import (
    CONSOLE,
    MAY_HAVE_RELEASED,
    MAY_HAVE_STARTED,
    NOT_STARTED,
    ApiError,
    InvalidInput,
    LifecycleError,
    Problem,
    RolloutError,
    TransportError,
    cancelled_text,
)
from cloudbase_rollout.inputs import request_file
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


# -- short(): the first line, at most 160 characters ---------------------------------------------------------------


def test_short_is_the_first_line_of_several():
    assert RolloutError("first\nsecond\nthird").short() == "first"


def test_every_short_is_cut_at_160_characters():
    long = "x" * 200
    assert InvalidInput([Problem("env_id", long)]).short() == f"invalid input: env_id: {long}"[:160]
    assert ApiError(40097, long, "fix it").short() == f"errcode 40097 {long}"[:160]
    assert TransportError(long, kind="not_sent").short() == long[:160]


# -- InvalidInput and ApiError: the whole text --------------------------------------------------------------------


def test_invalid_input_names_every_problem():
    error = InvalidInput([Problem("env_id", "is empty"), Problem("wait", "must be true or false")])
    assert str(error) == "env_id: is empty; wait: must be true or false"


def test_an_api_error_that_may_have_started_says_so_after_the_remedy():
    error = ApiError(-1, "system busy", "try later", may_have_started=True)
    assert str(error) == f"errcode -1: system busy - try later {MAY_HAVE_STARTED}"


# -- release_failed: the cause appears exactly when known ---------------------------------------------------------


def test_a_release_failure_without_a_cause_is_one_clean_sentence():
    assert error("release_failed") == f"releasing {WHAT} failed."


# -- cancelled_text: counts, lists and promotion in full ----------------------------------------------------------


def test_cancel_with_one_call_in_flight_among_several_services_is_singular():
    text, may = cancelled_text("WeChat", [("api", "calling", None, False), ("web", "waiting", None, False)])
    assert text == f"while 1 rollout was in flight (api). {MAY_HAVE_STARTED}" and may


def test_cancel_during_two_releases_lists_both():
    text, _ = cancelled_text("WeChat", [("api", "releasing", None, False), ("web", "releasing", None, False)])
    assert text == f"while releasing api, web. {MAY_HAVE_RELEASED}"


def test_cancel_after_the_rollouts_were_started_names_each_and_its_promotion():
    text, may = cancelled_text("WeChat", [("api", "done", "Run-a", False), ("web", "done", "Run-w", True)])
    assert text == ("after the rollouts were started. These rollouts were started and go on: "
                    "api (run_id Run-a, not promoted), web (run_id Run-w, promoted).")
    assert not may


# -- request_file: exact refusals, a hard cap on the read ---------------------------------------------------------


def request_file_problems(workspace: Path, name: str) -> list[str]:
    found: list[Problem] = []
    assert request_file.read(name, workspace, found) == {}
    return [str(p) for p in found]


def test_request_file_holding_a_list_names_its_type(tmp_path: Path):
    (tmp_path / "r.json").write_text("[1]")
    assert request_file_problems(tmp_path, "r.json") == [
        f"request_file: {tmp_path / 'r.json'} holds list; expected a JSON object (a request body)"]


def test_request_file_holding_access_token_says_where_the_token_belongs(tmp_path: Path):
    (tmp_path / "r.json").write_text(json.dumps({"access_token": "t", "custom_logs": "stdout"}))
    found: list[Problem] = []
    assert request_file.read("r.json", tmp_path, found) == {"custom_logs": "stdout"}
    assert [str(p) for p in found] == ["request_file r.json: must not hold access_token; pass the token as the "
                                       "access_token input, from a secret"]


def test_request_file_too_large_is_refused_in_these_words(tmp_path: Path):
    (tmp_path / "r.json").write_bytes(b" " * (request_file.MAX_REQUEST_FILE + 1))
    assert request_file_problems(tmp_path, "r.json") == [
        f"request_file: {tmp_path / 'r.json'} is larger than 1 MiB; expected {request_file.REQUEST_FILE_ACCEPTS}"]


def test_a_directory_and_a_symlink_to_one_are_refused_in_these_words(tmp_path: Path):
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    expected = f"is a directory, not a regular file; expected {request_file.REQUEST_FILE_ACCEPTS}"
    assert request_file_problems(tmp_path, "d") == [f"request_file: {tmp_path / 'd'} {expected}"]
    assert request_file_problems(tmp_path, "link") == [
        f"request_file: {tmp_path / 'link'} (a symlink to {os.path.realpath(tmp_path / 'd')}) {expected}"]


@pytest.mark.parametrize("mode", [0, stat.S_IFLNK])
def test_a_file_of_no_known_kind_is_something_else(mode: int):
    with pytest.raises(request_file._Refused, match=r"^is something else, not a regular file$"):
        request_file._require_regular(mode)


def test_the_read_never_goes_past_its_limit(tmp_path: Path):
    """A bounded regular file, so a broken cap returns too much instead of eating memory or hanging."""
    (tmp_path / "big").write_bytes(b"x" * 200_000)
    limit = (1 << 16) + 10  # the second read must be cut to what is left
    fd = os.open(tmp_path / "big", os.O_RDONLY)
    try:
        assert len(request_file._read_at_most(fd, limit)) == limit
    finally:
        os.close(fd)


# -- what a lost answer may mean, by effect; how many attempts were made -----------------------------------------


def test_a_failed_token_call_says_no_rollout_was_started():
    error = ApiError(40001, "invalid credential", "check the secret", effect="token")
    assert str(error) == f"errcode 40001: invalid credential - check the secret {NOT_STARTED}"


def test_a_lost_release_answer_says_the_release_may_have_been_made():
    error = TransportError("no reply", "reset", kind="no_reply", may_have_started=True, effect="release")
    assert str(error) == f"no reply: reset. {MAY_HAVE_RELEASED}"


def test_a_lost_read_answer_adds_nothing():
    error = TransportError("no reply", "reset", kind="no_reply", may_have_started=True, effect="read")
    assert str(error) == "no reply: reset"


def test_two_attempts_are_counted_and_one_is_not_mentioned():
    assert str(TransportError("HTTP 503", kind="http", attempts=2)) == "after 2 attempts, last error: HTTP 503"
    assert str(TransportError("HTTP 503", kind="http", attempts=1)) == "HTTP 503"
