"""CloudBase Run operations on top of `api.call`: roll out, release, list and read versions.

Each turns a checked reply into a small value. The read endpoints name the
environment `env` and the service `service_name` (docs/spec/NEIGHBOURS.md sections 2, 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloudbase_rollout.errors import ApiError, TransportError
from cloudbase_rollout.wechat.api import RELEASE, ROLL_UPDATE, VERSION_DETAIL, VERSION_LIST, WeChat

#: As schema/response.schema.json says, but whole-string: Python's `$` (which the
#: schema validators use) also matches before a final newline.
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
VERSION_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
PAGE = 100
MAX_PAGES = 20


@dataclass(frozen=True)
class RollReply:
    run_id: str
    result: str
    errmsg: str
    attempts: int


@dataclass(frozen=True)
class Version:
    """One version as a read endpoint reports it; `run_id` only where the reply carries one."""

    name: str
    status: str
    created_time: str = ""
    updated_time: str = ""
    run_id: str | None = None
    #: getcsversiondetail's reply as it came (skip_current and plan compare it: vocabulary/fields.py)
    detail: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def roll_update(api: WeChat, body: dict[str, Any]) -> RollReply:
    answer = api.call(ROLL_UPDATE, body, str(body.get("server_name", "the rollout")))
    data, safe = answer.data, api.transport.safe
    result = str(data.get("result", ""))
    if result != "succ":
        raise ApiError(0, safe(str(data.get("errmsg", ""))),
                       f"the API answered errcode 0 without result succ (result {safe(result, 64)!r}).",
                       may_have_started=True, attempts=answer.attempts)
    run_id = data.get("run_id")
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise TransportError(f"{api.where} answered succ with a run_id that is not 1 to 128 letters, digits, - or _ "
                             f"({safe(str(run_id), 150)!r}); nothing was written to the outputs",
                             kind="unreadable", may_have_started=True, attempts=answer.attempts)
    return RollReply(run_id, result, str(data.get("errmsg", "")), answer.attempts)


def release(api: WeChat, env_id: str, server_name: str, version_name: str) -> tuple[str, int | None]:
    """(result, release_order_id): `success` or `failed` (not `succ`, docs/spec/NEIGHBOURS.md section 1)."""
    body = {"env_id": env_id, "server_name": server_name, "release_version": version_name}
    data = api.call(RELEASE, body, f"{server_name} (release {version_name})").data
    order = data.get("release_order_id")
    return api.transport.safe(str(data["result"]), 64), int(order) if isinstance(order, (int, float)) else None


def list_versions(api: WeChat, env_id: str, server_name: str, attempts: int | None = None) -> list[Version]:
    """Every version, page by page (at most MAX_PAGES pages of PAGE)."""
    found: list[Version] = []
    for page in range(MAX_PAGES):
        body = {"env": env_id, "service_name": server_name, "limit": PAGE, "offset": page * PAGE}
        data = api.call(VERSION_LIST, body, f"{server_name} (list versions)", attempts).data
        items = data["items"]
        found += [_version(api, item, str(item["version_name"])) for item in items]
        total = data.get("total")
        if len(items) < PAGE or (isinstance(total, int) and len(found) >= total):
            break
    return found


def read_version(api: WeChat, env_id: str, server_name: str, version_name: str,
                 attempts: int | None = None) -> Version:
    """One version's detail; `attempts` 1 for a wait's polls, whose loop is the retry."""
    body = {"env": env_id, "service_name": server_name, "version_name": version_name}
    data = api.call(VERSION_DETAIL, body, f"{server_name} (read {version_name})", attempts).data
    return _version(api, data, version_name, detail=True)


def _version(api: WeChat, data: dict[str, Any], name: str, detail: bool = False) -> Version:
    """A version from a reply; its status is server text on its way to the log: made safe to print."""
    run_id = data.get("run_id")
    return Version(name, api.transport.safe(str(data.get("status", "")), 64), str(data.get("created_time", "")),
                   str(data.get("updated_time", "")),
                   run_id if isinstance(run_id, str) and RUN_ID.fullmatch(run_id) else None, data if detail else {})


def newest(versions: list[Version]) -> Version | None:
    """What `latest` means: the newest by created_time (an inference, docs/spec/NEIGHBOURS.md section 7).

    Times are text with no zone; parsed where they can be, else compared as text,
    which orders the documented `YYYY-MM-DD HH:MM:SS` form correctly anyway.
    """
    if not versions:
        return None
    return max(versions, key=lambda v: (_when(v.created_time), v.created_time))


def _when(text: str) -> datetime:
    for form in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip()[:19], form)
        except ValueError:
            continue
    return datetime.min
