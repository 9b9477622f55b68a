"""Building the request body from inputs (issue 2: "Contract" and the convenience inputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudbase_rollout.inputs import image, request, settings, validate
from cloudbase_rollout.inputs.request import Built
from cloudbase_rollout.vocabulary import schemas

DIGEST = "sha256:" + "0123456789abcdef" * 4
BASE = {"env_id": "prod-6gxk23no5605e14f", "server_name": "api", "version_name": "latest", "upload_type": "image"}
BOOL_FIELDS = ("is_rebuild", "rollback", "enable_union", "is_update_cls")


def build(tmp_path: Path | None = None, env: dict[str, str] | None = None, **inputs: str) -> Built:
    """As the Action and the CLI do: empty inputs dropped first, then the body built."""
    raw = settings.present(inputs)
    return request.build(raw, env or {}, tmp_path or Path("/nonexistent-workspace"))


def body_of(**inputs: str) -> dict[str, Any]:
    built = build(**inputs)
    assert built.problems == [], [str(p) for p in built.problems]
    return built.body


def problems_of(tmp_path: Path | None = None, **inputs: str) -> list[str]:
    return [str(p) for p in build(tmp_path, **inputs).problems]


# -- empty counts as absent --------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in schemas.body_fields() if n not in settings.BODY_DEFAULTS])
@pytest.mark.parametrize("empty", ["", "   ", "\n", "\t \n"])
def test_empty_input_is_absent_and_never_sent(name: str, empty: str) -> None:
    body = body_of(**{**BASE, name: empty})
    assert name not in body
    assert "" not in body.values()


@pytest.mark.parametrize("name", sorted(settings.BODY_DEFAULTS))
def test_empty_input_with_a_default_falls_back_to_the_default(name: str) -> None:
    inputs = {**BASE, name: ""}
    assert body_of(**inputs)[name] == settings.BODY_DEFAULTS[name]


def test_defaults_fill_version_name_and_upload_type() -> None:
    body = body_of(env_id="e", server_name="s")
    assert body["version_name"] == "latest"
    assert body["upload_type"] == "image"


def test_present_drops_empty_and_unknown_inputs() -> None:
    raw = settings.present({"env_id": "e", "cpu": "", "mem": "  ", "no_such_input": "x", "image": None})  # type: ignore[dict-item]
    assert raw == {"env_id": "e"}


def test_empty_strings_inside_objects_and_arrays_are_never_sent() -> None:
    body = body_of(
        **BASE,
        image_info=json.dumps({"image_url": "ccr.ccs.tencentyun.com/ns/app:v1", "tag_name": "", "server_addr": " "}),
        mount_volume_info=json.dumps([{"name": "v", "mount_path": "/data", "nfs_volumes": [
            {"server": "10.0.0.1", "path": "", "secret_name": ""}]}]),
    )
    assert body["image_info"] == {"image_url": "ccr.ccs.tencentyun.com/ns/app:v1"}
    assert body["mount_volume_info"] == [{"name": "v", "mount_path": "/data", "nfs_volumes": [{"server": "10.0.0.1"}]}]


def test_prune_walks_every_depth() -> None:
    """Empty strings, and the objects and arrays they leave empty, are never sent; 0 and false are values."""
    assert request.prune({"a": "", "b": {"c": " ", "d": "x", "e": [{"f": ""}, "y"]}, "g": 0, "h": False}) == {
        "b": {"d": "x", "e": ["y"]}, "g": 0, "h": False}
    assert request.prune({"code_detail": {}, "mount_volume_info": [], "policy_detail": [{}], "i": {"j": []}}) == {}


def test_empty_fields_of_a_request_file_are_absent(tmp_path: Path) -> None:
    (tmp_path / "base.json").write_text(json.dumps({"cpu": "", "custom_logs": "  ", "snapshot_name": None}))
    body = body_of(tmp_path=tmp_path, **BASE, request_file="base.json", image="ccr.ccs.tencentyun.com/ns/a:v1")
    assert "cpu" not in body and "custom_logs" not in body
    assert "snapshot_name" not in body


# -- types -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "text", "sent"), [
    ("cpu", "0.25", "0.25"),
    ("cpu", " 1 ", "1"),
    ("mem", "0.5", "0.5"),
    ("min_num", "0", "0"),
    ("max_num", "10", "10"),
    ("policy_threshold", "60", "60"),
    ("flow_ratio", "100", 100),
    ("flow_ratio", " 0 ", 0),
    ("container_port", "80", 80),
    ("initial_delay_seconds", "2", 2),
])
def test_fields_are_sent_with_the_types_of_the_spec(name: str, text: str, sent: Any) -> None:
    body = body_of(**{**BASE, name: text})
    assert body[name] == sent
    assert type(body[name]) is type(sent)


def test_string_fields_stay_strings_even_when_they_look_numeric() -> None:
    body = body_of(**BASE, cpu="1", mem="2", min_num="0", max_num="1", policy_type="cpu", policy_threshold="50",
                   env_params="{}")
    for name in ("cpu", "mem", "min_num", "max_num", "policy_threshold", "env_params"):
        assert isinstance(body[name], str), name
    assert json.loads(json.dumps(body))["min_num"] == "0"


def test_numbers_from_a_request_file_become_the_spec_types(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({
        "cpu": 0.5, "mem": 1, "min_num": 0, "max_num": 2, "policy_threshold": 60,
        "flow_ratio": "30", "container_port": "8080", "is_rebuild": "true", "rollback": False}))
    body = body_of(tmp_path=tmp_path, **BASE, request_file="r.json")
    assert (body["cpu"], body["mem"], body["min_num"], body["max_num"], body["policy_threshold"]) == (
        "0.5", "1", "0", "2", "60")
    assert (body["flow_ratio"], body["container_port"]) == (30, 8080)
    assert body["is_rebuild"] is True and body["rollback"] is False


@pytest.mark.parametrize("name", ["flow_ratio", "container_port", "initial_delay_seconds"])
@pytest.mark.parametrize("text", ["abc", "50.5", "1e2", "0x10", "10%", "1 0"])
def test_integer_fields_reject_non_integers_naming_the_input(name: str, text: str) -> None:
    [problem] = problems_of(**{**BASE, name: text})
    assert problem.startswith(f"{name}: ")
    assert "is not an integer" in problem
    assert schemas.accepts(schemas.field_schema(name)) in problem


@pytest.mark.parametrize(("name", "text"), [
    ("image_info", "{not json"),
    ("code_detail", "{'name': 'x'}"),
    ("mount_volume_info", "[{]"),
    ("policy_detail", "cpu=60"),
])
def test_object_and_array_fields_take_json_text(name: str, text: str) -> None:
    [problem] = problems_of(**{**BASE, name: text})
    assert problem.startswith(f"{name}: is not valid JSON")
    assert "expected a JSON" in problem


def test_object_and_array_fields_are_parsed_from_json_text() -> None:
    body = body_of(
        **BASE,
        image_info='{"image_url": "ccr.ccs.tencentyun.com/ns/app:v1", "is_public": true}',
        code_detail='{"name": {"name": "app", "full_name": "team/app"}, "url": "https://github.com/team/app"}',
        mount_volume_info='[{"name": "cfs", "mount_path": "/data", "read_only": false}]',
        policy_detail='[{"policy_type": "cpu", "policy_threshold": 60}]',
    )
    assert body["image_info"]["is_public"] is True
    assert body["code_detail"]["name"]["full_name"] == "team/app"
    assert body["mount_volume_info"][0]["read_only"] is False
    assert body["policy_detail"] == [{"policy_type": "cpu", "policy_threshold": 60}]


# -- booleans: YAML 1.2 spellings and nothing else ----------------------------------------


@pytest.mark.parametrize("name", BOOL_FIELDS)
@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("True", True), ("TRUE", True), (" true\n", True),
    ("false", False), ("False", False), ("FALSE", False),
])
def test_yaml_1_2_booleans_are_accepted(name: str, text: str, value: bool) -> None:
    assert body_of(**{**BASE, name: text})[name] is value


@pytest.mark.parametrize("name", BOOL_FIELDS)
@pytest.mark.parametrize("text", ["yes", "no", "on", "off", "1", "0", "y", "n", "tRUE", "t", "Yes", "ON", "enabled"])
def test_yaml_1_1_and_other_booleans_are_rejected(name: str, text: str) -> None:
    built = build(**{**BASE, name: text})
    [problem] = [str(p) for p in built.problems]
    assert problem.startswith(f"{name}: ")
    assert "true" in problem and "false" in problem
    assert name not in built.body


@pytest.mark.parametrize("text", ["yes", "1", "on"])
def test_dry_run_takes_the_same_booleans(text: str) -> None:
    call, problems = settings.call_settings({"access_token": "test-token-0123456789abcdef", "dry_run": text})
    assert call is None
    [problem] = [str(p) for p in problems]
    assert problem.startswith("dry_run: ") and "true" in problem


def test_parse_bool() -> None:
    assert settings.parse_bool("TRUE") is True
    assert settings.parse_bool("False") is False
    with pytest.raises(ValueError, match=r"YAML 1\.2"):
        settings.parse_bool("yes")


# -- env_params ----------------------------------------------------------------------------


def env_of(text: str) -> dict[str, str]:
    sent = body_of(**BASE, env_params=text)["env_params"]
    assert isinstance(sent, str), "env_params goes as the JSON string the API expects"
    decoded = json.loads(sent)
    assert isinstance(decoded, dict)
    return decoded


def test_env_params_json_object_is_sent_as_a_json_string() -> None:
    sent = body_of(**BASE, env_params='{"LOG_LEVEL": "info", "N": "1"}')["env_params"]
    assert sent == '{"LOG_LEVEL":"info","N":"1"}'


def test_env_params_json_with_commas_and_equals_is_kept() -> None:
    assert env_of('{"A": "x=1,y=2", "B": "hello, world"}') == {"A": "x=1,y=2", "B": "hello, world"}


def test_env_params_lines_split_on_the_first_equals_only() -> None:
    env = env_of("DATABASE_URL=postgres://u:p@db:5432/app?sslmode=require&x=y\nEMPTY=\nEQ==start")
    assert env == {"DATABASE_URL": "postgres://u:p@db:5432/app?sslmode=require&x=y", "EMPTY": "", "EQ": "=start"}


def test_env_params_lines_never_split_on_commas() -> None:
    assert env_of("GREETING=hello, world\nLIST=a,b,c") == {"GREETING": "hello, world", "LIST": "a,b,c"}


def test_env_params_lines_keep_quotes_literally() -> None:
    env = env_of("""Q1="double quoted"\nQ2='single'\nQ3=it's "mixed\"""")
    assert env == {"Q1": '"double quoted"', "Q2": "'single'", "Q3": 'it\'s "mixed"'}


