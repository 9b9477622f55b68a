#!/usr/bin/env python3
"""What `command: report` costs: 256 shard files of 40 units each merged into one (issue: under 2 s).

Run by hand (never from the tests), from the repository root:

    .venv/bin/python bench/merge.py                  # 256 x 40, 5 rounds; prints a Markdown table
    .venv/bin/python bench/merge.py --shards 8 --per-shard 1250

Measures, on files written once to a temporary folder (their writing is not timed):
1. in-process: merge.merge (read, validate against schema/results.schema.json, every refusal
   check, the budget) + the step summary + the merged file written; median and worst of --rounds;
2. a fresh process: `cloudbase-rollout report FILE... --results-file OUT`, interpreter start and
   imports included, as a CI step pays it.

`run(shards, per_shard, rounds)` returns the numbers, for bench/fleet.py to call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cloudbase_rollout.front import merge, report_command  # noqa: E402
from cloudbase_rollout.inputs import shard  # noqa: E402


class _Unit:
    def __init__(self, env_id: str, server_name: str) -> None:
        self.env_id, self.server_name = env_id, server_name


def make_files(folder: Path, shards: int, per_shard: int) -> list[Path]:
    """`shards` results files of exactly `per_shard` units each, every unit in its own shard, one failed."""
    placed: list[list[_Unit]] = [[] for _ in range(shards)]
    n = 0
    while any(len(p) < per_shard for p in placed):
        u = _Unit(f"customer-{n:06d}-6gxk23no5605e14f", "shop-api")
        home = placed[shard.shard_of(u.env_id, u.server_name, shards) - 1]
        if len(home) < per_shard:
            home.append(u)
        n += 1
    everyone = [u for p in placed for u in p]
    fleet = {"units": len(everyone), "fingerprint": shard.fingerprint(everyone), "max_failures": "1%"}
    paths = []
    for index, units in enumerate(placed, 1):
        records = [_record(u, failed=index == 1 and k == 0) for k, u in enumerate(units)]
        totals = {s: sum(1 for r in records if r["state"] == s) for s in merge.STATES}
        doc = {"format": "cloudbase-rollout/results", "version": 1, "tool_version": "bench", "command": "rollout",
               "dry_run": False, "complete": True, "fleet": fleet, "shard": {"index": index, "count": shards},
               "waves": [1, len(records) - 1], "units": records, "totals": {"units": len(records), **totals},
               "budget_exceeded": False, "stopped": None}
        path = folder / f"results-{index}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        paths.append(path)
    return paths


def _record(u: _Unit, failed: bool) -> dict[str, Any]:
    error = {"errcode": None, "errmsg": None, "may_have_started": False,
             "reason": "version shop-api-007 settled in status build_fail"} if failed else None
    return {"id": f"{u.env_id}/{u.server_name}", "env_id": u.env_id, "server_name": u.server_name, "wave": 2,
            "state": "failed" if failed else "succeeded", "run_id": None if failed else "1mz9GjJgyY53bh",
            "version_name": "shop-api-007", "status": "build_fail" if failed else "normal",
            "promoted": not failed, "release_order_id": None if failed else 26182, "waited_seconds": 31,
            "changes": None, "error": error}


def once(paths: list[Path], out: Path) -> float:
    started = time.perf_counter()
    merged = merge.merge(paths)
    report_command.summary(merged)
    report_command.write(merged.document, out)
    elapsed = time.perf_counter() - started
    assert merged.refusals == [], merged.refusals
    return elapsed


def run(shards: int = 256, per_shard: int = 40, rounds: int = 5) -> dict[str, float]:
    """Seconds: median and worst in-process, and one fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_files(folder, shards, per_shard)
        times = [once(paths, folder / "merged.json") for _ in range(rounds)]
        code = ("import sys; from cloudbase_rollout.front.report_command import cli_main; "
                "sys.exit(cli_main(sys.argv[1:]))")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, *map(str, paths), "--results-file",
                               str(folder / "cli.json")], capture_output=True, text=True, timeout=120,
                              env={"PYTHONPATH": str(ROOT / "src")}, check=False)
        process = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"the report process failed ({done.returncode}): {done.stderr[-500:]}")
    return {"median": statistics.median(times), "worst": max(times), "process": process}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--shards", type=int, default=256)
    p.add_argument("--per-shard", type=int, default=40)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    got = run(args.shards, args.per_shard, args.rounds)
    units = args.shards * args.per_shard
    print(f"| report of {args.shards} shards x {args.per_shard} units ({units}) | seconds |\n|---|---|")
    print(f"| in-process, median of {args.rounds} | {got['median']:.3f} |")
    print(f"| in-process, worst | {got['worst']:.3f} |")
    print(f"| a fresh process (cloudbase-rollout report) | {got['process']:.3f} |")
    return 0 if got["process"] < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
