"""front/merge.py and front/report_command.py: the shards' results files merged into one, or refused.

Every fleet here is real: its units are placed in their shards by inputs/shard.py and the
fingerprint is the fleet's, so a refusal is the one under test and nothing else.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from cloudbase_rollout.errors import InvalidInput
from cloudbase_rollout.front import merge, report_command
from cloudbase_rollout.front.action import Runner as ActionRunner
from cloudbase_rollout.inputs import shard
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.vocabulary.validator import reply_errors


class U(NamedTuple):
    env_id: str
    server_name: str


def unit(u: U, state: str = "succeeded", wave: int = 1, reason: str = "") -> dict[str, Any]:
    error = {"errcode": 40097, "errmsg": "invalid args", "may_have_started": False, "reason": reason} if reason \
        else None
    return {"env_id": u.env_id, "server_name": u.server_name, "wave": wave, "state": state,
            "run_id": "run-1" if state == "succeeded" else None, "version_name": "api-007", "status": "normal",
            "promoted": state == "succeeded", "release_order_id": None, "error": error}


def fleet_docs(size: int, count: int, failed: int = 0, max_failures: str | None = "0",
               command: str = "rollout") -> list[dict[str, Any]]:
    """The results files of a fleet of `size` units in `count` shards; the first `failed` units failed."""
    units = [U(f"env-{n:05d}", "api") for n in range(size)]
    states = {u: ("failed" if n < failed else "succeeded") for n, u in enumerate(units)}
    fleet: dict[str, Any] = {"units": size, "fingerprint": shard.fingerprint(units)}
    if max_failures is not None:
        fleet["max_failures"] = max_failures
    docs = []
    for index in range(1, count + 1):
        mine = shard.select(units, shard.Shard(index, count))
        records = [unit(u, states[u], reason="errcode 40097 invalid args" if states[u] == "failed" else "")
                   for u in mine]
        totals = {s: sum(1 for r in records if r["state"] == s) for s in merge.STATES}
        docs.append({"format": "cloudbase-rollout/results", "version": 1, "tool_version": "1.1.0",
                     "command": command, "dry_run": False, "complete": True, "fleet": copy.deepcopy(fleet),
                     "shard": {"index": index, "count": count}, "waves": [len(records)], "units": records,
                     "totals": {"units": len(records), **totals}, "budget_exceeded": False, "stopped": None})
    return docs


def write(tmp_path: Path, docs: list[dict[str, Any]], folder: str = "results") -> list[Path]:
    (tmp_path / folder).mkdir(exist_ok=True)
    paths = []
    for doc in docs:
        path = tmp_path / folder / f"shard-{doc['shard']['index']}-of-{doc['shard']['count']}.json"
        n = 2
        while path.exists():
            path, n = path.with_name(f"{path.stem}-{n}.json"), n + 1
        path.write_text(json.dumps(doc), encoding="utf-8")
        paths.append(path)
    return paths


# -- a good merge --------------------------------------------------------------------------------------

def test_three_shards_merge_into_one_results_file(tmp_path: Path) -> None:
    docs = fleet_docs(60, 3, failed=0)
    merged = merge.merge(write(tmp_path, docs))
    doc = merged.document
    assert merged.refusals == [] and merged.exit_code == 0
    assert reply_errors("results", doc) == [], "the merged document is itself a results file"
    assert doc["shard"] == {"index": 1, "count": 1} and doc["fleet"]["fingerprint"] == docs[0]["fleet"]["fingerprint"]
    assert doc["fleet"]["units"] == 60 and doc["complete"] is True and doc["command"] == "rollout"
    assert doc["units"] == [u for d in docs for u in d["units"]], "units in shard order, each file's order kept"
    assert doc["totals"] == {"units": 60, "succeeded": 60, "current": 0, "failed": 0, "skipped": 0, "started": 0,
                             "planned": 0}
    assert doc["waves"] == [60] and doc["stopped"] is None and doc["budget_exceeded"] is False


def test_the_order_of_the_files_does_not_matter(tmp_path: Path) -> None:
    paths = write(tmp_path, fleet_docs(40, 4))
    assert merge.merge(paths[::-1]).document == merge.merge(paths).document


def test_a_merged_file_merges_alone(tmp_path: Path) -> None:
    merged = merge.merge(write(tmp_path, fleet_docs(30, 3)))
    again = tmp_path / "merged.json"
    report_command.write(merged.document, again)
    second = merge.merge([again])
    assert second.refusals == [] and second.document["units"] == merged.document["units"]


def test_one_shard_of_one_is_a_fleet(tmp_path: Path) -> None:
    assert merge.merge(write(tmp_path, fleet_docs(5, 1))).refusals == []


def test_waves_are_summed_and_stops_joined(tmp_path: Path) -> None:
    docs = fleet_docs(20, 2)
    docs[0]["waves"], docs[1]["waves"] = [1, 3, 6], [2, 8]
    merged = merge.merge(write(tmp_path, docs))
    assert merged.document["waves"] == [3, 11, 6]


# -- refusals ------------------------------------------------------------------------------------------

def test_a_missing_shard_is_refused_by_number(tmp_path: Path) -> None:
    docs = fleet_docs(80, 8)
    merged = merge.merge(write(tmp_path, [d for d in docs if d["shard"]["index"] not in (3, 7)]))
    assert merged.exit_code == 1
    assert merged.refusals == ["shards 3, 7 of 8 missing: no results file holds them (did its job fail before "
                               "uploading its results?)"]


def test_a_shard_present_twice_is_refused_naming_both_files(tmp_path: Path) -> None:
    docs = fleet_docs(30, 3)
    paths = write(tmp_path, [*docs, docs[1]])
    [refusal] = merge.merge(paths).refusals
    assert refusal.startswith("shard 2/3 is present 2 times: ")
    assert str(paths[1]) in refusal and str(paths[3]) in refusal


def test_files_that_disagree_on_the_shard_count_are_refused(tmp_path: Path) -> None:
    paths = write(tmp_path, [*fleet_docs(30, 2)[:1], *fleet_docs(30, 3)[1:]])
    [refusal] = merge.merge(paths).refusals
    assert refusal.startswith("the files disagree on the number of shards (2, 3)")


def test_files_from_different_fleets_are_refused(tmp_path: Path) -> None:
    docs = fleet_docs(30, 2)
    other = fleet_docs(31, 2)
    paths = write(tmp_path, [docs[0], other[1]])
    [refusal] = merge.merge(paths).refusals
    assert refusal.startswith("the files come from 2 different fleets: ")
    assert str(paths[0]) in refusal and other[1]["fleet"]["fingerprint"][:12] in refusal


def test_files_of_different_commands_are_refused(tmp_path: Path) -> None:
    docs = fleet_docs(30, 2)
    docs[1]["command"] = "plan"
    assert merge.merge(write(tmp_path, docs)).refusals == ["the files come from different commands (plan, rollout)"]


def test_a_unit_in_two_shards_is_refused(tmp_path: Path) -> None:
    docs = fleet_docs(30, 2)
    stray = copy.deepcopy(docs[0]["units"][0])
    stray["env_id"] = stray["env_id"].upper()  # the same unit, ignoring case
    docs[1]["units"].append(stray)
    [refusal] = merge.merge(write(tmp_path, docs)).refusals
    assert refusal.startswith(f"1 unit(s) appear more than once: {stray['env_id']}/api (")


def test_a_unit_missing_from_its_shard_is_refused(tmp_path: Path) -> None:
    docs = fleet_docs(30, 3)
    docs[2]["units"].pop()
    [refusal] = merge.merge(write(tmp_path, docs)).refusals
    assert refusal.startswith("the shards' 29 units are not the fleet of 30 units that the files record")


@pytest.mark.parametrize(("change", "expected"), [
    ({"complete": False}, "shard 2/2 did not finish (complete: false): it was cancelled or is still running"),
    ({"stopped": "daily_quota"}, "shard 2/2 stopped early (daily_quota): 0 unit(s) skipped, 0 started and not "
                                 "watched to their end"),
])
def test_a_shard_that_did_not_run_to_its_end_is_refused(tmp_path: Path, change: dict[str, Any],
                                                         expected: str) -> None:
    docs = fleet_docs(20, 2)
    docs[1].update(change)
    merged = merge.merge(write(tmp_path, docs))
    assert merged.refusals == [expected] and merged.exit_code == 1


def test_every_refusal_is_said_at_once(tmp_path: Path) -> None:
    docs = fleet_docs(40, 4, failed=3)
    docs[0]["complete"] = False
    docs[3]["units"].append(docs[2]["units"][0])
    merged = merge.merge(write(tmp_path, [docs[0], docs[0], docs[2], docs[3]]))
    starts = ["shard 1/4 is present 2 times", "shard 2 of 4 missing", "1 unit(s) appear more than once",
              "shard 1/4 did not finish", "3 of the fleet's 40 units failed"]
    assert [r[:len(start)] for r, start in zip(merged.refusals, starts, strict=True)] == starts
    once = sum(len(docs[k]["units"]) for k in (0, 2, 3))
    assert merged.document["totals"]["units"] == once, "the shard given twice is counted once"


# -- the failure budget, over the whole fleet -------------------------------------------------------------

@pytest.mark.parametrize(("failed", "budget", "refused"), [
    (0, "0", False), (1, "0", True), (2, "2", False), (3, "2", True), (3, "10%", False), (4, "10%", True),
    (1, "3%", True), (1, "3.4%", False), (30, "100%", False),
])
def test_failures_across_the_fleet_are_held_to_max_failures(tmp_path: Path, failed: int, budget: str,
                                                            refused: bool) -> None:
    merged = merge.merge(write(tmp_path, fleet_docs(30, 3, failed=failed, max_failures=budget)))
    assert bool(merged.refusals) == refused and merged.document["budget_exceeded"] == refused
    assert merged.document["totals"]["failed"] == failed
    if refused:
        assert merged.refusals[0].startswith(f"{failed} of the fleet's 30 units failed: more than max_failures "
                                             f"{budget} allows")


def test_the_report_steps_max_failures_wins(tmp_path: Path) -> None:
    paths = write(tmp_path, fleet_docs(30, 3, failed=2, max_failures="0"))
    assert merge.merge(paths).refusals and merge.merge(paths, "2").refusals == []
    assert merge.merge(paths, "2").document["fleet"]["max_failures"] == "2"
    assert merge.merge(paths, "1").allowed == 1


def test_files_that_record_different_budgets_need_the_input(tmp_path: Path) -> None:
    docs = fleet_docs(30, 2, failed=0)
    docs[1]["fleet"]["max_failures"] = "5%"
    paths = write(tmp_path, docs)
    assert merge.merge(paths).refusals == ["the files record different max_failures (0, 5%): give max_failures to "
                                           "the report step"]
    assert merge.merge(paths, "5%").refusals == []


def test_no_recorded_budget_means_none_tolerated(tmp_path: Path) -> None:
    paths = write(tmp_path, fleet_docs(30, 2, failed=1, max_failures=None))
    assert merge.merge(paths).allowed == 0 and merge.merge(paths).refusals


def test_a_bad_max_failures_input_is_invalid_input(tmp_path: Path) -> None:
    paths = write(tmp_path, fleet_docs(10, 1))
    with pytest.raises(InvalidInput) as caught:
        merge.merge(paths, "lots")
    assert str(caught.value) == ("max_failures: 'lots' is not accepted; expected a count (e.g. 2) or a percentage "
                                 "of the whole fleet's units (e.g. 5%)")


def test_a_bad_recorded_max_failures_is_a_refusal(tmp_path: Path) -> None:
    [refusal] = merge.merge(write(tmp_path, fleet_docs(10, 1, max_failures="-1"))).refusals
    assert refusal.startswith("the files record a max_failures that is not accepted: '-1'")


@pytest.mark.parametrize(("text", "units", "allowed"), [
    ("0", 100, 0), ("7", 3, 7), ("10%", 30, 3), ("5%", 30, 1), ("0.1%", 10_000, 10), ("33.3%", 1000, 333),
    ("100%", 256, 256), ("0%", 50, 0), (" 2 ", 5, 2), ("12.5 %", 8, 1),
])
def test_allowed_failures(text: str, units: int, allowed: int) -> None:
    assert merge.allowed_failures(text, units) == allowed


@pytest.mark.parametrize("text", ["", "-1", "1.5", "101%", "%", "5%%", "ten", "1e3", "0x10"])
def test_refused_budgets(text: str) -> None:
    with pytest.raises(ValueError, match="is not accepted"):
        merge.allowed_failures(text, 10)


# -- not a results file: invalid input (exit 2), every one named -------------------------------------------

@pytest.mark.parametrize(("content", "why"), [
    (b"not json", "it is not JSON"), (b"[1, 2]", "it holds a JSON list, not an object"),
    (b"\xff\xfe{}", "it is not UTF-8 text"), (b'{"format": "other"}', "it does not fit schema/results.schema.json"),
    (b"[" * 100 + b"]" * 100, "it is not JSON (nested deeper"),
])
def test_a_file_that_is_not_a_results_file_is_invalid_input(tmp_path: Path, content: bytes, why: str) -> None:
    good = write(tmp_path, fleet_docs(10, 2))
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    with pytest.raises(InvalidInput) as caught:
        merge.merge([*good, bad])
    assert caught.value.exit_code == 2
    [problem] = caught.value.problems
    assert problem.input == "results_files" and problem.message.startswith(f"{bad} is not a results file: {why}")


def test_every_bad_file_is_named_at_once(tmp_path: Path) -> None:
    doc = fleet_docs(10, 1)[0]
    del doc["units"][0]["state"]
    paths = write(tmp_path, [doc])
    with pytest.raises(InvalidInput) as caught:
        merge.merge([*paths, tmp_path, tmp_path / "absent.json"])
    assert [p.message.split(": ", 1)[1] for p in caught.value.problems] == [
        "it does not fit schema/results.schema.json (units[0]: 'state' is a required property)",
        "it is not a regular file", "it cannot be read (No such file or directory)"]


def test_no_file_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="no results file was given"):
        merge.merge([])


# -- the summary and the outputs --------------------------------------------------------------------------

def test_the_summary_lists_every_failed_and_skipped_unit_and_collapses_the_rest(tmp_path: Path) -> None:
    docs = fleet_docs(30, 3, failed=2, max_failures="5")
    skipped = next(u for u in docs[0]["units"] if u["state"] == "succeeded")
    skipped.update(state="skipped", run_id=None, error={"errcode": None, "errmsg": None, "may_have_started": False,
                                                       "reason": "the budget was exceeded | <b>"})
    merged = merge.merge(write(tmp_path, docs))
    text = report_command.summary(merged)
    assert text.startswith("### CloudBase Run fleet report\n")
    assert "3 results file(s)" in text and "within max_failures 5 (5 allowed)" in text
    assert "| shard | units | succeeded | current | failed | skipped | started | planned | finished |" in text
    assert "| **all** | 30 | 27 | 0 | 2 | 1 | 0 | 0 | |" in text
    assert "#### Failed (2)" in text and text.count("errcode 40097 invalid args (errcode 40097)") == 2
    assert f"`{skipped['env_id']}/api` wave 1, skipped" in text and "budget was exceeded \\| &lt;b>" in text
    assert "<details><summary>Succeeded, current or planned (27)</summary>" in text


def test_a_refused_summary_says_why(tmp_path: Path) -> None:
    docs = fleet_docs(30, 3)
    text = report_command.summary(merge.merge(write(tmp_path, docs[:2])))
    assert "**refused**" in text and "- shard 3 of 3 missing" in text


def test_the_summary_stays_well_under_1_mib_for_a_huge_failing_fleet(tmp_path: Path) -> None:
    docs = fleet_docs(10_000, 4, failed=10_000, max_failures="100%")
    for doc in docs:
        for u in doc["units"]:
            u["error"]["reason"] = "x" * 150
    merged = merge.merge(write(tmp_path, docs))
    text = report_command.summary(merged)
    assert len(text.encode("utf-8")) < 600 << 10
    assert "#### Failed (10000)" in text and "more: every unit is in the results file" in text


def test_outputs_are_the_counts_and_the_path(tmp_path: Path) -> None:
    merged = merge.merge(write(tmp_path, fleet_docs(30, 3, failed=1, max_failures="1")))
    assert report_command.outputs(merged, tmp_path / "r.json") == {
        "succeeded": "29", "current": "0", "failed": "1", "skipped": "0", "results_file": str(tmp_path / "r.json")}


# -- the Action -------------------------------------------------------------------------------------------

class Recorder:
    def __init__(self) -> None:
        self.logs: list[str] = []
        self.warnings: list[str] = []
        self.errors: list[tuple[str, str]] = []
        self.output: dict[str, str] = {}
        self.summaries: list[str] = []

    def log(self, message: str) -> None:
        self.logs.append(message)

    def warning(self, message: str, title: str = "cloudbase-rollout") -> None:
        self.warnings.append(message)

    def error(self, message: str, title: str) -> None:
        self.errors.append((title, message))

    def outputs(self, values: Any) -> None:
        self.output.update(values)

    def summary(self, markdown: str) -> None:
        self.summaries.append(markdown)


def action(tmp_path: Path, patterns: str, **raw: str) -> tuple[int, Recorder]:
    runner = Recorder()
    env = {"RUNNER_TEMP": str(tmp_path / "temp")}
    code = report_command.action_report({"results_files": patterns, **raw}, tmp_path, runner, env)
    return code, runner


def test_the_action_merges_globs_and_writes_the_results_outputs_and_summary(tmp_path: Path) -> None:
    write(tmp_path, fleet_docs(40, 4, failed=1, max_failures="1"))
    code, runner = action(tmp_path, "results/shard-1-*.json\n# the rest\nresults/shard-[234]-*.json\n")
    target = tmp_path / "temp" / "cloudbase-rollout-results.json"
    assert code == 0 and runner.errors == []
    assert json.loads(target.read_text(encoding="utf-8"))["totals"]["units"] == 40
    assert runner.output == {"succeeded": "39", "current": "0", "failed": "1", "skipped": "0",
                             "results_file": str(target)}
    assert runner.logs[0].startswith("report: 4 results file(s) of 4 shard(s), fleet ")
    assert runner.warnings[0].startswith("1 unit(s) failed, within max_failures: env-00000/api")
    assert len(runner.summaries) == 1


def test_the_action_refuses_with_exit_1_and_still_reports(tmp_path: Path) -> None:
    write(tmp_path, fleet_docs(40, 4)[:3])
    code, runner = action(tmp_path, "results/*.json", results_file="out/merged.json")
    assert code == 1
    assert runner.errors == [("Fleet report refused", "shard 4 of 4 missing: no results file holds it (did its "
                                                      "job fail before uploading its results?)")]
    assert (tmp_path / "out" / "merged.json").is_file() and runner.output["succeeded"] == "30"


def test_the_merged_file_is_never_its_own_input(tmp_path: Path) -> None:
    write(tmp_path, fleet_docs(20, 2))
    assert action(tmp_path, "results/*.json", results_file="results/merged.json")[0] == 0
    code, runner = action(tmp_path, "results/*.json", results_file="results/merged.json")
    assert code == 0 and runner.errors == [], "a second run does not merge the first run's file"


@pytest.mark.parametrize(("patterns", "expected"), [
    ("", "results_files: is required with command report"),
    ("# nothing\n", "results_files: is required with command report"),
    ("nothing/*.json", "results_files: 'nothing/*.json' matched no file in the workspace"),
    ("../*.json", "results_files: '../*.json' leaves the workspace (..)"),
    ("/etc/*.conf", "results_files: '/etc/*.conf' is outside the workspace"),
])
def test_bad_globs_are_invalid_input(tmp_path: Path, patterns: str, expected: str) -> None:
    write(tmp_path, fleet_docs(10, 1))
    code, runner = action(tmp_path, patterns)
    assert code == 2 and runner.errors[0][0] == "Invalid input" and runner.errors[0][1].startswith(expected)
    assert runner.output == {} and runner.logs == ["1 invalid input(s); nothing was merged."]


def test_an_absolute_glob_inside_the_workspace_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, fleet_docs(10, 1))
    assert action(tmp_path, str(tmp_path / "results" / "*.json"))[0] == 0


def test_a_symlink_out_of_the_workspace_is_refused_unread(tmp_path: Path) -> None:
    workspace, outside = tmp_path / "ws", tmp_path / "secret.json"
    workspace.mkdir()
    outside.write_text("{}", encoding="utf-8")
    os.symlink(outside, workspace / "shard.json")
    runner = Recorder()
    code = report_command.action_report({"results_files": "*.json"}, workspace, runner, {"RUNNER_TEMP": str(tmp_path)})
    assert code == 2 and "leads outside the workspace" in runner.errors[0][1]


def test_a_file_that_is_not_a_results_file_fails_the_action_with_2(tmp_path: Path) -> None:
    write(tmp_path, fleet_docs(10, 1))
    (tmp_path / "results" / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    code, runner = action(tmp_path, "results/*.json")
    assert code == 2 and "notes.json is not a results file" in runner.errors[0][1]


def test_the_real_runner_writes_outputs_and_summary_files(tmp_path: Path) -> None:
    write(tmp_path, fleet_docs(20, 2))
    out, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    env = {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(tmp_path)}
    runner = ActionRunner(env, Redactor())
    assert report_command.action_report({"results_files": "results/*.json"}, tmp_path, runner, env) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    values = {lines[k].split("<<")[0]: lines[k + 1] for k in range(0, len(lines), 3)}
    assert values == {"succeeded": "20", "current": "0", "failed": "0", "skipped": "0",
                      "results_file": str(tmp_path / "cloudbase-rollout-results.json")}
    assert summary.read_text(encoding="utf-8").startswith("### CloudBase Run fleet report")


# -- the CLI ------------------------------------------------------------------------------------------------

def cli(argv: list[str]) -> tuple[int, list[str], list[str]]:
    said: list[str] = []
    shown: list[str] = []
    code = report_command.cli_report(argv, say=said.append, show=shown.append)
    return code, said, shown


def test_the_cli_prints_the_counts_and_writes_the_file_only_when_asked(tmp_path: Path) -> None:
    paths = [str(p) for p in write(tmp_path, fleet_docs(20, 2, failed=1, max_failures="1"))]
    code, said, shown = cli(paths)
    assert code == 0 and shown == ["succeeded 19 current 0 failed 1 skipped 0 started 0 planned 0"]
    assert said[0].startswith("report: 2 results file(s)") and said[1].startswith("failed: `env-00000/api`")
    target = tmp_path / "merged.json"
    assert report_command.cli_report(paths, results_file=str(target), as_json=True, say=said.append,
                                     show=shown.append) == 0
    assert json.loads(shown[-1]) == json.loads(target.read_text(encoding="utf-8"))


def test_the_cli_exit_codes(tmp_path: Path) -> None:
    paths = [str(p) for p in write(tmp_path, fleet_docs(20, 2, failed=1))]
    code, said, _ = cli(paths)
    assert code == 1 and said[-1].startswith("error: 1 of the fleet's 20 units failed")
    assert report_command.cli_report(paths, max_failures="1", say=said.append, show=said.append) == 0
    assert cli([str(tmp_path)])[0] == 2


def test_the_cli_subcommand_parses_its_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(p) for p in write(tmp_path, fleet_docs(20, 2, failed=1))]
    assert report_command.cli_main([*paths, "--max-failures", "5%", "--results-file", str(tmp_path / "m.json")]) == 0
    captured = capsys.readouterr()
    assert captured.out == "succeeded 19 current 0 failed 1 skipped 0 started 0 planned 0\n"
    assert "report: 2 results file(s)" in captured.err and (tmp_path / "m.json").is_file()
    with pytest.raises(SystemExit) as caught:
        report_command.cli_main([])
    assert caught.value.code == 2