def test_env_params_lines_keep_spaces_inside_values() -> None:
    env = env_of("MSG=hello   world\nTAB=a\tb")
    assert env == {"MSG": "hello   world", "TAB": "a\tb"}


def test_env_params_trailing_spaces_do_not_depend_on_the_line_position() -> None:
    # The value of a line must not change because it happens to be the last line.
    assert env_of("A=x  \nB=1")["A"] == "x  "
    assert env_of("B=1\nA=x  ")["A"] == "x  "
    assert env_of("B=1\nA=x  \n")["A"] == "x  "


def test_env_params_skips_blank_lines_and_comments_but_not_hashes_in_values() -> None:
    env = env_of("# a comment\n\nA=1\n   # indented comment\n\t\nCOLOR=#fff\nURL=http://x/#frag\n")
    assert env == {"A": "1", "COLOR": "#fff", "URL": "http://x/#frag"}


def test_env_params_handles_crlf_line_endings() -> None:
    assert env_of("A=1\r\nB=2\r\n") == {"A": "1", "B": "2"}


def test_env_params_keeps_unicode() -> None:
    sent = body_of(**BASE, env_params="GREETING=你好,世界")["env_params"]
    assert json.loads(sent) == {"GREETING": "你好,世界"}
    assert "你好" in sent


