"""The emulator's control endpoints (/_emulator/...): inspect its state and inject faults.

Each control is (state, query, body) -> (HTTP status, reply); a ValueError or TypeError
is answered 400 by the server. Listed in emulator.py's docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudbase_rollout.emulator.state import FAILED, SettleFailure, State
from cloudbase_rollout.jsontext import loads

Query = dict[str, list[str]]
Payload = dict[str, Any] | str


def error_reply(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg}



def _params(query: Query, **spec: tuple[Callable[[str], Any], str | None]) -> list[Any]:
    """Query parameters, converted in the order given; a default of None means required."""
    values = []
    for name, (kind, default) in spec.items():
        given = query.get(name, [default])[0]
        if given is None:
            raise ValueError(f"{name} is required")
        try:
            values.append(kind(given))
        except ValueError:
            raise ValueError(f"{name} must be a{'n integer' if kind is int else ' number'}") from None
    return values


def _fail(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    count, errcode = _params(query, count=(int, "1"), errcode=(int, "-1"))
    with state.lock:
        state.fail_next, state.fail_errcode = count, errcode
    return 200, {"fail_next": count, "errcode": errcode}


def _read_fail(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    count, errcode, http = _params(query, count=(int, "1"), errcode=(int, "-1"), http=(int, "200"))
    if http not in (200, 503):
        raise ValueError("http must be 200 (errcode in the body) or 503")
    with state.lock:
        state.read_fail_next, state.read_fail_errcode, state.read_fail_http = count, errcode, http
    return 200, {"read_fail_next": count, "errcode": errcode, "http": http}


def _settle_fail(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    env_id, server, name, word, count = _params(query, env_id=(str, ""), server_name=(str, ""),
                                               version_name=(str, ""), status=(str, FAILED), count=(int, "1"))
    rule = SettleFailure(env_id or None, server or None, name or None, word or FAILED, count)
    state.fail_settling(rule)
    return 200, {"settle_fail": vars(rule)}


def _slow(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    env_id, server, seconds = _params(query, env_id=(str, None), server_name=(str, None), seconds=(float, None))
    if not 0 <= seconds < 1e9:
        raise ValueError("seconds must be a number from 0")
    state.settle_slowly(env_id, server, seconds)
    return 200, {"env_id": env_id, "server_name": server, "settle_seconds": seconds}


def _status(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    env_id, server, name, word, reads = _params(query, env_id=(str, None), server_name=(str, None),
                                                version_name=(str, None), status=(str, ""), reads=(int, "0"))
    if reads < 0:
        raise ValueError("reads must be 0 (until set again) or more")
    if not state.show(env_id, server, name, word, reads or None):
        return 404, error_reply(404, f"no such version: {name}")
    return 200, {"version_name": name, "status": word or None, "reads": reads or None}


def _seed(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    spec = loads(raw.decode("utf-8") or "null")
    if not isinstance(spec, dict) or not isinstance(spec.get("versions", []), list):
        raise ValueError('seed takes {"env_id": ..., "server_name": ..., "versions": [...]}')
    env_id, server, versions = spec.get("env_id"), spec.get("server_name"), spec.get("versions", [])
    if not (isinstance(env_id, str) and env_id and isinstance(server, str) and server):
        raise ValueError("seed needs env_id and server_name")
    state.seed(env_id, server, versions)
    return 200, {"env_id": env_id, "server_name": server, "versions": len(versions)}


def _record(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    with state.lock:
        return 200, {"rollouts": list(state.rollouts), "calls": state.calls}


def _reset(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    state.reset()
    return 200, {"reset": True}


CONTROLS: dict[tuple[str, str], Callable[[State, Query, bytes], tuple[int, Payload]]] = {
    ("GET", "/_emulator/rollouts"): _record, ("GET", "/_emulator/services"): lambda s, q, r: (200, s.snapshot()),
    ("POST", "/_emulator/fail"): _fail, ("POST", "/_emulator/read-fail"): _read_fail,
    ("POST", "/_emulator/settle-fail"): _settle_fail, ("POST", "/_emulator/slow"): _slow,
    ("POST", "/_emulator/status"): _status, ("POST", "/_emulator/seed"): _seed, ("POST", "/_emulator/reset"): _reset,
}
