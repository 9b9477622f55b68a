from __future__ import annotations

import json

from tests.conftest import TOKEN, good_inputs
from tests.loopback import ok


def test_rollout_against_emulator_sets_outputs(emulator, subprocess_step):
    step = subprocess_step
    result = step(good_inputs(emulator.url))
    assert result.returncode == 0, result.log
    outputs = result.outputs
    assert outputs["result"] == "succ"
    assert outputs["run_id"] == emulator.state.rollouts[-1]["run_id"]
    sent = json.loads(outputs["request"])
    assert sent == emulator.state.rollouts[-1]["body"]
    assert sent["image_info"]["image_url"] == "ccr.ccs.tencentyun.com/ns/shop-api:v1"
    assert TOKEN not in result.output_file + result.summary
    assert outputs["run_id"] in result.summary


def test_rollout_against_scripted_reply(scripted, subprocess_step):
    step = subprocess_step
    server = scripted(ok("Run-abc_123"))
    result = step(good_inputs(server.url))
    assert result.returncode == 0, result.log
    assert result.outputs["run_id"] == "Run-abc_123"
    [request] = server.received
    assert request.method == "POST"
    assert request.path == "/componenttcb/rollupdatecloudbaserunserverversion"
    assert request.query["access_token"] == [TOKEN]
    assert request.json()["server_name"] == "api"
