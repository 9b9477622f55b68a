"""Validation (issue 2, "Validation"): every problem at once, each naming the input and what it accepts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloudbase_rollout.errors import InvalidInput
from cloudbase_rollout.inputs import plan as rollout
from cloudbase_rollout.inputs import settings, validate
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.wechat.api import CallSettings

IMAGE = "ccr.ccs.tencentyun.com/ns/app:v1"
GOOD = {
    "access_token": "test-token-0123456789abcdef", "api_base_url": "http://127.0.0.1:9",
    "env_id": "prod-6gxk23no5605e14f", "server_name": "api", "version_name": "latest", "upload_type": "image",
    "image": IMAGE,
}
VALID_BODY: dict[str, Any] = {
    "env_id": "prod-6gxk23no5605e14f", "version_name": "latest", "server_name": "api", "upload_type": "image",
    "image_info": {"image_url": IMAGE},
}


@dataclass
class Prepared:
    body: dict[str, Any]
    warnings: list[str]
    call: CallSettings


def prepare(tmp_path: Path | None = None, **inputs: str) -> Prepared:
    """One rollout's plan, as the Action and the CLI prepare it."""
    raw = settings.present({**GOOD, **inputs})
    the_plan = rollout.prepare_plan(raw, {}, tmp_path or Path("/nonexistent-workspace"))
    [target] = the_plan.targets
    assert target.body is not None
    return Prepared(target.body, target.warnings, the_plan.call)


def problems(tmp_path: Path | None = None, **inputs: str) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        prepare(tmp_path, **inputs)
    return [str(p) for p in caught.value.problems]


def body_problems(body: dict[str, Any]) -> list[str]:
    return [str(p) for p in validate.request_problems(body)]


def test_a_good_request_is_valid() -> None:
    plan = prepare(cpu="0.5", mem="1", min_num="0", max_num="5", policy_type="cpu", policy_threshold="60",
                   flow_ratio="100", container_port="80", env_params="A=1")
    assert plan.warnings == []
    assert plan.body["image_info"]["image_url"] == IMAGE
    assert body_problems(VALID_BODY) == []


# -- messages name the input and what it accepts -----------------------------------------------


@pytest.mark.parametrize(("inputs", "message"), [
    ({"flow_ratio": "150"}, "flow_ratio: 150 is above the maximum 100"),
    ({"flow_ratio": "-1"}, "flow_ratio: -1 is below the minimum 0"),
    ({"container_port": "0"}, "container_port: 0 is below the minimum 1"),
    ({"container_port": "65536"}, "container_port: 65536 is above the maximum 65535"),
    ({"initial_delay_seconds": "-5"}, "initial_delay_seconds: -5 is below the minimum 0"),
    ({"upload_type": "zip"}, 'upload_type: "zip" is not one of package, repository, image'),
    ({"repository_type": "svn"}, 'repository_type: "svn" is not one of coding, gitlab, github'),
    ({"policy_type": "gpu", "policy_threshold": "60"}, 'policy_type: "gpu" is not one of cpu, mem'),
])
def test_messages_say_the_limit(inputs: dict[str, str], message: str) -> None:
    assert message in problems(**inputs)


@pytest.mark.parametrize(("name", "text", "accepted"), [
    ("cpu", "abc", "0.25"),
    ("cpu", "0.333", "0.25"),
    ("mem", "1GB", "GB"),
    ("min_num", "-1", "0 to 50"),
    ("max_num", "51", "0 to 50"),
    ("max_num", "two", "0 to 50"),
    ("policy_threshold", "0", "percentage"),
    ("env_id", "prod env!", "prod-6gxk23no5605e14f"),
    ("server_name", "api/v2", "letters, digits"),
    ("version_name", "v 1", "latest"),
])
def test_pattern_messages_say_what_is_accepted(name: str, text: str, accepted: str) -> None:
    extra = {"policy_type": "cpu"} if name == "policy_threshold" else {}
    [problem] = [p for p in problems(**{name: text}, **extra) if p.startswith(f"{name}:")]
    assert json.dumps(text) in problem, "the message quotes the value"
    assert accepted in problem


