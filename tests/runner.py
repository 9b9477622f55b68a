"""Run entrypoint.py the way the GitHub runner runs a Docker action.

INPUT_* variables (hyphens kept, name upper-cased), GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY files in a file-commands directory, a workspace directory
as the working directory, GITHUB_ACTIONS=true and CI=true.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "entrypoint.py"


@dataclass
class StepResult:
    returncode: int
    stdout: str
    stderr: str
    output_file: str
    summary: str

    @property
    def outputs(self) -> dict[str, str]:
        return parse_file_commands(self.output_file)

    @property
    def log(self) -> str:
        return self.stdout + self.stderr

    def annotations(self, kind: str) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith((f"::{kind} ", f"::{kind}::"))]


def parse_file_commands(text: str) -> dict[str, str]:
    """Parse NAME=VALUE and NAME<<DELIM ... DELIM records like the runner."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            values[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, value = line.split("=", 1)
            values[name] = value
            i += 1
    return values


def base_env(tmp: Path) -> dict[str, str]:
    # Another CI's variables would give version_remark a default (GitLab CI's CI_*, Jenkins's JOB_NAME...).
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "RUNNER_", "CI_"))
            and k not in ("JOB_NAME", "GIT_COMMIT", "BUILD_URL")}
    commands = tmp / "file_commands"
    workspace = tmp / "workspace"
    temp = tmp / "runner_temp"
    for folder in (commands, workspace, temp):
        folder.mkdir(exist_ok=True)
    return {
        **keep,
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(commands / "output"),
        "GITHUB_STEP_SUMMARY": str(commands / "summary"),
        "CLOUDBASE_ROLLOUT_BACKOFF_BASE": "0.01",
    }


def run_step(tmp: Path, inputs: dict[str, str], env: dict[str, str] | None = None,
             timeout: float = 60) -> StepResult:
    full = base_env(tmp)
    for name, value in inputs.items():
        full[f"INPUT_{name.upper()}"] = value
    full.update(env or {})
    proc = subprocess.run([sys.executable, str(ENTRYPOINT)], env=full, cwd=full["GITHUB_WORKSPACE"],
                          capture_output=True, text=True, timeout=timeout, encoding="utf-8", errors="replace")
    out = Path(full["GITHUB_OUTPUT"])
    summary = Path(full["GITHUB_STEP_SUMMARY"])
    return StepResult(proc.returncode, proc.stdout, proc.stderr,
                      out.read_text(encoding="utf-8") if out.exists() else "",
                      summary.read_text(encoding="utf-8") if summary.exists() else "")


def run_inprocess(tmp: Path, inputs: dict[str, str], env: dict[str, str] | None = None,
                  clock: Callable[[], float] | None = None,
                  sleep: Callable[[float], None] | None = None) -> StepResult:
    """The same step through action.main with an explicit environment, in this process.

    stdout is captured as the runner would read it; the signal handlers the step
    installs are put back afterwards.
    """
    from cloudbase_rollout.front import action

    full = base_env(tmp)
    for name, value in inputs.items():
        full[f"INPUT_{name.upper()}"] = value
    full.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    kwargs: dict[str, Any] = {k: v for k, v in (("clock", clock), ("sleep", sleep)) if v is not None}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = action.main(full, **kwargs)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    output, summary = Path(full["GITHUB_OUTPUT"]), Path(full["GITHUB_STEP_SUMMARY"])
    return StepResult(code, out.getvalue(), err.getvalue(),
                      output.read_text(encoding="utf-8") if output.exists() else "",
                      summary.read_text(encoding="utf-8") if summary.exists() else "")


class FakeClock:
    """A clock and a sleep for code that waits: sleeping moves the clock, nothing really sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds
