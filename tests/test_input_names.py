"""Inputs the runner passes that action.yml does not declare (issue 9, item 1)."""

from __future__ import annotations

import pytest

from tests.conftest import good_inputs
from tests.loopback import ok


@pytest.mark.parametrize(("given", "meant"), [("dry-run", "dry_run"), ("DRY-RUN", "dry_run"),
                                              ("server-name", "server_name"), ("Wait-Timeout-Seconds",
                                                                               "wait_timeout_seconds")])
def test_a_misspelled_input_fails_before_any_call_and_names_the_right_spelling(script, step, given, meant):
    server = script(ok())
    result = step(good_inputs(server.url, dry_run="false"), {f"INPUT_{given.upper()}": "true"})
    assert result.returncode == 2
    assert server.received == [], "a hyphenated dry-run must never roll out for real"
    [error] = result.annotations("error")
    assert given.lower() in error and f"write it as {meant}" in error
    assert result.output_file == ""


def test_an_unknown_input_is_a_warning_and_the_step_goes_on(script, step):
    server = script(ok("Run-ok"))
    result = step(good_inputs(server.url), {"INPUT_COLOUR": "blue"})
    assert result.returncode == 0, result.log
    assert any("colour is not an input of this action" in w for w in result.annotations("warning"))
    assert result.outputs["run_id"] == "Run-ok"


def test_the_hyphenated_form_is_also_refused_by_the_real_entrypoint(script, subprocess_step):
    server = script(ok())
    result = subprocess_step(good_inputs(server.url), {"INPUT_DRY-RUN": "true"})
    assert result.returncode == 2 and server.received == []
