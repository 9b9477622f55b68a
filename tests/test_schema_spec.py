"""schema/ against the API document: exactly the spec's fields, types and error codes; shipped in the wheel."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from cloudbase_rollout.errors import ROLL_UPDATE_ERRORS
from cloudbase_rollout.vocabulary import _compiled, schemas

ROOT = Path(__file__).resolve().parents[1]
SPEC_NAME = "updateCloudbaseServiceVersion.zh.md"
#: Where the API document may be: named explicitly, vendored in the repository, or beside it (../shared/spec).
SPEC_PLACES = [
    *([Path(os.environ["CLOUDBASE_ROLLOUT_SPEC"])] if os.environ.get("CLOUDBASE_ROLLOUT_SPEC") else []),
    ROOT / "docs" / "spec" / SPEC_NAME,
    ROOT / "spec" / SPEC_NAME,
    ROOT.parent / "shared" / "spec" / SPEC_NAME,
]
SPEC = next((p for p in SPEC_PLACES if p.is_file()), SPEC_PLACES[-1])
TOP = "请求参数"
RESPONSE = "返回的 JSON 数据包"
TYPES = {"string": "string", "number": "integer", "bool": "boolean"}


@dataclass(frozen=True)
class Row:
    name: str
    type: str
    description: str


@dataclass
class Spec:
    tables: dict[str, list[Row]]
    errors: dict[int, str]  # code -> "errmsg remedy" as written


def parse_spec(text: str) -> Spec:
    """The document's tables: a header line, then one row per line until a blank line or a heading.

    A table is named by the nearest line before it: `# 请求参数`, `X 的结构` or `返回的 JSON 数据包`.
    """
    tables: dict[str, list[Row]] = {}
    errors: dict[int, str] = {}
    title = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            title = line.lstrip("# ").strip()
        elif line.endswith(" 的结构") or line == RESPONSE:
            title = line.removesuffix(" 的结构")
        elif line.startswith("属性 类型"):
            rows = []
            i += 1
            while i < len(lines) and lines[i].strip() and not lines[i].startswith("#"):
                name, kind, *rest = lines[i].split(maxsplit=2)
                rows.append(Row(name, kind, rest[0].strip() if rest else ""))
                i += 1
            assert title not in tables, f"two tables named {title}"
            tables[title] = rows
            continue
        elif line.startswith("错误码 错误码取值"):
            i += 1
            while i < len(lines) and lines[i].strip() and not lines[i].startswith("#"):
                code, written = lines[i].strip().split(maxsplit=1)
                errors[int(code)] = written
                i += 1
            continue
        i += 1
    return Spec(tables, errors)


@pytest.fixture(scope="module")
def spec() -> Spec:
    if not SPEC.is_file():
        pytest.fail(f"the API document is in none of {[str(p) for p in SPEC_PLACES]} (set CLOUDBASE_ROLLOUT_SPEC)")
    parsed = parse_spec(SPEC.read_text(encoding="utf-8"))
    assert TOP in parsed.tables and RESPONSE in parsed.tables, sorted(parsed.tables)
    return parsed


def struct_tables(spec: Spec) -> dict[str, list[Row]]:
    return {name: rows for name, rows in spec.tables.items() if name not in (TOP, RESPONSE)}


def test_the_parser_sees_every_table_of_the_document(spec: Spec) -> None:
    assert set(struct_tables(spec)) == {
        "CloudBaseRunImageInfo", "CloudBaseCodeRepoDetail", "CloudBaseCodeRepoName", "CloudBaseRunVolumeMount",
        "CloudBaseRunNfsVolumeSource", "HpaPolicy"}
    assert len(spec.tables[TOP]) == 34
    assert len(spec.errors) == 12


def _json_type(node: dict[str, Any]) -> str:
    """The schema type of a node; an enum without `type` takes the type of its values."""
    if "type" in node:
        return str(node["type"])
    values = node.get("enum", [node["const"]] if "const" in node else None)
    assert values, f"no type in {node}"
    kinds = {type(v) for v in values}
    assert kinds == {str}, f"enum of {kinds}"
    return "string"


def _check_field(row: Row, node: dict[str, Any], where: str, seen: set[str]) -> None:
    array = re.fullmatch(r"Array\.<(\w+)>", row.type)
    if array:
        assert _json_type(node) == "array", f"{where}: spec says {row.type}"
        item = node["items"]
        assert item.get("$ref") == f"#/$defs/{array[1]}", f"{where}: items must be {array[1]}"
        seen.add(array[1])
    elif row.type in TYPES:
        assert "$ref" not in node, where
        assert _json_type(node) == TYPES[row.type], f"{where}: spec says {row.type}"
    else:
        assert node.get("$ref") == f"#/$defs/{row.type}", f"{where}: spec says {row.type}"
        seen.add(row.type)


def test_request_schema_names_exactly_the_body_fields_of_the_spec(spec: Spec) -> None:
    rows = [r for r in spec.tables[TOP] if r.name != "access_token"]
    assert [r.name for r in rows] == list(schemas.request_schema()["properties"]), "same fields, same order"


def test_access_token_is_a_query_parameter_not_a_body_field(spec: Spec) -> None:
    assert "access_token" in [r.name for r in spec.tables[TOP]]
    assert "access_token" not in schemas.request_schema()["properties"]


def test_top_level_types_match_the_spec(spec: Spec) -> None:
    properties = schemas.request_schema()["properties"]
    seen: set[str] = set()
    for row in spec.tables[TOP]:
        if row.name != "access_token":
            _check_field(row, properties[row.name], row.name, seen)
    assert seen == {"CloudBaseRunImageInfo", "CloudBaseCodeRepoDetail", "CloudBaseRunVolumeMount", "HpaPolicy"}


def test_every_nested_structure_has_exactly_the_spec_fields_and_types(spec: Spec) -> None:
    defs = schemas.request_schema()["$defs"]
    structs = struct_tables(spec)
    assert set(defs) == set(structs), "one $defs entry per structure of the spec, and no other"
    seen: set[str] = set()
    for name, rows in structs.items():
        node = defs[name]
        assert node["type"] == "object", name
        assert node["additionalProperties"] is False, f"{name}: unknown fields must be refused"
        assert [r.name for r in rows] == list(node["properties"]), name
        for row in rows:
            _check_field(row, node["properties"][row.name], f"{name}.{row.name}", seen)
    assert seen == {"CloudBaseCodeRepoName", "CloudBaseRunNfsVolumeSource"}


def test_schema_types_are_the_ones_the_builder_uses(spec: Spec) -> None:
    for row in spec.tables[TOP]:
        if row.type in TYPES and row.name != "access_token":
            assert schemas.field_kind(row.name) == TYPES[row.type], row.name


def test_descriptions_are_the_specs_wording(spec: Spec) -> None:
    properties = schemas.request_schema()["properties"]
    for row in spec.tables[TOP]:
        node = properties.get(row.name, {})
        if row.name != "access_token" and "$ref" not in node:
            assert node["description"] == row.description, row.name
    for name, rows in struct_tables(spec).items():
        for row in rows:
            node = schemas.request_schema()["$defs"][name]["properties"][row.name]
            if "$ref" not in node:
                assert node["description"] == row.description, f"{name}.{row.name}"


@pytest.mark.parametrize("name", ["upload_type", "repository_type"])
def test_enums_are_the_ones_the_spec_lists(spec: Spec, name: str) -> None:
    [row] = [r for r in spec.tables[TOP] if r.name == name]
    listed = re.search(r"\(([a-z/]+)\)", row.description)
    assert listed, row.description
    assert schemas.request_schema()["properties"][name]["enum"] == listed[1].split("/")


def test_required_fields_and_no_unknown_fields() -> None:
    schema = schemas.request_schema()
    assert set(schema["required"]) == {"env_id", "version_name", "server_name"}
    assert schema["additionalProperties"] is False


def test_ranges_from_facts() -> None:
    props = schemas.request_schema()["properties"]
    assert (props["flow_ratio"]["minimum"], props["flow_ratio"]["maximum"]) == (0, 100)
    assert (props["container_port"]["minimum"], props["container_port"]["maximum"]) == (1, 65535)
    assert props["initial_delay_seconds"]["minimum"] == 0
    assert props["policy_type"]["enum"] == ["cpu", "mem"]
    hpa = schemas.request_schema()["$defs"]["HpaPolicy"]["properties"]
    assert hpa["policy_type"]["enum"] == ["cpu", "mem"]
    for name in ("min_num", "max_num"):
        replicas = Draft202012Validator(props[name])
        assert replicas.is_valid("50") and replicas.is_valid("0"), name
        assert not replicas.is_valid("51") and not replicas.is_valid("-1") and not replicas.is_valid(50), name


def test_the_spec_example_body_is_valid(spec: Spec) -> None:
    text = SPEC.read_text(encoding="utf-8")
    example = json.loads(text.split("# 请求数据示例", 1)[1].split("# 返回数据示例", 1)[0])
    errors = list(Draft202012Validator(schemas.request_schema()).iter_errors(example))
    assert errors == [], [e.message for e in errors]
    reply = json.loads(text.split("# 返回数据示例", 1)[1].split("# 错误码", 1)[0])
    assert list(Draft202012Validator(schemas.response_schema()).iter_errors(reply)) == []


@pytest.mark.parametrize("name", [schemas.REQUEST, schemas.RESPONSE])
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    schema = schemas.load(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


# -- the response ---------------------------------------------------------------------------------


def test_response_schema_names_exactly_the_spec_fields(spec: Spec) -> None:
    rows = spec.tables[RESPONSE]
    assert [r.name for r in rows] == ["errcode", "errmsg", "result", "run_id"]
    properties = schemas.response_schema()["properties"]
    assert list(properties) == [r.name for r in rows]
    for row in rows:
        assert _json_type(properties[row.name]) == TYPES[row.type], row.name


def test_response_schema_requires_run_id_and_result_on_success() -> None:
    validator = Draft202012Validator(schemas.response_schema())
    assert validator.is_valid({"errcode": 0, "errmsg": "ok", "result": "succ", "run_id": "1mz9GjJgyY53bh"})
    assert validator.is_valid({"errcode": 40097, "errmsg": "invalid args"})
    assert not validator.is_valid({"errcode": 0, "errmsg": "ok"})
    assert not validator.is_valid({"errcode": "0", "result": "succ", "run_id": "x"})


# -- the error table --------------------------------------------------------------------------------


def test_every_spec_error_code_is_in_the_table_with_its_errmsg_and_remedy(spec: Spec) -> None:
    assert set(spec.errors) == set(ROLL_UPDATE_ERRORS)
    for code, written in spec.errors.items():
        known = ROLL_UPDATE_ERRORS[code]
        assert written == f"{known.errmsg} {known.remedy_zh}", code


def test_every_error_code_has_an_english_hint() -> None:
    for code, known in ROLL_UPDATE_ERRORS.items():
        assert known.hint.strip(), code


# -- the schemas ship in the package -----------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--disable-pip-version-check", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    [built] = out.glob("cloudbase_rollout-*.whl")
    return built


def test_the_wheel_ships_both_schemas_unchanged(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in (schemas.REQUEST, schemas.RESPONSE):
            member = f"cloudbase_rollout/schema/{name}"
            assert member in names, sorted(names)
            assert archive.read(member) == (ROOT / "schema" / name).read_bytes()


def test_the_installed_package_reads_its_own_schemas(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path)
    code = ("import cloudbase_rollout.vocabulary.schemas as s, json; "
            "print(json.dumps([s.__file__, str(s.schema_dir()), len(s.body_fields())]))")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=True)
    module, schema_dir, count = json.loads(proc.stdout)
    assert Path(module).is_relative_to(tmp_path), "imported from the unpacked wheel"
    assert Path(schema_dir) == tmp_path / "cloudbase_rollout" / "schema"
    assert count == len(schemas.body_fields())


# -- the neighbouring endpoints (docs/spec/NEIGHBOURS.md sections 1-3) -------------------------------

NEIGHBOURS = ROOT / "docs" / "spec" / "NEIGHBOURS.md"
#: Section number of NEIGHBOURS.md -> the schema/ prefix of its endpoint.
ENDPOINTS = {1: "release", 2: "versionlist", 3: "versiondetail"}
DRAFT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool


@dataclass(frozen=True)
class Section:
    fields: list[Field]
    text: str


def parse_neighbours(text: str) -> dict[int, Section]:
    """`## N. title` sections; in each, the rows of its markdown table (header and --- rule skipped)."""
    sections: dict[int, Section] = {}
    for chunk in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        number = re.match(r"(\d+)\.", chunk)
        if not number:
            continue
        rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
                for line in chunk.splitlines() if line.startswith("|")]
        fields = [Field(name, kind, required.startswith("yes")) for name, kind, required, _ in rows[2:]]
        sections[int(number[1])] = Section(fields, chunk)
    return sections


def backticked(section: Section, start: str, stop: str) -> list[str]:
    """The `names` written between two phrases of a section (a trailing [] dropped)."""
    text = section.text.split(start, 1)[1].split(stop, 1)[0]
    return [name.removesuffix("[]") for name in re.findall(r"`([^`]+)`", text)]


def neighbour_schema(name: str) -> dict[str, Any]:
    return schemas.load(f"{name}.schema.json")


@pytest.fixture(scope="module")
def neighbours() -> dict[int, Section]:
    return parse_neighbours(NEIGHBOURS.read_text(encoding="utf-8"))


def test_the_parser_sees_the_three_body_tables(neighbours: dict[int, Section]) -> None:
    assert [len(neighbours[n].fields) for n in ENDPOINTS] == [3, 4, 3]
    assert all(f.type in TYPES for n in ENDPOINTS for f in neighbours[n].fields)


@pytest.mark.parametrize(("section", "name"), ENDPOINTS.items())
def test_request_schema_has_exactly_the_documented_body_fields(
        neighbours: dict[int, Section], section: int, name: str) -> None:
    schema = neighbour_schema(f"{name}.request")
    fields = neighbours[section].fields
    assert list(schema["properties"]) == [f.name for f in fields], "same fields, same order"
    assert sorted(schema["required"]) == sorted(f.name for f in fields if f.required)
    assert schema["additionalProperties"] is False
    for f in fields:
        assert _json_type(schema["properties"][f.name]) == TYPES[f.type], f.name


def test_release_reply_knows_result_and_release_order_id(neighbours: dict[int, Section]) -> None:
    documented = backticked(neighbours[1], "Reply:", "Example reply")
    assert {"result", "release_order_id"} <= set(documented)
    properties = neighbour_schema("release.reply")["properties"]
    assert properties["result"]["type"] == "string"
    assert properties["release_order_id"]["type"] in ("number", "integer")


def test_versionlist_reply_knows_total_and_every_item_field(neighbours: dict[int, Section]) -> None:
    assert {"total", "items"} <= set(backticked(neighbours[2], "Reply:", "each"))
    item_fields = backticked(neighbours[2], "each", "Times are")
    assert {"version_name", "status", "created_time", "flow_ratio", "updated_time"} <= set(item_fields)
    properties = neighbour_schema("versionlist.reply")["properties"]
    assert properties["total"]["type"] == "integer"
    assert properties["items"]["type"] == "array"
    item = properties["items"]["items"]
    assert set(item_fields) <= set(item["properties"]), set(item_fields) - set(item["properties"])
    assert item["required"] == ["version_name"]


def test_versiondetail_reply_knows_every_documented_field(neighbours: dict[int, Section]) -> None:
    documented = backticked(neighbours[3], "Reply fields:", "Example status")
    assert documented[:3] == ["status", "created_time", "updated_time"]
    assert len(documented) == 24
    properties = neighbour_schema("versiondetail.reply")["properties"]
    assert set(documented) <= set(properties), set(documented) - set(properties)


def test_the_documented_example_reply_validates(neighbours: dict[int, Section]) -> None:
    [example] = re.findall(r"Example reply: `(\{.*?\})`", neighbours[1].text)
    reply = json.loads(example)
    assert reply == {"errcode": 0, "errmsg": "ok", "result": "success", "release_order_id": 26182}
    assert list(Draft202012Validator(neighbour_schema("release.reply")).iter_errors(reply)) == []
    assert _compiled.is_valid("release.reply", reply)


@pytest.mark.parametrize("name", ENDPOINTS.values())
@pytest.mark.parametrize("reply", [{"errcode": 40014}, {"errcode": 45009, "errmsg": "reach max api daily quota limit"},
                                   {"errcode": 85088, "errmsg": "no qbase privilege", "extra": [1, {"x": None}]}])
def test_an_error_reply_needs_only_its_errcode(name: str, reply: dict[str, Any]) -> None:
    assert Draft202012Validator(neighbour_schema(f"{name}.reply")).is_valid(reply)
    assert _compiled.is_valid(f"{name}.reply", reply)


@pytest.mark.parametrize(("name", "needed", "reply"), [
    ("release", "result", {"errcode": 0, "errmsg": "ok", "release_order_id": 26182}),
    ("versionlist", "items", {"errcode": 0, "errmsg": "ok", "total": 0}),
    ("versiondetail", "status", {"errcode": 0, "errmsg": "ok", "created_time": "2020-12-08 20:56:10"}),
])
def test_a_success_reply_without_its_answer_is_refused(name: str, needed: str, reply: dict[str, Any]) -> None:
    [error] = Draft202012Validator(neighbour_schema(f"{name}.reply")).iter_errors(reply)
    assert needed in error.message
    assert not _compiled.is_valid(f"{name}.reply", reply)
    assert _compiled.is_valid(f"{name}.reply", {**reply, "errcode": 40097})


@pytest.mark.parametrize("text", ["api-007\n::warning::pwned", "a b", "<b>x</b>", "a" * 129, "版本", ""])
def test_version_names_from_a_reply_are_plain_and_bounded(text: str) -> None:
    """version_name goes to outputs and summaries as it is; NEIGHBOURS.md and FACTS.md show only names
    like ss-006 and api-007, so the guessed ^[A-Za-z0-9_.-]+$ up to 128 stays."""
    reply = {"errcode": 0, "total": 1, "items": [{"version_name": text, "status": "normal"}]}
    assert not Draft202012Validator(neighbour_schema("versionlist.reply")).is_valid(reply)
    assert Draft202012Validator(neighbour_schema("versionlist.reply")).is_valid(
        {**reply, "items": [{"version_name": "ss-006", "status": "normal"}]})


def test_release_needs_a_concrete_version_not_latest() -> None:
    validator = Draft202012Validator(neighbour_schema("release.request"))
    body = {"env_id": "prod-1", "server_name": "api", "release_version": "ss-006"}
    assert validator.is_valid(body)
    assert not validator.is_valid({**body, "release_version": "latest"})


@pytest.mark.parametrize("path", sorted((ROOT / "schema").glob("*.schema.json")), ids=lambda p: p.name)
def test_every_schema_file_is_draft_2020_12_with_its_own_id(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == DRAFT
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("/" + path.name), schema["$id"]


def test_every_schema_has_its_own_id() -> None:
    ids = [json.loads(p.read_text(encoding="utf-8"))["$id"] for p in (ROOT / "schema").glob("*.schema.json")]
    assert len(ids) == len(set(ids)) >= 8