def test_env_params_duplicate_keys_are_a_problem_naming_both_lines() -> None:
    [problem] = problems_of(**BASE, env_params="A=1\nB=2\nA=3")
    assert problem.startswith("env_params: ")
    assert "line 3" in problem and "line 1" in problem and "A" in problem


@pytest.mark.parametrize("text", ["JUST_A_WORD", "A=1\nnot a pair", "1A=x", "MY KEY=x", "=value", "A:1"])
def test_env_params_lines_that_are_not_key_value_are_a_problem(text: str) -> None:
    [problem] = problems_of(**BASE, env_params=text)
    assert problem.startswith("env_params: ")
    assert "KEY=VALUE" in problem


@pytest.mark.parametrize("text", ['{"A": ', '{"A": {"nested": 1}}', '{"A": ["x"]}', '{"A": null}'])
def test_env_params_json_that_is_broken_or_not_flat_is_a_problem(text: str) -> None:
    [problem] = problems_of(**BASE, env_params=text)
    assert problem.startswith("env_params: ")


def test_env_params_from_a_request_file_object(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"env_params": {"A": "1", "B": "x=y, z"}}))
    sent = body_of(tmp_path=tmp_path, **BASE, request_file="r.json")["env_params"]
    assert isinstance(sent, str)
    assert json.loads(sent) == {"A": "1", "B": "x=y, z"}


