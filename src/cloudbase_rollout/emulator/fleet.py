"""A platform's fleet for the emulator: many environments, their appids and their services.

The discovery endpoints (docs/spec/FLEET.md) answer only what was seeded here; unlike a service,
an environment never springs into being on first use. Everything is derived from `seed` by
hashing, never from the clock or `random`'s global state, so a test, a demo or a bench that
seeds the same fleet gets the same env_ids, aliases and appids every time and can predict them.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudbase_rollout.emulator.versions import Key, Service, Version, epoch_of, text

NORMAL, UNAVAILABLE = "NORMAL", "UNAVAILABLE"
#: The fleet's environments were made a minute apart from here (fixed, so replies are stable).
FLEET_EPOCH = epoch_of("2024-01-01 09:00:00")
#: Every 10th appid (1, 11, 21, ...) is shared with two environments: its own and the next one.
TWICE_EVERY = 10
ALIAS = re.compile(r"[a-z][a-z0-9-]*")
REGION = "ap-shanghai"
DEFAULT_IMAGE = "ccr.ccs.tencentyun.com/demo/{service}:v1"


def digest(seed: int | str, *parts: object, length: int) -> str:
    """`length` hex digits that depend only on the seed and the parts."""
    return hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Environment:
    """One Cloud Run environment as describecloudbaserunenvs lists it."""

    env_id: str
    alias: str
    status: str
    source: str
    created: int  # epoch seconds
    tag: str  # hex digits for the ids of its database and bucket

    def item(self) -> dict[str, Any]:
        bucket = f"{self.alias}-{self.tag}-1300000000"
        return {"env_id": self.env_id, "source": self.source, "alias": self.alias,
                "create_time": text(self.created), "update_time": text(self.created + 3600),
                "status": self.status,
                "databases": [{"instance_id": f"tnt-{self.tag}", "status": "RUNNING", "region": REGION}],
                "storages": [{"region": REGION, "bucket": bucket, "cdn_domain": f"{bucket}.tcb.qcloud.la",
                              "app_id": "1300000000"}]}


@dataclass
class Fleet:
    """The seeded environments by env_id, and the env_ids shared with each appid (in seeding order)."""

    envs: dict[str, Environment] = field(default_factory=dict)
    appids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, count: int, alias: str, unavailable: int, seed: int | str) -> list[Environment]:
        """`count` more environments, numbered on from those already here; `unavailable` of them,
        chosen by the seed, are UNAVAILABLE (not initialised yet)."""
        if count < 0 or not 0 <= unavailable <= count:
            raise ValueError("seed 0 or more environments, and at most that many unavailable")
        if not ALIAS.fullmatch(alias):
            raise ValueError(f"alias {alias!r} must start with a-z, then a-z, 0-9 or -")
        first = len(self.envs) + 1
        numbers = range(first, first + count)
        chooser = random.Random(f"{seed}:unavailable:{first}")  # noqa: S311 (reproducible on purpose)
        down = set(chooser.sample(numbers, unavailable))
        made = [Environment(f"fleet-{n:04d}-{digest(seed, 'env', n, length=6)}", f"{alias}-{n:04d}",
                            UNAVAILABLE if n in down else NORMAL, "qcloud" if n % 5 == 0 else "miniapp",
                            FLEET_EPOCH + 60 * n, digest(seed, "tag", n, length=8)) for n in numbers]
        self.envs.update((env.env_id, env) for env in made)
        for n, env in zip(numbers, made, strict=True):
            shared = [env.env_id]
            if n % TWICE_EVERY == 1 and n + 1 < first + count:
                shared.append(made[n + 1 - first].env_id)
            self.appids[f"wx{digest(seed, 'appid', n, length=16)}"] = shared
        return made

    def env_list(self) -> list[dict[str, Any]]:
        return [env.item() for env in self.envs.values()]

    def shared(self, appids: Iterable[str]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """(relation_data, err_list) for batchgetenvid, in the order asked."""
        relations: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for appid in appids:
            envs = self.appids.get(appid)
            if envs is None:
                errors.append({"appid": appid, "errmsg": "invalid appid"})
            else:
                relations.append({"appid": appid, "env_list": list(envs)})
        return relations, errors

    def view(self) -> dict[str, Any]:
        """For GET /_emulator/fleet: what a test needs to ask the discovery endpoints about."""
        down = [env.env_id for env in self.envs.values() if env.status != NORMAL]
        return {"environments": len(self.envs), "unavailable": down, "appids": dict(self.appids)}

    def clear(self) -> None:
        self.envs.clear()
        self.appids.clear()


def alias_for(services: Sequence[str]) -> str:
    """An alias prefix from the first service ("shop-api" gives "shop"), or "env" when it cannot be one."""
    word = services[0].split("-")[0].lower() if services else ""
    return word if ALIAS.fullmatch(word) else "env"


def services_for(envs: Iterable[Environment], services: Sequence[str], image: str,
                 born: int) -> dict[Key, Service]:
    """Each service of each environment with one serving version `<service>-001`, made at `born`,
    holding settings as a roll-update body would have sent them (so an unchanged body changes nothing)."""
    made: dict[Key, Service] = {}
    for env in envs:
        for name in services:
            version = Version(f"{name}-001", born, born, flow_ratio=100)
            version.detail.update({"image_url": image.replace("{service}", name), "remark": "seeded",
                                   "cpu": "0.25", "mem": "0.5", "minnum": "0", "maxnum": "1",
                                   "policy_threshold": "60"})
            made[(env.env_id, name)] = Service([version])
    return made
