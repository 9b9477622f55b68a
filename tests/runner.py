"""Run entrypoint.py the way the GitHub runner runs a Docker action.

INPUT_* variables (hyphens kept, name upper-cased), GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY files in a file-commands directory, a workspace directory
as the working directory, GITHUB_ACTIONS=true and CI=true.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "RUNNER_"))}
    commands = tmp / "file_commands"
    workspace = tmp / "workspace"
    commands.mkdir(exist_ok=True)
    workspace.mkdir(exist_ok=True)
    return {
        **keep,
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_WORKSPACE": str(workspace),
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