def test_env_params_input_replaces_the_request_file_value(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"env_params": {"A": "1"}}))
    sent = body_of(tmp_path=tmp_path, **BASE, request_file="r.json", env_params="B=2")["env_params"]
    assert json.loads(sent) == {"B": "2"}


# -- image ---------------------------------------------------------------------------------


def test_image_fills_image_info() -> None:
    info = body_of(**BASE, image="ccr.ccs.tencentyun.com/ns/app:v1")["image_info"]
    assert info == {"server_addr": "ccr.ccs.tencentyun.com", "repository_name": "ns/app", "tag_name": "v1",
                    "image_url": "ccr.ccs.tencentyun.com/ns/app:v1"}


def test_image_with_registry_port_and_digest() -> None:
    ref = f"host:5000/team/app@{DIGEST}"
    built = build(**BASE, image=ref)
    assert built.problems == []
    info = built.body["image_info"]
    assert info["server_addr"] == "host:5000"
    assert info["repository_name"] == "team/app"
    assert info["image_url"] == ref
    assert "tag_name" not in info, "a digest is not a tag"
    assert built.warnings == []


def test_image_with_registry_port_and_no_tag_does_not_take_the_port_for_a_tag() -> None:
    ref = image.parse("host:5000/team/app")
    assert (ref.server_addr, ref.repository_name, ref.tag) == ("host:5000", "team/app", None)
    [problem] = build(**BASE, image="host:5000/team/app").problems
    assert str(problem) == ('image: "host:5000/team/app" has no tag or digest; CloudBase pulls exactly this reference: '
                            "expected a full reference such as ccr.ccs.tencentyun.com/NAMESPACE/REPO:TAG; add one with "
                            "image_tag"), "an unpinned image is not repeatable (issue 14, item 3)"
    retagged = build(**BASE, image="host:5000/team/app", image_tag="v2")
    assert retagged.problems == [] and retagged.body["image_info"]["tag_name"] == "v2"


def test_image_with_tag_and_digest() -> None:
    info = body_of(**BASE, image=f"ccr.ccs.tencentyun.com/ns/app:v1@{DIGEST}")["image_info"]
    assert info["tag_name"] == "v1"
    assert info["repository_name"] == "ns/app"
    assert info["image_url"] == f"ccr.ccs.tencentyun.com/ns/app:v1@{DIGEST}"


@pytest.mark.parametrize(("reference", "server", "repository", "tag"), [
    ("localhost:5000/app:1.0", "localhost:5000", "app", "1.0"),
    ("registry.example.com/a/b/c:latest", "registry.example.com", "a/b/c", "latest"),
    ("[::1]:5000/ns/app:v2", "[::1]:5000", "ns/app", "v2"),
    ("ccr.ccs.tencentyun.com/tcb-100001320084-hvbz/web-container_pressure-python:pressure-python-006",
     "ccr.ccs.tencentyun.com", "tcb-100001320084-hvbz/web-container_pressure-python", "pressure-python-006"),
])
def test_image_reference_grammar(reference: str, server: str, repository: str, tag: str) -> None:
    ref = image.parse(reference)
    assert (ref.server_addr, ref.repository_name, ref.tag) == (server, repository, tag)
    assert ref.image_url == reference


def test_image_without_registry_host_is_refused_naming_an_example() -> None:
    built = build(**BASE, image="ns/app:v1")
    assert [str(p) for p in built.problems] == [
        'image: "ns/app:v1" has no registry host; CloudBase pulls exactly this reference: expected a full '
        "reference such as ccr.ccs.tencentyun.com/NAMESPACE/REPO:TAG"]
    assert "image_info" not in built.body


