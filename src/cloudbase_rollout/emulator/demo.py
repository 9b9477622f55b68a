"""`cloudbase-rollout demo`: the Action, run exactly as the GitHub runner runs it, against the emulator.

It starts a local emulator (versions settle after 3 seconds), runs `python -m cloudbase_rollout.front.action`
with INPUT_* variables and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files, waiting for the rolled-out
version to become healthy and promoting it, then prints the outputs, the step summary, the
emulator's versions and, on success, `run_id: <id>`. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from cloudbase_rollout.emulator.server import Emulator, State

SETTLE_SECONDS = 3.0
INPUTS = {
    "INPUT_ENV_ID": "demo-6gxk23no5605e14f", "INPUT_SERVER_NAME": "shop-api",
    "INPUT_IMAGE": "ccr.ccs.tencentyun.com/demo/shop-api", "INPUT_IMAGE_TAG": "v1.0.0",
    "INPUT_FLOW_RATIO": "100", "INPUT_CONTAINER_PORT": "80",
    "INPUT_ENV_PARAMS": "LOG_LEVEL=info\nGREETING=hello, world",
    "INPUT_WAIT": "true", "INPUT_WAIT_INTERVAL_SECONDS": "1", "INPUT_PROMOTE": "true",
}


def arguments() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="cloudbase-rollout demo", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def main(argv: Sequence[str]) -> int:
    arguments().parse_args(argv)  # --help prints and exits before anything starts
    token = "demo-" + secrets.token_urlsafe(16)
    server = Emulator(State(token, settle_seconds=SETTLE_SECONDS)).start()
    try:
        code = run_action(server, token)
        print("--- emulator versions ---")
        print(versions(server.state))
    finally:
        server.shutdown()
        server.server_close()
    received = server.state.rollouts
    if code == 0 and received:
        print(f"run_id: {received[-1]['run_id']}")
    return code


def run_action(server: Emulator, token: str) -> int:
    """The Action as a subprocess, as the runner starts it; prints what it wrote to its files."""
    with tempfile.TemporaryDirectory() as tmp:
        outputs, summary = os.path.join(tmp, "output"), os.path.join(tmp, "summary.md")
        env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary,
               "GITHUB_WORKSPACE": tmp, "INPUT_ACCESS_TOKEN": token, "INPUT_API_BASE_URL": server.url, **INPUTS}
        print(f"$ cloudbase-rollout action against the emulator at {server.url}", flush=True)
        code = subprocess.call([sys.executable, "-m", "cloudbase_rollout.front.action"], env=env)
        print("\n--- GITHUB_OUTPUT ---")
        print(_read(outputs))
        print("--- step summary ---")
        print(_read(summary))
    return code


def versions(state: State) -> str:
    lines = [f"{service['env_id']}/{service['server_name']} {v['version_name']}: status={v['status']} "
             f"flow_ratio={v['flow_ratio']}"
             for service in state.snapshot()["services"] for v in service["versions"]]
    return "\n".join(lines) or "(none)"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return "(none)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
