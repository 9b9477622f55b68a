"""The compiled fast path (src/cloudbase_rollout/vocabulary/_compiled.py) against jsonschema, the reference.

(a) the generated module is not stale relative to schema/ (and the check notices a change);
(b) for every schema in schema/ (the roll-update's and the neighbouring endpoints'), on hand-written
    edge cases, systematic variations (each field removed, retyped, lengthened; unknown fields added)
    and seeded random mutations of valid bodies and replies, `_compiled.is_valid` answers exactly what
    Draft202012Validator.is_valid answers;
(c) a successful rollout imports no validator library at all.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from cloudbase_rollout.vocabulary import _compiled, schemas
from tests.conftest import good_inputs
from tests.runner import ENTRYPOINT, ROOT, base_env

GENERATOR = ROOT / "scripts" / "gen_validator.py"
SEED = 20261126

# -- (a) staleness -----------------------------------------------------------


def test_generated_module_is_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, (
        "src/cloudbase_rollout/vocabulary/_compiled.py is stale relative to schema/: "
        "run `python scripts/gen_validator.py` and commit the result\n" + proc.stderr
    )


def test_check_fails_when_a_schema_changes(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "schema", tmp_path / "schema")
    request = tmp_path / "schema" / "request.schema.json"
    doc = json.loads(request.read_text(encoding="utf-8"))
    doc["properties"]["env_id"]["maxLength"] = 64
    request.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(GENERATOR), "--check", "--schema-dir", str(tmp_path / "schema")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "stale" in proc.stderr


def test_generator_refuses_keywords_it_does_not_implement(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "schema", tmp_path / "schema")
    request = tmp_path / "schema" / "request.schema.json"
    doc = json.loads(request.read_text(encoding="utf-8"))
    doc["properties"]["env_id"]["unevaluatedProperties"] = False
    request.write_text(json.dumps(doc), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(GENERATOR), "--check", "--schema-dir", str(tmp_path / "schema"),
                           "--output", str(tmp_path / "out.py")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unevaluatedProperties" in proc.stderr


def test_generated_module_is_standalone() -> None:
    """No validator library may be needed to import or run it."""
    code = (
        "import sys\n"
        "for name in ('jsonschema', 'fastjsonschema', 'referencing'):\n"
        "    sys.modules[name] = None\n"
        "from cloudbase_rollout.vocabulary import _compiled\n"
        "assert _compiled.is_valid('request', {'env_id': 'e', 'version_name': 'latest', 'server_name': 's'})\n"
        "assert not _compiled.is_valid('request', {})\n"
        "assert _compiled.is_valid('release.reply', {'errcode': 0, 'result': 'success'})\n"
        "assert not _compiled.is_valid('versionlist.reply', {'errcode': 0})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_schema_is_compiled_under_its_file_name() -> None:
    """which is the file name without .schema.json, and each which runs its own document's root."""
    assert set(_compiled.VALIDATORS) == set(WHICH)
    for which, validator in _compiled.VALIDATORS.items():
        assert validator.__name__ == "_" + which.replace(".", "_"), which


# -- (b) agreement with jsonschema ---------------------------------------------

WHICH = sorted(p.name.removesuffix(".schema.json") for p in (ROOT / "schema").glob("*.schema.json"))

IMAGE_FULL: dict[str, Any] = {
    "env_id": "prod-6gxk23no5605e14f",
    "version_name": "latest",
    "upload_type": "image",
    "flow_ratio": 100,
    "cpu": "0.25",
    "mem": "0.5",
    "min_num": "0",
    "max_num": "50",
    "policy_type": "cpu",
    "policy_threshold": "60",
    "env_params": '{"LOG_LEVEL":"info","GREETING":"hello, world"}',
    "container_port": 80,
    "server_name": "api",
    "version_remark": "octo/shop@1a2b3c4 run https://github.com/octo/shop/actions/runs/1",
    "image_info": {
        "repository_name": "ns/shop-api",
        "is_public": False,
        "tag_name": "v1",
        "server_addr": "ccr.ccs.tencentyun.com",
        "image_url": "ccr.ccs.tencentyun.com/ns/shop-api:v1",
    },
    "is_rebuild": False,
    "initial_delay_seconds": 2,
    "mount_volume_info": [
        {
            "name": "data",
            "mount_path": "/data",
            "read_only": True,
            "nfs_volumes": [
                {"server": "10.0.0.8", "path": "/exports/data", "read_only": True,
                 "secret_name": "nfs", "enable_empty_dir_volume": False},
            ],
        },
    ],
    "rollback": False,
    "snapshot_name": "snap-1",
    "custom_logs": "stdout",
    "enable_union": True,
    "server_path": "/api",
    "is_update_cls": False,
    "policy_detail": [{"policy_type": "cpu", "policy_threshold": 60}, {"policy_type": "mem", "policy_threshold": 999}],
}
REPOSITORY: dict[str, Any] = {
    "env_id": "test-1", "version_name": "v2.0", "server_name": "web", "upload_type": "repository",
    "repository_type": "github", "repository": "https://github.com/octo/web", "branch": "main",
    "dockerfile_path": "Dockerfile", "build_dir": ".",
    "code_detail": {"name": {"name": "web", "full_name": "octo/web"}, "url": "https://github.com/octo/web"},
}
PACKAGE: dict[str, Any] = {
    "env_id": "e_1", "version_name": "latest", "server_name": "fn", "upload_type": "package",
    "package_name": "fn.zip", "package_version": "3",
}
MINIMAL: dict[str, Any] = {"env_id": "e", "version_name": "latest", "server_name": "s"}
IMAGE_MINIMAL: dict[str, Any] = {**MINIMAL, "upload_type": "image", "image_info": {"image_url": "nginx"}}
SEEDS = [IMAGE_FULL, REPOSITORY, PACKAGE, MINIMAL, IMAGE_MINIMAL]

