"""inputs/discovery.py: discover / env_alias / appids to a request, and what the API listed to a fleet.

Pure: no server. The calls themselves are tested against scripted servers in test_envs.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from cloudbase_rollout.errors import Problem
from cloudbase_rollout.inputs.discovery import (
    MAX_APPIDS,
    Discovery,
    Found,
    Skip,
    fleet_from,
    fleet_from_appids,
    fleet_from_envs,
    parse,
    parse_appids,
)
from cloudbase_rollout.wechat.envs import Env


def problems(raw: dict[str, str]) -> list[str]:
    found, listed = parse(raw)
    assert (found is None) == bool(listed) or not raw.get("discover")
    return [str(p) for p in listed]


# -- parse -----------------------------------------------------------------------------------------

def test_no_discover_is_no_discovery() -> None:
    assert parse({}) == (None, [])
    assert parse({"discover": "  ", "targets": "prod-1"}) == (None, [])


def test_discover_envs_with_and_without_an_alias() -> None:
    assert parse({"discover": "envs"}) == (Discovery("envs"), [])
    assert parse({"discover": " envs ", "env_alias": " shop-* "}) == (Discovery("envs", "shop-*"), [])
    assert parse({"discover": "envs", "env_alias": "shop-[0-9]?"})[0] == Discovery("envs", "shop-[0-9]?")


def test_discover_appids_one_a_line_or_comma_separated() -> None:
    raw = {"discover": "appids", "appids": "wx0123456789abcdef, wx1123456789abcdef\n# staging\nwx2123456789abcdef\n\n"}
    assert parse(raw) == (Discovery("appids", None, ("wx0123456789abcdef", "wx1123456789abcdef",
                                                     "wx2123456789abcdef")), [])


@pytest.mark.parametrize("kind", ["env", "ENVS", "appid", "all", "true"])
def test_an_unknown_discover_is_refused(kind: str) -> None:
    assert problems({"discover": kind}) == [f"discover: {kind!r} is not accepted; expected envs or appids"]


@pytest.mark.parametrize("name", ["targets", "targets_file", "env_id"])
def test_discover_with_an_explicit_fleet_is_invalid(name: str) -> None:
    [text] = problems({"discover": "envs", name: "prod-1"})
    assert text.startswith(f"discover: cannot be used together with {name}")


def test_every_conflict_is_named_at_once() -> None:
    found = problems({"discover": "envs", "targets": "a", "targets_file": "t.txt", "appids": "wx1"})
    assert len(found) == 3 and found[-1] == "appids: is used only with discover: appids"


def test_the_inputs_of_one_kind_are_refused_with_the_other() -> None:
    assert problems({"discover": "appids", "appids": "wx1", "env_alias": "a*"}) == [
        "env_alias: is used only with discover: envs"]
    assert problems({"discover": "envs", "appids": "wx1"}) == ["appids: is used only with discover: appids"]


def test_the_discovery_inputs_without_discover_are_refused() -> None:
    assert problems({"env_alias": "shop-*", "appids": "wx1"}) == [
        "env_alias: is used only with discover: envs", "appids: is used only with discover: appids"]


@pytest.mark.parametrize("glob", ["Shop-*", "shop_*", "shop *", "shop/*", "a" * 129, "shop-*\nblog-*"])
def test_an_alias_glob_that_no_alias_can_match_is_refused(glob: str) -> None:
    """Aliases are a-z, 0-9 and - (FLEET.md): `Shop-*` would match nothing, silently, in a case-sensitive match."""
    [text] = problems({"discover": "envs", "env_alias": glob})
    assert text.startswith("env_alias: ") and "case-sensitive" in text and "e.g. shop-*" in text


def test_appids_are_required_with_discover_appids() -> None:
    for given in ({}, {"appids": " , \n,"}, {"appids": "# only a comment"}):
        assert problems({"discover": "appids", **given}) == [
            "appids: is required with discover: appids (one a line or comma-separated)"]


@pytest.mark.parametrize("appid", ["wx 1", "wx.1", "wx/1", "w" * 65, "wx1;rm", "微信"])
def test_a_malformed_appid_is_named(appid: str) -> None:
    [text] = problems({"discover": "appids", "appids": f"wx0123456789abcdef,{appid}"})
    assert text.startswith(f"appids: {appid.strip()[:70]!r} is not accepted") and "wx0123456789abcdef" in text


def test_repeated_appids_are_asked_once_in_order() -> None:
    assert parse_appids("wx2,wx1\nwx2, wx1 ,wx3") == (("wx2", "wx1", "wx3"), [])


def test_too_many_appids_are_refused() -> None:
    text = "\n".join(f"wx{n:016x}" for n in range(MAX_APPIDS + 1))
    assert parse_appids(text) == ((), [Problem("appids", f"{MAX_APPIDS + 1} appids given; at most {MAX_APPIDS} "
                                                        "are accepted")])
    assert len(parse_appids(text.rsplit("\n", 1)[0])[0]) == MAX_APPIDS


# -- fleet_from_envs -------------------------------------------------------------------------------

ENVS = [Env("shop-b-2", "shop-b", "NORMAL", "miniapp"), Env("shop-a-1", "shop-a", "NORMAL", "miniapp"),
        Env("shop-c-3", "shop-c", "UNAVAILABLE", "miniapp"), Env("blog-1", "blog", "NORMAL", "qcloud"),
        Env("blog-2", "blog-x", "", "qcloud")]


def test_normal_environments_are_the_fleet_sorted_and_the_others_skipped() -> None:
    found = fleet_from_envs(ENVS)
    assert found.env_ids == ["blog-1", "shop-a-1", "shop-b-2"]
    assert found.skipped == [Skip("blog-2", "status (none), not NORMAL: it cannot take a rollout", "env"),
                             Skip("shop-c-3", "status UNAVAILABLE, not NORMAL: it cannot take a rollout", "env")]
    assert found.note == "discover envs: 5 Cloud Run environment(s) listed, 5; 3 in the fleet, 2 skipped"


def test_the_alias_glob_filters_before_status_and_is_case_sensitive() -> None:
    found = fleet_from_envs([*ENVS, Env("shop-d-4", "SHOP-d", "NORMAL", "miniapp")], "shop-*")
    assert found.env_ids == ["shop-a-1", "shop-b-2"]
    assert [s.what for s in found.skipped] == ["shop-c-3"], "environments outside the glob are not skipped"
    assert "6 Cloud Run environment(s) listed, 3 with an alias matching 'shop-*'" in found.note


@pytest.mark.parametrize(("glob", "expected"), [
    ("shop-?", ["shop-a-1", "shop-b-2"]), ("shop-[ab]", ["shop-a-1", "shop-b-2"]), ("shop-[!a]", ["shop-b-2"]),
    ("blog", ["blog-1"]), ("*", ["blog-1", "shop-a-1", "shop-b-2"]), ("nothing-*", []),
])
def test_globs(glob: str, expected: list[str]) -> None:
    assert fleet_from_envs(ENVS, glob).env_ids == expected


def test_normal_is_compared_ignoring_case_and_nothing_else() -> None:
    envs = [Env("a", "", "normal", ""), Env("b", "", "NORMAL ", ""), Env("c", "", "NORMALISING", "")]
    found = fleet_from_envs(envs)
    assert found.env_ids == ["a"] and [s.what for s in found.skipped] == ["b", "c"]


def test_an_environment_listed_twice_is_one_unit() -> None:
    found = fleet_from_envs([Env("a", "", "NORMAL", ""), Env("a", "", "NORMAL", ""), Env("b", "", "X", ""),
                             Env("b", "", "X", "")])
    assert found.env_ids == ["a"] and found.skipped == [Skip("b", "status X, not NORMAL: it cannot take a rollout",
                                                             "env")]


def test_env_ids_sort_as_text() -> None:
    envs = [Env(e, "", "NORMAL", "") for e in ("env-10", "env-9", "Env-1", "env-1")]
    assert fleet_from_envs(envs).env_ids == ["Env-1", "env-1", "env-10", "env-9"]


# -- fleet_from_appids -----------------------------------------------------------------------------

def test_shared_environments_are_the_fleet_deduplicated_and_sorted() -> None:
    relations = [("wx1", ["shop-b", "shop-a"]), ("wx2", ["shop-a"]), ("wx3", ["blog"])]
    found = fleet_from_appids(["wx1", "wx2", "wx3"], relations, [])
    assert found == Found(["blog", "shop-a", "shop-b"], [], "discover appids: 3 appid(s) asked, 3 with "
                          "environments; 3 environment(s) in the fleet, 0 appid(s) skipped")


def test_appids_in_err_list_without_environments_or_unanswered_are_skipped() -> None:
    relations: list[tuple[str, list[str]]] = [("wx1", ["shop-a"]), ("wx3", [])]
    found = fleet_from_appids(["wx1", "wx2", "wx3", "wx4"], relations, [("wx2", "appid not authorized")])
    assert found.env_ids == ["shop-a"]
    assert found.skipped == [
        Skip("wx2", "batchgetenvid could not answer it: appid not authorized", "appid"),
        Skip("wx3", "no Cloud Run environment is shared with it", "appid"),
        Skip("wx4", "batchgetenvid's reply did not mention it", "appid")]


def test_an_err_list_entry_without_errmsg_still_says_so() -> None:
    [skip] = fleet_from_appids(["wx1"], [], [("wx1", "")]).skipped
    assert skip.reason == "batchgetenvid could not answer it: (no errmsg)"


def test_fleet_from_takes_either_answer() -> None:
    assert fleet_from(Discovery("envs", "blog*"), ENVS).env_ids == ["blog-1"]
    answer: tuple[Any, Any] = ([("wx1", ["e-2", "e-1"])], [])
    assert fleet_from(Discovery("appids", None, ("wx1",)), answer).env_ids == ["e-1", "e-2"]
