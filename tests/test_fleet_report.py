"""What a fleet step shows: the summary under GitHub's 1 MiB, the per-wave table, the outputs, the dry run."""

from __future__ import annotations

import json
from pathlib import Path

from cloudbase_rollout.front import fleet_report
from cloudbase_rollout.inputs.plan import Plan, prepare_plan
from cloudbase_rollout.run.core import Result
from cloudbase_rollout.run.fleet import Outcome
from tests.conftest import good_inputs

MIB = 1 << 20


def fleet_plan(tmp_path: Path, units: int, **extra: str) -> Plan:
    raw = good_inputs("http://127.0.0.1:9", targets="\n".join(f"prod-{i:05d}" for i in range(units)), **extra)
    raw.pop("env_id")
    return prepare_plan(raw, {}, tmp_path)


def services_plan(tmp_path: Path, ids: list[str], **extra: str) -> Plan:
    services = json.dumps([{"id": name, "server_name": name} for name in ids])
    return prepare_plan(good_inputs("http://127.0.0.1:9", services=services, waves="1", **extra), {}, tmp_path)


def failed_all(plan: Plan, reason: str) -> list[Result]:
    return [Result(t, state="failed", reason=f"{reason} #{i}", wave=2 if i else 1) for i, t in enumerate(plan.targets)]


def test_summary_of_twenty_thousand_failures_stays_under_one_mib(tmp_path: Path) -> None:
    plan = fleet_plan(tmp_path, 20_000, waves="1, 100%")
    results = failed_all(plan, "the version settled to failed: " + "health check refused " * 100)
    text = fleet_report.summary(plan, results, Outcome("budget", 20_000, 0), tmp_path / "r.json")
    assert len(text.encode("utf-8")) < MIB
    assert "#### 20000 failed" in text
    shown = [line for line in text.splitlines() if line.startswith("- `prod-")]
    assert 100 < len(shown) < 20_000
    assert f"- ... and {20_000 - len(shown)} more (the results file has them all)" in text
    assert "Every unit is in the results file" in text


def test_summary_of_chinese_reasons_stays_under_one_mib_of_bytes(tmp_path: Path) -> None:
    plan = fleet_plan(tmp_path, 20_000)
    results = failed_all(plan, "系统繁忙，请稍后再试" * 40)
    text = fleet_report.summary(plan, results, Outcome("budget", 20_000, 0), None)
    assert len(text.encode("utf-8")) < MIB


def test_summary_has_a_row_per_wave(tmp_path: Path) -> None:
    plan = fleet_plan(tmp_path, 10, waves="1, 30%, 100%")
    assert plan.fleet is not None and plan.fleet.waves == [1, 2, 7]
    states = ["succeeded", "succeeded", "current", "failed"] + ["skipped"] * 6
    waves = [1, 2, 2, 3, 3, 3, 3, 3, 3, 3]
    results = [Result(t, state=s, wave=w, run_id="r1" if s == "succeeded" else None)
               for t, s, w in zip(plan.targets, states, waves, strict=True)]
    text = fleet_report.summary(plan, results, Outcome("budget", 1, 0), None)
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert rows == ["| 1 | 1 | 1 | 0 | 0 | 0 | 0 | 0 |", "| 2 | 2 | 1 | 1 | 0 | 0 | 0 | 0 |",
                    "| 3 | 7 | 0 | 0 | 1 | 6 | 0 | 0 |"]
    assert "stopped: failures exceeded max_failures (1 > 0)" in text
    assert "#### 6 skipped" in text and "#### 1 failed" in text
    assert "<details><summary>3 succeeded, current or planned</summary>" in text


def test_summary_cells_are_made_safe(tmp_path: Path) -> None:
    plan = fleet_plan(tmp_path, 1)
    text = fleet_report.summary(plan, [Result(plan.targets[0], state="failed", reason="`<script>`\nx" + "y" * 900)],
                                Outcome(), None)
    line = next(line for line in text.splitlines() if line.startswith("- `prod-"))
    assert "<script>" not in line and "&lt;script>" in line and len(line) < 400


def test_outputs_drop_results_above_256_units(tmp_path: Path) -> None:
    for units, listed in ((256, True), (257, False)):
        plan = fleet_plan(tmp_path, units)
        results = [Result(t, state="succeeded", run_id=f"run{i}") for i, t in enumerate(plan.targets)]
        values = fleet_report.outputs(plan, results, tmp_path / "r.json")
        assert values["succeeded"] == str(units) and values["failed"] == "0"
        assert values["results_file"] == str(tmp_path / "r.json")
        assert ("results" in values) is listed
        if listed:
            assert len(json.loads(values["results"])) == units
        assert not [name for name in values if name.startswith("run_id_")], "explicit targets: no run_id_<id>"


def test_outputs_keep_run_ids_for_services(tmp_path: Path) -> None:
    plan = services_plan(tmp_path, ["api", "web"])
    assert plan.fleet is not None and not plan.fleet.explicit
    results = [Result(plan.targets[0], state="succeeded", run_id="run-api"), Result(plan.targets[1], state="failed")]
    values = fleet_report.outputs(plan, results, None)
    assert values["run_id_api"] == "run-api" and "run_id_web" not in values
    assert "results_file" not in values
    assert (values["succeeded"], values["failed"]) == ("1", "1")


def test_dry_run_lines_list_the_waves(tmp_path: Path) -> None:
    plan = fleet_plan(tmp_path, 10, waves="1, 30%, 100%")
    lines = fleet_report.dry_run_lines(plan)
    assert lines[0] == "Dry run: 10 unit(s) in 3 wave(s); nothing was called."
    heads = [i for i, line in enumerate(lines) if line.startswith("wave ")]
    assert [lines[i] for i in heads] == ["wave 1/3: 1 unit(s)", "wave 2/3: 2 unit(s)", "wave 3/3: 7 unit(s)"]
    assert lines[heads[0] + 1:heads[1]] == ["  prod-00000/api"]
    assert lines[heads[1] + 1:heads[2]] == ["  prod-00001/api", "  prod-00002/api"]
    assert lines[heads[2] + 1:heads[2] + 8] == [f"  prod-{i:05d}/api" for i in range(3, 10)]
    assert any(line.startswith("The request of prod-00000/api") for line in lines)
    body = json.loads("\n".join(lines[lines.index(next(x for x in lines if x.startswith("The request"))) + 1:]))
    assert body["env_id"] == "prod-00000"


def test_dry_run_lines_name_the_shard(tmp_path: Path) -> None:
    plan = fleet_plan(tmp_path, 50, shard="2/4")
    assert "(shard 2/4 of a fleet of 50 units)" in fleet_report.dry_run_lines(plan)[0]


def test_a_dry_run_writes_results_with_each_unit_wave_and_request(tmp_path: Path) -> None:
    import json

    from tests.conftest import good_inputs
    from tests.runner import run_inprocess

    inputs = good_inputs("http://127.0.0.1:9", targets="env-a\nenv-b\nenv-c", waves="1", dry_run="true")
    inputs.pop("env_id")
    result = run_inprocess(tmp_path, inputs)
    assert result.returncode == 0, result.log
    shown = json.loads(result.outputs["results"])
    assert [(u["id"], u["wave"]) for u in shown] == [("env-a/api", 1), ("env-b/api", 2), ("env-c/api", 2)]
    assert [u["request"]["env_id"] for u in shown] == ["env-a", "env-b", "env-c"]