@pytest.mark.parametrize("reference", [
    "Bad Image", "ccr.ccs.tencentyun.com/NS/App:v1", "ccr.ccs.tencentyun.com/ns/app:", "ns/app@sha256:xyz",
    "ccr.ccs.tencentyun.com/ns/app:-bad", "ccr.ccs.tencentyun.com//app", "bad_host.com:x/ns/app",
])
def test_invalid_image_reference_is_a_problem_naming_image(reference: str) -> None:
    built = build(**BASE, image=reference)
    [problem] = [str(p) for p in built.problems]
    assert problem.startswith("image: ")
    assert "image_info" not in built.body


# -- image_tag -------------------------------------------------------------------------------


def test_image_tag_sets_the_tag_of_an_untagged_image() -> None:
    built = build(**BASE, image="ccr.ccs.tencentyun.com/ns/app", image_tag="3f2c1ab")
    assert built.problems == [] and built.warnings == []
    info = built.body["image_info"]
    assert info["tag_name"] == "3f2c1ab"
    assert info["image_url"] == "ccr.ccs.tencentyun.com/ns/app:3f2c1ab"


def test_image_tag_replaces_the_tag_of_image() -> None:
    info = body_of(**BASE, image="host:5000/team/app:v1", image_tag="v2")["image_info"]
    assert info["tag_name"] == "v2"
    assert info["image_url"] == "host:5000/team/app:v2"
    assert "v1" not in json.dumps(info)


def test_image_tag_takes_a_full_commit_sha() -> None:
    sha = "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567"
    assert body_of(**BASE, image="ccr.ccs.tencentyun.com/ns/app", image_tag=sha)["image_info"]["tag_name"] == sha


def test_image_tag_on_an_image_pinned_by_digest_is_a_problem() -> None:
    built = build(**BASE, image=f"host:5000/team/app@{DIGEST}", image_tag="v2")
    [problem] = [str(p) for p in built.problems]
    assert problem.startswith("image_tag: ")
    assert "digest" in problem


@pytest.mark.parametrize("tag", ["-bad", ".bad", "has space", "a/b", "x" * 129, "v1:v2"])
def test_invalid_image_tag_is_a_problem_naming_image_tag(tag: str) -> None:
    [problem] = problems_of(**BASE, image="ccr.ccs.tencentyun.com/ns/app", image_tag=tag)
    assert problem.startswith("image_tag: ")


def test_image_tag_alone_retags_image_info_image_url() -> None:
    info = body_of(**BASE, image_tag="v9", image_info=json.dumps(
        {"image_url": "ccr.ccs.tencentyun.com/ns/app:v1", "is_public": True, "tag_name": "v1"}))["image_info"]
    assert info["image_url"] == "ccr.ccs.tencentyun.com/ns/app:v9"
    assert info["tag_name"] == "v9"
    assert info["is_public"] is True, "other image_info fields are kept"


def test_image_tag_alone_retags_the_image_url_of_a_request_file(tmp_path: Path) -> None:
    (tmp_path / "svc.json").write_text(json.dumps(
        {"image_info": {"image_url": "ccr.ccs.tencentyun.com/ns/svc:old", "tag_name": "old", "is_public": False}}))
    info = body_of(tmp_path=tmp_path, **BASE, request_file="svc.json", image_tag="new")["image_info"]
    assert info["image_url"] == "ccr.ccs.tencentyun.com/ns/svc:new"
    assert info["tag_name"] == "new"
    assert info["is_public"] is False


def test_image_tag_without_any_image_is_a_problem() -> None:
    [problem] = problems_of(**BASE, image_tag="v1")
    assert problem.startswith("image_tag: ")
    assert "image" in problem.split(":", 1)[1]


def test_image_overrides_image_info_but_keeps_its_other_fields() -> None:
    info = body_of(**BASE, image=f"ccr.ccs.tencentyun.com/ns/new@{DIGEST}", image_info=json.dumps(
        {"image_url": "other.example.com/x/old:v1", "tag_name": "v1", "is_public": True}))["image_info"]
    assert info["image_url"] == f"ccr.ccs.tencentyun.com/ns/new@{DIGEST}"
    assert info["repository_name"] == "ns/new"
    assert "tag_name" not in info, "a stale tag_name must not describe another image"
    assert info["is_public"] is True


