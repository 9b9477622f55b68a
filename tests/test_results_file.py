"""The results file: records and documents on schema/results.schema.json, totals, no body, the Writer's
throttle, the atomic write, where it goes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from cloudbase_rollout.errors import ApiError, OutputsNotWritten
from cloudbase_rollout.front import merge, results_file
from cloudbase_rollout.inputs.plan import Plan, prepare_plan
from cloudbase_rollout.run.core import Result
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.vocabulary.validator import reply_errors
from tests.conftest import TOKEN, good_inputs
from tests.runner import FakeClock

SCHEMA = Draft202012Validator(schemas.load("results.schema.json"))
SECRET_PARAM = "db-password-7c1e9f"


def fleet_plan(tmp_path: Path, units: int = 6) -> Plan:
    raw = good_inputs("http://127.0.0.1:9", targets="\n".join(f"prod-{i}" for i in range(units)),
                      env_params=json.dumps({"DB_PASSWORD": SECRET_PARAM}), waves="1, 50%")
    raw.pop("env_id")
    return prepare_plan(raw, {}, tmp_path)


def mixed(plan: Plan) -> list[Result]:
    """One unit in each state a fleet records."""
    states = ["succeeded", "current", "failed", "skipped", "started", None]
    results = []
    for target, state in zip(plan.targets, states, strict=True):
        r = Result(target, version_name="api-002", state=state, wave=1 if state == "succeeded" else 2)
        if state == "succeeded":
            r.run_id, r.status, r.waited = "1mz9GjJgyY53bh", "normal", 12.4
        elif state == "failed":
            r.error = ApiError(40014, "invalid access_token", "mint a new token")
        elif state == "skipped":
            r.reason = "failures exceeded max_failures"
        elif state == "started":
            r.run_id, r.reason = "9xyz", "the wait timed out"
        results.append(r)
    return results


def test_records_fit_the_schema_and_carry_no_body(tmp_path: Path) -> None:
    plan = fleet_plan(tmp_path)
    assert SECRET_PARAM in plan.targets[0].request_json
    results = mixed(plan)
    records = [results_file.unit_record(r) for r in results]
    text = json.dumps(records)
    assert SECRET_PARAM not in text and "image_info" not in text
    document = results_file.document(plan, results, complete=True)
    assert list(SCHEMA.iter_errors(document)) == []
    assert reply_errors("results", document) == []
    failed = records[2]
    assert failed["error"]["errcode"] == 40014 and failed["error"]["errmsg"] == "invalid access_token"
    assert failed["error"]["may_have_started"] is False
    assert records[0]["waited_seconds"] == 12 and records[0]["run_id"] == "1mz9GjJgyY53bh"
    assert records[3]["error"]["reason"] == "failures exceeded max_failures"
    assert records[4]["error"]["may_have_started"] is True, "a started unit may have started"
    assert records[5]["state"] == "planned" and records[5]["error"] is None


def test_document_totals_add_up(tmp_path: Path) -> None:
    plan = fleet_plan(tmp_path)
    document = results_file.document(plan, mixed(plan), complete=False, stopped="budget", budget_exceeded=True)
    totals = document["totals"]
    assert totals["units"] == 6 == sum(v for k, v in totals.items() if k != "units")
    assert {k: v for k, v in totals.items() if k != "units"} == dict.fromkeys(merge.STATES, 1)
    assert document["fleet"] == {"units": 6, "fingerprint": plan.fleet.fingerprint if plan.fleet else "",
                                 "max_failures": "0"}
    assert document["shard"] == {"index": 1, "count": 1} and document["waves"] == [1, 2, 3]
    assert (document["complete"], document["stopped"], document["budget_exceeded"]) == (False, "budget", True)
    assert document["command"] == "rollout" and document["dry_run"] is False
    assert list(SCHEMA.iter_errors(document)) == []


def test_a_long_reason_is_cut(tmp_path: Path) -> None:
    plan = fleet_plan(tmp_path, units=1)
    r = Result(plan.targets[0], state="failed", reason="x" * 5000)
    record = results_file.unit_record(r)
    assert len(record["error"]["reason"]) == 2000
    assert list(SCHEMA.iter_errors(results_file.document(plan, [r], complete=True))) == []


class Counting:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        real = results_file.write

        def write(text: str, path: Path) -> None:
            self.texts.append(text)
            real(text, path)

        monkeypatch.setattr(results_file, "write", write)


def test_writer_throttles_and_force_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(monkeypatch)
    clock = FakeClock()
    path = tmp_path / "r.json"
    made: list[int] = []

    def make() -> dict[str, Any]:
        made.append(1)
        return {"n": len(made)}

    writer = results_file.Writer(path, lambda text: text, clock)
    writer.write(make)
    clock.sleep(1.9)
    writer.write(make)
    assert len(counting.texts) == 1 and len(made) == 1, "two writes within 2 s: one file write"
    clock.sleep(0.1)
    writer.write(make)
    assert len(counting.texts) == 2
    writer.write(make, force=True)
    writer.write(make, force=True)
    assert len(counting.texts) == 4, "a forced write always writes"
    assert json.loads(path.read_text(encoding="utf-8")) == {"n": 4}


def test_writer_redacts_and_without_a_path_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(monkeypatch)
    path = tmp_path / "r.json"
    results_file.Writer(path, lambda text: text.replace(TOKEN, "***"), FakeClock()).write(
        lambda: {"reason": f"token {TOKEN} refused"}, force=True)
    assert TOKEN not in path.read_text(encoding="utf-8") and "***" in path.read_text(encoding="utf-8")
    results_file.Writer(None, lambda text: text, FakeClock()).write(lambda: {"a": 1}, force=True)
    assert len(counting.texts) == 1


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "results.json"
    results_file.write('{"a":1}', path)
    results_file.write('{"a":2}', path)
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]


def test_an_unwritable_path_raises_outputs_not_written(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    with pytest.raises(OutputsNotWritten) as caught:
        results_file.write("{}", tmp_path / "a-file" / "results.json")
    assert "could not write the results file" in str(caught.value)


def test_a_failed_replace_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.mkdir()  # os.replace of a file onto a directory fails
    with pytest.raises(OutputsNotWritten):
        results_file.write("{}", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_results_path(tmp_path: Path) -> None:
    temp = tmp_path / "runner_temp"
    assert results_file.results_path("", {"RUNNER_TEMP": str(temp)}, tmp_path) == temp / results_file.DEFAULT_NAME
    assert results_file.results_path("  ", {"RUNNER_TEMP": str(temp)}, tmp_path) == temp / results_file.DEFAULT_NAME
    assert results_file.results_path("out/r.json", {"RUNNER_TEMP": str(temp)}, tmp_path) == tmp_path / "out" / "r.json"
    absolute = tmp_path / "elsewhere.json"
    assert results_file.results_path(f" {absolute} ", {}, tmp_path / "ws") == absolute
    fallback = results_file.results_path("", {}, tmp_path)
    assert fallback.name == results_file.DEFAULT_NAME and fallback.parent.is_dir()
    assert os.path.isabs(fallback)