def _invalid_value(name: str) -> str:
    node = schemas.field_schema(name)
    kind = schemas.field_kind(name)
    if name == "env_params":
        return "NOT A PAIR"
    if kind == "integer":
        return "many"
    if kind == "boolean":
        return "yes"
    if kind == "object":
        return "[1]"
    if kind == "array":
        return '{"a": 1}'
    if "enum" in node:
        return "bogus"
    if "pattern" in node:
        return "bad value!"
    return "x" * (node["maxLength"] + 1)


@pytest.mark.parametrize("name", schemas.body_fields())
def test_every_body_field_is_checked_and_its_problem_names_it(name: str) -> None:
    found = problems(**{name: _invalid_value(name)}, **({"image": ""} if name == "image_info" else {}))
    named = [p for p in found if p.split(":")[0].split(".")[0].split("[")[0] == name]
    assert named, found
    for problem in named:
        assert len(problem) > len(name) + 10, "the message says what is wrong"


@pytest.mark.parametrize("name", [n for n in schemas.body_fields() if schemas.field_kind(n) in ("integer", "boolean")
                                  or "pattern" in schemas.field_schema(n)])
def test_messages_carry_the_schemas_wording_of_what_is_accepted(name: str) -> None:
    found = [p for p in problems(**{name: _invalid_value(name)}) if p.startswith(f"{name}:")]
    accepted = schemas.accepts(schemas.field_schema(name))
    assert accepted
    assert any(accepted in p or "true or false" in p for p in found), found


def test_too_long_text_says_the_limit() -> None:
    [problem] = problems(version_remark="r" * 1025)
    assert problem == "version_remark: is longer than 1024 characters"


def test_nested_problems_name_the_path_inside_the_input() -> None:
    found = problems(
        mount_volume_info=json.dumps([{"name": "cfs", "mount_path": "data", "nfs_volumes": [{"read_only": "no"}]}]),
        policy_detail=json.dumps([{"policy_type": "cpu", "policy_threshold": "60"}, {"policy_type": "disk"}]),
    )
    assert any(p.startswith("mount_volume_info[0].mount_path: ") and "absolute path" in p for p in found), found
    assert any(p.startswith("mount_volume_info[0].nfs_volumes[0].read_only: ") for p in found), found
    assert any(p.startswith("policy_detail[0].policy_threshold: ") and "integer" in p for p in found), found
    assert any(p.startswith("policy_detail[1].policy_type: ") and "cpu, mem" in p for p in found), found
    assert any(p.startswith("policy_detail[1].policy_threshold: is required") for p in found), found


# -- every problem at once; nothing is sent ------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        access_token="", flow_ratio="150", container_port="http", is_rebuild="yes", cpu="lots",
        min_num="9", max_num="2", env_params="A=1\nA=2", image="Not An Image", upload_type="zip",
        timeout_seconds="0", api_base_url="ftp://example.com",
    )
    starts = [p.split(":")[0] for p in found]
    for name in ("access_token", "flow_ratio", "container_port", "is_rebuild", "cpu", "min_num", "env_params",
                 "image", "upload_type", "timeout_seconds", "api_base_url"):
        assert name in starts, (name, found)
    assert len(found) == len(set(found)), "each problem once"


def test_invalid_input_carries_every_problem_in_its_text() -> None:
    with pytest.raises(InvalidInput) as caught:
        prepare(flow_ratio="150", container_port="0")
    assert caught.value.exit_code == 2
    assert "flow_ratio: 150 is above the maximum 100" in str(caught.value)
    assert "container_port: 0 is below the minimum 1" in str(caught.value)


# -- required fields -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["env_id", "version_name", "server_name"])
def test_required_fields(name: str) -> None:
    body = {k: v for k, v in VALID_BODY.items() if k != name}
    assert f"{name}: is required" in body_problems(body)


def test_missing_env_id_and_server_name_are_both_reported() -> None:
    found = problems(env_id="", server_name="")
    assert "env_id: is required" in found
    assert "server_name: is required" in found


def test_a_missing_token_names_access_token() -> None:
    [problem] = problems(access_token="")
    assert problem.startswith("access_token: is required")


def test_a_whitespace_token_is_missing() -> None:
    [problem] = problems(access_token="   ")
    assert problem.startswith("access_token: ")


