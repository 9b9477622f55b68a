"""plan.prepare_plan and plan.parse_services: from raw inputs to a Plan, every problem at once, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudbase_rollout.errors import InvalidInput
from cloudbase_rollout.inputs import plan

ENV = "prod-6gxk23no5605e14f"
URL = "http://127.0.0.1:9"  # never called: nothing here opens a connection
IMAGE = "ccr.ccs.tencentyun.com/ns/shop-api:v1"
REFUSED = "is not used by command {command}: it takes only env_id, server_name, version_name and the wait inputs"


def rollout(**extra: str) -> dict[str, str]:
    """What the runner passes for a rollout: the user's inputs plus action.yml's defaults."""
    return {"access_token": "test-token-0123456789abcdef", "api_base_url": URL, "env_id": ENV, "server_name": "api",
            "image": IMAGE, "version_name": "latest", "upload_type": "image", "wait": "false", "promote": "false",
            "command": "rollout", "wait_timeout_seconds": "900", "wait_interval_seconds": "5", **extra}


def read(command: str, **extra: str) -> dict[str, str]:
    return rollout(command=command, image="") | extra


def services(*entries: Any) -> str:
    return json.dumps(list(entries))


def prepare(raw: dict[str, str], tmp_path: Path) -> plan.Plan:
    return plan.prepare_plan({k: v for k, v in raw.items() if v != ""}, {}, tmp_path)


def problems(raw: dict[str, str], tmp_path: Path) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        prepare(raw, tmp_path)
    return [str(p) for p in caught.value.problems]


def inputs_of(raw: dict[str, str], tmp_path: Path) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        prepare(raw, tmp_path)
    return [p.input for p in caught.value.problems]


# -- one target ---------------------------------------------------------------------------------------------


def test_a_rollout_is_one_target_with_its_body(tmp_path):
    the_plan = prepare(rollout(flow_ratio="10"), tmp_path)
    assert (the_plan.command, the_plan.batch, the_plan.timeout, the_plan.interval) == ("rollout", False, 900, 5)
    assert the_plan.call.api_base_url == URL and the_plan.call.access_token == "test-token-0123456789abcdef"
    [t] = the_plan.targets
    assert (t.id, t.env_id, t.server_name, t.version_name) == ("api", ENV, "api", "latest")
    assert (t.wait, t.promote) == (False, False)
    assert t.body is not None and t.body["flow_ratio"] == 10 and t.body["image_info"]["image_url"] == IMAGE
    assert json.loads(t.request_json) == t.body and " " not in t.request_json
    assert "tok-1" not in t.request_json


def test_wait_settings_reach_the_plan(tmp_path):
    the_plan = prepare(rollout(wait="true", wait_timeout_seconds="60", wait_interval_seconds="2"), tmp_path)
    assert (the_plan.timeout, the_plan.interval) == (60, 2)
    assert the_plan.targets[0].wait and not the_plan.targets[0].promote


def test_promote_implies_wait_for_a_rollout(tmp_path):
    [t] = prepare(rollout(promote="true", wait="false"), tmp_path).targets
    assert (t.wait, t.promote) == (True, True)


def test_release_is_a_target_without_a_body_that_promotes(tmp_path):
    the_plan = prepare(read("release", version_name="api-007"), tmp_path)
    assert the_plan.command == "release"
    [t] = the_plan.targets
    assert (t.id, t.env_id, t.server_name, t.version_name) == ("api", ENV, "api", "api-007")
    assert t.body is None and t.promote and not t.wait


def test_status_reads_latest_by_default_and_may_wait(tmp_path):
    [t] = prepare(read("status", version_name="", wait="true"), tmp_path).targets
    assert (t.version_name, t.wait, t.promote, t.body) == ("latest", True, False, None)


@pytest.mark.parametrize("command", ["release", "status"])
@pytest.mark.parametrize("extra", [{"image": IMAGE}, {"image_tag": "v2"}, {"request_file": "deploy.json"},
                                   {"flow_ratio": "10"}, {"cpu": "0.5"}, {"upload_type": "repository"},
                                   {"env_params": "A=1"}])
def test_release_and_status_refuse_roll_update_inputs(tmp_path, command, extra):
    [(name, value)] = extra.items()
    found = problems(read(command, **{name: value}), tmp_path)
    assert found == [f"{name}: {REFUSED.format(command=command)} (roll-update inputs go with command rollout)"]


@pytest.mark.parametrize("command", ["release", "status"])
def test_release_and_status_accept_the_runners_defaults_and_the_call_settings(tmp_path, command):
    raw = read(command, upload_type="image", version_name="latest", timeout_seconds="5", max_attempts="2",
               dry_run="true")
    the_plan = prepare(raw, tmp_path)
    assert the_plan.call.timeout_seconds == 5 and the_plan.call.max_attempts == 2 and the_plan.call.dry_run


@pytest.mark.parametrize("command", ["release", "status"])
def test_release_and_status_need_an_address(tmp_path, command):
    assert inputs_of(read(command, server_name="", env_id=""), tmp_path) == ["env_id", "server_name"]
    assert inputs_of(read(command, version_name="not a name!"), tmp_path) == ["version_name"]


def test_promote_does_not_go_with_status(tmp_path):
    [found] = problems(read("status", promote="true"), tmp_path)
    assert found.startswith("promote: does not go with command status")


def test_every_problem_is_reported_at_once(tmp_path):
    found = inputs_of(rollout(wait_interval_seconds="0", flow_ratio="500", access_token=""), tmp_path)
    assert set(found) == {"wait_interval_seconds", "flow_ratio", "access_token"}


@pytest.mark.parametrize("bad", [{"wait_timeout_seconds": "0"}, {"wait": "maybe"}])
def test_a_bad_wait_input_with_status_reports_only_that_input(tmp_path, bad):
    assert inputs_of(read("status", **bad), tmp_path) == list(bad)


# -- services -------------------------------------------------------------------------------------------------


def test_each_entry_is_a_target_in_order_named_by_id_or_server_name(tmp_path):
    raw = rollout(services=services({"server_name": "api"}, {"server_name": "worker", "id": "jobs", "cpu": "0.5",
                                                             "mem": "1"}, {"server_name": "admin"}))
    the_plan = prepare(raw, tmp_path)
    assert the_plan.batch
    assert [(t.id, t.server_name) for t in the_plan.targets] == [("api", "api"), ("jobs", "worker"),
                                                                 ("admin", "admin")]
    jobs = the_plan.targets[1]
    assert jobs.body is not None and jobs.body["cpu"] == "0.5" and "id" not in jobs.body


def test_entries_override_wait_and_promote(tmp_path):
    raw = rollout(services=services({"server_name": "a"}, {"server_name": "b", "wait": True},
                                    {"server_name": "c", "promote": True}, {"server_name": "d", "promote": "true"}))
    targets = prepare(raw, tmp_path).targets
    assert [(t.id, t.wait, t.promote) for t in targets] == [("a", False, False), ("b", True, False),
                                                            ("c", True, True), ("d", True, True)]
    for t in targets:
        assert t.body is not None and "wait" not in t.body and "promote" not in t.body


def test_entries_may_opt_out_of_the_steps_promote(tmp_path):
    raw = rollout(promote="true", services=services({"server_name": "a"}, {"server_name": "b", "promote": False},
                                                    {"server_name": "c", "promote": False, "wait": False},
                                                    {"server_name": "d", "wait": False}))
    targets = prepare(raw, tmp_path).targets
    assert [(t.id, t.wait, t.promote) for t in targets] == [
        ("a", True, True),
        ("b", True, False),  # no longer promoted, still watched as the step asked
        ("c", False, False),
        ("d", True, True),  # promote implies wait
    ]


def test_release_entries_may_wait_and_must_not_build_bodies(tmp_path):
    raw = read("release", services=services({"server_name": "a", "id": "first", "wait": True},
                                            {"server_name": "b", "version_name": "b-003"}))
    targets = prepare(raw, tmp_path).targets
    assert [(t.id, t.server_name, t.version_name, t.wait, t.promote, t.body) for t in targets] == [
        ("first", "a", "latest", True, True, None), ("b", "b", "b-003", False, True, None)]
    found = problems(read("release", services=services({"server_name": "a"}, {"server_name": "b",
                                                                                  "image": IMAGE})), tmp_path)
    assert found == [f"services[1] image: {REFUSED.format(command='release')} (roll-update inputs go with "
                     "command rollout)"]


def test_entry_problems_are_labelled_with_the_entry(tmp_path):
    found = problems(rollout(services=services({"server_name": "a", "wait": "maybe"},
                                               {"server_name": "b", "flow_ratio": 500})), tmp_path)
    assert [f.split(":")[0] for f in found] == ["services[0] wait", "services[1] flow_ratio"]
    found = problems(read("status", services=services({"server_name": "a", "promote": True})), tmp_path)
    assert [f.split(":")[0] for f in found] == ["services[0] promote"]


@pytest.mark.parametrize("command", ["rollout", "release"])
@pytest.mark.parametrize(("first", "second", "words"), [
    ({"server_name": "web"}, {"server_name": "WEB"}, "'WEB' differs from 'web' only in case"),
    ({"server_name": "api", "id": "Web"}, {"server_name": "worker", "id": "wEB"}, "'wEB' differs from 'Web' only"),
    ({"server_name": "api"}, {"server_name": "worker", "id": "api"}, "'api' repeats another entry"),
])
def test_ids_must_differ_in_more_than_case(tmp_path, command, first, second, words):
    base = rollout() if command == "rollout" else read(command)
    [found] = problems(base | {"services": services(first, second)}, tmp_path)
    assert found.startswith(f"services[1] id: {words}") and "case-insensitive" in found


@pytest.mark.parametrize("bad", ["two words", "x" * 65, "dot.ted", "é"])
def test_ids_are_letters_digits_dash_and_underscore(tmp_path, bad):
    [found] = problems(rollout(services=services({"server_name": "api", "id": bad})), tmp_path)
    assert found == f"services[0] id: {bad!r} is not accepted; expected letters, digits, - and _"


def test_ids_of_64_characters_with_dash_and_underscore_are_fine(tmp_path):
    name = "A-b_" + "9" * 60
    [t] = prepare(rollout(services=services({"server_name": "api", "id": name})), tmp_path).targets
    assert t.id == name


# -- parse_services -------------------------------------------------------------------------------------------


def parse_problems(text: str) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        plan.parse_services(text)
    return [str(p) for p in caught.value.problems]


def test_parse_services_turns_values_into_input_text():
    parsed = plan.parse_services(json.dumps([
        {"server_name": "api", "flow_ratio": 10, "wait": True, "promote": False, "cpu": None,
         "env_params": {"A": "1"}}, "deploy/worker.json"]))
    assert parsed == [{"server_name": "api", "flow_ratio": "10", "wait": "true", "promote": "false",
                       "env_params": '{"A": "1"}'}, {"request_file": "deploy/worker.json"}]


@pytest.mark.parametrize(("text", "words"), [
    ("[{", "services: is not valid JSON"),
    ("{}", "services: expected a non-empty JSON array"),
    ("[]", "services: expected a non-empty JSON array"),
    ('"api"', "services: expected a non-empty JSON array"),
])
def test_parse_services_needs_a_non_empty_array(text, words):
    [found] = parse_problems(text)
    assert found.startswith(words)


def test_parse_services_reports_every_bad_entry_and_key():
    found = parse_problems(json.dumps([{"server_name": "a", "colour": "red"}, 7,
                                       {"server_name": "b", "wait_timeout_seconds": 5, "access_token": "t"}]))
    assert [f.split(":")[0] for f in found] == ["services[0] colour", "services[1]",
                                                "services[2] wait_timeout_seconds", "services[2] access_token"]
    assert "accepted: the API's body fields, image, image_tag, request_file, id, wait, promote" in found[0]
