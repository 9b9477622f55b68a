"""A fleet step's results file (schema/results.schema.json): every unit's state, written atomically.

Rewritten as units finish (at most every REWRITE seconds, so 10,000 completions are not 10,000
rewrites of a megabyte), and always at the end, on failure and on cancellation, so a cancelled job
still leaves every run_id it received. It holds no secret: the records carry no body, and every
text passes the redactor. command report merges these files (front/merge.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cloudbase_rollout import __version__
from cloudbase_rollout.errors import ApiError, OutputsNotWritten
from cloudbase_rollout.front import merge
from cloudbase_rollout.inputs.plan import Plan
from cloudbase_rollout.run.core import Result
from cloudbase_rollout.vocabulary import fields
from cloudbase_rollout.words import ACTION, Words

REWRITE = 2.0
DEFAULT_NAME = "cloudbase-rollout-results.json"


def results_path(text: str, env: Mapping[str, str], workspace: Path) -> Path:
    """results_file as given (relative to the workspace), else $RUNNER_TEMP/cloudbase-rollout-results.json."""
    import tempfile

    if text.strip():
        path = Path(text.strip())
        return path if path.is_absolute() else workspace / path
    return Path(env.get("RUNNER_TEMP") or tempfile.gettempdir()) / DEFAULT_NAME


def unit_record(r: Result, words: Words = ACTION) -> dict[str, Any]:
    """One unit as the results file has it (no request body: a body may hold env_params secrets)."""
    error = r.error
    api = error if isinstance(error, ApiError) else getattr(error, "cause", None)
    reason = r.reason or (error.text(words) if error is not None else None)
    record: dict[str, Any] = {
        "id": r.target.id, "env_id": r.target.env_id, "server_name": r.target.server_name, "wave": r.wave,
        "state": r.state or "planned", "run_id": r.run_id, "version_name": r.version_name, "status": r.status,
        "promoted": r.promoted, "release_order_id": r.release_order_id,
        "waited_seconds": None if r.waited is None else round(r.waited),
        "changes": [fields.record(change) for change in r.changes] if r.changes is not None else None,
        "error": None,
    }
    if reason is not None:
        record["error"] = {
            "errcode": api.errcode if isinstance(api, ApiError) else None,
            "errmsg": api.errmsg if isinstance(api, ApiError) else None,
            "may_have_started": bool(error.may_have_started) if error is not None else r.state == "started",
            "reason": reason[:2000],
        }
    return record


def document(plan: Plan, results: Sequence[Result], *, complete: bool, stopped: str | None = None,
             budget_exceeded: bool = False) -> dict[str, Any]:
    fleet = plan.fleet
    assert fleet is not None
    return {
        "format": "cloudbase-rollout/results", "version": 1, "tool_version": __version__,
        "command": plan.command, "dry_run": plan.call.dry_run, "complete": complete,
        "fleet": {"units": fleet.whole, "fingerprint": fleet.fingerprint, "max_failures": fleet.max_failures},
        "shard": {"index": fleet.shard.index, "count": fleet.shard.count},
        "waves": list(fleet.waves), "units": [unit_record(r) for r in results],
        "totals": {"units": len(results), **totals(results)},
        "budget_exceeded": budget_exceeded, "stopped": stopped,
    }


def totals(results: Sequence[Result]) -> dict[str, int]:
    """A count per state (schema/results.schema.json); a unit not yet started counts as planned, as its record says."""
    found = dict.fromkeys(merge.STATES, 0)
    for r in results:
        found[r.state or "planned"] += 1
    return found


class Writer:
    """Writes the results file: when due (every REWRITE seconds at most) and when told it must."""

    def __init__(self, path: Path | None, redact: Callable[[str], str], clock: Callable[[], float]) -> None:
        self.path, self.redact, self.clock = path, redact, clock
        self.last = float("-inf")

    def write(self, make: Callable[[], dict[str, Any]], force: bool = False) -> None:
        if self.path is None or (not force and self.clock() - self.last < REWRITE):
            return
        self.last = self.clock()
        write(self.redact(json.dumps(make(), ensure_ascii=False, separators=(",", ":"))), self.path)


def write(text: str, path: Path) -> None:
    """A temporary file beside it, then a rename: no reader (an upload step) ever sees half a file,
    and a rename that fails leaves no temporary file behind."""
    import contextlib
    import os
    import tempfile

    name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=".results-",
                                         suffix=".tmp", delete=False) as handle:
            name = handle.name
            handle.write(text)
        os.replace(name, path)
    except OSError as error:
        if name is not None:
            with contextlib.suppress(OSError):
                os.unlink(name)
        raise OutputsNotWritten(f"could not write the results file {path}: {error}") from None
