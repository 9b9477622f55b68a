"""inputs/targets.py: the fleet's entries (lines or JSON), targets_file, the units they make, and the fingerprint.

Every problem names where it is (`targets line 3`, `targets[2] cpu`, `services[1] env_id`) and what is
accepted, and all of them come at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudbase_rollout.errors import Problem
from cloudbase_rollout.inputs import plan, request_file, shard
from cloudbase_rollout.inputs.targets import (
    MAX_TARGETS_FILE,
    PER_TARGET,
    TARGETS_FILE_ACCEPTS,
    Entry,
    Unit,
    expand,
    fingerprint,
    parse,
    read_file,
)
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.words import ACTION, Words

MIB = 1 << 20
ENV_ACCEPTS = "a CloudBase environment ID such as prod-6gxk23no5605e14f (1-128 characters matching ^[A-Za-z0-9_-]+$)"


def said(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def entries(text: str, **kwargs: object) -> list[Entry]:
    found, problems = parse(text, **kwargs)  # type: ignore[arg-type]
    assert problems == [], said(problems)
    return found


def problems_of(text: str, **kwargs: object) -> list[str]:
    return said(parse(text, **kwargs)[1])  # type: ignore[arg-type]


def entry(env_id: str, server_name: str | None = None, label: str = "targets line 1", **overrides: str) -> Entry:
    return Entry(env_id, server_name, overrides, label)


# -- the lines form --------------------------------------------------------------------------------------


def test_a_line_is_an_env_id_or_env_id_and_server_name() -> None:
    assert entries("prod-1\nprod-2/api") == [Entry("prod-1", None, {}, "targets line 1"),
                                             Entry("prod-2", "api", {}, "targets line 2")]


def test_blank_lines_comments_and_whitespace_are_skipped_and_lines_keep_their_numbers() -> None:
    text = "# the fleet\n\n  prod-1  \r\n\tprod-2/api # the canary\n   # later\nprod-3#x\n"
    found, problems = parse(text)
    assert [(e.env_id, e.server_name, e.label) for e in found] == [
        ("prod-1", None, "targets line 3"), ("prod-2", "api", "targets line 4")]
    assert said(problems) == [f"targets line 6 env_id: 'prod-3#x' is not accepted; expected {ENV_ACCEPTS}"]


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "# nothing yet\n  # still nothing", "[]", "  []  "])
def test_an_empty_fleet_is_a_problem(text: str) -> None:
    [problem] = problems_of(text)
    assert problem.startswith("targets: names no target; expected one target a line: ENV_ID or ENV_ID/SERVER_NAME")
    assert "a JSON array of objects" in problem


@pytest.mark.parametrize(("line", "name", "shown"), [
    ("prod 1", None, "'prod 1'"), ("a/b/c", None, "'a/b/c'"), ("prod-1 /api", None, "'prod-1 /api'"),
    ("prod.1", "env_id", "'prod.1'"), ("/api", "env_id", "''"), ("prod-1/", "server_name", "''"),
    ("prod-1/ap!", "server_name", "'ap!'"), ("环境", "env_id", "'环境'"),
])
def test_a_bad_line_names_its_line_and_what_is_accepted(line: str, name: str | None, shown: str) -> None:
    [problem] = problems_of(f"ok-1\n{line}")
    if name is None:
        assert problem == (f"targets line 2: {shown} is not accepted; expected one target a line: ENV_ID or "
                           "ENV_ID/SERVER_NAME (blank lines and # comments are skipped)")
    else:
        accepts = schemas.accepts(schemas.field_schema(name))
        assert problem.startswith(f"targets line 2 {name}: {shown} is not accepted; expected {accepts} (1-128")


def test_the_schema_limits_the_length() -> None:
    assert entries("a" * 128)[0].env_id == "a" * 128
    [problem] = problems_of("a" * 129)
    assert problem.startswith("targets line 1 env_id: 'aaaa") and "..." in problem and "1-128 characters" in problem


def test_every_bad_line_at_once() -> None:
    found, problems = parse("bad!\ngood-1\nx/y/z\ngood-2/api\n/\n")
    assert [e.env_id for e in found] == ["good-1", "good-2"]
    assert [p.input for p in problems] == ["targets line 1 env_id", "targets line 3", "targets line 5 env_id",
                                           "targets line 5 server_name"]


def test_the_source_names_the_lines() -> None:
    assert entries("prod-1", source="targets_file")[0].label == "targets_file line 1"


def test_the_lines_form_can_be_asked_for_even_when_the_text_starts_with_a_bracket() -> None:
    [problem] = problems_of('[{"env_id": "prod-1"}]', json_form=False)
    assert problem.startswith("targets line 1: ")


def test_in_the_cli_a_line_is_named_after_its_flag() -> None:
    [problem] = parse("bad!")[1]
    assert problem.text(Words(program="cloudbase-rollout", flags=frozenset({"targets"}))).startswith(
        "--targets line 1 env_id: 'bad!' is not accepted")


# -- the JSON form -----------------------------------------------------------------------------------------


def test_the_json_form_is_an_array_of_objects_with_env_id() -> None:
    text = '  [{"env_id": "prod-1"}, {"env_id": "prod-2", "server_name": "api"}]'
    assert entries(text) == [Entry("prod-1", None, {}, "targets[0]"), Entry("prod-2", "api", {}, "targets[1]")]


def test_overrides_are_text_as_services_entries_take_them() -> None:
    [found] = entries(json.dumps([{
        "env_id": "prod-1", "server_name": "api", "image_tag": "v2", "flow_ratio": 10, "cpu": 0.5,
        "wait": True, "promote": False, "env_params": {"SHOP": "上海"}, "custom_logs": None}], ensure_ascii=False))
    assert found.overrides == {"image_tag": "v2", "flow_ratio": "10", "cpu": "0.5", "wait": "true",
                               "promote": "false", "env_params": '{"SHOP": "上海"}'}
    assert "env_id" not in found.overrides and "server_name" not in found.overrides, "the address is not an override"


def test_overrides_are_exactly_what_services_entries_would_give() -> None:
    item = {"server_name": "api", "flow_ratio": 10, "is_rebuild": True, "mount_volume_info": [{"name": "v"}],
            "image": "ccr.ccs.tencentyun.com/ns/a:v1"}
    [from_services] = plan.parse_services(json.dumps([item]))
    [found] = entries(json.dumps([{"env_id": "prod-1", **item}]))
    assert found.overrides == {k: v for k, v in from_services.items() if k != "server_name"}


@pytest.mark.parametrize("key", [*schemas.body_fields(), *PER_TARGET])
def test_every_body_field_and_per_target_input_is_accepted(key: str) -> None:
    _, problems = parse(json.dumps([{"env_id": "prod-1", key: "x"}]))
    assert not [p for p in problems if "is not a per-target input" in str(p)]


def test_the_per_target_inputs_are_the_per_service_ones_but_id() -> None:
    assert set(PER_TARGET) == set(plan.PER_SERVICE) - {"id"}


@pytest.mark.parametrize(("key", "named"), [("id", "id"), ("colour", "colour"), ("access_token", "access_token"),
                                            ("bad key\n", "'bad key\\n'")])
def test_an_unknown_key_names_the_entry_the_key_and_what_is_accepted(key: str, named: str) -> None:
    [problem] = problems_of(json.dumps([{"env_id": "prod-1"}, {"env_id": "prod-2", key: "x"}]))
    assert problem == (f"targets[1] {named}: is not a per-target input; accepted: env_id, the API's body fields, "
                       "image, image_tag, request_file, wait, promote")


@pytest.mark.parametrize(("item", "expected"), [
    ({"server_name": "api"}, f"targets[0] env_id: is required; expected {ENV_ACCEPTS}"),
    ({"env_id": None}, f"targets[0] env_id: is required; expected {ENV_ACCEPTS}"),
    ({"env_id": 12}, f"targets[0] env_id: holds a number; expected {ENV_ACCEPTS}"),
    ({"env_id": "prod-1\n"}, f"targets[0] env_id: 'prod-1\\n' is not accepted; expected {ENV_ACCEPTS}"),
    ({"env_id": "prod-1", "server_name": ["api"]}, "targets[0] server_name: holds an array; expected the name"),
    ({"env_id": "prod-1", "server_name": ""}, "targets[0] server_name: '' is not accepted; expected the name"),
])
def test_a_bad_address_names_the_entry(item: dict[str, object], expected: str) -> None:
    [problem] = problems_of(json.dumps([item]))
    assert problem.startswith(expected), problem


def test_a_null_server_name_is_absent() -> None:
    assert entries('[{"env_id": "prod-1", "server_name": null}]')[0].server_name is None


@pytest.mark.parametrize(("text", "start"), [
    ('[{"env_id": "prod-1"},]', "targets: is not valid JSON ("),
    ("[" * 40 + "]" * 40, "targets: is not valid JSON (nested deeper than"),
])
def test_json_that_is_not_json_names_the_input_and_the_form(text: str, start: str) -> None:
    [problem] = problems_of(text)
    assert problem.startswith(start) and "expected a JSON array of objects, each with env_id" in problem


@pytest.mark.parametrize(("text", "kind"), [('{"env_id": "prod-1"}', "an object"), ('"prod-1"', "a string")])
def test_json_that_is_not_an_array_is_refused(text: str, kind: str) -> None:
    assert problems_of(text, json_form=True) == [
        f"targets: holds {kind}; expected a JSON array of objects, each with env_id and per-target inputs, e.g. "
        '[{"env_id": "prod-1"}]']


def test_every_bad_entry_at_once_and_the_good_ones_kept() -> None:
    text = json.dumps([{"env_id": "prod-1"}, "prod-2", {"env_id": "x y", "cpuu": 1}, {"env_id": "prod-4"}, 7])
    found, problems = parse(text)
    assert [e.env_id for e in found] == ["prod-1", "prod-4"]
    assert [p.input for p in problems] == ["targets[1]", "targets[2] cpuu", "targets[2] env_id", "targets[4]"]
    assert said(problems)[0] == "targets[1]: holds a string; expected an object with env_id and per-target inputs"
    assert said(problems)[3].startswith("targets[4]: holds a number")


# -- targets_file -------------------------------------------------------------------------------------------


def test_a_lines_file_is_read_from_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "fleet").mkdir()
    (tmp_path / "fleet" / "targets.txt").write_text("# customers\nprod-1\nprod-2/api\n")
    found, problems = read_file("fleet/targets.txt", tmp_path)
    assert problems == []
    assert [(e.env_id, e.server_name, e.label) for e in found] == [
        ("prod-1", None, "targets_file line 2"), ("prod-2", "api", "targets_file line 3")]


@pytest.mark.parametrize("name", ["fleet.json", "FLEET.JSON", " fleet.json "])
def test_a_json_file_is_the_json_form(tmp_path: Path, name: str) -> None:
    (tmp_path / name.strip()).write_text('\n{"not": "an array"}')
    assert said(read_file(name, tmp_path)[1]) == [
        'targets_file: holds an object; expected a JSON array of objects, each with env_id and per-target inputs, '
        'e.g. [{"env_id": "prod-1"}]']
    (tmp_path / name.strip()).write_text('[{"env_id": "prod-1", "image_tag": "v2"}]')
    assert read_file(name, tmp_path) == ([Entry("prod-1", None, {"image_tag": "v2"}, "targets_file[0]")], [])


def test_any_other_file_is_the_lines_form_even_holding_json(tmp_path: Path) -> None:
    (tmp_path / "fleet.txt").write_text('[{"env_id": "prod-1"}]')
    [problem] = said(read_file("fleet.txt", tmp_path)[1])
    assert problem.startswith("targets_file line 1: ")


def test_an_empty_file_names_no_target(tmp_path: Path) -> None:
    (tmp_path / "fleet.txt").write_text("# to do\n")
    [problem] = said(read_file("fleet.txt", tmp_path)[1])
    assert problem.startswith("targets_file: names no target")


def test_a_missing_file_says_what_is_accepted(tmp_path: Path) -> None:
    assert said(read_file("gone.txt", tmp_path)[1]) == [
        f"targets_file: {tmp_path / 'gone.txt'} does not exist; expected {TARGETS_FILE_ACCEPTS}"]
    assert "at most 8 MiB" in TARGETS_FILE_ACCEPTS


def test_exactly_8_mib_is_accepted(tmp_path: Path) -> None:
    head = b"prod-1\nprod-2/api\n"
    (tmp_path / "fleet.txt").write_bytes(head + b"\n" * (MAX_TARGETS_FILE - len(head)))
    assert MAX_TARGETS_FILE == 8 * MIB
    found, problems = read_file("fleet.txt", tmp_path)
    assert problems == [] and len(found) == 2


def test_one_byte_over_8_mib_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fleet.txt").write_bytes(b"prod-1\n" + b"\n" * (MAX_TARGETS_FILE - 6))
    assert said(read_file("fleet.txt", tmp_path)[1]) == [
        f"targets_file: {tmp_path / 'fleet.txt'} is larger than 8 MiB; expected {TARGETS_FILE_ACCEPTS}"]


def test_a_symlink_out_of_the_workspace_is_refused(tmp_path: Path) -> None:
    workspace, outside = tmp_path / "workspace", tmp_path / "secret.txt"
    workspace.mkdir()
    outside.write_text("prod-secret\n")
    (workspace / "fleet.txt").symlink_to(outside)
    [problem] = said(read_file("fleet.txt", workspace)[1])
    assert problem.startswith(f"targets_file: {workspace / 'fleet.txt'} (a symlink to {outside}) is outside the "
                              f"workspace {os.path.realpath(workspace)}; expected {TARGETS_FILE_ACCEPTS}")
    assert "prod-secret" not in problem
    assert said(read_file("../secret.txt", workspace)[1])[0].startswith("targets_file: ")


def test_a_symlink_inside_the_workspace_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("prod-1\n")
    (tmp_path / "fleet.txt").symlink_to("real.txt")
    assert read_file("fleet.txt", tmp_path)[0] == [Entry("prod-1", None, {}, "targets_file line 1")]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fleet.txt").mkdir()
    [problem] = said(read_file("fleet.txt", tmp_path)[1])
    assert "is a directory, not a regular file" in problem and TARGETS_FILE_ACCEPTS in problem


def test_text_that_is_not_utf8_is_refused_and_a_byte_order_mark_is_not(tmp_path: Path) -> None:
    (tmp_path / "fleet.txt").write_bytes(b"prod-1\n\xff\n")
    [problem] = said(read_file("fleet.txt", tmp_path)[1])
    assert "is not UTF-8 text (byte 0xff at offset 7)" in problem and problem.startswith("targets_file: ")
    (tmp_path / "fleet.txt").write_bytes(b"\xef\xbb\xbfprod-1\n")
    assert read_file("fleet.txt", tmp_path) == ([Entry("prod-1", None, {}, "targets_file line 1")], [])


CHILD = """
import json, sys
from pathlib import Path
from cloudbase_rollout.inputs import targets
print(json.dumps([str(p) for p in targets.read_file(sys.argv[1], Path(sys.argv[2]))[1]]))
"""


def read_in_child(name: str, workspace: Path) -> list[str]:
    """read_file in a child that is killed if it blocks (a FIFO opened without O_NONBLOCK waits for a writer)."""
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, name, str(workspace)], capture_output=True, text=True,
                              timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading targets_file {name} did not finish in 30 s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    found: list[str] = json.loads(proc.stdout)
    return found


@pytest.mark.process
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fleet.txt")
    [problem] = read_in_child("fleet.txt", tmp_path)
    assert problem.startswith(f"targets_file: {tmp_path / 'fleet.txt'} is a FIFO (named pipe), not a regular file")


@pytest.mark.process
def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fleet.txt").symlink_to("/dev/zero")
    [problem] = read_in_child("fleet.txt", tmp_path)
    assert "is a character device, not a regular file" in problem and problem.startswith("targets_file: ")


def test_the_reader_is_request_files_with_its_own_limit_and_words(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 101)
    found: list[Problem] = []
    assert request_file.read_text("f", tmp_path, found, label="thing", limit=100, accepts="small things") is None
    assert said(found) == [f"thing: {tmp_path / 'f'} is larger than 100 bytes; expected small things"]
    assert request_file.read_text("f", tmp_path, [], limit=101) == "x" * 101


@pytest.mark.parametrize(("limit", "text"), [(MIB, "1 MiB"), (8 * MIB, "8 MiB"), (512 << 10, "512 KiB"),
                                             (100, "100 bytes"), (MIB + 1, f"{MIB + 1} bytes")])
def test_a_limit_is_said_as_people_say_it(limit: int, text: str) -> None:
    assert request_file.size_text(limit) == text


# -- expand: units without services ---------------------------------------------------------------------------


def test_each_entry_is_a_unit_with_its_own_server_name_else_the_steps() -> None:
    found = [entry("prod-1", label="targets line 1", image_tag="v2"), entry("prod-2", "worker", "targets line 2")]
    units, problems = expand(found, None, "api")
    assert problems == []
    assert units == [Unit("prod-1", "api", {"image_tag": "v2"}, "targets line 1", None),
                     Unit("prod-2", "worker", {}, "targets line 2", None)]


@pytest.mark.parametrize("step", [None, "", "  "])
def test_an_entry_without_a_service_names_itself_and_what_is_accepted(step: str | None) -> None:
    units, problems = expand([entry("prod-1", "api"), entry("prod-2", label="targets line 2")], None, step)
    assert [u.env_id for u in units] == ["prod-1"]
    assert said(problems) == ["targets line 2: names no service; expected ENV_ID/SERVER_NAME (lines), a server_name "
                              "key (JSON), or the step's server_name or services"]


def test_empty_services_are_no_services() -> None:
    assert expand([entry("prod-1")], [], "api") == expand([entry("prod-1")], None, "api")


def test_a_units_overrides_are_its_own_copy() -> None:
    target = entry("prod-1", "api", image_tag="v2")
    [unit] = expand([target], None, None)[0]
    unit.overrides["image_tag"] = "v3"
    assert target.overrides == {"image_tag": "v2"}


# -- expand: the cross product with services ---------------------------------------------------------------------


SERVICES = [{"id": "web", "server_name": "api", "cpu": "1", "image_tag": "v1"}, {"server_name": "worker"}]


def test_every_service_in_every_target_target_major_so_the_first_unit_is_the_canary() -> None:
    found = [entry("prod-1", label="targets line 1"), entry("prod-2", label="targets line 2", image_tag="v2")]
    units, problems = expand(found, SERVICES, "ignored")
    assert problems == []
    assert [(u.env_id, u.server_name, u.label, u.service_id) for u in units] == [
        ("prod-1", "api", "targets line 1 x services[0]", "web"),
        ("prod-1", "worker", "targets line 1 x services[1]", "worker"),
        ("prod-2", "api", "targets line 2 x services[0]", "web"),
        ("prod-2", "worker", "targets line 2 x services[1]", "worker")]
    assert units[0].overrides == {"cpu": "1", "image_tag": "v1"}, "id and the address are not overrides"
    assert units[2].overrides == {"cpu": "1", "image_tag": "v2"}, "the target's inputs win over the service's"
    assert units[3].overrides == {"image_tag": "v2"}


def test_a_target_naming_its_service_gets_just_that_one_with_its_inputs() -> None:
    units, problems = expand([entry("prod-1"), entry("prod-2", "API", "targets line 2")], SERVICES, None)
    assert problems == []
    assert [(u.env_id, u.server_name, u.service_id) for u in units] == [
        ("prod-1", "api", "web"), ("prod-1", "worker", "worker"), ("prod-2", "api", "web")]
    assert units[2].overrides == {"cpu": "1", "image_tag": "v1"}


def test_a_target_naming_a_service_that_services_does_not_list_is_a_problem() -> None:
    units, problems = expand([entry("prod-1", "cron")], SERVICES, None)
    assert units == []
    assert said(problems) == ["targets line 1 server_name: 'cron' is not a service of services; expected one of "
                              "them (api, worker), or none for every one"]


def test_a_services_entry_with_env_id_is_one_problem_however_many_targets() -> None:
    found = [entry(f"prod-{n}", label=f"targets line {n}") for n in range(1, 6)]
    units, problems = expand(found, [{"server_name": "api", "env_id": "prod-9"}], None)
    assert said(problems) == ["services[0] env_id: is not accepted with targets: the targets give the environments, "
                              "services the services rolled out in each"]
    assert [u.env_id for u in units] == [f"prod-{n}" for n in range(1, 6)]


def test_a_services_entry_without_server_name_takes_the_steps() -> None:
    units, problems = expand([entry("prod-1")], [{"image_tag": "v2"}], "api")
    assert problems == [] and [(u.server_name, u.service_id, u.overrides) for u in units] == [
        ("api", "api", {"image_tag": "v2"})]


def test_a_services_entry_without_any_server_name_is_one_problem() -> None:
    units, problems = expand([entry("prod-1"), entry("prod-2")], [{"request_file": "api.json"}], None)
    assert units == []
    assert said(problems) == ["services[0]: names no service; with targets each services entry needs a server_name "
                              "(or the step's server_name)"]


def test_services_that_repeat_a_server_name_ignoring_case_are_one_problem_naming_both() -> None:
    services = [{"server_name": "api"}, {"server_name": "worker"}, {"server_name": "API", "id": "two"}]
    units, problems = expand([entry("prod-1"), entry("prod-2")], services, None)
    assert said(problems) == ["services[2] server_name: 'API' repeats services[0] ignoring case; expected each "
                              "service once"]
    assert [u.server_name for u in units] == ["api", "worker", "api", "worker"]


def test_a_bad_service_name_is_one_problem_not_one_per_target() -> None:
    units, problems = expand([entry("prod-1"), entry("prod-2")], [{"server_name": "a b"}], None)
    assert units == []
    assert [p.input for p in problems] == ["services[0] server_name"]


# -- expand: units equal ignoring case ---------------------------------------------------------------------------


def test_a_repeated_unit_names_both_entries() -> None:
    found, _ = parse("prod-1/api\nprod-2/api\nprod-1/api")
    units, problems = expand(found, None, None)
    assert [u.label for u in units] == ["targets line 1", "targets line 2"]
    assert said(problems) == ["targets line 3: prod-1/api repeats targets line 1; expected each env_id/server_name "
                              "once (compared ignoring case)"]


def test_units_equal_ignoring_case_are_a_problem_naming_both() -> None:
    found, _ = parse('[{"env_id": "prod-1", "server_name": "api"}, {"env_id": "PROD-1", "server_name": "Api"}]')
    units, [problem] = expand(found, None, None)
    assert len(units) == 1
    assert str(problem) == ("targets[1]: PROD-1/Api is prod-1/api ignoring case, the unit of targets[0]; expected "
                            "each env_id/server_name once (compared ignoring case)")


def test_an_entry_without_a_server_name_repeats_one_with_the_steps() -> None:
    units, [problem] = expand([entry("prod-1", "api"), entry("Prod-1", label="targets line 2")], None, "API")
    assert problem.input == "targets line 2" and "targets line 1" in ACTION.compose(problem.message)
    assert [(u.env_id, u.server_name) for u in units] == [("prod-1", "api")]


def test_each_later_repeat_names_the_first() -> None:
    found, _ = parse("a\nA\na")
    _, problems = expand(found, None, "api")
    assert [(p.input, "targets line 1" in str(p)) for p in problems] == [("targets line 2", True),
                                                                         ("targets line 3", True)]


def test_repeated_targets_crossed_with_services_name_both_units() -> None:
    found, _ = parse("prod-1\nPROD-1")
    units, problems = expand(found, [{"server_name": "api"}, {"server_name": "worker"}], None)
    assert len(units) == 2
    assert [p.input for p in problems] == ["targets line 2 x services[0]", "targets line 2 x services[1]"]
    assert "targets line 1 x services[0]" in str(problems[0])


def test_every_expand_problem_at_once() -> None:
    found = [entry("prod-1", label="targets line 1"), entry("prod-1", label="targets line 2"),
             entry("prod-2", "cron", "targets line 3")]
    _, problems = expand(found, [{"server_name": "api", "env_id": "x"}], None)
    assert [p.input for p in problems] == ["services[0] env_id", "targets line 3 server_name",
                                           "targets line 2 x services[0]"]


# -- fingerprint --------------------------------------------------------------------------------------------------


def test_the_fingerprint_is_the_sorted_folded_unit_list() -> None:
    expected = hashlib.sha256(b"prod-1/web\nprod-2/api\n").hexdigest()
    assert fingerprint([("prod-2", "api"), ("prod-1", "web")]) == expected


def test_the_fingerprint_ignores_order_and_case_and_changes_with_the_fleet() -> None:
    units = [("prod-1", "web"), ("prod-2", "api")]
    assert fingerprint(list(reversed(units))) == fingerprint(units) == fingerprint([("PROD-1", "Web"), units[1]])
    assert fingerprint(units[:1]) != fingerprint(units)
    assert fingerprint([*units, ("prod-3", "api")]) != fingerprint(units)


def test_the_fingerprint_is_the_one_shards_and_report_use() -> None:
    found, _ = parse("prod-1/api\nprod-2/web\nprod-3/api")
    units, _ = expand(found, None, None)
    assert fingerprint([(u.env_id, u.server_name) for u in units]) == shard.fingerprint(units)
