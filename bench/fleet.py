#!/usr/bin/env python3
"""What a fleet costs, against the ideal, side by side (issue 12): run by hand, never from the tests.

    .venv/bin/python bench/fleet.py                    # everything below; prints a Markdown table
    .venv/bin/python bench/fleet.py --units 1000 --skip-scale --skip-merge

1. Waves: `--units` (1,000) units in 3 waves (`1, 10%, 100%`) with wait and promote, settle 2 s, interval
   1 s, max_parallel 1000, the emulator in its own process. Ideal: per wave the slowest settle plus one
   interval (once per 1000 units of the wave: max_parallel), plus the calls at the emulator's
   measured rate (`--rate-calls` detail reads on 20 threads, as the step's pool).
   Target: within 1.5x.
2. Calls per unit: from the emulator's count (at most 1 roll-update, 2 reads before it,
   settle/interval + 2 reads after, 1 release).
3. Scale: 10,000 units the same way: the step's peak threads (sampled from /proc) and peak RSS
   (getrusage of the child). Targets: at most 50 threads, 200 MB.
4. dry_run of 10,000 units, a fresh process: target under 2 s.
5. The report of 256 shard files of 40 units each (bench/merge.py): target under 2 s.

The step runs as the runner runs it: `python -m cloudbase_rollout.front.action` with INPUT_* variables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TOKEN = "emulator-access-token"  # noqa: S105 (the emulator's documented default, not a secret)
SETTLE, INTERVAL = 2.0, 1
WAVES = "1, 10%, 100%"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator(units: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cloudbase_rollout", "emulator", "--port", str(port),
                             "--settle-seconds", str(SETTLE), "--seed-envs", str(units), "--seed-services", "api"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/_emulator/faults", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the emulator did not start")


def env_ids(units: int) -> list[str]:
    """The emulator's seeded env_ids: the same seed gives the same names (emulator/fleet.py)."""
    from cloudbase_rollout.emulator import State

    return State(TOKEN).seed_fleet(units, services=("api",))


def calls(url: str) -> tuple[int, int]:
    """Every call the emulator let through (its quota counts them all), and the roll-updates among them."""
    record = json.loads(urllib.request.urlopen(f"{url}/_emulator/rollouts").read())
    quota = json.loads(urllib.request.urlopen(f"{url}/_emulator/faults").read())["quota"]
    return int(quota["passed"]), len(record["rollouts"])


def rate(url: str, env_id: str, count: int) -> float:
    """Calls per second the emulator serves (detail reads on 20 threads, as the step's pool)."""
    body = json.dumps({"env": env_id, "service_name": "api", "version_name": "api-001"}).encode()
    address = f"{url}/componenttcb/getcsversiondetail?access_token={TOKEN}"

    def one(_i: int) -> None:
        request = urllib.request.Request(address, body, {"Content-Type": "application/json"})
        urllib.request.urlopen(request).read()

    start = time.perf_counter()
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(one, range(count)))
    return count / (time.perf_counter() - start)


def step(url: str, targets: list[str], tmp: Path, **extra: str) -> dict[str, Any]:
    """The Action in a fresh process; wall time, peak threads, peak RSS (MB), exit code, outputs."""
    (tmp / "targets.txt").write_text("\n".join(targets), encoding="utf-8")
    inputs = {"access_token": TOKEN, "api_base_url": url, "targets_file": "targets.txt", "server_name": "api",
              "image": "ccr.ccs.tencentyun.com/ns/api:v2", "waves": WAVES, "max_parallel": "1000",
              "promote": "true", "wait_interval_seconds": str(INTERVAL), "max_failures": "0", **extra}
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp), "RUNNER_TEMP": str(tmp),
           "GITHUB_OUTPUT": str(tmp / "output"), "GITHUB_STEP_SUMMARY": str(tmp / "summary"),
           **{f"INPUT_{k.upper()}": v for k, v in inputs.items()}}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cloudbase_rollout.front.action"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0]
    sampler = threading.Thread(target=_sample_threads, args=(proc, peak), daemon=True)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - start
    sampler.join(1)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall": wall, "threads": peak[0], "rss_mb": max(rss, before) / 1024, "code": code}


def _sample_threads(proc: subprocess.Popen[bytes], peak: list[int]) -> None:
    while proc.poll() is None:
        try:
            text = Path(f"/proc/{proc.pid}/status").read_text()
            threads = int(text.split("Threads:")[1].split()[0])
            peak[0] = max(peak[0], threads)
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.1)


def waves_run(units: int, rate_calls: int) -> dict[str, Any]:
    proc, url = start_emulator(units)
    try:
        targets = env_ids(units)
        served = rate(url, targets[0], rate_calls)
        before, _ = calls(url)
        with tempfile.TemporaryDirectory() as tmp:
            found = step(url, targets, Path(tmp))
        after, rolled = calls(url)
    finally:
        proc.terminate()
        proc.wait()
    made = after - before
    # Per wave the slowest settle plus one interval, once per max_parallel (1000) units of the wave.
    rounds = sum(-(-size // 1000) for size in wave_sizes(units))
    ideal = rounds * (SETTLE + INTERVAL) + made / served
    return {"units": units, **found, "calls": made, "roll_updates": rolled, "per_unit": made / units,
            "rate": served, "ideal": ideal, "ratio": found["wall"] / ideal}


def wave_sizes(units: int) -> list[int]:
    from cloudbase_rollout.inputs import fleet, waves

    return fleet.waves_of(units, waves.parse_waves(WAVES))


def dry_run(units: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        targets = [f"env-{i:05d}" for i in range(units)]
        return float(step("http://127.0.0.1:9", targets, Path(tmp), dry_run="true")["wall"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units", type=int, default=1000)
    p.add_argument("--scale-units", type=int, default=10000)
    p.add_argument("--rate-calls", type=int, default=3000)
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--skip-merge", action="store_true")
    args = p.parse_args()
    rows = [waves_run(args.units, args.rate_calls)]
    if not args.skip_scale:
        rows.append(waves_run(args.scale_units, args.rate_calls))
    print("| units | wall s | ideal s | ratio | calls/unit | roll-updates | emulator calls/s | threads | RSS MB "
          "| exit |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['units']} | {r['wall']:.1f} | {r['ideal']:.1f} | {r['ratio']:.2f}x | {r['per_unit']:.2f} | "
              f"{r['roll_updates']} | {r['rate']:.0f} | {r['threads']} | {r['rss_mb']:.0f} | {r['code']} |")
    print(f"\ndry_run of {args.scale_units} units, fresh process: {dry_run(args.scale_units):.2f} s (target < 2 s)")
    if not args.skip_merge:
        sys.path.insert(0, str(ROOT / "bench"))
        import merge  # bench/merge.py

        print("\nreport of 256 shard files x 40 units:", merge.run(256, 40, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
