"""What the emulator remembers: tokens, calls, and each service's versions.

A service, keyed by (env_id, server_name), springs into being on first use, as if it had been
created by hand in the console. A rollout's status is computed lazily from the injected clock
(no background threads), so tests drive time without sleeping. Text times are China time
(UTC+8), as the console shows them, on the same timeline as that clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

CHINA = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
HEALTHY, MOVING, FAILED = "normal", "deploying", "build_fail"
DAY = 86400
Key = tuple[str, str]

#: getcsversiondetail fields that a roll-update body sets, and the body field each comes from.
DETAIL_FROM_BODY = {
    "remark": "version_remark", "upload_type": "upload_type", "cpu": "cpu", "mem": "mem", "minnum": "min_num",
    "maxnum": "max_num", "policy_type": "policy_type", "policy_threshold": "policy_threshold",
    "env_params": "env_params", "container_port": "container_port", "dockerfile_path": "dockerfile_path",
    "build_dir": "build_dir", "package_name": "package_name", "package_version": "package_version",
    "repo_type": "repo_type", "repo": "repo", "branch": "branch", "custom_logs": "custom_logs",
}
DETAIL_DEFAULTS: dict[str, Any] = {
    "remark": "", "image_url": "", "upload_type": "image", "cpu": 0.25, "mem": 0.5, "minnum": 0, "maxnum": 1,
    "policy_type": "cpu", "policy_threshold": 60, "env_params": "{}", "version_ip": "", "version_port": 0,
    "container_port": 80, "dockerfile_path": "Dockerfile", "build_dir": "", "package_name": "",
    "package_version": "", "repo_type": "", "repo": "", "branch": "", "custom_logs": "stdout",
}
NUMERIC = ("cpu", "mem", "minnum", "maxnum", "policy_threshold")


def text(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), CHINA).strftime(TIME_FORMAT)


def epoch_of(value: str) -> int:
    """A console time text (China time) as epoch seconds; ValueError for anything else."""
    return int(datetime.strptime(value, TIME_FORMAT).replace(tzinfo=CHINA).timestamp())


def _number(value: Any) -> Any:
    """Tencent's model has numbers where the roll-update body has text ("0.25")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() else number


@dataclass
class Version:
    """One version of a service; `status` is the truth, `shown` what reads report instead."""

    name: str
    created: int  # epoch seconds
    updated: int
    status: str = HEALTHY
    flow_ratio: int = 0
    buildid: int = 0
    run_id: str = ""
    settle_at: float | None = None  # epoch seconds at which a rollout settles to settle_to
    settle_to: str = HEALTHY
    shown: str | None = None  # a status word the reads report (the /_emulator/status control)
    shown_reads: int | None = None  # reads left for `shown`; None: until the control changes it
    detail: dict[str, Any] = field(default_factory=lambda: dict(DETAIL_DEFAULTS))

    def touch(self, now: float) -> None:
        """A new updated_time that never repeats the previous one, even within its second."""
        self.updated = max(int(now), self.updated + 1)

    def settle(self, now: float) -> None:
        if self.settle_at is not None and now >= self.settle_at:
            self.status, at, self.settle_at = self.settle_to, self.settle_at, None
            self.touch(at)

    def roll(self, body: Mapping[str, Any], run_id: str, now: float, settle_at: float, settle_to: str) -> None:
        self.status, self.run_id, self.buildid = MOVING, run_id, self.buildid + 1
        self.settle_at, self.settle_to = settle_at, settle_to
        self.touch(now)
        if isinstance(body.get("flow_ratio"), int):
            self.flow_ratio = body["flow_ratio"]
        image = body.get("image_info")
        if isinstance(image, dict) and "image_url" in image:
            self.detail["image_url"] = image["image_url"]
        for name, source in DETAIL_FROM_BODY.items():
            if source in body:
                self.detail[name] = _number(body[source]) if name in NUMERIC else body[source]

    def reported(self) -> str:
        """The status a read endpoint reports; uses up one of the `status` control's reads."""
        word = self.shown
        if word is None:
            return self.status
        if self.shown_reads is not None:
            self.shown_reads -= 1
            if self.shown_reads <= 0:
                self.shown = self.shown_reads = None
        return word

    def item(self, run_id: bool) -> dict[str, Any]:
        """A getcsversionlist item."""
        item = {"version_name": self.name, "status": self.reported(), "created_time": text(self.created),
                "updated_time": text(self.updated), "flow_ratio": self.flow_ratio, "buildid": self.buildid,
                "upload_type": self.detail["upload_type"], "min_replicas": self.detail["minnum"],
                "max_replicas": self.detail["maxnum"]}
        return {**item, "run_id": self.run_id} if run_id else item

    def details(self) -> dict[str, Any]:
        """A getcsversiondetail reply's fields."""
        return {"status": self.reported(), "created_time": text(self.created), "updated_time": text(self.updated),
                **self.detail}

    def view(self) -> dict[str, Any]:
        """For GET /_emulator/services: the truth, and what reads would report."""
        return {"version_name": self.name, "status": self.status, "shown_status": self.shown,
                "shown_reads": self.shown_reads, "flow_ratio": self.flow_ratio, "run_id": self.run_id,
                "created_time": text(self.created), "updated_time": text(self.updated)}


