"""One service's versions as the emulator keeps them, and how the read endpoints show them.

Kept apart from `state` (the shared, locked memory) so a version's rules can be read on their
own: a roll-update replaces a version's content in place (same name, new settings, a new
buildid), its status settles lazily from timestamps (no thread or timer per version, so a
fleet of 10,000 units costs nothing while it waits), and the detail reports the settings in
the docs' field names (docs/spec/NEIGHBOURS.md section 3), as the body sent them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

CHINA = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
HEALTHY, MOVING, FAILED = "normal", "deploying", "build_fail"
DAY = 86400
Key = tuple[str, str]

#: getcsversiondetail fields that a roll-update body sets, and the body field each comes from.
#: The emulator's own table: the client's vocabulary has another, and each checks the other.
#: image_url is not here: it comes from image_info.image_url (see Version.roll).
DETAIL_FROM_BODY = {
    "remark": "version_remark", "upload_type": "upload_type", "cpu": "cpu", "mem": "mem", "minnum": "min_num",
    "maxnum": "max_num", "policy_type": "policy_type", "policy_threshold": "policy_threshold",
    "env_params": "env_params", "container_port": "container_port", "dockerfile_path": "dockerfile_path",
    "build_dir": "build_dir", "package_name": "package_name", "package_version": "package_version",
    "repo_type": "repository_type", "repo": "repository", "branch": "branch", "custom_logs": "custom_logs",
}
#: What a version made by hand in the console shows before any roll-update set it.
DETAIL_DEFAULTS: dict[str, Any] = {
    "remark": "", "image_url": "", "upload_type": "image", "cpu": 0.25, "mem": 0.5, "minnum": 0, "maxnum": 1,
    "policy_type": "cpu", "policy_threshold": 60, "env_params": "{}", "version_ip": "", "version_port": 0,
    "container_port": 80, "dockerfile_path": "Dockerfile", "build_dir": "", "package_name": "",
    "package_version": "", "repo_type": "", "repo": "", "branch": "", "custom_logs": "stdout",
}
#: Detail fields that Tencent's model types as numbers where the roll-update body has text ("0.25").
NUMERIC = ("cpu", "mem", "minnum", "maxnum", "policy_threshold")


def text(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), CHINA).strftime(TIME_FORMAT)


def epoch_of(value: str) -> int:
    """A console time text (China time) as epoch seconds; ValueError for anything else."""
    return int(datetime.strptime(value, TIME_FORMAT).replace(tzinfo=CHINA).timestamp())


def number(value: Any) -> Any:
    """Tencent's model has numbers where the roll-update body has text ("0.25"); other values stay."""
    try:
        as_float = float(value)
    except (TypeError, ValueError, OverflowError):
        return value
    if as_float != as_float or as_float in (float("inf"), float("-inf")):
        return value
    return int(as_float) if as_float.is_integer() else as_float


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
        """Replace this version's content in place: the name stays, the settings are the body's."""
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
                self.detail[name] = body[source]

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
        """A getcsversionlist item (replica counts as numbers: Tencent's MinReplicas is an integer)."""
        item = {"version_name": self.name, "status": self.reported(), "created_time": text(self.created),
                "updated_time": text(self.updated), "flow_ratio": self.flow_ratio, "buildid": self.buildid,
                "upload_type": self.detail["upload_type"], "min_replicas": number(self.detail["minnum"]),
                "max_replicas": number(self.detail["maxnum"])}
        return {**item, "run_id": self.run_id} if run_id else item

    def details(self, numbers: bool = False) -> dict[str, Any]:
        """A getcsversiondetail reply's fields: as the body sent them, or `numbers` as Tencent types them."""
        detail = dict(self.detail)
        if numbers:
            detail.update({name: number(detail[name]) for name in NUMERIC})
        return {"status": self.reported(), "created_time": text(self.created), "updated_time": text(self.updated),
                **detail}

    def view(self) -> dict[str, Any]:
        """For GET /_emulator/services: the truth, and what reads would report (uses up no read)."""
        return {"version_name": self.name, "status": self.status, "shown_status": self.shown,
                "shown_reads": self.shown_reads, "flow_ratio": self.flow_ratio, "run_id": self.run_id,
                "created_time": text(self.created), "updated_time": text(self.updated),
                "image_url": self.detail["image_url"]}


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
