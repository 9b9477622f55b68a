from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloudbase_rollout.emulator import Emulator, State
from tests.loopback import Reply, ScriptedServer
from tests.runner import StepResult, run_step

TOKEN = "tok-SECRET-5f3a9c1e7b2d4a60"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    server = Emulator(State(TOKEN)).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(*replies: Reply) -> ScriptedServer:
        server = ScriptedServer(list(replies))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def good_inputs(url: str, **extra: str) -> dict[str, str]:
    inputs = {
        "access_token": TOKEN,
        "api_base_url": url,
        "env_id": "prod-6gxk23no5605e14f",
        "server_name": "api",
        "image": "ccr.ccs.tencentyun.com/ns/shop-api",
        "image_tag": "v1",
        "flow_ratio": "100",
        "container_port": "80",
        "version_name": "latest",
        "upload_type": "image",
    }
    inputs.update(extra)
    return inputs


@pytest.fixture
def step(tmp_path: Path) -> Callable[..., StepResult]:
    def run(inputs: dict[str, str], env: dict[str, str] | None = None, timeout: float = 60) -> StepResult:
        return run_step(tmp_path, inputs, env, timeout)

    return run
