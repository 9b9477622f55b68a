"""Which roll-update body field each getcsversiondetail field reports, and how to compare them.

One table serves both readers of a version's settings: `skip_current` (a version whose detail
already equals what the body sets is "current", so it needs no roll-update) and `command: plan`
(which prints the fields that differ). The body speaks the request schema's words
(schema/request.schema.json: cpu "0.25" as text, min_num, image_info.image_url, env_params as a
JSON string); the detail speaks docs/spec/NEIGHBOURS.md section 3 (minnum, image_url, cpu as a
number). The emulator keeps its own table (emulator/versions.py DETAIL_FROM_BODY) and is not
imported here: each table checks the other in tests/test_fields.py.

Never compared: the remark (version_remark), since every build writes a new one, and the
repository fields (repository, branch, repository_type): a repository build's detail does not
say which commit it built, so such a unit is never "current".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: body field path (dotted for nested) -> detail field. Compared fields only: never remark
#: (version_remark), never repository/branch/repo_type.
COMPARED: dict[str, str] = {
    "image_info.image_url": "image_url", "cpu": "cpu", "mem": "mem", "min_num": "minnum", "max_num": "maxnum",
    "policy_type": "policy_type", "policy_threshold": "policy_threshold", "env_params": "env_params",
    "container_port": "container_port", "custom_logs": "custom_logs", "dockerfile_path": "dockerfile_path",
    "build_dir": "build_dir", "package_name": "package_name", "package_version": "package_version",
}
#: Detail fields compared as numbers (the body has text, Tencent's model numbers). Only these:
#: a package_version "1.10" is not "1.1".
NUMERIC = frozenset({"cpu", "mem", "minnum", "maxnum", "policy_threshold", "container_port"})
#: Detail fields compared as parsed JSON.
JSON_FIELDS = frozenset({"env_params"})
#: The longest a value is shown in Change.text.
SHOWN = 120
_MISSING = "(missing)"
#: What _json gives for a value that is neither JSON text nor parsed JSON.
_UNPARSED: Any = object()


@dataclass(frozen=True)
class Change:
    """A field the body sets to something other than what the version's detail reports."""

    field: str  # the detail field name, e.g. "image_url"
    current: Any  # as the detail reports it (None when the detail lacks the field)
    wanted: Any  # as the body sets it

    def text(self) -> str:
        """E.g. "image_url: ccr.../a:v1 -> ccr.../a:v2"."""
        return f"{self.field}: {_shown(self.current)} -> {_shown(self.wanted)}"


def changes(body: Mapping[str, Any], detail: Mapping[str, Any]) -> list[Change] | None:
    """The fields the body sets whose detail value differs, in COMPARED order. None when the unit can never be
    'current': body upload_type == "repository" (the detail does not say which commit)."""
    if body.get("upload_type") == "repository":
        return None
    found = []
    for path, name in COMPARED.items():
        wanted = _lookup(body, path)
        if wanted is None:
            continue
        current = detail.get(name)
        if current is None or not same(name, current, wanted):
            found.append(Change(name, current, wanted))
    return found


def same(name: str, current: Any, wanted: Any) -> bool:
    """Whether detail field `name` reporting `current` already is what the body's `wanted` sets."""
    if name in NUMERIC:
        left, right = _number(current), _number(wanted)
        if left is not None and right is not None:
            return left == right
    if name in JSON_FIELDS:
        parsed_left, parsed_right = _json(current), _json(wanted)
        if parsed_left is not _UNPARSED and parsed_right is not _UNPARSED:
            return bool(parsed_left == parsed_right)
    return str(current).strip() == str(wanted).strip()


def record(change: Change) -> dict[str, Any]:
    """A change as JSON-safe data: {"field", "current", "wanted"}."""
    return {"field": change.field, "current": _safe(change.current), "wanted": _safe(change.wanted)}


def _lookup(body: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when any step is missing or not a mapping."""
    value: Any = body
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def _number(value: Any) -> float | None:
    """A finite float from a number or numeric text; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None



def _json(value: Any) -> Any:
    """JSON text parsed ("" as {}), an already parsed object as is; _UNPARSED when it is neither."""
    if isinstance(value, dict | list):
        return value
    if not isinstance(value, str):
        return _UNPARSED
    text = value.strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return _UNPARSED


def _shown(value: Any) -> str:
    """A value compactly: text as is, anything else as compact JSON; cut to SHOWN characters."""
    if value is None:
        return _MISSING
    text = value if isinstance(value, str) else _compact(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _compact(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _safe(value: Any) -> Any:
    """The value itself when JSON can carry it exactly, else its text."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return value
