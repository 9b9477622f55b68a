"""What the emulator remembers: tokens, calls, the fleet's environments and each service's versions.

A service, keyed by (env_id, server_name), springs into being on first use, as if it had been
created by hand in the console; environments exist only when seeded (`seed_fleet`). Every lookup
is a dict keyed by env_id or (env_id, server_name), so a fleet of 10,000 units costs no more per
call than one. A rollout's status is computed lazily from the injected clock (no background
threads), so tests drive time without sleeping. Text times are China time (UTC+8), as the console
shows them, on the same timeline as that clock. The version model is in `versions`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudbase_rollout.emulator.faults import UNIT_FAILED, Faults, SettleFailure
from cloudbase_rollout.emulator.fleet import DEFAULT_IMAGE, Fleet, alias_for, services_for
from cloudbase_rollout.emulator.quota import Quota
from cloudbase_rollout.emulator.versions import DAY, FAILED, HEALTHY, Key, Service, Version, version_from

__all__ = ["FAILED", "HEALTHY", "UNIT_FAILED", "Key", "SettleFailure", "State"]


@dataclass
class State(Faults):
    """What the emulator knows and remembers; shared by the handler threads (under `lock`)."""

    token: str
    expired_tokens: set[str] = field(default_factory=set)
    component_appid: str = "wx-emulator-component"
    component_appsecret: str = "emulator-appsecret"
    component_verify_ticket: str = "emulator-ticket"
    delay: float = 0.0
    fail_next: int = 0
    fail_errcode: int = -1
    rollouts: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    settle_seconds: float = 2.0
    clock: Callable[[], float] = time.monotonic
    list_run_id: bool = False  # list items carry run_id (Tencent's model has it; WeChat's doc does not say)
    read_fail_next: int = 0  # the next N list/detail calls answer read_fail_errcode (or HTTP read_fail_http)
    read_fail_errcode: int = -1
    read_fail_http: int = 200
    reads: int = 0
    services: dict[Key, Service] = field(default_factory=dict)
    releases: list[dict[str, Any]] = field(default_factory=list)
    settle_failures: list[SettleFailure] = field(default_factory=list)
    slow: dict[Key, float] = field(default_factory=dict)  # per-unit settle_seconds
    failing: dict[Key, str] = field(default_factory=dict)  # per-unit status every rollout settles to
    release_orders: int = 26180
    detail_numbers: bool = False  # the detail's cpu, mem, minnum, maxnum, policy_threshold as numbers
    fleet: Fleet = field(default_factory=Fleet)
    quota: Quota = field(default_factory=Quota)
    started: float = field(init=False)
    wall: float = field(init=False)

    def __post_init__(self) -> None:
        self.started, self.wall = self.clock(), time.time()

    def now(self) -> float:
        """Epoch seconds on the injected clock's timeline."""
        return self.wall + self.clock() - self.started

    def service(self, key: Key, naming: str = "") -> Service:
        """A service, its versions settled (hold the lock). First use makes it, as if created by hand in
        the console: `<server_name>-001`, serving, a day old, and the concrete version the call names."""
        service = self.services.get(key)
        if service is None:
            born = int(self.wall) - DAY
            service = self.services[key] = Service([Version(f"{key[1]}-001", born, born, flow_ratio=100)])
            if naming and naming != "latest" and service.find(naming) is None:
                service.versions.append(Version(naming, born + 60, born + 60))
        now = self.now()
        for version in service.versions:
            version.settle(now)
        return service

    def seed(self, env_id: str, server_name: str, versions: Sequence[Any] = ()) -> None:
        """Make a service with exactly these versions (dicts as for /_emulator/seed; none is allowed)."""
        made = [version_from(spec, int(self.wall) - DAY + 60 * i) for i, spec in enumerate(versions)]
        with self.lock:
            self.services[(env_id, server_name)] = Service(made)

    def seed_fleet(self, count: int, services: Sequence[str] = ("shop-api",), image: str = DEFAULT_IMAGE,
                   unavailable: int = 0, seed: int | str = 0, alias: str = "") -> list[str]:
        """`count` more environments (`fleet-0001-<6 hex>`, alias `shop-0001`, each shared with one appid,
        every 10th appid with two), each with every service at one serving version `<service>-001` whose
        image is `image` ({service} replaced); `unavailable` of them UNAVAILABLE. Returns their env_ids."""
        if not services or any(not name for name in services):
            raise ValueError("seed_fleet needs at least one service name")
        with self.lock:
            made = self.fleet.add(count, alias or alias_for(services), unavailable, seed)
            self.services.update(services_for(made, services, image, int(self.wall) - DAY))
        return [env.env_id for env in made]

    def roll(self, body: Mapping[str, Any], run_id: str) -> bool:
        """Start rolling out the version a valid body names (`latest`: the newest); False if none."""
        key, name = (body["env_id"], body["server_name"]), body["version_name"]
        with self.lock:
            version = self.service(key, name).find(name, latest=True)
            if version is None:
                return False
            now = self.now()
            settle_to = self.settle_word(key, {name, version.name})
            version.roll(body, run_id, now, now + self.slow.get(key, self.settle_seconds), settle_to)
            self.rollouts.append({"run_id": run_id, "received_at": time.time(), "body": body})
        return True

    def release(self, env_id: str, server_name: str, name: str) -> dict[str, Any] | None:
        """Give a `normal` version all the traffic; None when the service has no such version."""
        with self.lock:
            service = self.service((env_id, server_name), name)
            version = service.find(name)
            if version is None:
                return None
            outcome: dict[str, Any] = {"result": "failed", "release_order_id": 0}
            if version.status == HEALTHY:
                self.release_orders += 1
                outcome = {"result": "success", "release_order_id": self.release_orders}
                service.release(version, self.now())
            self.releases.append({"env_id": env_id, "server_name": server_name, "release_version": name,
                                  **outcome, "received_at": time.time()})
        return outcome

    def page(self, env_id: str, server_name: str, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        """(total, the list items from offset), newest first."""
        with self.lock:
            versions = self.service((env_id, server_name)).ordered()
            return len(versions), [v.item(self.list_run_id) for v in versions[offset:offset + limit]]

    def detail(self, env_id: str, server_name: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            version = self.service((env_id, server_name), name).find(name)
            return None if version is None else version.details(self.detail_numbers)

    def env_list(self) -> list[dict[str, Any]]:
        """describecloudbaserunenvs's env_list: every seeded environment, in seeding order."""
        with self.lock:
            return self.fleet.env_list()

    def shared_envs(self, appids: Iterable[str]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """batchgetenvid's (relation_data, err_list); an appid that was not seeded is in err_list."""
        with self.lock:
            return self.fleet.shared(appids)

    def show(self, env_id: str, server_name: str, name: str, word: str, reads: int | None) -> bool:
        """Reads report `word` for this version (for `reads` reads; empty word: the truth again)."""
        with self.lock:
            version = self.service((env_id, server_name)).find(name, latest=True)
            if version is None:
                return False
            version.shown, version.shown_reads = (word, reads) if word else (None, None)
        return True

    def reset(self) -> None:
        """Forget calls, services, the fleet, releases and injected faults (quota too); keep tokens and settings."""
        with self.lock:
            for memory in (self.rollouts, self.releases, self.services, self.settle_failures, self.slow,
                           self.failing, self.fleet):
                memory.clear()
            self.calls = self.fail_next = self.reads = self.read_fail_next = 0
            self.quota = Quota()

    def snapshot(self) -> dict[str, Any]:
        """Everything, for GET /_emulator/services."""
        with self.lock:
            services = [{"env_id": key[0], "server_name": key[1],
                         "settle_seconds": self.slow.get(key, self.settle_seconds),
                         "versions": [v.view() for v in self.service(key).ordered()]} for key in list(self.services)]
            return {"services": services, "releases": list(self.releases), "read_fail_next": self.read_fail_next,
                    "settle_failures": [vars(rule).copy() for rule in self.settle_failures]}
