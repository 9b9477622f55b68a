"""`command: report` for the Action and `cloudbase-rollout report FILE...` for the CLI: glue round merge.py.

Find the files (the Action: workspace globs, one a line; the CLI: the paths given), merge,
write the merged results file atomically, then say it: the Action with a step summary,
annotations and the count outputs; the CLI with stderr lines and one stdout line (or --json).
It calls no API and needs no token, so it can run in a job that holds no secret.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from cloudbase_rollout.errors import InvalidInput, Problem, RolloutError
from cloudbase_rollout.front import merge, results_file

DEFAULT_RESULTS = results_file.DEFAULT_NAME
COUNTS = ("succeeded", "current", "failed", "skipped")
#: GitHub keeps at most 1 MiB of summary per step; each section gets a share well under it.
SECTION_BYTES = {"failed": 256 << 10, "started": 64 << 10, "skipped": 128 << 10, "done": 64 << 10}
CELL = 200
REFUSED = "Fleet report refused"


class Runner(Protocol):
    """What front/action.py's Runner gives the report (every text redacted on the way out)."""

    def log(self, message: str) -> None: ...
    def warning(self, message: str, title: str = ...) -> None: ...
    def error(self, message: str, title: str) -> None: ...
    def outputs(self, values: Mapping[str, str]) -> None: ...
    def summary(self, markdown: str) -> None: ...


def action_report(raw: Mapping[str, str], workspace: Path, runner: Runner,
                  env: Mapping[str, str] | None = None) -> int:
    """The Action's report step: exit 0, 1 (refused, or the fleet's failures exceed max_failures) or 2."""
    env = os.environ if env is None else env
    try:
        target = results_path(raw.get("results_file", ""), env, workspace)
        paths = resolve(raw.get("results_files", ""), workspace, exclude=target)
        merged = merge.merge(paths, _given(raw, "max_failures"))
        write(merged.document, target)
    except InvalidInput as error:
        for problem in error.problems:
            runner.error(str(problem), title=error.title)
        runner.log(f"{len(error.problems)} invalid input(s); nothing was merged.")
        return error.exit_code
    except RolloutError as error:
        runner.error(str(error), title=error.title)
        return error.exit_code
    runner.log(headline(merged))
    for refusal in merged.refusals:
        runner.error(refusal, title=REFUSED)
    failed = [u for u in merged.document["units"] if u["state"] == "failed"]
    if failed and not merged.refusals:
        runner.warning(f"{len(failed)} unit(s) failed, within max_failures: " + ", ".join(_name(u) for u in failed[:20])
                       + (" ..." if len(failed) > 20 else ""))
    runner.summary(summary(merged))
    runner.outputs(outputs(merged, target))
    return merged.exit_code


def _given(raw: Mapping[str, str], name: str) -> str | None:
    value = raw.get(name)
    return value if value is not None and value.strip() else None


results_path = results_file.results_path


def resolve(text: str, workspace: Path, exclude: Path | None = None) -> list[Path]:
    """Workspace globs, one a line (blank lines and # comments skipped), to files inside the workspace.

    Each pattern must match a file: a pattern that matches nothing is a typo far more often than an
    empty fleet. A match that leads outside the workspace (a symlink) is refused, never read. The
    merged file itself (`exclude`) is never an input: a second run over `*.json` would merge it again.
    """
    home = Path(os.path.realpath(workspace))
    skip = os.path.realpath(exclude) if exclude is not None else None
    patterns = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if not patterns:
        raise InvalidInput([Problem("results_files", "is required with command report: workspace globs of the "
                                    "results files to merge, one a line (e.g. results/*.json)")])
    found: dict[str, Path] = {}
    problems: list[Problem] = []
    for pattern in patterns:
        matches, problem = _matches(pattern, home, workspace)
        problems += [problem] if problem else []
        for path in matches:
            real = os.path.realpath(path)
            if os.path.commonpath([real, str(home)]) != str(home):
                problems.append(Problem("results_files", f"{path} leads outside the workspace {home} ({real})"))
            elif real != skip:
                found.setdefault(real, path)
    if problems:
        raise InvalidInput(problems)
    return list(found.values())


