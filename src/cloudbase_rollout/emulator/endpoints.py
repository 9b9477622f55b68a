"""The endpoints the emulator answers, each (state, method, token, body) -> reply, or Refused.

The roll-update answers every refusal inside an HTTP 200, per the spec's error table; the
neighbours (docs/spec/NEIGHBOURS.md) and the discovery endpoints (`envs`) raise Refused, which
the server turns into the same 200 (or a gateway's 503 page, for the read-failure control).
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable
from typing import Any

from cloudbase_rollout import (
    API_PATH,
    BATCH_ENV_ID_PATH,
    CLOUDRUN_ENVS_PATH,
    RELEASE_PATH,
    VERSION_DETAIL_PATH,
    VERSION_LIST_PATH,
)
from cloudbase_rollout.emulator.envs import batch_env_ids, cloudrun_envs
from cloudbase_rollout.emulator.gateway import Refused, admitted, checked, error_reply
from cloudbase_rollout.emulator.state import State
from cloudbase_rollout.inputs.validate import request_problems

RUN_ID_ALPHABET = string.ascii_letters + string.digits
Endpoint = Callable[[State, str, str, bytes], dict[str, Any]]


def answer(state: State, method: str, token: str | None, raw: bytes) -> dict[str, Any]:
    """The roll-update reply for one request, per the spec's error table."""
    try:
        body = admitted(state, method, token or "", raw)
    except Refused as refused:
        return refused.reply
    failure = state.take_failure()
    if failure is not None:
        return error_reply(failure, "system error")
    problems = request_problems(body)
    missing = [p for p in problems if p.kind == "required"]
    if missing:
        return error_reply(40101, f"missing parameter: {', '.join(p.input for p in missing)}")
    if problems:
        return error_reply(40097, f"invalid args: {problems[0]}")
    run_id = "".join(secrets.choice(RUN_ID_ALPHABET) for _ in range(14))
    if not state.roll(body, run_id):
        return error_reply(40097, f"invalid args: version_name: no such version: {body['version_name']}")
    return {"errcode": 0, "errmsg": "ok", "result": "succ", "run_id": run_id}


def release(state: State, method: str, token: str, raw: bytes) -> dict[str, Any]:
    body = checked(state, method, token, raw, "release.request.schema.json")
    outcome = state.release(body["env_id"], body["server_name"], body["release_version"])
    if outcome is None:
        raise Refused(40097, f"invalid args: release_version: no such version: {body['release_version']}")
    return {"errcode": 0, "errmsg": "ok", **outcome}


def version_list(state: State, method: str, token: str, raw: bytes) -> dict[str, Any]:
    body = checked(state, method, token, raw, "versionlist.request.schema.json", read=True)
    limit, offset = int(body.get("limit", 20)), int(body.get("offset", 0))
    total, items = state.page(body["env"], body["service_name"], limit, offset)
    return {"errcode": 0, "errmsg": "ok", "total": total, "items": items}


def version_detail(state: State, method: str, token: str, raw: bytes) -> dict[str, Any]:
    body = checked(state, method, token, raw, "versiondetail.request.schema.json", read=True)
    detail = state.detail(body["env"], body["service_name"], body["version_name"])
    if detail is None:
        raise Refused(40097, f"invalid args: version_name: no such version: {body['version_name']}")
    return {"errcode": 0, "errmsg": "ok", **detail}


ENDPOINTS: dict[str, Endpoint] = {API_PATH: answer, RELEASE_PATH: release, VERSION_LIST_PATH: version_list,
                                  VERSION_DETAIL_PATH: version_detail, CLOUDRUN_ENVS_PATH: cloudrun_envs,
                                  BATCH_ENV_ID_PATH: batch_env_ids}


def mint(state: State, raw: bytes) -> dict[str, Any]:
    """POST /cgi-bin/component/api_component_token: a fresh token replaces the old one.
    Not under the calls' quota: minting has a daily limit of its own (docs/spec/FLEET.md section 3)."""
    try:
        body = json.loads(raw.decode("utf-8") or "null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return error_reply(47001, "data format error")
    if not isinstance(body, dict) or body.get("component_appid") != state.component_appid:
        return error_reply(40013, "invalid appid")
    if body.get("component_appsecret") != state.component_appsecret:
        return error_reply(40125, "invalid appsecret")
    if body.get("component_verify_ticket") != state.component_verify_ticket:
        return error_reply(61006, "component ticket is invalid")
    with state.lock:
        state.expired_tokens.add(state.token)
        state.token = "emu-" + secrets.token_urlsafe(24)
    return {"component_access_token": state.token, "expires_in": 7200}