def version_from(spec: Any, created: int) -> Version:
    """A version for State.seed from its JSON; ValueError (or TypeError) when it makes no sense."""
    if not isinstance(spec, dict) or not isinstance(spec.get("version_name"), str) or not spec["version_name"]:
        raise ValueError("each version needs a version_name")
    if "created_time" in spec:
        created = epoch_of(spec["created_time"])
    updated = epoch_of(spec["updated_time"]) if "updated_time" in spec else created
    version = Version(spec["version_name"], created, updated, str(spec.get("status", HEALTHY)),
                      int(spec.get("flow_ratio", 0)), int(spec.get("buildid", 0)), str(spec.get("run_id", "")))
    version.detail.update({k: v for k, v in spec.items() if k in DETAIL_DEFAULTS})
    return version


@dataclass
class Service:
    versions: list[Version] = field(default_factory=list)

    def ordered(self) -> list[Version]:
        """Newest first by created_time (the later-made first when they tie), as `latest` reads it."""
        indexed = sorted(enumerate(self.versions), key=lambda pair: (pair[1].created, pair[0]), reverse=True)
        return [version for _, version in indexed]

    def find(self, name: str, latest: bool = False) -> Version | None:
        if latest and name == "latest":
            return next(iter(self.ordered()), None)
        return next((v for v in self.versions if v.name == name), None)

    def release(self, version: Version, now: float) -> None:
        for other in self.versions:
            other.flow_ratio = 100 if other is version else 0
        version.touch(now)


@dataclass
class SettleFailure:
    """The next `count` rollouts matching (None matches anything) settle to `status`, not normal."""

    env_id: str | None
    server_name: str | None
    version_name: str | None
    status: str = FAILED
    count: int = 1

    def matches(self, key: Key, names: set[str]) -> bool:
        return (self.count > 0 and self.env_id in (None, key[0]) and self.server_name in (None, key[1])
                and (self.version_name is None or self.version_name in names))


@dataclass
class State:
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
    slow: dict[Key, float] = field(default_factory=dict)  # per-service settle_seconds
    release_orders: int = 26180
    started: float = field(init=False)
    wall: float = field(init=False)

    def __post_init__(self) -> None:
        self.started, self.wall = self.clock(), time.time()

    def now(self) -> float:
        """Epoch seconds on the injected clock's timeline."""
        return self.wall + self.clock() - self.started

    def take_failure(self) -> int | None:
        with self.lock:
            self.calls += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_errcode
        return None

    def take_read_failure(self) -> tuple[int, int] | None:
        """(HTTP status, errcode) when a read is to fail (the /_emulator/read-fail control)."""
        with self.lock:
            self.reads += 1
            if self.read_fail_next > 0:
                self.read_fail_next -= 1
                return self.read_fail_http, self.read_fail_errcode
        return None

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

    def roll(self, body: Mapping[str, Any], run_id: str) -> bool:
        """Start rolling out the version a valid body names (`latest`: the newest); False if none."""
        key, name = (body["env_id"], body["server_name"]), body["version_name"]
        with self.lock:
            version = self.service(key, name).find(name, latest=True)
            if version is None:
                return False
            now = self.now()
            settle_to = self._settle_word(key, {name, version.name})
            version.roll(body, run_id, now, now + self.slow.get(key, self.settle_seconds), settle_to)
            self.rollouts.append({"run_id": run_id, "received_at": time.time(), "body": body})
        return True

    def _settle_word(self, key: Key, names: set[str]) -> str:
        rule = next((r for r in self.settle_failures if r.matches(key, names)), None)
        if rule is None:
            return HEALTHY
        rule.count -= 1
        self.settle_failures = [r for r in self.settle_failures if r.count > 0]
        return rule.status

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
            return None if version is None else version.details()

    def fail_settling(self, rule: SettleFailure) -> None:
        with self.lock:
            self.settle_failures.append(rule)

    def settle_slowly(self, env_id: str, server_name: str, seconds: float) -> None:
        with self.lock:
            self.slow[(env_id, server_name)] = seconds

    def show(self, env_id: str, server_name: str, name: str, word: str, reads: int | None) -> bool:
        """Reads report `word` for this version (for `reads` reads; empty word: the truth again)."""
        with self.lock:
            version = self.service((env_id, server_name)).find(name, latest=True)
            if version is None:
                return False
            version.shown, version.shown_reads = (word, reads) if word else (None, None)
        return True

    def reset(self) -> None:
        """Forget calls, services, releases and injected faults; keep tokens and settings."""
        with self.lock:
            for memory in (self.rollouts, self.releases, self.services, self.settle_failures, self.slow):
                memory.clear()
            self.calls = self.fail_next = self.reads = self.read_fail_next = 0

    def snapshot(self) -> dict[str, Any]:
        """Everything, for GET /_emulator/services."""
        with self.lock:
            services = [{"env_id": key[0], "server_name": key[1],
                         "settle_seconds": self.slow.get(key, self.settle_seconds),
                         "versions": [v.view() for v in self.service(key).ordered()]} for key in list(self.services)]
            return {"services": services, "releases": list(self.releases), "read_fail_next": self.read_fail_next,
                    "settle_failures": [vars(rule).copy() for rule in self.settle_failures]}
