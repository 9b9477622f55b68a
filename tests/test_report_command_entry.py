"""`command: report` through the front doors: action.main with INPUT_* (as the runner runs it) and
`cloudbase-rollout report FILE...`. No token, no server: it only merges files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudbase_rollout.front import cli
from tests.runner import run_inprocess
from tests.test_merge import fleet_docs, write


def shards_in_workspace(tmp_path: Path, failed: int = 0) -> Path:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    write(workspace, fleet_docs(30, 3, failed=failed, max_failures="1"), folder="results")
    return workspace


def test_the_action_merges_shards_without_a_token(tmp_path: Path) -> None:
    shards_in_workspace(tmp_path)
    result = run_inprocess(tmp_path, {"command": "report", "results_files": "results/*.json"})
    assert result.returncode == 0, result.log
    assert result.outputs["succeeded"] == "30" and result.outputs["failed"] == "0"
    merged = json.loads(Path(result.outputs["results_file"]).read_text(encoding="utf-8"))
    assert merged["shard"] == {"index": 1, "count": 1} and len(merged["units"]) == 30
    assert "access_token" not in result.log


def test_the_action_fails_when_the_fleet_exceeds_its_budget(tmp_path: Path) -> None:
    shards_in_workspace(tmp_path, failed=2)
    result = run_inprocess(tmp_path, {"command": "report", "results_files": "results/*.json"})
    assert result.returncode == 1
    assert result.outputs["failed"] == "2"


def test_the_cli_report_subcommand_merges_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = shards_in_workspace(tmp_path)
    files = sorted(str(p) for p in (workspace / "results").glob("*.json"))
    out = tmp_path / "merged.json"
    assert cli.main(["report", *files, "--results-file", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["totals"]["succeeded"] == 30


def test_the_cli_report_refuses_a_missing_shard(tmp_path: Path) -> None:
    workspace = shards_in_workspace(tmp_path)
    files = sorted(str(p) for p in (workspace / "results").glob("*.json"))[1:]
    assert cli.main(["report", *files]) == 1


def test_report_is_listed_among_the_cli_commands() -> None:
    assert "report" in cli.COMMANDS