@pytest.mark.parametrize("info", ["[1]", '"ccr.ccs.tencentyun.com/ns/app:v1"', "42"])
def test_image_does_not_silently_drop_an_image_info_that_is_not_an_object(info: str) -> None:
    raw = settings.present({**BASE, "image": "ccr.ccs.tencentyun.com/ns/app:v2", "image_info": info})
    built = request.build(raw, {}, Path("/nonexistent"))
    found = [str(p) for p in built.problems] + [
        str(p) for p in validate.request_problems(built.body, built.sources)]
    assert any(p.startswith("image_info: ") for p in found), found


# -- request_file ----------------------------------------------------------------------------


def test_request_file_is_the_base_and_explicit_inputs_win(tmp_path: Path) -> None:
    (tmp_path / "svc.json").write_text(json.dumps({
        "env_id": "file-env", "server_name": "file-svc", "flow_ratio": 50, "cpu": "0.5", "mem": "1",
        "custom_logs": "stdout", "image_info": {"image_url": "ccr.ccs.tencentyun.com/ns/file:v1"}}))
    body = body_of(tmp_path=tmp_path, env_id="input-env", version_name="latest", upload_type="image",
                   request_file="svc.json", flow_ratio="100", cpu="1", mem="2")
    assert body["env_id"] == "input-env"
    assert body["server_name"] == "file-svc"
    assert (body["flow_ratio"], body["cpu"], body["mem"]) == (100, "1", "2")
    assert body["custom_logs"] == "stdout"
    assert body["image_info"]["image_url"] == "ccr.ccs.tencentyun.com/ns/file:v1"


def test_request_file_image_info_is_replaced_by_the_image_input(tmp_path: Path) -> None:
    (tmp_path / "svc.json").write_text(json.dumps({"image_info": {"image_url": "ccr.ccs.tencentyun.com/ns/file:v1"}}))
    info = body_of(tmp_path=tmp_path, **BASE, request_file="svc.json", image="ccr.ccs.tencentyun.com/ns/input:v2")[
        "image_info"]
    assert info["image_url"] == "ccr.ccs.tencentyun.com/ns/input:v2"


def test_request_file_values_beat_the_defaults_the_runner_passes(tmp_path: Path) -> None:
    # The runner hands every input that has a default in action.yml over WITH that
    # default (version_name=latest, upload_type=image) even when the workflow does not
    # set it, so a per-service file's version_name/upload_type must not be clobbered.
    (tmp_path / "svc.json").write_text(json.dumps({
        "version_name": "api-007", "upload_type": "package", "package_name": "api.zip", "package_version": "7"}))
    body = body_of(tmp_path=tmp_path, env_id="e", server_name="api", request_file="svc.json",
                   **settings.BODY_DEFAULTS)
    assert body["version_name"] == "api-007"
    assert body["upload_type"] == "package"


def test_request_file_may_be_absolute_inside_the_workspace(tmp_path: Path) -> None:
    path = tmp_path / "abs.json"
    path.write_text(json.dumps({"custom_logs": "/var/log/app.log"}))
    body = body_of(tmp_path=tmp_path, **BASE, request_file=str(path))
    assert body["custom_logs"] == "/var/log/app.log"


@pytest.mark.parametrize("how", ["absolute", "dot-dot", "symlink"])
def test_a_request_file_outside_the_workspace_is_refused_and_not_read(tmp_path: Path, how: str) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"cpu": "ghp_SecretValue123", "server_name": "leak"}))
    name = {"absolute": str(outside), "dot-dot": "../outside.json", "symlink": "link.json"}[how]
    if how == "symlink":
        (workspace / "link.json").symlink_to(outside)
    built = request.build({**BASE, "request_file": name}, {}, workspace)
    [problem] = [p for p in built.problems if p.input == "request_file"]
    assert "outside the workspace" in problem.message and "expected a regular JSON file in the workspace" in \
        problem.message
    assert "ghp_SecretValue123" not in str(built.problems) and built.body.get("server_name") != "leak"


def test_request_file_path_is_relative_to_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "api.json").write_text(json.dumps({"server_path": "/api"}))
    assert body_of(tmp_path=tmp_path, **BASE, request_file="services/api.json")["server_path"] == "/api"