def _matches(pattern: str, home: Path, given: Path) -> tuple[list[Path], Problem | None]:
    path = Path(pattern)
    if path.is_absolute():
        inside = [path.relative_to(root) for root in (home, given) if path.is_relative_to(root)]
        if not inside:
            return [], Problem("results_files", f"{pattern!r} is outside the workspace {home}")
        path = inside[0]
    if ".." in path.parts:
        return [], Problem("results_files", f"{pattern!r} leaves the workspace (..); give a glob inside it")
    try:
        matches = sorted(p for p in home.glob(str(path)) if p.is_file())
    except (ValueError, NotImplementedError) as error:
        return [], Problem("results_files", f"{pattern!r} is not a glob that can be used ({error})")
    if not matches:
        return [], Problem("results_files", f"{pattern!r} matched no file in the workspace {home}")
    return matches, None


def write(document: dict[str, Any], path: Path) -> None:
    """The merged file, as a step's results file is written (atomically: front/results_file.py)."""
    results_file.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")), path)


def headline(merged: merge.Merged) -> str:
    doc, totals = merged.document, merged.totals
    count = merged.docs[0]["shard"]["count"] if merged.docs else 0
    said = ", ".join(f"{totals[s]} {s}" for s in merge.STATES if totals[s])
    return (f"report: {len(merged.paths)} results file(s) of {count} shard(s), fleet "
            f"{doc['fleet']['fingerprint'][:12]} of {doc['fleet']['units']} units: {said or 'no units'}")


def outputs(merged: merge.Merged, target: Path) -> dict[str, str]:
    return {**{name: str(merged.totals[name]) for name in COUNTS}, "results_file": str(target)}


def summary(merged: merge.Merged) -> str:
    """Counts per shard and in all; every failed, started and skipped unit with its reason; the rest collapsed."""
    doc = merged.document
    budget = doc["fleet"].get("max_failures", "0")
    verdict = "**refused**" if merged.refusals else f"within max_failures {cell(budget)} ({merged.allowed} allowed)"
    lines = ["### CloudBase Run fleet report", "",
             f"{len(merged.docs)} results file(s), fleet `{doc['fleet']['fingerprint'][:12]}` of "
             f"{doc['fleet']['units']} units, command {doc['command']}: {verdict}", ""]
    lines += [f"- {cell(r, 600)}" for r in merged.refusals[:50]] + ([""] if merged.refusals else [])
    lines += _shard_table(merged)
    units = doc["units"]
    for state, title in (("failed", "Failed"), ("started", "Started, not watched to their end"),
                         ("skipped", "Skipped")):
        chosen = [u for u in units if u["state"] == state]
        if chosen:
            lines += ["", f"#### {title} ({len(chosen)})", "", *_capped(chosen, SECTION_BYTES[state])]
    done = [u for u in units if u["state"] in ("succeeded", "current", "planned")]
    if done:
        lines += ["", f"<details><summary>Succeeded, current or planned ({len(done)})</summary>", "",
                  *_capped(done, SECTION_BYTES["done"]), "", "</details>"]
    return "\n".join(lines) + "\n"


def _shard_table(merged: merge.Merged) -> list[str]:
    head = ("shard", "units", *merge.STATES, "finished")
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for doc in merged.docs:
        counts = {s: 0 for s in merge.STATES}
        for unit in doc["units"]:
            counts[unit["state"]] += 1
        finished = ("yes" if not doc.get("stopped") else f"stopped: {cell(doc['stopped'], 40)}") \
            if doc["complete"] else "no"
        rows.append(f"| {doc['shard']['index']}/{doc['shard']['count']} | {len(doc['units'])} | "
                    + " | ".join(str(counts[s]) for s in merge.STATES) + f" | {finished} |")
    totals = merged.totals
    rows.append(f"| **all** | {totals['units']} | " + " | ".join(str(totals[s]) for s in merge.STATES) + " | |")
    return rows


