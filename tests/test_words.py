"""words.py: one error, composed in the Action's words (str) or the CLI's (text(cli.WORDS))."""

from __future__ import annotations

import pytest

from cloudbase_rollout.errors import InvalidInput, LifecycleError, Problem, TransportError
from cloudbase_rollout.front import cli
from cloudbase_rollout.words import ACTION, Command, Input


def test_str_is_the_actions_words_and_text_takes_the_clis():
    error = LifecycleError("timeout", "api", "api-007", status="deploying", limit=30)
    assert str(error) == error.text(ACTION)
    assert "raise wait_timeout_seconds or look again with command: status." in str(error)
    assert "raise --wait-timeout-seconds or look again with cloudbase-rollout status." in error.text(cli.WORDS)
    refused = LifecycleError("refused", "api", "api-007", status="deploying", command="release")
    assert ("Set wait: true" in str(refused), "Set --wait to" in refused.text(cli.WORDS)) == (True, True)


def test_a_cause_is_composed_in_the_same_words():
    cause = TransportError(("no reply within ", Input("timeout_seconds")), kind="timed_out", effect="read")
    error = LifecycleError("preflight", "api", "api-007", cause=cause)
    assert "(no reply within timeout_seconds)" in str(error)
    assert "(no reply within --timeout-seconds)" in error.text(cli.WORDS)
    assert cause.short() == "no reply within timeout_seconds"


@pytest.mark.parametrize(("given", "action", "cli_label"), [
    ("flow_ratio", "flow_ratio", "--flow-ratio"),
    ("request_file (env_id)", "request_file (env_id)", "--request-file (env_id)"),
    ("request_file r.json", "request_file r.json", "--request-file r.json"),
    ("access_token", "access_token", "--access-token (or COMPONENT_ACCESS_TOKEN)"),
    ("services[1] flow_ratio", "services[1] flow_ratio", "services[1] flow_ratio"),  # a key of the JSON
    ("image_info.image_url", "image_info.image_url", "image_info.image_url"),
    ("--roll", "--roll", "--roll"),  # what was typed
])
def test_a_problem_names_its_input_as_each_front_end_takes_it(given, action, cli_label):
    assert ACTION.label(given) == action and cli.WORDS.label(given) == cli_label


def test_a_message_names_inputs_settings_and_commands_in_either_words():
    message = ("use ", Command("release"), " or ", Input("command", "status"), "; set ", Input("wait", "true"),
               " and ", Input("wait_timeout_seconds", "60"))
    problem = Problem("promote", message)
    assert str(problem) == ("promote: use command release or command: status; set wait: true and "
                            "wait_timeout_seconds: 60")
    assert problem.text(cli.WORDS) == ("--promote: use cloudbase-rollout release or cloudbase-rollout status; "
                                       "set --wait and --wait-timeout-seconds 60")
    assert str(InvalidInput([problem])) == str(problem)


def test_the_clis_command_is_its_subcommand_not_a_flag():
    problem = Problem("command", "unknown command 'rolout'")
    assert (str(problem), problem.text(cli.WORDS)) == ("command: unknown command 'rolout'", "unknown command 'rolout'")