@pytest.mark.parametrize(("content", "fragment"), [
    (None, "does not exist"),
    ("{not json", "cannot be read as JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('"text"', "expected a JSON object"),
])
def test_request_file_that_is_missing_or_not_an_object_is_a_problem(
        tmp_path: Path, content: str | None, fragment: str) -> None:
    if content is not None:
        (tmp_path / "r.json").write_text(content)
    [problem] = problems_of(tmp_path, **BASE, request_file="r.json", image="ccr.ccs.tencentyun.com/ns/a:v1")
    assert problem.startswith("request_file: ")
    assert fragment in problem
    assert "r.json" in problem


def test_request_file_must_not_carry_the_token(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"access_token": "leaked-token-123", "custom_logs": "stdout"}))
    built = build(tmp_path, **BASE, request_file="r.json", image="ccr.ccs.tencentyun.com/ns/a:v1")
    [problem] = [str(p) for p in built.problems]
    assert problem.startswith("request_file") and "access_token" in problem
    assert "leaked-token-123" not in problem
    assert "access_token" not in built.body


def test_problems_in_a_request_file_name_the_file_and_the_field(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"flow_ratio": "lots", "is_rebuild": "yes"}))
    problems = problems_of(tmp_path, **BASE, request_file="r.json")
    assert any(p.startswith("request_file (flow_ratio): ") for p in problems), problems
    assert any(p.startswith("request_file (is_rebuild): ") for p in problems), problems


# -- default version_remark --------------------------------------------------------------------

GITHUB_ENV = {
    "GITHUB_REPOSITORY": "octo/shop",
    "GITHUB_SHA": "4f6c2a1b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
    "GITHUB_RUN_ID": "1234567890",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_RUN_ATTEMPT": "1",
}


def test_default_version_remark_leads_back_to_the_commit_and_the_run() -> None:
    remark = build(env=GITHUB_ENV, **BASE).body["version_remark"]
    assert remark == "octo/shop@4f6c2a1 run https://github.com/octo/shop/actions/runs/1234567890"


def test_default_version_remark_names_a_rerun_attempt_and_the_server() -> None:
    env = {**GITHUB_ENV, "GITHUB_RUN_ATTEMPT": "3", "GITHUB_SERVER_URL": "https://ghe.example.com/"}
    remark = build(env=env, **BASE).body["version_remark"]
    assert remark == "octo/shop@4f6c2a1 run https://ghe.example.com/octo/shop/actions/runs/1234567890/attempts/3"


def test_default_version_remark_without_a_run_id() -> None:
    env = {"GITHUB_REPOSITORY": "octo/shop", "GITHUB_SHA": GITHUB_ENV["GITHUB_SHA"]}
    assert build(env=env, **BASE).body["version_remark"] == "octo/shop@4f6c2a1"


def test_default_version_remark_with_only_the_repository() -> None:
    assert build(env={"GITHUB_REPOSITORY": "octo/shop"}, **BASE).body["version_remark"] == "octo/shop"


def test_image_with_another_upload_type_warns() -> None:
    image = "ccr.ccs.tencentyun.com/ns/app:v1"
    built = build(**{**BASE, "upload_type": "package", "package_name": "p", "package_version": "1", "image": image})
    assert built.problems == []
    assert any("upload_type is package" in w for w in built.warnings)
    assert not any("upload_type" in w for w in build(**BASE, image=image).warnings)


def test_no_version_remark_outside_github() -> None:
    assert "version_remark" not in build(env={"CI": "true"}, **BASE).body


def test_explicit_version_remark_wins_over_the_default() -> None:
    assert build(env=GITHUB_ENV, **BASE, version_remark="hotfix 42").body["version_remark"] == "hotfix 42"


def test_request_file_version_remark_wins_over_the_default(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"version_remark": "from file"}))
    assert build(tmp_path, GITHUB_ENV, **BASE, request_file="r.json").body["version_remark"] == "from file"


def test_empty_version_remark_input_still_gets_the_default() -> None:
    remark = build(env=GITHUB_ENV, **BASE, version_remark="").body["version_remark"]
    assert remark.startswith("octo/shop@4f6c2a1")


def test_a_non_ascii_image_tag_is_refused():
    from cloudbase_rollout.inputs import image

    with pytest.raises(ValueError, match="tag"):
        image.parse("ccr.ccs.tencentyun.com/ns/app:标签")
