"""The bad-input matrix of issue 3: each invalid input exits 2, its ::error
annotation names the input, and no request reaches the (real, loopback) server.

Every case starts from a valid step (tests.conftest.good_inputs) and changes
only what makes it invalid, so a case that stops failing is a real regression.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import good_inputs
from tests.loopback import ok

DEEP = "[" * 100 + "]" * 100
REPOSITORY = {"upload_type": "repository", "image": "", "image_tag": "", "repository_type": "github",
              "repository": "https://github.com/acme/shop", "branch": "main"}
PACKAGE = {"upload_type": "package", "image": "", "image_tag": "", "package_name": "shop.zip",
           "package_version": "1"}


@dataclass(frozen=True)
class Case:
    id: str
    inputs: dict[str, str]
    names: str  # the input the annotation must name
    files: dict[str, str] = field(default_factory=dict)  # workspace files
    dirs: tuple[str, ...] = ()


CASES = [
    # env_id, server_name, version_name
    Case("env_id missing", {"env_id": ""}, "env_id"),
    Case("env_id blank", {"env_id": "   "}, "env_id"),
    Case("env_id with a space", {"env_id": "prod env"}, "env_id"),
    Case("env_id with a slash", {"env_id": "prod/6gxk"}, "env_id"),
    Case("env_id too long", {"env_id": "e" * 129}, "env_id"),
    Case("env_id with a newline", {"env_id": "prod\nx"}, "env_id"),
    Case("server_name missing", {"server_name": ""}, "server_name"),
    Case("server_name with a dot", {"server_name": "api.v2"}, "server_name"),
    Case("server_name too long", {"server_name": "s" * 129}, "server_name"),
    Case("version_name with a space", {"version_name": "v 1"}, "version_name"),
    # upload_type and what it requires
    Case("upload_type unknown", {"upload_type": "docker"}, "upload_type"),
    Case("repository without repository_type", {**REPOSITORY, "repository_type": ""}, "repository_type"),
    Case("repository_type unknown", {**REPOSITORY, "repository_type": "bitbucket"}, "repository_type"),
    Case("repository without branch", {**REPOSITORY, "branch": ""}, "branch"),
    Case("package without package_name", {**PACKAGE, "package_name": ""}, "package_name"),
    # integers
    Case("flow_ratio above 100", {"flow_ratio": "150"}, "flow_ratio"),
    Case("flow_ratio negative", {"flow_ratio": "-1"}, "flow_ratio"),
    Case("flow_ratio percent sign", {"flow_ratio": "50%"}, "flow_ratio"),
    Case("flow_ratio fraction", {"flow_ratio": "1.5"}, "flow_ratio"),
    Case("container_port zero", {"container_port": "0"}, "container_port"),
    Case("container_port too big", {"container_port": "70000"}, "container_port"),
    Case("container_port a word", {"container_port": "http"}, "container_port"),
    Case("initial_delay_seconds negative", {"initial_delay_seconds": "-5"}, "initial_delay_seconds"),
    # strings with a format
    Case("cpu a word", {"cpu": "abc"}, "cpu"),
    Case("cpu three decimals", {"cpu": "0.333"}, "cpu"),
    Case("mem negative", {"mem": "-1"}, "mem"),
    Case("mem with a unit", {"mem": "1GB"}, "mem"),
    Case("min_num above 50", {"min_num": "51"}, "min_num"),
    Case("max_num above 50", {"max_num": "100"}, "max_num"),
    Case("min_num above max_num", {"min_num": "5", "max_num": "2"}, "min_num"),
    Case("policy_type unknown", {"policy_type": "disk", "policy_threshold": "60"}, "policy_type"),
    Case("policy_threshold zero", {"policy_type": "cpu", "policy_threshold": "0"}, "policy_threshold"),
    Case("policy_threshold a word", {"policy_type": "cpu", "policy_threshold": "high"}, "policy_threshold"),
    Case("version_remark too long", {"version_remark": "r" * 1025}, "version_remark"),
    Case("version_remark escape code", {"version_remark": "\x1b[31mred"}, "version_remark"),
    Case("snapshot_name too long", {"snapshot_name": "n" * 256}, "snapshot_name"),
    Case("custom_logs too long", {"custom_logs": "l" * 4097}, "custom_logs"),
    # env_params
    Case("env_params not KEY=VALUE", {"env_params": "just words"}, "env_params"),
    Case("env_params broken JSON", {"env_params": "{\"A\": "}, "env_params"),
    Case("env_params JSON array", {"env_params": "[\"A=1\"]"}, "env_params"),
    Case("env_params nested value", {"env_params": "{\"A\": {\"b\": 1}}"}, "env_params"),
    Case("env_params repeated key", {"env_params": "A=1\nA=2"}, "env_params"),
    Case("env_params bad key", {"env_params": "1BAD=x"}, "env_params"),
    # booleans: YAML 1.2 spellings only
    Case("is_rebuild yes", {"is_rebuild": "yes"}, "is_rebuild"),
    Case("rollback 1", {"rollback": "1"}, "rollback"),
    Case("enable_union on", {"enable_union": "on"}, "enable_union"),
    Case("is_update_cls maybe", {"is_update_cls": "maybe"}, "is_update_cls"),
    Case("dry_run yes", {"dry_run": "yes"}, "dry_run"),
    # image, image_tag and the JSON fields
    Case("image uppercase repository", {"image": "ccr.ccs.tencentyun.com/NS/App:v1"}, "image"),
    Case("image with a space", {"image": "ccr.ccs.tencentyun.com/ns/app:bad tag"}, "image"),
    Case("image bad digest", {"image": "ccr.ccs.tencentyun.com/ns/app@sha256:xyz"}, "image"),
    Case("image_tag invalid", {"image_tag": "bad tag!"}, "image_tag"),
    Case("image_tag without image", {"image": ""}, "image_tag"),
    Case("image_info broken JSON", {"image": "", "image_tag": "", "image_info": "{not json"}, "image_info"),
    Case("image_info unknown field",
         {"image": "", "image_tag": "", "image_info": json.dumps({"image_url": "ccr.io/a/b:v1", "unknown": 1})},
         "image_info"),
    Case("image_info nested too deep", {"image": "", "image_tag": "", "image_info": DEEP}, "image_info"),
    Case("code_detail a string", {"code_detail": "\"str\""}, "code_detail"),
    Case("mount_volume_info an object", {"mount_volume_info": "{\"name\": \"v\"}"}, "mount_volume_info"),
    Case("policy_detail unknown type", {"policy_detail": "[{\"policy_type\": \"gpu\", \"policy_threshold\": 50}]"},
         "policy_detail"),
    # request_file
    Case("request_file missing", {"request_file": "nope.json"}, "request_file"),
    Case("request_file a directory", {"request_file": "conf"}, "request_file", dirs=("conf",)),
    Case("request_file not JSON", {"request_file": "a.json"}, "request_file", {"a.json": "{oops"}),
    Case("request_file an array", {"request_file": "a.json"}, "request_file", {"a.json": "[1]"}),
    Case("request_file holds access_token", {"request_file": "a.json"}, "request_file",
         {"a.json": json.dumps({"access_token": "tok-in-file-SECRET"})}),
    Case("request_file unknown field", {"request_file": "a.json"}, "request_file", {"a.json": "{\"colour\": 1}"}),
    Case("request_file bad field value", {"request_file": "a.json"}, "request_file", {"a.json": "{\"cpu\": \"x\"}"}),
    Case("request_file nested too deep", {"request_file": "a.json"}, "request_file",
         {"a.json": "[" * 5000 + "]" * 5000}),
    # call settings
    Case("api_base_url plain http remote", {"api_base_url": "http://example.com"}, "api_base_url"),
    Case("api_base_url ftp", {"api_base_url": "ftp://127.0.0.1:{port}"}, "api_base_url"),
    Case("api_base_url with credentials", {"api_base_url": "http://user:pw@127.0.0.1:{port}"}, "api_base_url"),
    Case("api_base_url with a query", {"api_base_url": "http://127.0.0.1:{port}/?x=1"}, "api_base_url"),
    Case("api_base_url not a URL", {"api_base_url": "api.weixin.qq.com"}, "api_base_url"),
    Case("api_base_url loopback in disguise", {"api_base_url": "http://0x7f.1:{port}"}, "api_base_url"),
    Case("timeout_seconds zero", {"timeout_seconds": "0"}, "timeout_seconds"),
    Case("timeout_seconds negative", {"timeout_seconds": "-1"}, "timeout_seconds"),
    Case("timeout_seconds a word", {"timeout_seconds": "soon"}, "timeout_seconds"),
    Case("timeout_seconds nan", {"timeout_seconds": "nan"}, "timeout_seconds"),
    Case("timeout_seconds inf", {"timeout_seconds": "inf"}, "timeout_seconds"),
    Case("timeout_seconds above an hour", {"timeout_seconds": "3601"}, "timeout_seconds"),
    Case("max_attempts zero", {"max_attempts": "0"}, "max_attempts"),
    Case("max_attempts eleven", {"max_attempts": "11"}, "max_attempts"),
    Case("max_attempts fraction", {"max_attempts": "2.5"}, "max_attempts"),
    Case("max_attempts a word", {"max_attempts": "three"}, "max_attempts"),
    # secrets
    Case("access_token missing", {"access_token": ""}, "access_token"),
    Case("access_token with a space", {"access_token": "tok SECRET"}, "access_token"),
    Case("access_token with a newline", {"access_token": "tok-SECRET\nsecond-line"}, "access_token"),
    Case("access_token non-ASCII", {"access_token": "tök-SECRET"}, "access_token"),
    Case("access_token truncated", {"access_token": "tok-SECRET-5f3"}, "access_token"),
    Case("component_appsecret truncated", {"access_token": "", "component_appid": "wx7c3d5e9f1a2b4c6d",
                                           "component_appsecret": "s3cr3t-SECRET",
                                           "component_verify_ticket": "ticket@@@0123456789abcdef"},
         "component_appsecret"),
    Case("component_appid without the rest", {"access_token": "", "component_appid": "wx7c3d5e9f1a2b4c6d"},
         "component_appsecret"),
    Case("component_verify_ticket with a space",
         {"component_appid": "wx7c3d5e9f1a2b4c6d", "component_appsecret": "s3cr3t-0123456789abcdef",
          "component_verify_ticket": "ticket@@@ bad"}, "component_verify_ticket"),
    # services
    Case("services not JSON", {"services": "api, web"}, "services"),
    Case("services entry bad server_name", {"services": "[{\"server_name\": \"bad name\"}]"}, "services[0]"),
    Case("services entry sets a step setting", {"services": "[{\"server_name\": \"a\", \"timeout_seconds\": \"5\"}]"},
         "services[0]"),
]


def test_the_matrix_is_big_and_distinct():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({json.dumps([c.inputs, c.files, c.dirs], sort_keys=True) for c in CASES}) == len(CASES)
    assert len({c.names for c in CASES}) >= 30  # spread across the fields


def names_input(line: str, name: str) -> bool:
    """The annotation's message starts with the input's name ("flow_ratio: ...", "request_file (cpu): ...")."""
    message = line.split("::", 2)[2]
    return message.startswith(name) and message[len(name):][:1] in (":", " ", ".", "[")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_invalid_input_exits_2_names_it_and_sends_nothing(step, scripted, tmp_path: Path, case: Case):
    server = scripted(ok())
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    for name, text in case.files.items():
        (workspace / name).write_text(text, encoding="utf-8")
    for name in case.dirs:
        (workspace / name).mkdir()
    port = str(server.server_address[1])
    inputs = good_inputs(server.url, **{k: v.replace("{port}", port) for k, v in case.inputs.items()})
    result = step(inputs)
    assert result.returncode == 2, result.log
    errors = result.annotations("error")
    assert errors, result.log
    assert all(line.startswith("::error title=Invalid input::") for line in errors), errors
    assert any(names_input(line, case.names) for line in errors), errors
    assert "no request was sent" in result.stdout
    assert server.received == []
    assert result.output_file == ""
    assert "Traceback" not in result.log
    # an invalid secret is never echoed in the problem text
    for secret_input in ("access_token", "component_appsecret", "component_verify_ticket"):
        value = case.inputs.get(secret_input, "")
        if value.strip():
            assert all(value not in line for line in errors)
