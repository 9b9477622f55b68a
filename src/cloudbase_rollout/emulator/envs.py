"""The discovery endpoints (docs/spec/FLEET.md), answered from the environments `State.seed_fleet` made.

Both pass the same gateway as every other endpoint (token, quota, body) and hold the body to the
request schemas the client sends by (schema/cloudrunenvs.request, schema/batchgetenvid.request),
so a body the client should never send is refused here as WeChat would, not answered kindly.
"""

from __future__ import annotations

from typing import Any

from cloudbase_rollout.emulator.gateway import checked
from cloudbase_rollout.emulator.state import State


def cloudrun_envs(state: State, method: str, token: str, raw: bytes) -> dict[str, Any]:
    """describecloudbaserunenvs: every seeded environment, NORMAL and UNAVAILABLE alike (body `{}`)."""
    checked(state, method, token, raw, "cloudrunenvs.request.schema.json")
    return {"errcode": 0, "errmsg": "ok", "env_list": state.env_list()}


def batch_env_ids(state: State, method: str, token: str, raw: bytes) -> dict[str, Any]:
    """batchgetenvid: the environments shared with each appid asked; err_list for appids never seeded."""
    body = checked(state, method, token, raw, "batchgetenvid.request.schema.json")
    relations, errors = state.shared_envs(body["appids"])
    return {"errcode": 0, "errmsg": "ok", "relation_data": relations, "err_list": errors}