def _capped(units: list[dict[str, Any]], budget: int) -> list[str]:
    shown, left = capped([f"- {_line(unit)}" for unit in units], budget)
    return [*shown, f"- ... and {left} more: every unit is in the results file"] if left else shown


def capped(lines: list[str], budget: int) -> tuple[list[str], int]:
    """As many of `lines` as fit in `budget` bytes, and how many did not: GitHub's summary limit is in
    bytes, and a Chinese errmsg is 3 bytes a character. The merged report and a fleet step's summary both
    cut their lists here."""
    used = 0
    for count, line in enumerate(lines):
        used += len(line.encode("utf-8")) + 1
        if used > budget:
            return lines[:count], len(lines) - count
    return lines, 0


def _line(unit: dict[str, Any]) -> str:
    error = unit.get("error") or {}
    code = f" (errcode {error['errcode']})" if error.get("errcode") is not None else ""
    why = f": {cell(error['reason'])}{code}" if error.get("reason") else ""
    extra = "".join(f", {key} {cell(unit[key], 130)}" for key in ("version_name", "run_id", "status") if unit.get(key))
    return f"`{cell(_name(unit), 260)}` wave {unit['wave']}, {unit['state']}{extra}{why}"


def _name(unit: dict[str, Any]) -> str:
    return f"{unit['env_id']}/{unit['server_name']}"


def cell(value: Any, limit: int = CELL) -> str:
    """Text from a file for markdown: bounded, printable, no table or HTML breaking characters."""
    text = "".join(c if c.isprintable() else " " for c in str(value)[:limit])
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("`", "'") or "-"


def cli_report(files: Sequence[str], *, max_failures: str | None = None, results_file: str | None = None,
               as_json: bool = False, say: Callable[[str], None] | None = None,
               show: Callable[[str], None] = print) -> int:
    """`cloudbase-rollout report FILE...`: progress and refusals to stderr; stdout one line of counts
    (or --json: the merged document); the merged file only when --results-file is given."""
    say = say or (lambda message: print(message, file=sys.stderr, flush=True))
    try:
        merged = merge.merge([Path(f) for f in files], max_failures)
        if results_file:
            write(merged.document, Path(results_file))
    except InvalidInput as error:
        for problem in error.problems:
            say(f"error: {problem}")
        return error.exit_code
    except RolloutError as error:
        say(f"error: {error}")
        return error.exit_code
    say(headline(merged))
    for unit in merged.document["units"]:
        if unit["state"] in ("failed", "started", "skipped"):
            say(f"{unit['state']}: {_line(unit)}")
    for refusal in merged.refusals:
        say(f"error: {refusal}")
    totals = merged.totals
    show(json.dumps(merged.document, ensure_ascii=False) if as_json
         else " ".join(f"{name} {totals[name]}" for name in merge.STATES))
    return merged.exit_code


def cli_main(argv: Sequence[str]) -> int:
    """The `report` subcommand's own flags (it takes none of the rollout's)."""
    p = argparse.ArgumentParser(prog="cloudbase-rollout report",
                                description="merge results files (one per shard) into one and judge the fleet; "
                                "calls no API, needs no token. Exit 0 done, 1 refused, 2 not a results file.")
    p.add_argument("files", nargs="+", metavar="FILE", help="results files, one per shard")
    p.add_argument("--max-failures", metavar="MAX_FAILURES", help=merge.BUDGET_ACCEPTS.replace("%", "%%")
                   + "; default: what the files record")
    p.add_argument("--results-file", metavar="PATH", help="write the merged results file here")
    p.add_argument("--json", action="store_true", help="print the merged results file to stdout")
    args = p.parse_args(list(argv))
    return cli_report(args.files, max_failures=args.max_failures, results_file=args.results_file, as_json=args.json)
