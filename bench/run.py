#!/usr/bin/env python3
"""What a deploy step costs: our entrypoint against the floor, imports, footprint, image, scale.

Run by hand (never from the tests), from the repository root, after scripts/bootstrap:

    .venv/bin/python bench/run.py                 # everything; prints a Markdown report
    .venv/bin/python bench/run.py --runs 40 --also python3.13 --out /tmp/bench.md
    .venv/bin/python bench/run.py --skip-footprint --skip-image

Sections:
1. Process cost: `entrypoint.py` doing a full rollout (validation, request, outputs,
   summary) against the bundled emulator on 127.0.0.1, and bench/floor.py (urllib POST
   of the same body, one output line), interleaved A B A B, --runs each; medians and the
   ratio. References ride along in each round: the same POST with http.client (urllib's
   opener on 3.13 loads the system CA store even for http://), the bare interpreter, and
   our entrypoint without each of its two cuts (compiled validator, gc settings).
2. Imports: `python -X importtime entrypoint.py`, top ten; and what single imports cost
   on top of what a rollout needs anyway (median of fresh processes).
3. Footprint: the runtime closure (requirements/runtime.txt) installed into a fresh
   venv, minus a bare venv; per distribution.
4. Image (podman and localhost/cloudbase-rollout:ci present, else skipped): image size
   over the base, build time with the base cached (no layer cache), container run time.
5. Scale: N = 1, 10, 50 services from one process (the `services` input) against an
   emulator answering after 0.2 s; "not available" while the action lacks the input.

Everything talks to 127.0.0.1 only; every loop is bounded. Both sides of a comparison run
the same interpreter from cached bytecode (PYTHONDONTWRITEBYTECODE is dropped, as the
image has pip-compiled bytecode).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "entrypoint.py"
FLOOR = ROOT / "bench" / "floor.py"
TOKEN = "bench-token-4f1c2b9e"  # noqa: S105 (the emulator's, on loopback)
IMAGE = "localhost/cloudbase-rollout:ci"
BENCH_IMAGE = "localhost/cloudbase-rollout:bench"
BASE_IMAGE = "docker.io/library/python:3.13-slim"
HIDE_COMPILED = (  # our entrypoint, with the compiled validator hidden: validation falls back to jsonschema
    "import runpy, sys; sys.modules['cloudbase_rollout.vocabulary._compiled'] = None; "
    f"sys.argv = [{str(ENTRYPOINT)!r}]; runpy.run_path({str(ENTRYPOINT)!r}, run_name='__main__')"
)
NO_GC_SETTINGS = (  # entrypoint.py as it was: no gc.disable() / gc.freeze() around the imports
    "import sys; from cloudbase_rollout.front.action import main; sys.exit(main())"
)
BEFORE = "import sys; sys.modules['cloudbase_rollout.vocabulary._compiled'] = None; " + NO_GC_SETTINGS
FLOOR_HTTP_CLIENT = """
import http.client, json, os, urllib.parse
url = urllib.parse.urlsplit(os.environ["FLOOR_URL"])
connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
connection.request("POST", f"{url.path}?{url.query}", body=os.environ["FLOOR_BODY"].encode("utf-8"),
                   headers={"Content-Type": "application/json; charset=utf-8"})
run_id = json.load(connection.getresponse())["run_id"]
with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as output:
    output.write(f"run_id={run_id}\\n")
