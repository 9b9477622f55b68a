"""The emulator's control endpoints (/_emulator/...): inspect its state and inject faults.

Each control is (state, query, body) -> (HTTP status, reply); a ValueError or TypeError
is answered 400 by the server. Listed in server.py's docstring (and so in --help).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudbase_rollout.emulator.fleet import DEFAULT_IMAGE
from cloudbase_rollout.emulator.gateway import error_reply
from cloudbase_rollout.emulator.state import FAILED, UNIT_FAILED, SettleFailure, State
from cloudbase_rollout.jsontext import loads

__all__ = ["CONTROLS", "Payload", "Query", "error_reply"]

Query = dict[str, list[str]]
Payload = dict[str, Any] | str


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


def _fail_unit(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    env_id, server, word = _params(query, env_id=(str, None), server_name=(str, None), status=(str, UNIT_FAILED))
    state.fail_units([(env_id, server)], word or UNIT_FAILED)
    return 200, {"env_id": env_id, "server_name": server, "status": word or UNIT_FAILED}


def _optional(query: Query, name: str) -> int | None:
    """An optional count: absent or empty means no limit."""
    given = query.get(name, [""])[0]
    if not given:
        return None
    try:
        return int(given)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None


def _quota(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    minute, daily = _optional(query, "minute_after"), _optional(query, "daily_after")
    [seconds] = _params(query, minute_seconds=(float, "60"))
    state.set_quota(minute, seconds, daily)
    return 200, state.faults()["quota"]


def _seed_fleet(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    count, names, unavailable, seed, image, alias = _params(
        query, envs=(int, None), services=(str, "shop-api"), unavailable=(int, "0"), seed=(str, "0"),
        image=(str, DEFAULT_IMAGE), alias=(str, ""))
    services = tuple(name.strip() for name in names.split(",") if name.strip())
    env_ids = state.seed_fleet(count, services, image, unavailable, seed, alias)
    return 200, {"env_ids": env_ids, "services": list(services)}


def _fleet(state: State, query: Query, raw: bytes) -> tuple[int, Payload]:
    with state.lock:
        return 200, state.fleet.view()


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
    ("POST", "/_emulator/fail-unit"): _fail_unit, ("POST", "/_emulator/quota"): _quota,
    ("POST", "/_emulator/seed-fleet"): _seed_fleet, ("GET", "/_emulator/fleet"): _fleet,
    ("GET", "/_emulator/faults"): lambda s, q, r: (200, s.faults()),
}
