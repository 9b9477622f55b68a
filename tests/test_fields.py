"""The body-to-detail table that skip_current and plan share (vocabulary/fields.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudbase_rollout.emulator import versions
from cloudbase_rollout.vocabulary import fields
from cloudbase_rollout.vocabulary.fields import COMPARED, Change, changes, record

IMAGE = "ccr.ccs.tencentyun.com/team/app:v1"

BODY: dict[str, Any] = {
    "env_id": "prod-1", "server_name": "api", "version_name": "api-001", "upload_type": "image",
    "image_info": {"image_url": IMAGE}, "cpu": "0.25", "mem": "0.5", "min_num": "1", "max_num": "3",
    "policy_type": "cpu", "policy_threshold": "60", "env_params": '{"A":"1","B":"2"}', "container_port": 80,
    "custom_logs": "stdout", "dockerfile_path": "Dockerfile", "build_dir": "app", "package_name": "pkg",
    "package_version": "1.10", "version_remark": "build 7",
}

DETAIL: dict[str, Any] = {
    "status": "normal", "created_time": "2024-01-01 10:00:00", "updated_time": "2024-01-01 10:05:00",
    "remark": "build 7", "image_url": IMAGE, "upload_type": "image", "cpu": 0.25, "mem": 0.5, "minnum": 1,
    "maxnum": 3, "policy_type": "cpu", "policy_threshold": 60, "env_params": '{"A":"1","B":"2"}',
    "version_ip": "10.0.0.1", "version_port": 80, "container_port": 80, "dockerfile_path": "Dockerfile",
    "build_dir": "app", "package_name": "pkg", "package_version": "1.10", "repo_type": "", "repo": "",
    "branch": "", "custom_logs": "stdout",
}

#: For each compared detail field: a body value that differs from DETAIL's.
OTHER: dict[str, Any] = {
    "image_info.image_url": "ccr.ccs.tencentyun.com/team/app:v2", "cpu": "0.5", "mem": "1", "min_num": "2",
    "max_num": "4", "policy_type": "mem", "policy_threshold": "70", "env_params": '{"A":"9"}',
    "container_port": 8080, "custom_logs": "cls", "dockerfile_path": "docker/Dockerfile", "build_dir": "web",
    "package_name": "other", "package_version": "1.1",
}


def with_value(path: str, value: Any) -> dict[str, Any]:
    """BODY with the (possibly dotted) field `path` set to `value`."""
    body = json.loads(json.dumps(BODY))
    *parents, last = path.split(".")
    target = body
    for step in parents:
        target = target[step]
    target[last] = value
    return body


def test_equal_body_and_detail_has_no_changes() -> None:
    assert changes(BODY, DETAIL) == []


def test_other_covers_every_compared_field() -> None:
    assert set(OTHER) == set(COMPARED)


@pytest.mark.parametrize("path", list(COMPARED))
def test_each_compared_field_that_differs_is_exactly_that_change(path: str) -> None:
    name = COMPARED[path]
    assert changes(with_value(path, OTHER[path]), DETAIL) == [Change(name, DETAIL[name], OTHER[path])]


def test_changes_come_in_compared_order() -> None:
    body = with_value("package_version", "2")
    body.update(cpu="1", image_info={"image_url": "x:v2"})
    assert [change.field for change in changes(body, DETAIL) or []] == ["image_url", "cpu", "package_version"]


@pytest.mark.parametrize(("name", "current", "wanted"), [
    ("cpu", 0.25, "0.25"), ("cpu", "0.25", 0.25), ("mem", 1, "1.0"), ("minnum", 1, "1"), ("maxnum", "3", 3),
    ("policy_threshold", 60.0, "60"), ("container_port", "80", 80), ("container_port", 80, " 80 "),
])
def test_numeric_text_equals_the_number(name: str, current: Any, wanted: Any) -> None:
    assert fields.same(name, current, wanted)


@pytest.mark.parametrize(("current", "wanted"), [(0.25, "0.5"), ("inf", "1e999"), (True, "1"), (1, "1.01")])
def test_numbers_that_differ_or_do_not_parse(current: Any, wanted: Any) -> None:
    assert not fields.same("cpu", current, wanted)


def test_numeric_rule_is_only_for_numeric_fields() -> None:
    assert not fields.same("package_version", "1.10", "1.1")
    assert fields.same("package_version", " 1.10 ", "1.10")


@pytest.mark.parametrize(("current", "wanted"), [
    ('{"A":"1"}', '{ "A": "1" }'), ('{"B":"2","A":"1"}', '{"A":"1","B":"2"}'), ({"A": "1"}, '{"A":"1"}'),
    ("", "{}"), ("{}", ""), ("  ", "{}"),
])
def test_env_params_compare_as_parsed_json(current: Any, wanted: str) -> None:
    assert fields.same("env_params", current, wanted)
    assert changes({**BODY, "env_params": wanted}, {**DETAIL, "env_params": current}) == []


@pytest.mark.parametrize(("current", "wanted"), [
    ('{"A":"1"}', '{"A":"2"}'), ('{"A":1}', '{"A":"1"}'), ("", '{"A":"1"}'), ("not json", "{}"),
])
def test_env_params_that_differ(current: Any, wanted: str) -> None:
    assert not fields.same("env_params", current, wanted)


def test_env_params_that_are_not_json_compare_as_text() -> None:
    assert fields.same("env_params", " A=1 ", "A=1")


def test_a_repository_unit_is_never_current() -> None:
    assert changes({**BODY, "upload_type": "repository", "repository": "r", "branch": "main"}, DETAIL) is None


@pytest.mark.parametrize("upload_type", ["image", "package"])
def test_other_upload_types_are_compared(upload_type: str) -> None:
    assert changes({**BODY, "upload_type": upload_type}, DETAIL) == []


def test_fields_the_body_does_not_set_are_not_compared() -> None:
    body = {"image_info": {"image_url": IMAGE}, "cpu": None}
    detail = {**DETAIL, "cpu": 4, "mem": 8, "env_params": '{"Z":"0"}'}
    assert changes(body, detail) == []
    assert changes({}, {}) == []


def test_an_image_info_without_url_sets_no_image() -> None:
    assert changes({"image_info": {}}, {}) == []
    assert changes({"image_info": "x"}, {}) == []


def test_a_detail_missing_a_field_is_a_change_from_none() -> None:
    detail = {key: value for key, value in DETAIL.items() if key != "mem"}
    assert changes(BODY, detail) == [Change("mem", None, "0.5")]
    assert changes(BODY, {**DETAIL, "mem": None}) == [Change("mem", None, "0.5")]


def test_remark_and_repository_fields_are_never_reported() -> None:
    body = {**BODY, "version_remark": "build 8", "repository": "r", "branch": "dev", "repository_type": "github"}
    detail = {**DETAIL, "remark": "build 1", "repo": "other", "branch": "main", "repo_type": "coding"}
    assert changes(body, detail) == []
    assert not {"remark", "repo", "branch", "repo_type"} & set(COMPARED.values())
    assert not {"version_remark", "repository", "branch", "repository_type"} & set(COMPARED)


def test_change_text() -> None:
    assert Change("image_url", "ccr/a:v1", "ccr/a:v2").text() == "image_url: ccr/a:v1 -> ccr/a:v2"
    assert Change("cpu", 0.25, "0.5").text() == "cpu: 0.25 -> 0.5"
    assert Change("mem", None, "0.5").text() == "mem: (missing) -> 0.5"
    assert Change("env_params", {"B": "2", "A": "1"}, "{}").text() == 'env_params: {"A":"1","B":"2"} -> {}'


def test_change_text_cuts_long_values() -> None:
    text = Change("env_params", "x" * 500, "y").text()
    current = text.removeprefix("env_params: ").removesuffix(" -> y")
    assert len(current) == fields.SHOWN
    assert current.endswith("...")


def test_record_is_json_safe() -> None:
    assert record(Change("cpu", 0.25, "0.5")) == {"field": "cpu", "current": 0.25, "wanted": "0.5"}
    assert record(Change("mem", None, "1")) == {"field": "mem", "current": None, "wanted": "1"}
    odd = record(Change("cpu", float("nan"), {1, 2}))
    assert json.loads(json.dumps(odd, allow_nan=False)) == {"field": "cpu", "current": "nan", "wanted": "{1, 2}"}


@pytest.mark.parametrize(("path", "name"), [item for item in COMPARED.items() if item[0] != "image_info.image_url"])
def test_the_emulator_table_agrees(path: str, name: str) -> None:
    assert versions.DETAIL_FROM_BODY[name] == path


def test_every_compared_field_is_a_detail_field() -> None:
    assert set(COMPARED.values()) <= set(versions.DETAIL_DEFAULTS)


@pytest.mark.parametrize("numbers", [False, True])
def test_a_version_the_emulator_rolled_with_the_body_is_current(numbers: bool) -> None:
    version = versions.Version("api-001", created=1_700_000_000, updated=1_700_000_000)
    version.roll(BODY, run_id="r1", now=1_700_000_100, settle_at=1_700_000_200, settle_to=versions.HEALTHY)
    assert changes(BODY, version.details(numbers=numbers)) == []
    other = with_value("image_info.image_url", "x:v2")
    assert changes(other, version.details(numbers=numbers)) == [Change("image_url", IMAGE, "x:v2")]