"""
TARGETS = {"ratio": 2.0, "ratio_stretch": 1.5, "closure_mb": 8.0, "image_mb": 12.0, "scale": 3.0}


def say(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the emulator and the runner's environment -----------------------------------


@contextmanager
def emulator(python: str, delay: float = 0.0) -> Iterator[str]:
    """The bundled emulator in its own process on 127.0.0.1; yields its base URL."""
    cmd = [python, "-c", "import sys; from cloudbase_rollout.front.cli import main; sys.exit(main())",
           "emulator", "--host", "127.0.0.1", "--port", "0", "--token", TOKEN, "--delay", str(delay)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_env())
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not match:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield match.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def emulator_rollouts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/_emulator/rollouts", timeout=10) as response:
        rollouts: list[dict[str, Any]] = json.load(response)["rollouts"]
    return rollouts


def clean_env() -> dict[str, str]:
    drop = ("INPUT_", "GITHUB_", "RUNNER_")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(drop) and not k.lower().endswith("_proxy") and k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def step_env(work: Path, url: str, **inputs: str) -> dict[str, str]:
    """The environment the GitHub runner gives a Docker action, with the defaults of action.yml."""
    for sub in ("workspace", "file_commands"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    env = clean_env()
    env.update({
        "GITHUB_ACTIONS": "true", "CI": "true",
        "GITHUB_WORKSPACE": str(work / "workspace"),
        "GITHUB_OUTPUT": str(work / "file_commands" / "output"),
        "GITHUB_STEP_SUMMARY": str(work / "file_commands" / "summary"),
        "GITHUB_REPOSITORY": "octo/shop", "GITHUB_SHA": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
        "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_SERVER_URL": "https://github.com",
    })
    values = {
        "access_token": TOKEN, "api_base_url": url, "env_id": "prod-6gxk23no5605e14f", "server_name": "api",
        "image": "ccr.ccs.tencentyun.com/ns/shop-api", "image_tag": "v1", "flow_ratio": "100",
        "container_port": "80", "version_name": "latest", "upload_type": "image",
        "timeout_seconds": "30", "max_attempts": "3", "dry_run": "false",
        **inputs,
    }
    env.update({f"INPUT_{name.upper()}": value for name, value in values.items()})
    return env


def timed_run(cmd: list[str], env: dict[str, str], check_output: bool = True) -> float:
    output = Path(env["GITHUB_OUTPUT"]) if "GITHUB_OUTPUT" in env else None
    if output is not None:
        output.write_text("", encoding="utf-8")
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=env.get("GITHUB_WORKSPACE"), capture_output=True, text=True,
                          timeout=120)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[1:3]} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    if check_output and output is not None and "run_id" not in output.read_text(encoding="utf-8"):
        raise RuntimeError(f"{cmd[1:3]} wrote no run_id output")
    return elapsed


# -- 1. process cost ---------------------------------------------------------------


def process_cost(python: str, url: str, runs: int, work: Path) -> dict[str, Any]:
    ours_env = step_env(work / "ours", url)
    timed_run([python, str(ENTRYPOINT)], ours_env)  # also writes our bytecode caches
    sent = emulator_rollouts(url)[-1]["body"]
    floor_env = step_env(work / "floor", url)
    floor_env["FLOOR_URL"] = f"{url}/componenttcb/rollupdatecloudbaserunserverversion?access_token={TOKEN}"
    floor_env["FLOOR_BODY"] = json.dumps(sent, ensure_ascii=False)
    variants: dict[str, tuple[list[str], dict[str, str], bool]] = {
        "ours": ([python, str(ENTRYPOINT)], ours_env, True),
        "floor": ([python, str(FLOOR)], floor_env, True),
        "floor, http.client": ([python, "-c", FLOOR_HTTP_CLIENT], floor_env, True),
        "bare interpreter": ([python, "-c", "pass"], floor_env, False),
        "ours, jsonschema path": ([python, "-c", HIDE_COMPILED], step_env(work / "js", url), True),
        "ours, no gc settings": ([python, "-c", NO_GC_SETTINGS], step_env(work / "nogc", url), True),
        "ours before (jsonschema path, no gc settings)": ([python, "-c", BEFORE], step_env(work / "before", url),
                                                          True),
    }
    for cmd, env, check in variants.values():  # warm-up: page cache, bytecode
        for _ in range(3):
            timed_run(cmd, env, check)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(runs):
        for name, (cmd, env, check) in variants.items():
            times[name].append(timed_run(cmd, env, check))
        if (i + 1) % 10 == 0:
            say(f"  process cost: {i + 1}/{runs} rounds")
    medians = {name: median(values) for name, values in times.items()}
    return {"runs": runs, "times": times, "medians": medians, "ratio": medians["ours"] / medians["floor"],
            "ratio_http_client": medians["ours"] / medians["floor, http.client"],
            "body_bytes": len(floor_env["FLOOR_BODY"].encode("utf-8"))}


# -- 2. imports ----------------------------------------------------------------------


def importtime(python: str, url: str, work: Path, repeats: int = 5) -> dict[str, Any]:
    env = step_env(work / "importtime", url)
    samples: dict[str, list[tuple[int, int, int]]] = {}
    for _ in range(repeats):
        proc = subprocess.run([python, "-X", "importtime", str(ENTRYPOINT)], env=env, cwd=env["GITHUB_WORKSPACE"],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(proc.stdout + proc.stderr)
        for line in proc.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if m:
                samples.setdefault(m[4], []).append((int(m[1]), int(m[2]), len(m[3]) // 2))
    rows = [(name, median([s[0] for s in v]) / 1000, median([s[1] for s in v]) / 1000, v[0][2])
            for name, v in samples.items()]
    top_level_ms = sum(cum for _, _, cum, depth in rows if depth == 0)
    return {"modules": len(rows), "top_level_ms": top_level_ms,
            "by_cumulative": sorted(rows, key=lambda r: -r[2])[:10],
            "by_self": sorted(rows, key=lambda r: -r[1])[:10],
            "has": {name for name, *_ in rows}}


MARGINAL = [
    # (what, set-up, then timed)
    ("urllib.request + json (the floor's imports)", "", "import urllib.request, json"),
    ("requests, on top of urllib.request + json", "import urllib.request, json", "import requests"),
    ("requests, from a bare interpreter", "", "import requests"),
    ("jsonschema, on top of a rollout's imports", "import cloudbase_rollout.front.action", "import jsonschema"),
    ("jsonschema, from a bare interpreter", "", "import jsonschema"),
    ("github_action_utils, on top of requests", "import requests", "import github_action_utils"),
    ("dataclasses, on top of requests + github_action_utils", "import requests, github_action_utils",
     "import dataclasses"),
    ("decimal, on top of requests + github_action_utils", "import requests, github_action_utils", "import decimal"),
    ("email.utils, on top of requests", "import requests", "import email.utils"),
    ("charset_normalizer, on top of urllib3", "import urllib3", "import charset_normalizer"),
    ("importlib.metadata (urllib3.http2 imports it)", "import urllib.request, json", "import importlib.metadata"),
    ("cloudbase_rollout.front.action (everything), from a bare interpreter", "",
     "import cloudbase_rollout.front.action"),
    ("TLS set-up, urllib: ssl.create_default_context() (system CA store)", "import ssl",
     "ssl.create_default_context()"),
    ("TLS set-up, requests: load certifi's CA bundle", "import ssl, certifi",
     "ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(certifi.where())"),
]


def marginal_imports(python: str, repeats: int) -> list[tuple[str, float, float]]:
    """(label, median ms, min ms) per MARGINAL row; rows interleaved so load spikes hit all alike."""
    env = clean_env()
    codes = [f"import time\n{setup}\nt = time.perf_counter()\n{timed}\nprint(time.perf_counter() - t)"
             for _, setup, timed in MARGINAL]
    values: list[list[float]] = [[] for _ in MARGINAL]
    for _ in range(repeats):
        for i, code in enumerate(codes):
            proc = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=60)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr)
            values[i].append(float(proc.stdout) * 1000)
    return [(label, median(v), min(v)) for (label, _, _), v in zip(MARGINAL, values, strict=True)]


# -- 3. footprint --------------------------------------------------------------------


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def site_packages(venv: Path) -> Path:
    found = list(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages in {venv}")
    return found[0]


def base_interpreter(python: str) -> str:
    """The interpreter a venv was made from (venvs are made from it, not from the venv)."""
    code = ("import sys, os; v = sys.version_info; "
            "print(os.path.join(sys.base_prefix, 'bin', f'python{v[0]}.{v[1]}'))")
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    return found if Path(found).exists() else python


def runtime_venv(base: str, venv: Path, with_package: bool = True) -> str:
    """A fresh venv with requirements/runtime.txt (hash-locked) and, by a .pth, our src/; its python."""
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300, capture_output=True)
    python = str(venv / "bin" / "python")
    proc = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--require-hashes", "-r", str(ROOT / "requirements" / "runtime.txt")],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError("pip install -r requirements/runtime.txt failed:\n" + proc.stderr[-3000:])
    if with_package:
        (site_packages(venv) / "cloudbase_rollout_src.pth").write_text(str(ROOT / "src") + "\n", encoding="utf-8")
    return python


def footprint(python: str, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    base = base_interpreter(python)
    bare, full = work / "venv-bare", work / "venv-runtime"
    subprocess.run([base, "-m", "venv", str(bare)], check=True, timeout=300, capture_output=True)
    runtime_venv(base, full, with_package=False)
    before = {p.name for p in site_packages(bare).glob("*.dist-info")}
    per_dist = []
    for info in sorted(site_packages(full).glob("*.dist-info")):
        if info.name in before:
            continue
        size = 0
        record = info / "RECORD"
        for line in record.read_text(encoding="utf-8").splitlines() if record.exists() else []:
            path = site_packages(full) / line.split(",")[0]
            if path.is_file():
                size += path.stat().st_size
        per_dist.append((info.name.removesuffix(".dist-info"), size))
    total = tree_size(site_packages(full)) - tree_size(site_packages(bare))
    ours = sum(p.stat().st_size for p in (ROOT / "src" / "cloudbase_rollout").glob("*.py"))
    ours += sum(p.stat().st_size for p in (ROOT / "schema").glob("*.json"))
    return {"total": total, "per_dist": sorted(per_dist, key=lambda d: -d[1]), "ours": ours,
            "python": version(base)}


# -- 4. image ------------------------------------------------------------------------


def podman(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


def image(url: str, work: Path, runs: int) -> dict[str, Any]:
    if shutil.which("podman") is None:
        return {"skipped": "podman is not installed"}
    if podman("image", "exists", IMAGE).returncode != 0:
        return {"skipped": f"no image {IMAGE} (scripts/container-check builds it)"}
    if podman("image", "exists", BASE_IMAGE).returncode != 0:
        return {"skipped": f"no base image {BASE_IMAGE}"}

    def size(ref: str) -> int:
        return int(podman("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())

    result: dict[str, Any] = {"image": size(IMAGE), "base": size(BASE_IMAGE)}
    labels = podman("image", "inspect", "--format", "{{json .Labels}}", BASE_IMAGE).stdout
    result["base_is_stand_in"] = "io.cloudbase-rollout.base-stamp" in labels
    started = time.perf_counter()
    built = podman("build", "--isolation", "chroot", "--pull=never", "--no-cache", "--layers=false",
                   "-f", str(ROOT / "Dockerfile"),
                   "-t", BENCH_IMAGE, str(ROOT))
    result["build_seconds"] = time.perf_counter() - started
    if built.returncode != 0:
        result["build_error"] = built.stdout[-1500:] + built.stderr[-1500:]
    else:
        result["bench_image"] = size(BENCH_IMAGE)
        result["run_seconds"] = container_runs(url, work, runs)
        podman("rmi", BENCH_IMAGE)
    return result


def container_runs(url: str, work: Path, runs: int) -> dict[str, list[float]] | str:
    """`podman run` of one rollout, interleaved with `podman run` of `python -c pass` (start-up alone)."""
    import resource

    # podman's default rlimits (nofile 1048576, a large nproc) are refused in sandboxes like this one
    # ("error setting rlimit type 7/6"); ask for no more than we have (nproc as scripts/container-check).
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1] & 0x7FFFFFFF, 32768)
    limits = [f"--ulimit=nofile={nofile}:{nofile}", f"--ulimit=nproc={nproc}:{nproc}"]
    env = step_env(work / "container", url)
    mounts = ["-v", f"{work / 'container' / 'workspace'}:/github/workspace",
              "-v", f"{work / 'container' / 'file_commands'}:/github/file_commands"]
    step = ["run", "--rm", "--pull=never", "--network", "host", *limits, "--workdir", "/github/workspace", *mounts,
            "-e", "GITHUB_OUTPUT=/github/file_commands/output",
            "-e", "GITHUB_STEP_SUMMARY=/github/file_commands/summary",
            "-e", "GITHUB_WORKSPACE=/github/workspace", "-e", "GITHUB_ACTIONS=true",
            *[a for k, v in env.items() if k.startswith("INPUT_") for a in ("-e", f"{k}={v}")], BENCH_IMAGE]
    bare = ["run", "--rm", "--pull=never", "--network", "host", *limits, "--entrypoint", "/usr/local/bin/python",
            BENCH_IMAGE, "-c", "pass"]
    times: dict[str, list[float]] = {"container: one rollout": [], "container: python -c pass": []}
    output = Path(env["GITHUB_OUTPUT"])
    for _ in range(runs):
        for name, args in zip(times, (step, bare), strict=True):
            output.write_text("", encoding="utf-8")
            started = time.perf_counter()
            proc = podman(*args, timeout=120)
            times[name].append(time.perf_counter() - started)
            if proc.returncode != 0:
                return f"{name} failed: {proc.stdout[-500:]} {proc.stderr[-500:]}"
            if name.endswith("rollout") and "run_id" not in output.read_text(encoding="utf-8"):
                return f"{name} wrote no run_id output: {proc.stdout[-500:]} {proc.stderr[-500:]}"
    return times


# -- 5. scale ------------------------------------------------------------------------


def services_input(n: int) -> str:
    return json.dumps([{"server_name": f"svc-{i:02d}"} for i in range(n)])


def services_supported(python: str, url: str, work: Path) -> bool:
    before = len(emulator_rollouts(url))
    env = step_env(work / "probe", url, services=services_input(2))
    proc = subprocess.run([python, str(ENTRYPOINT)], env=env, cwd=env["GITHUB_WORKSPACE"], capture_output=True,
                          text=True, timeout=120)
    names = {r["body"].get("server_name") for r in emulator_rollouts(url)[before:]}
    return proc.returncode == 0 and names == {"svc-00", "svc-01"}


def scale(python: str, fast_url: str, work: Path, rounds: int) -> dict[str, Any]:
    if not services_supported(python, fast_url, work):
        return {"skipped": "not available: the action does not roll out INPUT_SERVICES yet"}
    counts = (1, 10, 50)
    times: dict[int, list[float]] = {n: [] for n in counts}
    with emulator(python, delay=0.2) as slow:
        envs = {n: step_env(work / f"scale{n}", slow, services=services_input(n)) for n in counts}
        single = step_env(work / "scale-single", slow)
        singles = []
        for _ in range(rounds):
            for n in counts:
                before = len(emulator_rollouts(slow))
                times[n].append(timed_run([python, str(ENTRYPOINT)], envs[n], check_output=False))
                got = len(emulator_rollouts(slow)) - before
                if got != n:
                    raise RuntimeError(f"services={n}: the emulator received {got} rollouts")
            singles.append(timed_run([python, str(ENTRYPOINT)], single))
    medians = {n: median(v) for n, v in times.items()}
    return {"times": times, "medians": medians, "single": median(singles), "ratio": medians[50] / medians[1]}


# -- report --------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def version(python: str) -> str:
    out = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True)
    return f"Python {out.stdout.strip()}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mb(size: float) -> str:
    return f"{size / 1e6:.2f} MB"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report_interpreter(label: str, run: dict[str, Any], args: argparse.Namespace) -> list[str]:
    out = [f"## {label}", ""]
    p = run.get("process")
    if p and "skipped" in p:
        out += [f"process cost skipped: {p['skipped']}", ""]
        p = None
    if p:
        med = p["medians"]
        out += ["### 1. Process cost (full rollout against the emulator on 127.0.0.1)", "",
                f"{p['runs']} rounds, each running every variant once in this order (A B A B ...); "
                f"request body {p['body_bytes']} bytes.", "",
                "| variant | median | min | max |", "|---|---|---|---|"]
        for name, values in p["times"].items():
            out.append(f"| {name} | {ms(med[name])} | {ms(min(values))} | {ms(max(values))} |")
        ratio = p["ratio"]
        out += ["", f"**ratio ours / floor (medians): {ratio:.2f}x** — target < {TARGETS['ratio']}x "
                f"{verdict(ratio < TARGETS['ratio'])}; stretch < {TARGETS['ratio_stretch']}x "
                f"{verdict(ratio < TARGETS['ratio_stretch'])}. "
                f"Against the http.client floor: {p['ratio_http_client']:.2f}x.",
                f"Above the bare interpreter: ours +{ms(med['ours'] - med['bare interpreter'])}, "
                f"floor +{ms(med['floor'] - med['bare interpreter'])}, "
                f"http.client floor +{ms(med['floor, http.client'] - med['bare interpreter'])}. "
                f"Savings: the compiled validator {ms(med['ours, jsonschema path'] - med['ours'])} "
                f"(against the jsonschema path); the gc settings in entrypoint.py "
                f"{ms(med['ours, no gc settings'] - med['ours'])}; both "
                f"{ms(med['ours before (jsonschema path, no gc settings)'] - med['ours'])} "
                f"(before: {med['ours before (jsonschema path, no gc settings)'] / med['floor']:.2f}x the floor).", ""]
    it = run.get("importtime")
    if it and "skipped" not in it:
        out += ["### 2. `python -X importtime entrypoint.py` (median of 5 runs)", "",
                f"{it['modules']} modules; top-level imports sum to {it['top_level_ms']:.1f} ms "
                "(importtime's own overhead inflates these).",
                f"jsonschema imported on a successful rollout: {'YES' if 'jsonschema' in it['has'] else 'no'}.", "",
                "| # | module (by cumulative) | cumulative | self |", "|---|---|---|---|"]
        for i, (name, self_ms, cum, depth) in enumerate(it["by_cumulative"], 1):
            out.append(f"| {i} | {'· ' * depth}{name} | {cum:.1f} ms | {self_ms:.1f} ms |")
        out += ["", "| # | module (by self time) | self | cumulative |", "|---|---|---|---|"]
        for i, (name, self_ms, cum, _) in enumerate(it["by_self"], 1):
            out.append(f"| {i} | {name} | {self_ms:.2f} ms | {cum:.1f} ms |")
        out.append("")
    mi = run.get("marginal")
    if isinstance(mi, list):
        out += [f"### What single imports (and TLS set-up) cost ({args.import_repeats} fresh processes each, "
                "interleaved; in-process timer)", "", "| import | median | min |", "|---|---|---|"]
        out += [f"| {name} | {value:.1f} ms | {low:.1f} ms |" for name, value, low in mi]
        out.append("")
        requests_cost = next((v for name, v, _ in mi if name.startswith("requests, on top")), None)
        if p and requests_cost is not None:
            without = p["medians"]["ours"] - requests_cost / 1000
            out += [f"Projection without requests (a urllib client instead; urllib's imports are already "
                    f"paid by the floor): ours − {requests_cost:.1f} ms = {ms(without)}, ratio "
                    f"{without / p['medians']['floor']:.2f}x.", ""]
    return out


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    m = results["machine"]
    out = ["# bench/run.py results", "",
           f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['platform']}",
           f"- interpreters: {', '.join(results['interpreters'])}; {m['date']}",
           f"- command: `{' '.join(sys.argv)}`", ""]
    for label, run in results["interpreters"].items():
        out += report_interpreter(label, run, args)
    for fp in (results.get("footprint") or {}).values():
        if "skipped" in fp:
            out += ["## 3. Footprint", "", f"skipped: {fp['skipped']}", ""]
            continue
        out += ["## 3. Footprint: runtime closure (requirements/runtime.txt, fresh venv minus a bare venv, "
                f"{fp['python']}, bytecode included)", "",
                f"**total {mb(fp['total'])}** — target < {TARGETS['closure_mb']:.0f} MB "
                f"{verdict(fp['total'] / 1e6 < TARGETS['closure_mb'])}. "
                f"Our own package (sources + schemas): {mb(fp['ours'])}.", "",
                "| distribution | installed |", "|---|---|"]
        out += [f"| {name} | {mb(size)} |" for name, size in fp["per_dist"]]
        out.append("")
    im = results.get("image")
    if im:
        out += ["## 4. Image", ""]
        if "skipped" in im:
            out += [f"skipped: {im['skipped']}", ""]
        else:
            over = im["image"] - im["base"]
            out += [f"- {IMAGE}: {mb(im['image'])}; base {BASE_IMAGE}: {mb(im['base'])}"
                    + (" (the container-check stand-in built from Debian packages)" if im["base_is_stand_in"] else ""),
                    f"- **over the base: {mb(over)}** — target < {TARGETS['image_mb']:.0f} MB "
                    f"{verdict(over / 1e6 < TARGETS['image_mb'])}",
                    f"- build with the base cached (`podman build --no-cache`): {im['build_seconds']:.1f} s"]
            if "build_error" in im:
                out.append(f"- build failed: {im['build_error'][-300:]!r}")
            else:
                out.append(f"- freshly built image: {mb(im['bench_image'])}")
                runs = im.get("run_seconds")
                if isinstance(runs, dict):
                    for name, values in runs.items():
                        out.append(f"- `podman run`, {name} (start to exit), median of {len(values)}: "
                                   f"{ms(median(values))}")
                else:
                    out.append(f"- {runs}")
            out.append("")
    sc = results.get("scale")
    if sc:
        out += ["## 5. Scale: N services from one process, emulator answering after 0.2 s", ""]
        if "skipped" in sc:
            out += [sc["skipped"], ""]
        else:
            out += ["| N | median wall time |", "|---|---|"]
            out += [f"| {n} | {ms(v)} |" for n, v in sc["medians"].items()]
            out += ["", f"Single rollout without `services`: {ms(sc['single'])}. "
                    f"**N=50 / N=1: {sc['ratio']:.2f}x** — target < {TARGETS['scale']:.0f}x "
                    f"{verdict(sc['ratio'] < TARGETS['scale'])}.", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Benchmark a deploy step against the floor (see the module docstring).")
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"), help="interpreter with the package")
    p.add_argument("--runs", type=int, default=30, help="rounds of the interleaved process-cost runs (>= 20)")
    p.add_argument("--import-repeats", type=int, default=15)
    p.add_argument("--scale-rounds", type=int, default=3)
    p.add_argument("--container-runs", type=int, default=5)
    p.add_argument("--also", action="append", default=[], metavar="INTERPRETER",
                   help="also measure process cost and imports with this base interpreter (e.g. the image's "
                   "python3.13), in a fresh venv with requirements/runtime.txt and src/ on the path")
    p.add_argument("--skip-footprint", action="store_true")
    p.add_argument("--skip-image", action="store_true")
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--out", type=Path, help="also write the Markdown report here")
    p.add_argument("--json", type=Path, help="write the raw numbers here")
    args = p.parse_args(argv)
    if args.runs < 20:
        p.error("--runs must be at least 20")
    results: dict[str, Any] = {"machine": machine(), "interpreters": {}}

    def section(name: str, run: Callable[[], Any]) -> Any:
        say(f"bench: {name} ...")
        started = time.perf_counter()
        try:
            value = run()
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            value = {"skipped": f"failed: {error}"}
            say(f"bench: {name} failed: {error}")
        say(f"bench: {name} done in {time.perf_counter() - started:.1f} s")
        return value

    with tempfile.TemporaryDirectory(prefix="cloudbase-bench-") as tmp, emulator(args.python) as url:
        work = Path(tmp)
        pythons = [(f"{version(args.python)} ({args.python})", args.python)]
        for i, base in enumerate(args.also):
            venv = section(f"venv for {base}", partial(runtime_venv, base, work / f"venv-also-{i}"))
            if isinstance(venv, str):
                pythons.append((f"{version(venv)} (fresh venv from {base}: requirements/runtime.txt + src/)", venv))
        for label, python in pythons:
            here = work / f"py{len(results['interpreters'])}"
            results["interpreters"][label] = {
                "process": section(f"process cost, {label}", partial(process_cost, python, url, args.runs, here)),
                "importtime": section(f"importtime, {label}", partial(importtime, python, url, here)),
                "marginal": section(f"imports, {label}", partial(marginal_imports, python, args.import_repeats)),
            }
        if not args.skip_footprint:
            results["footprint"] = {
                label: section(f"footprint, {label}", partial(footprint, python, work / f"fp{i}"))
                for i, (label, python) in enumerate(pythons)}
        if not args.skip_image:
            results["image"] = section("image", lambda: image(url, work, args.container_runs))
        if not args.skip_scale:
            results["scale"] = section("scale", lambda: scale(args.python, url, work, args.scale_rounds))
    text = report(results, args)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.json:
        raw = {k: v for k, v in results.items() if k != "importtime"}
        args.json.write_text(json.dumps(raw, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
