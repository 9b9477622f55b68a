"""Finding a platform's fleet: the environment endpoints on top of `api.call` (docs/spec/FLEET.md).

Both are reads, so the client may repeat them; a refusal (40014, 45009, ...) is the usual
ApiError and stops the step before any roll-update. Replies are held to their schemas
(schema/cloudrunenvs.reply, schema/batchgetenvid.reply) before a field is read: env_ids have
the roll-update's shape by then; every other text from the server is made safe to print here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cloudbase_rollout.errors import TransportError
from cloudbase_rollout.wechat.api import BATCH_ENV_ID, CLOUDRUN_ENVS, WeChat

#: Appids per batchgetenvid call. No maximum is documented: 100 is our guess (FLEET.md section 2).
CHUNK = 100
#: Cloud Run (云托管) environments, as batchgetenvid's source_type says.
CLOUD_RUN = 1
#: As the reply schemas say, but whole-string: the schemas' `$` also matches before a final newline.
ENV_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class Env:
    """One Cloud Run environment as describecloudbaserunenvs lists it; absent texts are ""."""

    env_id: str
    alias: str
    status: str
    source: str


Relations = list[tuple[str, list[str]]]
AppErrors = list[tuple[str, str]]


def describe_envs(api: WeChat, attempts: int | None = None) -> list[Env]:
    """Every Cloud Run environment of the platform, in the API's order (the body is `{}`: none is documented)."""
    data = api.call(CLOUDRUN_ENVS, {}, "the environment list", attempts).data
    return [_env(api, item) for item in data["env_list"]]


def _env(api: WeChat, item: dict[str, Any]) -> Env:
    safe = api.transport.safe
    return Env(_env_id(api, item["env_id"]), safe(str(item.get("alias", "")), 128),
               safe(str(item.get("status", "")), 64), safe(str(item.get("source", "")), 64))


def envs_for_appids(api: WeChat, appids: Sequence[str], chunk: int = CHUNK,
                    attempts: int | None = None) -> tuple[Relations, AppErrors]:
    """(appid, env_ids) for the appids that were answered, (appid, errmsg) for those in err_list.

    Sent `chunk` appids a call, in the order given; a chunk whose err_list is not empty does not
    stop the others (those appids are skipped, not failed). A failing call raises, whatever the
    chunks before it found: a fleet found in part must not be rolled out as if it were whole.
    """
    relations: Relations = []
    errors: AppErrors = []
    for start in range(0, len(appids), chunk):
        part = list(appids[start:start + chunk])
        label = f"the environments of appids {start + 1}-{start + len(part)}"
        data = api.call(BATCH_ENV_ID, {"appids": part, "source_type": CLOUD_RUN}, label, attempts).data
        relations += [(_text(api, item["appid"], 64), [_env_id(api, e) for e in item["env_list"]])
                      for item in data.get("relation_data", [])]
        errors += [(_text(api, item["appid"], 64), _text(api, item.get("errmsg", ""), 200))
                   for item in data.get("err_list", [])]
    return relations, errors


def _env_id(api: WeChat, value: object) -> str:
    """An env_id that a roll-update body can carry as it is, or the reply is unreadable."""
    if isinstance(value, str) and ENV_ID.fullmatch(value):
        return value
    raise TransportError(f"{api.where} listed an env_id that is not 1 to 128 letters, digits, - or _ "
                         f"({api.transport.safe(str(value), 150)!r})", kind="unreadable", effect="read")


def _text(api: WeChat, value: object, limit: int) -> str:
    return api.transport.safe(str(value), limit)
