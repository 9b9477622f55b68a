"""The fleet from the API instead of `targets`: the inputs to a request, the answer to units.

Pure on both sides (the calls are wechat/envs.py's), so every rule here is tested without
a server: `parse` turns discover / env_alias / appids into a Discovery, or problems; the
`fleet_from_*` functions turn what the API listed into the sorted env_ids of the fleet and
the skipped ones with their reason (docs/spec/FLEET.md section 3: an environment that is
not NORMAL cannot take a rollout, an appid in err_list was not answered; neither is a failure).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from cloudbase_rollout.errors import Problem
from cloudbase_rollout.wechat.envs import AppErrors, Env, Relations

Kind = Literal["envs", "appids"]
KINDS: tuple[Kind, ...] = ("envs", "appids")
#: Undocumented shape (FACTS.md and FLEET.md say nothing; real ones are wx + 16 hex): plain and bounded.
APPID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
MAX_APPIDS = 10_000
#: An alias is a-z, then a-z, 0-9, - (FLEET.md section 1); a glob may add *, ? and [...] to those.
ALIAS_GLOB = re.compile(r"[a-z0-9*?\[\]!-]{1,128}\Z")
USABLE = "NORMAL"
#: What discovery replaces: the fleet is found, not given.
REPLACED = ("targets", "targets_file", "env_id")


@dataclass(frozen=True)
class Discovery:
    """What to ask: every Cloud Run environment (optionally by alias glob), or those of some appids."""

    kind: Kind
    alias: str | None = None
    appids: tuple[str, ...] = ()


class Skip(NamedTuple):
    """One environment or appid left out of the fleet, and why; `kind` says which `what` names."""

    what: str
    reason: str
    kind: Literal["env", "appid"]


@dataclass
class Found:
    """The fleet discovered: env_ids sorted and unique, the skipped, and one line for the log."""

    env_ids: list[str]
    skipped: list[Skip] = field(default_factory=list)
    note: str = ""


def parse(raw: Mapping[str, str]) -> tuple[Discovery | None, list[Problem]]:
    """The discovery the inputs ask for (None without `discover`), or every problem with it."""
    given = {name: raw[name].strip() for name in ("discover", "env_alias", "appids") if raw.get(name, "").strip()}
    kind = given.get("discover")
    if kind is None:
        return None, [Problem(name, "is used only with discover: " + ("envs" if name == "env_alias" else "appids"))
                      for name in ("env_alias", "appids") if name in given]
    if kind not in KINDS:
        return None, [Problem("discover", f"{kind[:40]!r} is not accepted; expected envs or appids")]
    problems = [Problem("discover", f"cannot be used together with {name}: discovery finds the fleet (give a canary "
                        "with explicit targets in a job of its own)") for name in REPLACED if raw.get(name, "").strip()]
    alias = given.get("env_alias")
    if kind == "appids" and alias is not None:
        problems.append(Problem("env_alias", "is used only with discover: envs"))
    if kind == "envs" and "appids" in given:
        problems.append(Problem("appids", "is used only with discover: appids"))
    if kind == "envs" and alias is not None and not ALIAS_GLOB.match(alias):
        problems.append(Problem("env_alias", f"{alias[:40]!r} is not accepted; expected a glob on the alias (lower "
                                "case a-z, 0-9 and -, with * ? [...]; the match is case-sensitive), e.g. shop-*"))
    appids: tuple[str, ...] = ()
    if kind == "appids":
        appids, found = parse_appids(given.get("appids", ""))
        problems += found
    return (None if problems else Discovery(kind, alias if kind == "envs" else None, appids)), problems


def parse_appids(text: str) -> tuple[tuple[str, ...], list[Problem]]:
    """Appids one a line or comma-separated (blank lines and # comments skipped); repeats kept once."""
    words = [w.strip() for line in text.splitlines() if not line.strip().startswith("#") for w in line.split(",")]
    appids = tuple(dict.fromkeys(w for w in words if w))
    bad = [a for a in appids if not APPID.match(a)]
    if bad:
        return (), [Problem("appids", f"{bad[0][:70]!r} is not accepted; expected appids of 1 to 64 letters, digits, "
                            "- and _ (such as wx0123456789abcdef), one a line or comma-separated")]
    if not appids:
        return (), [Problem("appids", "is required with discover: appids (one a line or comma-separated)")]
    if len(appids) > MAX_APPIDS:
        return (), [Problem("appids", f"{len(appids)} appids given; at most {MAX_APPIDS} are accepted")]
    return appids, []


def fleet_from(discovery: Discovery, answer: Sequence[Env] | tuple[Relations, AppErrors]) -> Found:
    """The fleet from describe_envs's list (discover envs) or envs_for_appids's pair (discover appids)."""
    if isinstance(answer, tuple):
        relations, errors = answer
        return fleet_from_appids(discovery.appids, relations, errors)
    return fleet_from_envs(answer, discovery.alias)


def fleet_from_envs(envs: Sequence[Env], alias: str | None = None) -> Found:
    """NORMAL environments whose alias matches the glob; the matching others skipped with their status.

    Environments the glob leaves out are not skipped: they were never part of this fleet.
    """
    matched = [e for e in envs if alias is None or fnmatch.fnmatchcase(e.alias, alias)]
    usable = {e.env_id for e in matched if e.status.casefold() == USABLE.casefold()}
    skipped: dict[str, Skip] = {}
    for env in matched:
        if env.env_id not in usable:
            status = env.status or "(none)"
            skipped.setdefault(env.env_id, Skip(env.env_id, f"status {status}, not {USABLE}: it cannot take a "
                                                "rollout", "env"))
    by = f" with an alias matching {alias!r}" if alias is not None else ""
    note = (f"discover envs: {len(envs)} Cloud Run environment(s) listed, {len(matched)}{by}; "
            f"{len(usable)} in the fleet, {len(skipped)} skipped")
    return Found(sorted(usable), sorted(skipped.values()), note)


def fleet_from_appids(appids: Sequence[str], relations: Relations, errors: AppErrors) -> Found:
    """The environments shared with the appids; an appid in err_list, with no environment, or not
    answered at all is skipped and said so (an appid silently dropped would be a customer missed)."""
    env_ids = {env_id for _, envs in relations for env_id in envs}
    skipped: dict[str, Skip] = {}
    for appid, errmsg in errors:
        skipped.setdefault(appid, Skip(appid, f"batchgetenvid could not answer it: {errmsg or '(no errmsg)'}",
                                       "appid"))
    answered = {appid for appid, envs in relations if envs}
    for appid, envs in relations:
        if not envs and appid not in skipped:
            skipped[appid] = Skip(appid, "no Cloud Run environment is shared with it", "appid")
    for appid in appids:
        if appid not in answered and appid not in skipped:
            skipped[appid] = Skip(appid, "batchgetenvid's reply did not mention it", "appid")
    note = (f"discover appids: {len(appids)} appid(s) asked, {len(answered)} with environments; "
            f"{len(env_ids)} environment(s) in the fleet, {len(skipped)} appid(s) skipped")
    return Found(sorted(env_ids), list(skipped.values()), note)