def test_dry_run_needs_no_token() -> None:
    assert prepare(access_token="", dry_run="true").call.dry_run is True


# -- min_num <= max_num ---------------------------------------------------------------------------


def test_min_num_above_max_num_is_a_problem() -> None:
    found = problems(min_num="5", max_num="3")
    [problem] = [p for p in found if "max_num" in p]
    assert problem.startswith("min_num: ")
    assert "5" in problem and "3" in problem and "<=" in problem


@pytest.mark.parametrize(("low", "high"), [("0", "0"), ("3", "3"), ("0", "50"), ("2", "10")])
def test_min_num_up_to_max_num_is_fine(low: str, high: str) -> None:
    assert prepare(min_num=low, max_num=high).body["min_num"] == low


def test_min_num_max_num_compare_as_numbers_not_text() -> None:
    # "9" > "10" as text; 9 < 10 as numbers.
    assert prepare(min_num="9", max_num="10").body["max_num"] == "10"
    assert body_problems({**VALID_BODY, "min_num": "10", "max_num": "9"}) != []


# -- what each upload_type requires -----------------------------------------------------------------


def test_upload_type_image_needs_an_image() -> None:
    assert problems(image="") == [
        "image_info: is required when upload_type is image; give image (e.g. ccr.ccs.tencentyun.com/ns/app:v1) "
        "or image_info with image_url"]


def test_upload_type_image_needs_image_info_image_url() -> None:
    [problem] = problems(image="", image_info='{"repository_name": "ns/app", "is_public": true}')
    assert problem.startswith("image_info.image_url: is required when upload_type is image")


def test_upload_type_repository_needs_repository_type_repository_and_branch() -> None:
    found = problems(upload_type="repository", image="")
    for name in ("repository_type", "repository", "branch"):
        assert f"{name}: is required when upload_type is repository" in found
    assert not any(p.startswith("image_info") for p in found), "image_info is not needed for repository"
    plan = prepare(upload_type="repository", image="", repository_type="github",
                   repository="https://github.com/team/app", branch="main")
    assert plan.body["upload_type"] == "repository"


def test_upload_type_package_needs_package_name_and_version() -> None:
    found = problems(upload_type="package", image="")
    assert "package_name: is required when upload_type is package" in found
    assert "package_version: is required when upload_type is package" in found
    assert prepare(upload_type="package", image="", package_name="app.zip", package_version="3").body[
        "package_name"] == "app.zip"


def test_policy_type_and_policy_threshold_go_together() -> None:
    assert "policy_threshold: is required when policy_type is set" in problems(policy_type="cpu")
    assert "policy_type: is required when policy_threshold is set" in problems(policy_threshold="60")


# -- unknown fields ---------------------------------------------------------------------------------


def test_unknown_top_level_field_is_a_problem_listing_the_fields() -> None:
    [problem] = body_problems({**VALID_BODY, "flowratio": 100})
    assert problem.startswith("flowratio: is not a field of the API; accepted: ")
    accepted = problem.split("accepted: ", 1)[1].split(", ")
    assert sorted(accepted) == sorted(schemas.body_fields())


def test_unknown_field_in_a_request_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"flowratio": 100, "custom_logs": "stdout"}))
    [problem] = problems(tmp_path, request_file="r.json")
    assert problem.startswith("request_file (flowratio): is not a field of the API")


@pytest.mark.parametrize(("field", "value", "path"), [
    ("image_info", {"image_url": IMAGE, "tag": "v1"}, "image_info.tag"),
    ("code_detail", {"name": {"name": "a", "fullname": "t/a"}}, "code_detail.name.fullname"),
    ("mount_volume_info", [{"name": "v", "nfs_volumes": [{"server": "s", "readonly": True}]}],
     "mount_volume_info[0].nfs_volumes[0].readonly"),
    ("policy_detail", [{"policy_type": "cpu", "policy_threshold": 50, "min": 1}], "policy_detail[0].min"),
])
def test_unknown_nested_fields_are_problems(field: str, value: Any, path: str) -> None:
    found = problems(**{field: json.dumps(value)}, image="" if field == "image_info" else IMAGE)
    assert any(p.startswith(f"{path}: is not a field of the API") for p in found), found


# -- what a schema cannot say ------------------------------------------------------------------------