REPLY_OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "result": "succ", "run_id": "1mz9GjJgyY53bh"}
REPLY_SEEDS: list[dict[str, Any]] = [
    REPLY_OK,
    {"errcode": 40014, "errmsg": "invalid access_token"},
    {"errcode": -1, "errmsg": "system error"},
    {"errcode": 0, "result": "succ", "run_id": "a"},
    {"errcode": 85088, "errmsg": "no qbase privilege", "extra": [1, {"x": None}]},
]

# The neighbouring endpoints (docs/spec/NEIGHBOURS.md): valid bodies and replies, varied below.
RELEASE: dict[str, Any] = {"env_id": "prod-6gxk23no5605e14f", "server_name": "api", "release_version": "ss-006"}
RELEASE_OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "result": "success", "release_order_id": 26182}
LIST: dict[str, Any] = {"env": "prod-6gxk23no5605e14f", "service_name": "api", "limit": 20, "offset": 0}
ITEM: dict[str, Any] = {
    "version_name": "api-007", "status": "normal", "created_time": "2020-12-08 20:56:10",
    "updated_time": "2020-12-08 21:00:00", "flow_ratio": 100, "buildid": 12, "upload_type": "image",
    "min_replicas": 0, "max_replicas": 5, "run_id": "1mz9GjJgyY53bh",
}
LIST_OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "total": 2, "items": [
    ITEM, {"version_name": "api-006", "status": "build_fail", "flow_ratio": 0}]}
DETAIL: dict[str, Any] = {"env": "prod-6gxk23no5605e14f", "service_name": "api", "version_name": "api-007"}
DETAIL_OK: dict[str, Any] = {
    "errcode": 0, "errmsg": "ok", "status": "normal", "created_time": "2020-12-08 20:56:10",
    "updated_time": "2020-12-08 21:00:00", "remark": "octo/shop@1a2b3c4", "image_url": "ccr.ccs.tencentyun.com/ns/a:v1",
    "upload_type": "image", "cpu": 0.25, "mem": "0.5", "minnum": 0, "maxnum": 5, "policy_type": "cpu",
    "policy_threshold": 60, "env_params": "{}", "version_ip": "10.0.0.1", "version_port": 80, "container_port": 80,
    "dockerfile_path": "Dockerfile", "build_dir": ".", "package_name": "", "package_version": "", "repo_type": "",
    "repo": "", "branch": "", "custom_logs": "stdout",
}
ERROR_REPLIES: list[dict[str, Any]] = [{"errcode": 40014, "errmsg": "invalid access_token"}, {"errcode": 45011}]
NEIGHBOUR_SEEDS: dict[str, list[dict[str, Any]]] = {
    "release.request": [RELEASE, {**RELEASE, "release_version": "v1.2_3"}],
    "release.reply": [RELEASE_OK, {"errcode": 0, "result": "failed"}, *ERROR_REPLIES],
    "versionlist.request": [LIST, {"env": "e", "service_name": "s"}],
    "versionlist.reply": [LIST_OK, {"errcode": 0, "total": 0, "items": []}, *ERROR_REPLIES],
    "versiondetail.request": [DETAIL],
    "versiondetail.reply": [DETAIL_OK, {"errcode": 0, "status": "deploying"}, *ERROR_REPLIES],
}
OPTIONS: dict[str, Any] = {"command": "release", "wait": True, "wait_timeout_seconds": 900, "wait_interval_seconds": 5,
                           "promote": False, "timeout_seconds": 2.5, "max_attempts": 3, "dry_run": False,
                           "api_base_url": "https://api.weixin.qq.com", "image": "ccr.ccs.tencentyun.com/a/b:1"}
NEIGHBOUR_SEEDS["options"] = [OPTIONS, {"command": "status", "wait_interval_seconds": 300}, {}]
# Finding a fleet (docs/spec/FLEET.md): the environment list and the environments shared with appids.
ENV_ITEM: dict[str, Any] = {
    "env_id": "shop-1-6gxk23no", "source": "miniapp", "alias": "shop-1", "create_time": "2024-01-01 10:00:00",
    "update_time": "2024-02-01 10:00:00", "status": "NORMAL", "databases": [{"instance_id": "db", "region": "r"}],
    "storages": [{"region": "r", "bucket": "b", "cdn_domain": "c", "app_id": "1"}], "PackageId": "x",
}
ENVS_OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "env_list": [ENV_ITEM, {"env_id": "qc-2", "status": "X"}]}
BATCH: dict[str, Any] = {"appids": ["wx0123456789abcdef", "wx1"], "source_type": 1}
BATCH_OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok",
                            "relation_data": [{"appid": "wx1", "env_list": ["e-1", "e-2"]}],
                            "err_list": [{"appid": "wx2", "errmsg": "not authorized"}]}
