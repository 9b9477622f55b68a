from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloudbase_rollout.emulator.server import Emulator, State
from tests.loopback import Reply, ScriptedServer, ok
from tests.runner import StepResult, run_inprocess, run_step

TOKEN = "tok-SECRET-5f3a9c1e7b2d4a60"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    server = Emulator(State(TOKEN)).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for 127.0.0.1, for the TLS servers of tests/scenarios.py."""
    from tests.scenarios import make_certificate

    pem = make_certificate(tmp_path_factory.mktemp("tls"))
    if pem is None:
        pytest.skip("openssl is not installed")
    return pem


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
    """The step in-process through action.main with an explicit environment (see `subprocess_step`)."""
    def run(inputs: dict[str, str], env: dict[str, str] | None = None, timeout: float = 60) -> StepResult:
        return run_inprocess(tmp_path, inputs, env)

    return run


@pytest.fixture
def subprocess_step(tmp_path: Path) -> Callable[..., StepResult]:
    """The step exactly as the runner starts it: entrypoint.py in a new process."""
    def run(inputs: dict[str, str], env: dict[str, str] | None = None, timeout: float = 60) -> StepResult:
        return run_step(tmp_path, inputs, env, timeout)

    return run


# One emulator and one scripted server per module, reset before each test (starting and
# stopping servers dominates the run time of the contract tests).
@pytest.fixture(scope="module")
def shared_servers() -> Iterator[tuple[Emulator, ScriptedServer]]:
    emulator = Emulator(State(TOKEN)).start()
    scripted = ScriptedServer([ok()])
    yield emulator, scripted
    for server in (emulator, scripted):
        server.shutdown()
        server.server_close()


@pytest.fixture
def emu(shared_servers: tuple[Emulator, ScriptedServer]) -> Emulator:
    """The shared emulator, its record, services, releases and injected faults forgotten."""
    emulator = shared_servers[0]
    emulator.state.reset()
    return emulator


@pytest.fixture
def script(shared_servers: tuple[Emulator, ScriptedServer]) -> Callable[..., ScriptedServer]:
    """The shared scripted server, told what to answer next (its record cleared)."""
    server = shared_servers[1]

    def set_replies(*replies: Reply) -> ScriptedServer:
        with server.lock:
            server.replies = list(replies)
            server.received.clear()
        return server

    return set_replies


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start entrypoint.py or the CLI in a new process are marked `process`
    (mutmut runs the others: a child process cannot see its mutants)."""
    from tests.scenarios import SCENARIOS

    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        scenario = SCENARIOS.get(str(params.get("name", "")))
        if {"subprocess_step", "cli"} & set(getattr(item, "fixturenames", ())) or (scenario and scenario.process):
            item.add_marker(pytest.mark.process)
