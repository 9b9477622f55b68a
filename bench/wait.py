#!/usr/bin/env python3
"""How promptly a waiting step notices a healthy version, and what the wait costs in status calls.

Run by hand (never from the tests), from the repository root, after scripts/bootstrap:

    .venv/bin/python bench/wait.py                       # intervals 1, 2, 5 s; settle 7 s; 3 runs each
    .venv/bin/python bench/wait.py --intervals 5 --settle 20 --runs 5 --services 1 10

For each run: a fresh emulator on 127.0.0.1 (real clock) whose versions settle to `normal`
`--settle` seconds after the roll-update; the Action in a subprocess exactly as the runner runs
it (entrypoint.py, INPUT_* variables) with wait, for N services at once. Measured:
- lag: from the moment the last version turned normal (the emulator's settle time) to the
  step's exit; the target is within one wait_interval_seconds plus 1 s;
- status calls (getcsversiondetail and getcsversionlist) per service per minute of waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cloudbase_rollout.emulator.server import Emulator, State  # noqa: E402

TOKEN = "bench-token-0123456789"  # noqa: S105 (the emulator's, not a secret)


def one_run(interval: int, settle: float, services: int) -> tuple[float, float, float]:
    """(lag after the last version turned normal, seconds waited, status calls per service per minute)."""
    state = State(TOKEN, settle_seconds=settle)
    server = Emulator(state).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = _env(server.url, tmp, interval, services)
            started = time.time()
            done = subprocess.run([sys.executable, str(ROOT / "entrypoint.py")], env=env, cwd=tmp,
                                  capture_output=True, text=True, timeout=settle + 120)
            ended = time.time()
        if done.returncode != 0:
            raise SystemExit(f"the step failed:\n{done.stdout}\n{done.stderr}")
        healthy_at = max(r["received_at"] for r in state.rollouts) + settle
        waited = ended - max(r["received_at"] for r in state.rollouts)
        per_minute = state.reads / services / (waited / 60)
        del started
        return ended - healthy_at, waited, per_minute
    finally:
        server.shutdown()
        server.server_close()


def _env(url: str, tmp: str, interval: int, services: int) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    inputs = {"ACCESS_TOKEN": TOKEN, "API_BASE_URL": url, "ENV_ID": "bench-env", "SERVER_NAME": "api",
              "IMAGE": "ccr.ccs.tencentyun.com/ns/app:v1", "WAIT": "true",
              "WAIT_INTERVAL_SECONDS": str(interval), "WAIT_TIMEOUT_SECONDS": "600"}
    if services > 1:
        inputs["SERVICES"] = json.dumps([{"server_name": f"svc{i}"} for i in range(services)])
    return {**keep, **{f"INPUT_{k}": v for k, v in inputs.items()}, "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": os.path.join(tmp, "out"), "GITHUB_STEP_SUMMARY": os.path.join(tmp, "summary"),
            "GITHUB_WORKSPACE": tmp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intervals", type=int, nargs="+", default=[1, 2, 5])
    parser.add_argument("--settle", type=float, default=7.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--services", type=int, nargs="+", default=[1])
    o = parser.parse_args()
    print("| services | wait_interval_seconds | settle (s) | lag after normal, median (max) | target | "
          "status calls / service / min |")
    print("|---|---|---|---|---|---|")
    for services in o.services:
        for interval in o.intervals:
            runs = [one_run(interval, o.settle, services) for _ in range(o.runs)]
            lags = [lag for lag, _, _ in runs]
            calls = statistics.median(c for _, _, c in runs)
            print(f"| {services} | {interval} | {o.settle:g} | {statistics.median(lags):.2f} s "
                  f"({max(lags):.2f} s) | < {interval + 1} s | {calls:.1f} |")


if __name__ == "__main__":
    main()
