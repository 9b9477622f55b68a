"""settings.lifecycle: command, wait, promote and the wait's timeout and interval, checked together."""

from __future__ import annotations

import pytest

from cloudbase_rollout.inputs import settings
from cloudbase_rollout.inputs.settings import Lifecycle
from cloudbase_rollout.words import ACTION


def life(**raw: str) -> Lifecycle:
    found, problems = settings.lifecycle(raw)
    assert problems == [] and found is not None
    return found


def problems_of(**raw: str) -> list[tuple[str, str]]:
    _, problems = settings.lifecycle(raw)
    return [(p.input, ACTION.compose(p.message)) for p in problems]


def test_the_defaults_roll_out_without_waiting():
    assert life() == Lifecycle("rollout", False, False, 900, 5)
    assert life() == life(command="rollout", wait="false", promote="false", wait_timeout_seconds="900",
                          wait_interval_seconds="5")


def test_the_lifecycle_inputs_are_declared_options_with_their_defaults():
    assert set(settings.LIFECYCLE_INPUTS) <= set(settings.OPTION_NAMES)
    defaults = settings.defaults()
    assert [defaults[name] for name in settings.LIFECYCLE_INPUTS] == ["rollout", "false", "900", "5", "false"]


@pytest.mark.parametrize("command", ["rollout", "release", "status", " status\n"])
def test_each_command_is_accepted(command):
    assert life(command=command).command == command.strip()


@pytest.mark.parametrize("command", ["deploy", "Release", "roll out", "rollback"])
def test_other_commands_are_refused_naming_the_choices(command):
    assert problems_of(command=command) == [
        ("command", f"{command!r} is not a command; expected one of rollout, release, status, plan, report")]
    assert settings.lifecycle({"command": command})[0] is None


@pytest.mark.parametrize(("wait", "expected"), [("true", True), ("True", True), ("TRUE", True), (" true ", True),
                                                ("false", False), ("FALSE", False)])
def test_wait_takes_the_yaml_booleans(wait, expected):
    assert life(wait=wait).wait is expected


@pytest.mark.parametrize("name", ["wait", "promote"])
@pytest.mark.parametrize("text", ["yes", "1", "on", "tRUE"])
def test_other_booleans_are_refused(name, text):
    [(given, message)] = problems_of(**{name: text})
    assert given == name and message.startswith(f"{text!r} is not a boolean")


def test_promote_implies_wait_for_a_rollout():
    assert life(promote="true") == Lifecycle("rollout", True, True, 900, 5)
    assert life(promote="true", wait="false").wait, "the runner always passes wait's default"


def test_release_always_promotes_and_waits_only_when_asked():
    assert life(command="release") == Lifecycle("release", False, True, 900, 5)
    assert life(command="release", promote="false").promote
    assert life(command="release", promote="true").wait is False, "promote does not imply wait for release"
    assert life(command="release", wait="true").wait


def test_status_never_promotes_and_waits_only_when_asked():
    assert life(command="status") == Lifecycle("status", False, False, 900, 5)
    assert life(command="status", wait="true").wait


def test_promote_with_status_is_refused():
    assert problems_of(command="status", promote="true") == [
        ("promote", "does not go with command status (it only reads); use command release to promote a version")]


@pytest.mark.parametrize(("name", "low", "high"), [("wait_timeout_seconds", 1, 21600),
                                                   ("wait_interval_seconds", 1, 300)])
def test_wait_seconds_are_whole_numbers_within_bounds(name, low, high):
    field = "timeout" if name == "wait_timeout_seconds" else "interval"
    for text in (str(low), str(high), f" {low + 1} ", f"0{high}"):
        assert getattr(life(**{name: text}), field) == int(text)
    for text in (str(low - 1), str(high + 1), "-5", "1.5", "1e3", "ten", "٣", "+5"):
        [(given, message)] = problems_of(**{name: text})
        assert given == name
        assert message == f"{text!r} is not accepted; expected whole seconds from {low} to {high}"


def test_every_problem_is_reported_at_once():
    found = problems_of(command="go", wait="sure", promote="maybe", wait_timeout_seconds="0",
                        wait_interval_seconds="301")
    assert [name for name, _ in found] == ["command", "wait", "promote", "wait_timeout_seconds",
                                           "wait_interval_seconds"]
    assert settings.lifecycle({"wait_interval_seconds": "0"})[0] is None


def test_implies_wait():
    assert settings.implies_wait({"promote": "true"})
    assert settings.implies_wait({"wait": "true", "command": "status"})
    assert not settings.implies_wait({"promote": "true", "command": "release"})
    assert not settings.implies_wait({})
    assert not settings.implies_wait({"wait": "true", "wait_timeout_seconds": "0"}), "invalid inputs: False"