def test_an_invalid_image_reference_is_a_problem_naming_image() -> None:
    found = problems(image="ccr.ccs.tencentyun.com/ns/App Name:v1")
    assert found[0].startswith("image: ")
    assert "ccr.ccs.tencentyun.com/ns/app:v1" in found[0], "the message shows what is accepted"


def test_env_params_sent_as_text_must_hold_a_json_object_of_strings() -> None:
    assert body_problems({**VALID_BODY, "env_params": '{"A": "1"}'}) == []
    for text in ("A=1", "[1]", '{"A": 1}'):
        [problem] = body_problems({**VALID_BODY, "env_params": text})
        assert problem.startswith("env_params: ")


def test_control_characters_are_refused_except_newlines_in_the_remark() -> None:
    assert body_problems({**VALID_BODY, "version_remark": "line one\nline two"}) == []
    [problem] = body_problems({**VALID_BODY, "custom_logs": "stdout\n/var/log/x"})
    assert problem.startswith("custom_logs: ")


# -- console conventions warn, never fail -----------------------------------------------------------


def test_mem_not_twice_cpu_is_a_warning_not_a_failure() -> None:
    plan = prepare(cpu="1", mem="1")
    assert plan.body["mem"] == "1"
    [warning] = plan.warnings
    assert "mem 1" in warning and "2 x cpu" in warning


@pytest.mark.parametrize(("cpu", "mem"), [("0.25", "0.5"), ("0.5", "1"), ("1", "2"), ("2", "4"), ("1", "2.0")])
def test_mem_twice_cpu_gives_no_warning(cpu: str, mem: str) -> None:
    assert prepare(cpu=cpu, mem=mem).warnings == []


def test_other_console_conventions_are_warnings() -> None:
    plan = prepare(cpu="3", mem="6", container_port="62000")
    assert any("cpu 3" in w for w in plan.warnings)
    assert any("container_port 62000" in w for w in plan.warnings)
    assert plan.body["container_port"] == 62000


def test_convention_warnings_of_a_body() -> None:
    assert validate.convention_warnings({"cpu": "0.5", "mem": "2"}) == [
        "mem 2 is not 2 x cpu 0.5 (the console pairs mem = 2 x cpu)"]
    assert validate.convention_warnings({"cpu": "0.5"}) == []


# -- how to call ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "text", "fragment"), [
    ("timeout_seconds", "0", "above 0"),
    ("timeout_seconds", "soon", "seconds"),
    ("api_base_url", "http://api.weixin.qq.com", "https"),
    ("api_base_url", "https://user:pw@api.weixin.qq.com", "plain base URL"),
    ("api_base_url", "not a url", "https://"),
    ("max_attempts", "0", "1 to 10"),
])
def test_call_settings_problems_name_their_input(name: str, text: str, fragment: str) -> None:
    [problem] = problems(**{name: text})
    assert problem.startswith(f"{name}: ")
    assert fragment in problem


def test_minting_credentials_must_come_together() -> None:
    found = problems(access_token="", component_appid="wx123")
    assert any(p.startswith("component_appsecret: is required") for p in found)
    assert any(p.startswith("component_verify_ticket: is required") for p in found)


# -- one input, one problem (acceptance review) ------------------------------------------

@pytest.mark.parametrize("image", ["https://ccr.ccs.tencentyun.com/ns/app:v1", "UPPER/Case:v1",
                                   "ccr.io/ns/app:bad tag"])
def test_a_bad_image_is_one_problem_about_image(image: str) -> None:
    found = problems(image=image)
    assert len(found) == 1, found
    assert found[0].startswith("image: ")


def test_a_url_scheme_in_image_says_to_drop_it() -> None:
    [found] = problems(image="https://ccr.ccs.tencentyun.com/ns/app:v1")
    assert "without it" in found


def test_a_control_character_is_one_problem() -> None:
    found = problems(env_id="x\n::warning::X")
    assert len(found) == 1, found
    assert found[0].startswith("env_id: ")


def test_every_bad_env_params_line_is_named_at_once() -> None:
    [found] = problems(env_params="A=1\nbad line\nalso bad\nA=2")
    assert "line 2" in found and "line 3" in found and "line 4: A repeats line 1" in found