NEIGHBOUR_SEEDS.update({
    "cloudrunenvs.request": [{}],
    "cloudrunenvs.reply": [ENVS_OK, {"errcode": 0, "env_list": []}, *ERROR_REPLIES],
    "batchgetenvid.request": [BATCH, {"appids": [], "source_type": 1}],
    "batchgetenvid.reply": [BATCH_OK, {"errcode": 0, "relation_data": []}, {"errcode": 0, "err_list": [{"appid": "a"}]},
                            *ERROR_REPLIES],
})
# The results file (schema/results.schema.json): what every step writes and command report merges.
RESULT_UNIT: dict[str, Any] = {
    "id": "prod-1/api", "env_id": "prod-1", "server_name": "api", "wave": 1, "state": "failed", "run_id": None,
    "version_name": "api-007", "status": "build_fail", "promoted": False, "release_order_id": None,
    "waited_seconds": 12, "changes": [{"field": "image_url", "current": "a:v1", "wanted": "a:v2"}],
    "error": {"errcode": 40097, "errmsg": "invalid args", "may_have_started": False, "reason": "settled build_fail"},
}
RESULTS: dict[str, Any] = {
    "format": "cloudbase-rollout/results", "version": 1, "tool_version": "1.1.0", "command": "rollout",
    "dry_run": False, "complete": True, "fleet": {"units": 2, "fingerprint": "0" * 64, "max_failures": "5%"},
    "shard": {"index": 1, "count": 2}, "waves": [1, 1],
    "units": [RESULT_UNIT, {**RESULT_UNIT, "env_id": "prod-2", "state": "succeeded", "run_id": "r-1",
                            "promoted": True, "release_order_id": 26182, "error": None, "changes": None}],
    "totals": {"units": 2, "succeeded": 1, "current": 0, "failed": 1, "skipped": 0, "started": 0, "planned": 0},
    "budget_exceeded": False, "stopped": None,
}
NEIGHBOUR_SEEDS["results"] = [RESULTS, {**RESULTS, "units": [], "stopped": "budget", "command": "report"}]
#: Schemas that hold exactly one instance valid (the body `{}`): no corpus can find ten valid ones.
ONLY_EMPTY = {"cloudrunenvs.request"}
ALL_SEEDS: dict[str, list[dict[str, Any]]] = {"request": SEEDS, "response": REPLY_SEEDS, **NEIGHBOUR_SEEDS}


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of base with the value at a dotted path (ints index lists) set, or removed for DELETE."""
    out = copy.deepcopy(base)
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = out
    for part in parts[:-1]:
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return out


DELETE = object()


def each(*values: Any) -> tuple[Any, ...]:
    """The values to try at one place (typed Any: they are of every JSON type on purpose)."""
    return values

NAN, INF = float("nan"), float("inf")

# (which, instance): each chosen to sit on an edge of one keyword.
EDGE_CASES: list[tuple[str, Any]] = [
    # not an object at all
    *(("request", v) for v in each(None, [], "env", 1, True, [MINIMAL])),
    ("request", {}),
    # required fields
    *(("request", with_(MINIMAL, name, DELETE)) for name in ("env_id", "version_name", "server_name")),
    # integers: bool is not an integer, 5.0 is; bounds are inclusive
    *(("request", with_(IMAGE_MINIMAL, "flow_ratio", v))
      for v in each(0, 100, -1, 101, True, False, 50.0, 50.5, "50", None, 1e2, NAN, INF, -0.0, 10**30)),
    *(("request", with_(IMAGE_MINIMAL, "container_port", v)) for v in each(1, 65535, 0, 65536, 80.0, True, "80")),
    *(("request", with_(IMAGE_MINIMAL, "initial_delay_seconds", v)) for v in each(0, -1, 3600, 0.0, -0.5, False)),
    # booleans: 1 and "true" are not booleans
    *(("request", with_(IMAGE_MINIMAL, "is_rebuild", v)) for v in each(True, False, 1, 0, "true", None)),
    *(("request", with_(IMAGE_MINIMAL, "image_info.is_public", v)) for v in each(True, 1, "false")),
    # lengths count code points
    *(("request", with_(MINIMAL, "env_id", v)) for v in each("", "a" * 128, "a" * 129, "bad id", "中文")),
    *(("request", with_(MINIMAL, "version_remark", v)) for v in each("😀" * 1024, "😀" * 1025, "", "line\nline")),
    *(("request", with_(MINIMAL, "env_params", v)) for v in each("{}", "x", "not json at all", "", 5)),
    # patterns: Python's `$` also matches before one final newline, as in jsonschema
    *(("request", with_(MINIMAL, "env_id", v)) for v in each("prod\n", "prod\n\n", "\nprod", "prod\r", "prod ")),
    *(("request", with_(IMAGE_MINIMAL, "cpu", v))
      for v in each("0.25", "0", "16", "99.99", "0.255", "1.", ".5", "100", "-1", "0.5\n", "01", 0.5)),
    *(("request", with_(IMAGE_MINIMAL, "min_num", v)) for v in each("0", "9", "10", "49", "50", "51", "07", "5 ", 5)),
    *(("request", {**IMAGE_MINIMAL, "policy_type": "cpu", "policy_threshold": v})
      for v in each("1", "999", "0", "1000", "60\n", "6O", 60)),
    *(("request", with_(IMAGE_MINIMAL, "image_info.tag_name", v))
      for v in each("v1", "_x", ".v1", "-v1", "a" * 128, "a" * 129, "v 1", "")),
    *(("request", with_(IMAGE_MINIMAL, "image_info.image_url", v))
      for v in each("a", "a b", "a\u00a0b", "a\tb", "", "x" * 1024, "x" * 1025, "host/app:v1\n")),
    *(("request", with_(IMAGE_FULL, "mount_volume_info.0.mount_path", v)) for v in each("/", "data", "", "//x")),
    # enums and the if/then rules of upload_type and policy_type
    *(("request", with_(IMAGE_MINIMAL, "upload_type", v)) for v in each("docker", "IMAGE", 1, None, ["image"])),
    ("request", with_(IMAGE_MINIMAL, "image_info", DELETE)),
    ("request", with_(IMAGE_MINIMAL, "image_info", {})),
    ("request", with_(IMAGE_MINIMAL, "image_info", {"repository_name": "ns/app"})),
    ("request", with_(IMAGE_MINIMAL, "upload_type", "package")),
    ("request", with_(IMAGE_MINIMAL, "upload_type", DELETE)),
    *(("request", with_(REPOSITORY, name, DELETE)) for name in ("repository_type", "repository", "branch")),
    ("request", with_(REPOSITORY, "repository_type", "bitbucket")),
    *(("request", with_(PACKAGE, name, DELETE)) for name in ("package_name", "package_version")),
    ("request", {**MINIMAL, "policy_type": "cpu"}),
    ("request", {**MINIMAL, "policy_threshold": "60"}),
    ("request", {**MINIMAL, "policy_type": "disk", "policy_threshold": "60"}),
    # unknown fields, at the top and nested
    ("request", {**MINIMAL, "access_token": "x"}),
    ("request", {**MINIMAL, "": 1}),
    ("request", with_(IMAGE_MINIMAL, "image_info.digest", "sha256:00")),
    ("request", with_(REPOSITORY, "code_detail.name.owner", "octo")),
    ("request", with_(IMAGE_FULL, "mount_volume_info.0.nfs_volumes.0.bogus", True)),
    # nested structures: wrong container types, empty arrays, array items
    *(("request", with_(IMAGE_FULL, "mount_volume_info", v))
      for v in each([], {}, [{}], [None], [[]], "[]", [{"name": ""}], [{"nfs_volumes": []}], [{"nfs_volumes": {}}])),
    *(("request", with_(IMAGE_FULL, "policy_detail", v))
      for v in each([], [{}], [{"policy_type": "cpu"}], [{"policy_type": "cpu", "policy_threshold": 0}],
                [{"policy_type": "cpu", "policy_threshold": 60.0}], [{"policy_type": "cpu", "policy_threshold": True}],
                [{"policy_type": "cpu", "policy_threshold": "60"}], [{"policy_type": "gpu", "policy_threshold": 60}],
                [{"policy_type": "cpu", "policy_threshold": 1000}], {"policy_type": "cpu"})),
    *(("request", with_(REPOSITORY, "code_detail", v))
      for v in each({}, {"name": {}}, {"name": "web"}, {"name": {"full_name": ""}}, {"url": ""}, [], None)),
    # replies
    *(("response", v) for v in each(None, [], "ok", {}, {"errmsg": "ok"})),
    *(("response", with_(REPLY_OK, "errcode", v)) for v in each(0.0, 0.5, False, True, "0", None, -1, 10**20)),
    *(("response", with_(REPLY_OK, name, DELETE)) for name in ("run_id", "result", "errmsg")),
    *(("response", with_(REPLY_OK, "run_id", v))
      for v in each("", "a" * 128, "a" * 129, "abc\n", "abc\n\n", "a b", "a/b", "\u0665", 12)),
    *(("response", with_(REPLY_OK, "result", v)) for v in each("", "x" * 64, "x" * 65, None, "fail")),
    ("response", with_(REPLY_OK, "errmsg", 5)),
    ("response", {"errcode": 40014}),
    ("response", {"errcode": 40014, "run_id": "bad id"}),
    # releasecloudbaserunversion: a concrete, plain version name; never latest
    *(("release.request", v) for v in each(None, [], "ss-006", {}, [RELEASE])),
    *(("release.request", with_(RELEASE, name, DELETE)) for name in ("env_id", "server_name", "release_version")),
    *(("release.request", with_(RELEASE, "release_version", v))
      for v in each("latest", "Latest", "latest\n", "ss-006\n", "ss-006\n\n", "ss 006", "a" * 128, "a" * 129, "",
                "版本", "v1.0", "_", "0", "latest-1", "A.b_c-1", 6, 6.0, True, None, ["ss-006"])),
    *(("release.request", with_(RELEASE, "env_id", v)) for v in each("a.b", "a" * 128, "a" * 129, "e\n", 1, False)),
    ("release.request", {**RELEASE, "version_name": "ss-006"}),
    ("release.request", {**RELEASE, "access_token": "x"}),
    *(("release.reply", v) for v in each(None, [], {}, {"errmsg": "ok"}, "ok")),
    *(("release.reply", with_(RELEASE_OK, "errcode", v)) for v in each(0.0, 0.5, False, True, "0", None, -1, 45009)),
    *(("release.reply", with_(RELEASE_OK, name, DELETE)) for name in ("result", "release_order_id", "errmsg")),
    *(("release.reply", with_(RELEASE_OK, "release_order_id", v))
      for v in each(0, -1, 26182.0, 26182.5, 2**53 - 1, 2**53, True, "26182", None, NAN, INF, [1])),
    *(("release.reply", with_(RELEASE_OK, "result", v))
      for v in each("", "failed", "succ", "x" * 64, "x" * 65, 1, None)),
    *(("release.reply", {"errcode": 85088, "release_order_id": v}) for v in each(1.5, -1, "x", True, None)),
    *(("release.reply", {"errcode": 85088, "result": v}) for v in each("x" * 65, 1)),
    # getcsversionlist: env and service_name (not env_id / server_name), integer paging
    *(("versionlist.request", with_(LIST, name, DELETE)) for name in ("env", "service_name", "limit", "offset")),
    *(("versionlist.request", with_(LIST, "limit", v)) for v in each(0, 1, 100, 101, 20.0, 20.5, True, "20", None, -1)),
    *(("versionlist.request", with_(LIST, "offset", v)) for v in each(0, -1, 10**12, 0.5, 3.0, False, "0")),
    *(("versionlist.request", with_(LIST, "service_name", v)) for v in each("", "a b", "a" * 128, "a" * 129, "api\n")),
    ("versionlist.request", {"env_id": "e", "server_name": "s"}),
    ("versionlist.request", {**LIST, "env_id": "e"}),
    *(("versionlist.reply", with_(LIST_OK, "items", v))
      for v in each([], [{}], [None], [[]], "[]", {}, None, [{"version_name": "a"}], [ITEM] * 50,
                [{"version_name": "a", "extra": {"deep": [1]}}], [{"status": "normal"}])),
    *(("versionlist.reply", with_(LIST_OK, "items.0.version_name", v))
      for v in each("", "a" * 128, "a" * 129, "api-007\n", "api 007", "api/007", "<b>", "版本", 7, None)),
    *(("versionlist.reply", with_(LIST_OK, "items.1.status", v))
      for v in each("", "x" * 64, "x" * 65, 5, None, "Build Fail")),
    *(("versionlist.reply", with_(LIST_OK, "items.0.flow_ratio", v)) for v in each(0, 50.5, -1, 1e3, True, "50", None)),
    *(("versionlist.reply", with_(LIST_OK, "items.0.created_time", v)) for v in each("", "x" * 65, 1607431770, None)),
    *(("versionlist.reply", with_(LIST_OK, "items.0.run_id", v)) for v in each("a" * 128, "a" * 129, 5)),
    *(("versionlist.reply", with_(LIST_OK, "items.0.buildid", v)) for v in each("x", None, [1], {"a": 1})),
    *(("versionlist.reply", with_(LIST_OK, "total", v)) for v in each(0, -1, 2.0, 2.5, True, "2", None)),
    *(("versionlist.reply", with_(LIST_OK, name, DELETE)) for name in ("items", "total", "errmsg")),
    *(("versionlist.reply", {"errcode": 40097, "items": v}) for v in each([], [{}], "x", None)),
    ("versionlist.reply", {"errcode": 0}),
    # getcsversiondetail
    *(("versiondetail.request", with_(DETAIL, name, DELETE)) for name in ("env", "service_name", "version_name")),
    *(("versiondetail.request", with_(DETAIL, "version_name", v))
      for v in each("latest", "a", "0", "v1.0", "A_b-c.d", "a" * 128, "a" * 129, "", "a b", "a\n", 7, None)),
    *(("versiondetail.request", with_(DETAIL, "env", v)) for v in each("e_1-x", "E", "a" * 128, "a" * 129, "a.b", "")),
    ("versiondetail.request", {**DETAIL, "limit": 1}),
    ("versiondetail.request", {**DETAIL, "env": True}),
    *(("versiondetail.reply", with_(DETAIL_OK, "status", v))
      for v in each("", "x" * 64, "x" * 65, 5, None, ["normal"])),
    *(("versiondetail.reply", with_(DETAIL_OK, name, v)) for name in ("created_time", "updated_time")
      for v in each("", "x" * 65, 1, None)),
    *(("versiondetail.reply", with_(DETAIL_OK, "remark", v)) for v in each("", "x" * 5000, 5, None)),
    *(("versiondetail.reply", with_(DETAIL_OK, name, v)) for name in ("cpu", "minnum", "env_params")
      for v in each(None, "x", 1.5, [], {})),
    *(("versiondetail.reply", with_(DETAIL_OK, name, DELETE)) for name in ("status", "created_time", "errcode")),
    *(("versiondetail.reply", with_(DETAIL_OK, "errcode", v)) for v in each(0.0, False, 40014, "0")),
    *(("versiondetail.reply", {"errcode": 40014, "status": v}) for v in each("x" * 65, 5)),
    ("versiondetail.reply", {"errcode": 0}),
    ("versiondetail.reply", {"errcode": 0, "status": "normal", "unknown": {"a": [1]}}),
    # describecloudbaserunenvs: body {}; env_list items bounded where read, unknown fields pass
    *(("cloudrunenvs.request", v) for v in each(None, [], "x", 1, {}, {"env_id": "e"}, {"limit": 1}, {"a": 1},
                                                 {"offset": 0}, {"source_type": 1}, {"access_token": "t"})),
    *(("cloudrunenvs.reply", with_(ENVS_OK, "env_list.0.env_id", v))
      for v in each("", "a" * 128, "a" * 129, "e\n", "e e", 7, None, "中文", "e_1-X", "e.1")),
    *(("cloudrunenvs.reply", with_(ENVS_OK, "env_list.0.status", v)) for v in each("", "x" * 64, "x" * 65, 5, None)),
    *(("cloudrunenvs.reply", with_(ENVS_OK, "env_list.0.alias", v)) for v in each("a" * 128, "a" * 129, 3)),
    *(("cloudrunenvs.reply", with_(ENVS_OK, "env_list", v))
      for v in each([], [{}], [None], "x", None, [{"env_id": "e"}], [{"env_id": "e", "databases": "x"}])),
    *(("cloudrunenvs.reply", with_(ENVS_OK, "env_list.1", DELETE)), ("cloudrunenvs.reply", {"errcode": 0}),
      ("cloudrunenvs.reply", {"errcode": 40014}), ("cloudrunenvs.reply", {"errcode": 40014, "env_list": "x"})),
    # batchgetenvid: appids plain and bounded, source_type exactly 1
    *(("batchgetenvid.request", with_(BATCH, "appids", v))
      for v in each([], ["wx1"], ["a" * 64], ["a" * 65], ["wx 1"], ["wx1\n"], [1], "wx1", None, [""], ["wx-1_A"])),
    *(("batchgetenvid.request", with_(BATCH, "source_type", v)) for v in each(1, 1.0, 2, 0, True, "1", None)),
    *(("batchgetenvid.request", with_(BATCH, name, DELETE)) for name in ("appids", "source_type")),
    ("batchgetenvid.request", {**BATCH, "env": "e"}),
    *(("batchgetenvid.request", with_(BATCH, "appids", v))
      for v in each(["a", "b", "c"], [f"wx{n:016x}" for n in range(100)], ["wx1", "wx1"], ["A" * 64])),
    *(("batchgetenvid.reply", with_(BATCH_OK, "relation_data.0.env_list", v))
      for v in each([], ["e"], ["a" * 128], ["a" * 129], ["e e"], [""], [5], "e", None, ["e\n"])),
    *(("batchgetenvid.reply", with_(BATCH_OK, "relation_data.0.appid", v)) for v in each("", "a" * 64, "a" * 65, 1)),
    *(("batchgetenvid.reply", with_(BATCH_OK, "err_list.0.errmsg", v)) for v in each("", "x" * 5000, 1, None)),
    *(("batchgetenvid.reply", with_(BATCH_OK, "err_list.0", v)) for v in each({}, {"appid": "a"}, None, "a")),
    *(("batchgetenvid.reply", with_(BATCH_OK, name, DELETE)) for name in ("relation_data", "err_list")),
    *(("batchgetenvid.reply", v) for v in each({"errcode": 0}, {"errcode": 0, "err_list": []}, {"errcode": 45009},
                                                {"errcode": 45009, "relation_data": 1}, {"errcode": 0.0})),
    # the results file: closed objects, nullable fields, bounded shard and fingerprint
    *(("results", with_(RESULTS, "shard.index", v)) for v in each(1, 256, 0, 257, 1.0, True, "1", None)),
    *(("results", with_(RESULTS, "fleet.fingerprint", v)) for v in each("a" * 64, "A" * 64, "a" * 63, "g" * 64, 5)),
    *(("results", with_(RESULTS, "units.0.state", v)) for v in each("planned", "started", "done", "", None)),
    *(("results", with_(RESULTS, "units.0.error", v))
      for v in each(None, {}, {"errcode": None, "errmsg": None, "may_have_started": True, "reason": "x"}, "x")),
    *(("results", with_(RESULTS, "units.0.release_order_id", v)) for v in each(None, 0, 1.5, "1")),
    *(("results", with_(RESULTS, name, DELETE)) for name in ("format", "units", "waves", "stopped", "fleet.units")),
    *(("results", with_(RESULTS, "units.0.wave", v)) for v in each(1, 0, 2.0, False)),
    ("results", {**RESULTS, "extra": 1}), ("results", with_(RESULTS, "units.0.extra", 1)),
    ("results", with_(RESULTS, "version", 2)), ("results", with_(RESULTS, "stopped", 1)),
    # the inputs that are not body fields, typed (settings.py reads their bounds and choices here)
    *(("options", {"command": v}) for v in each("rollout", "release", "status", "Release", "deploy", "", 1)),
    *(("options", {name: v}) for name in ("wait", "promote", "dry_run") for v in each(True, False, "true", 0)),
    *(("options", {"wait_timeout_seconds": v}) for v in each(0, 1, 21600, 21601, 5.0, 5.5, True, "900")),
    *(("options", {"wait_interval_seconds": v}) for v in each(0, 1, 300, 301, -1)),
    *(("options", {"timeout_seconds": v}) for v in each(0, 0.001, 3600, 3600.5, False)),
    *(("options", {"max_attempts": v}) for v in each(0, 1, 10, 11, 3.0)),
    ("options", {"bogus": 1}),
    ("options", {}),
]

VALUE_POOL: list[Any] = [
    None, True, False, 0, 1, -1, 2, 60, 100, 101, 999, 1000, 65535, 65536, 1.0, 1.5, -0.0, 2**70, NAN,
    "", " ", "x", "latest", "prod-1", "a" * 129, "a" * 1025, "prod\n", "\n", "0.25", "0.255", "51", "50",
    "60", "image", "repository", "package", "cpu", "mem", "github", "/data", "data", "😀",
    [], {}, [1], ["x"], {"a": 1}, {"image_url": "nginx"}, [{"policy_type": "cpu", "policy_threshold": 60}],
]
NEIGHBOUR_POOL: list[Any] = [
    "ss-006", "latest", "success", "failed", "normal", "build_fail", "2020-12-08 20:56:10", "a" * 65, "a b",
    26182, 26182.5, 2**53, 20, 0, -1, 1.0, True, None, "", "x\n", [ITEM], [{}], {}, [],
]
UNKNOWN_KEYS = ["access_token", "foo", "Env_id", "image", "tag", "name ", "run_id"]
#: Values of every JSON type (and the integer / bool / float edges) that a field is swapped for.
PROBES: list[Any] = [None, True, False, 0, -1, 1.5, 2.0, "", "x", "a b", "x\n", "x" * 129, [], {}, [{}], {"k": 1}]


def paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted path into node's dicts and lists."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{prefix}{key}"
            yield here
            yield from paths(value, here + ".")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            here = f"{prefix}{index}"
            yield here
            yield from paths(value, here + ".")


def containers(node: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the dicts inside node ("" for node itself)."""
    if isinstance(node, dict):
        yield prefix.rstrip(".")
        for key, value in node.items():
            yield from containers(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from containers(value, f"{prefix}{index}.")


def get(node: Any, path: str) -> Any:
    for part in path.split(".") if path else []:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def mutate(rng: random.Random, body: dict[str, Any], pool: list[Any] = VALUE_POOL) -> dict[str, Any]:
    out = copy.deepcopy(body)
    kind = rng.choice(["replace", "replace", "replace", "delete", "unknown", "string", "upload_type", "drop_url"])
    all_paths = list(paths(out))
    if kind == "replace" and all_paths:
        return with_(out, rng.choice(all_paths), copy.deepcopy(rng.choice(pool)))
    if kind == "delete" and all_paths:
        return with_(out, rng.choice(all_paths), DELETE)
    if kind == "unknown":
        where = rng.choice(list(containers(out)))
        get(out, where)[rng.choice(UNKNOWN_KEYS)] = copy.deepcopy(rng.choice(pool))
        return out
    if kind == "string":
        strings = [p for p in all_paths if isinstance(get(out, p), str)]
        if strings:
            path = rng.choice(strings)
            text = get(out, path)
            edit = rng.choice([text + "\n", " " + text, text * 40, "", text[:1], text + "\n\n", text.upper()])
            return with_(out, path, edit)
    if kind == "upload_type":
        return with_(out, "upload_type", rng.choice(["image", "repository", "package", "zip", 0]))
    if kind == "drop_url" and isinstance(out.get("image_info"), dict):
        out["image_info"].pop("image_url", None)
        return out
    return out


def random_corpus() -> list[tuple[str, Any]]:
    rng = random.Random(SEED)
    corpus: list[tuple[str, Any]] = [("request", s) for s in SEEDS] + [("response", r) for r in REPLY_SEEDS]
    for _ in range(700):
        body = rng.choice(SEEDS)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            body = mutate(rng, body)
        corpus.append(("request", body))
    for _ in range(250):
        reply = rng.choice(REPLY_SEEDS)
        for _ in range(rng.choice([1, 1, 2])):
            reply = mutate(rng, reply)
        corpus.append(("response", reply))
    for which, seeds in NEIGHBOUR_SEEDS.items():
        corpus += [(which, seed) for seed in seeds]
        for _ in range(300):
            instance = rng.choice(seeds)
            for _ in range(rng.choice([1, 1, 2, 3])):
                instance = mutate(rng, instance, NEIGHBOUR_POOL)
            corpus.append((which, instance))
    return corpus


def variations(seed: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each field of seed, at every depth, removed, swapped for each probe, and its text edited;
    an unknown field added to each object."""
    for path in paths(seed):
        yield with_(seed, path, DELETE)
        for probe in PROBES:
            yield with_(seed, path, copy.deepcopy(probe))
        value = get(seed, path)
        if isinstance(value, str):
            for edit in (value + "\n", value + "\n\n", " " + value, value * 20, value[:1], value.upper()):
                yield with_(seed, path, edit)
    for where in containers(seed):
        for key in UNKNOWN_KEYS[:3]:
            out = copy.deepcopy(seed)
            get(out, where)[key] = "x"
            yield out


def systematic_corpus() -> list[tuple[str, Any]]:
    return [(which, v) for which, seeds in ALL_SEEDS.items() for seed in seeds for v in variations(seed)]


@pytest.fixture(scope="module")
def reference() -> dict[str, Draft202012Validator]:
    return {which: Draft202012Validator(schemas.load(f"{which}.schema.json")) for which in WHICH}


def test_every_schema_has_seeds() -> None:
    assert set(ALL_SEEDS) == set(WHICH)


def test_seeds_are_valid(reference: dict[str, Draft202012Validator]) -> None:
    for which, seeds in ALL_SEEDS.items():
        for seed in seeds:
            assert reference[which].is_valid(seed), (which, list(reference[which].iter_errors(seed)))
            assert _compiled.is_valid(which, seed), which


CORPORA: dict[str, Callable[[], list[tuple[str, Any]]]] = {
    "edge cases": lambda: EDGE_CASES, "seeded mutations": random_corpus, "systematic variations": systematic_corpus}
#: Each schema must get at least this many valid and this many invalid instances from each corpus.
MINIMUM = {"edge cases": 10, "seeded mutations": 40, "systematic variations": 10}


@pytest.mark.parametrize("corpus_name", list(CORPORA))
def test_fast_path_agrees_with_jsonschema(corpus_name: str, reference: dict[str, Draft202012Validator]) -> None:
    corpus = CORPORA[corpus_name]()
    disagreements = []
    counts = {(which, verdict): 0 for which in WHICH for verdict in (True, False)}
    for which, instance in corpus:
        expected = reference[which].is_valid(instance)
        counts[(which, expected)] += 1
        if _compiled.is_valid(which, instance) != expected:
            disagreements.append(f"{which}: jsonschema says {expected} for {instance!r}"[:400])
    assert not disagreements, f"{len(disagreements)} disagreement(s):\n" + "\n".join(disagreements[:20])
    # The corpus must really exercise both answers for every schema.
    # `{}` has no valid variation, and its only systematic ones are three unknown keys.
    exempt = {(w, v) for w in ONLY_EMPTY for v in (True, False) if v or corpus_name == "systematic variations"}
    thin = {key: n for key, n in counts.items() if n < MINIMUM[corpus_name] and key not in exempt}
    assert not thin, f"too few instances with these verdicts: {thin}"


def test_corpus_size() -> None:
    """The agreement tests above cover thousands of bodies and replies, valid and invalid."""
    assert len(EDGE_CASES) >= 350
    assert len(EDGE_CASES) + len(random_corpus()) + len(systematic_corpus()) >= 5000


def test_is_valid_never_raises() -> None:
    class Weird(dict):  # type: ignore[type-arg]
        def __contains__(self, key: object) -> bool:
            raise RuntimeError("boom")

    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    for which, instance in [("request", Weird()), ("nope", {}), ("request", object()), ("response", Weird()),
                            ("request", {**MINIMAL, "mount_volume_info": deep}), (None, None)]:
        assert _compiled.is_valid(which, instance) is False  # type: ignore[arg-type]


# -- (c) the valid path imports no validator -------------------------------------

PROBE = """
import runpy, sys
code = 0
try:
    runpy.run_path(sys.argv[1], run_name="__main__")
except SystemExit as stop:
    code = stop.code
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""

# Validator libraries, and what our own code used to import for nothing (decimal for cpu/mem).
# (email.utils would not belong here: http.client imports it for every HTTP client, urllib's too.)
NOT_ON_THE_VALID_PATH = ("jsonschema", "referencing", "rpds", "attrs", "fastjsonschema", "decimal")


def test_successful_rollout_imports_no_validator(emulator: Any, tmp_path: Path) -> None:
    env = base_env(tmp_path)
    for name, value in good_inputs(emulator.url, cpu="0.5", mem="1").items():
        env[f"INPUT_{name.upper()}"] = value
    modules = tmp_path / "modules.txt"
    proc = subprocess.run([sys.executable, "-c", PROBE, str(ENTRYPOINT), str(modules)], env=env,
                          cwd=env["GITHUB_WORKSPACE"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(emulator.state.rollouts) == 1
    loaded = set(modules.read_text(encoding="utf-8").split())
    assert "cloudbase_rollout.vocabulary._compiled" in loaded
    found = sorted(m for m in loaded if m.split(".")[0] in NOT_ON_THE_VALID_PATH or m in NOT_ON_THE_VALID_PATH)
    assert not found, f"imported on a successful rollout: {found}"


def test_invalid_input_is_still_explained_by_jsonschema(tmp_path: Path) -> None:
    from tests.runner import run_step

    result = run_step(tmp_path, good_inputs("http://127.0.0.1:9", flow_ratio="150", dry_run="true"))
    assert result.returncode == 2, result.log
    assert "flow_ratio: 150 is above the maximum 100" in result.log
