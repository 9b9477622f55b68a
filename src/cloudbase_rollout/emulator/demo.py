"""`cloudbase-rollout demo`: the Action, run exactly as the GitHub runner runs it, against the emulator.

It starts a local emulator (versions settle after 3 seconds) whose shop-api service runs one version,
shop-api-001, on image ...:v0.9.0; runs `python -m cloudbase_rollout.front.action` with INPUT_* variables
and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files, waiting for the rolled-out version to become healthy and
promoting it, then prints the outputs, the step summary, the emulator's versions and, on success,
`run_id: <id>`. The roll-update replaces a version's content in place, so the version keeps its name
(shop-api-001) and the demo shows what changed: its image, before and after, read from the emulator's
state. Nothing leaves 127.0.0.1.
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
ENV_ID, SERVICE, VERSION = "demo-6gxk23no5605e14f", "shop-api", "shop-api-001"
BEFORE = "ccr.ccs.tencentyun.com/demo/shop-api:v0.9.0"
INPUTS = {
    "INPUT_ENV_ID": ENV_ID, "INPUT_SERVER_NAME": SERVICE,
    "INPUT_IMAGE": "ccr.ccs.tencentyun.com/demo/shop-api", "INPUT_IMAGE_TAG": "v1.0.0",
    "INPUT_FLOW_RATIO": "100", "INPUT_CONTAINER_PORT": "80",
    "INPUT_ENV_PARAMS": "LOG_LEVEL=info\nGREETING=hello, world",
    "INPUT_WAIT": "true", "INPUT_WAIT_INTERVAL_SECONDS": "1", "INPUT_PROMOTE": "true",
}


#: `demo --fleet`: 30 customers' environments in waves 1, 30%, 100%; the 12th unit fails, within the budget.
FLEET_SIZE, FLEET_FAILING = 30, 11
FLEET_INPUTS = {
    "INPUT_SERVER_NAME": SERVICE, "INPUT_IMAGE": "ccr.ccs.tencentyun.com/demo/shop-api", "INPUT_IMAGE_TAG": "v1.0.0",
    "INPUT_FLOW_RATIO": "100", "INPUT_WAVES": "1, 30%, 100%", "INPUT_MAX_FAILURES": "1", "INPUT_PROMOTE": "true",
    "INPUT_WAIT_INTERVAL_SECONDS": "1", "INPUT_MAX_PARALLEL": "10",
}


def arguments() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cloudbase-rollout demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fleet", action="store_true", help=f"roll out to a fleet of {FLEET_SIZE} environments in "
                   "waves 1, 30%%, 100%% (one unit fails, within max_failures 1)")
    return p


def fleet(token: str) -> int:
    """The fleet demo: the same Action, given targets; prints its log, outputs, summary and results file."""
    state = State(token, settle_seconds=1.0)
    env_ids = state.seed_fleet(FLEET_SIZE, services=(SERVICE,), image=BEFORE)
    state.fail_units([(env_ids[FLEET_FAILING], SERVICE)])
    server = Emulator(state).start()
    try:
        return run_action(server, token, {**FLEET_INPUTS, "INPUT_TARGETS": "\n".join(env_ids)})
    finally:
        server.shutdown()
        server.server_close()


def main(argv: Sequence[str]) -> int:
    options = arguments().parse_args(argv)  # --help prints and exits before anything starts
    if options.fleet:
        return fleet("demo-" + secrets.token_urlsafe(16))
    token = "demo-" + secrets.token_urlsafe(16)
    state = State(token, settle_seconds=SETTLE_SECONDS)
    state.seed(ENV_ID, SERVICE, [{"version_name": VERSION, "status": "normal", "flow_ratio": 100,
                                  "image_url": BEFORE, "remark": "the version running before the demo"}])
    server = Emulator(state).start()
    try:
        before = images(state)
        code = run_action(server, token)
        print("--- emulator versions ---")
        print(versions(state))
        print(changes(before, images(state)))
    finally:
        server.shutdown()
        server.server_close()
    received = server.state.rollouts
    if code == 0 and received:
        print(f"run_id: {received[-1]['run_id']}")
    return code


def run_action(server: Emulator, token: str, inputs: dict[str, str] | None = None) -> int:
    """The Action as a subprocess, as the runner starts it; prints what it wrote to its files."""
    with tempfile.TemporaryDirectory() as tmp:
        outputs, summary = os.path.join(tmp, "output"), os.path.join(tmp, "summary.md")
        env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary,
               "GITHUB_WORKSPACE": tmp, "RUNNER_TEMP": tmp, "INPUT_ACCESS_TOKEN": token,
               "INPUT_API_BASE_URL": server.url, **(INPUTS if inputs is None else inputs)}
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


def images(state: State) -> dict[str, str]:
    """Each version's image as the emulator holds it, by `<env_id>/<server_name> <version_name>`."""
    return {f"{service['env_id']}/{service['server_name']} {v['version_name']}": v["image_url"]
            for service in state.snapshot()["services"] for v in service["versions"]}


def changes(before: dict[str, str], after: dict[str, str]) -> str:
    """One line per version: its image before and after (the name stays; the content is replaced)."""
    lines = [f"{name.split(' ', 1)[1]}: image {before.get(name) or '(none)'} -> {image or '(none)'}"
             + ("" if before.get(name) != image else " (unchanged)") for name, image in after.items()]
    return "\n".join(lines) or "(none)"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return "(none)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
