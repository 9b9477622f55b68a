"""inputs/waves.py: the sizes of `waves` and `max_failures`, and how they cut a fleet; settings.fleet_options."""

from __future__ import annotations

import pytest

from cloudbase_rollout.inputs import settings
from cloudbase_rollout.inputs.settings import FleetOptions
from cloudbase_rollout.inputs.waves import (
    BUDGET_ACCEPTS,
    WAVES_ACCEPTS,
    Size,
    allowed,
    cut,
    exceeded,
    parse_budget,
    parse_waves,
    wave_ends,
)
from cloudbase_rollout.words import ACTION


def count(n: int) -> Size:
    return Size(n, False)


def pct(n: int) -> Size:
    return Size(n, True)


# -- Size.of -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "total", "units"), [
    (count(1), 10, 1), (count(25), 10, 25), (pct(10), 100, 10), (pct(10), 101, 11), (pct(10), 5, 1),
    (pct(33), 3, 1), (pct(34), 3, 2), (pct(100), 7, 7), (pct(1), 0, 0), (pct(50), 1, 1),
])
def test_a_size_of_a_total_rounds_percentages_up(size: Size, total: int, units: int) -> None:
    assert size.of(total) == units


def test_a_percentage_is_exact_where_a_float_is_not() -> None:
    total = 2**53 + 1  # a float cannot hold it: total * 100 / 100 would come back one short
    assert pct(100).of(total) == total
    assert pct(50).of(total) == 2**52 + 1


def test_a_size_says_itself_as_written() -> None:
    assert [str(s) for s in (count(1), pct(10), pct(100))] == ["1", "10%", "100%"]


# -- parse_waves ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "sizes"), [
    ("1, 10%, 100%", (count(1), pct(10), pct(100))),
    ("1,10%,100%", (count(1), pct(10), pct(100))),
    (" 2 ,\t50 % ", (count(2), pct(50))),
    ("5", (count(5),)),
    ("100%", (pct(100),)),
    ("1, 5%, 3", (count(1), pct(5), count(3))),  # 3 > 1: counts compare with counts only
    ("5, 10%", (count(5), pct(10))),
    ("007", (count(7),)),
])
def test_waves_as_written(text: str, sizes: tuple[Size, ...]) -> None:
    assert parse_waves(text) == sizes


@pytest.mark.parametrize("text", ["", "  ", "\n"])
def test_no_waves_is_one_wave(text: str) -> None:
    assert parse_waves(text) == ()


@pytest.mark.parametrize(("text", "why"), [
    ("0", "'0' is not above 0"),
    ("0%", "'0%' is not above 0"),
    ("101%", "'101%' is over 100%"),
    ("x", "'x' is not a count or a whole percentage"),
    ("2.5%", "'2.5%' is not a count or a whole percentage"),
    ("-1", "'-1' is not a count or a whole percentage"),
    ("１", "'１' is not a count or a whole percentage"),
    ("1234567890", "'1234567890' is not a count or a whole percentage"),
    ("%", "'%' is not a count or a whole percentage"),
    ("1,,2", "an empty size"),
    ("1, 10%,", "an empty size"),
    ("5, 3", "'3' is not above the earlier 5"),
    ("10%, 5%", "'5%' is not above the earlier 10%"),
    ("10%, 10%", "'10%' is not above the earlier 10%"),
    ("5, 10%, 3", "'3' is not above the earlier 5"),
    ("100%, 5", "'5' follows 100%"),
    ("1, 100%, 100%", "'100%' follows 100%"),
])
def test_a_refused_wave_names_the_item_and_what_is_accepted(text: str, why: str) -> None:
    with pytest.raises(ValueError, match="expected") as caught:
        parse_waves(text)
    assert why in str(caught.value)
    assert WAVES_ACCEPTS in str(caught.value) and "e.g. 1, 10%, 100%" in str(caught.value)


def test_every_refused_wave_at_once() -> None:
    with pytest.raises(ValueError) as caught:
        parse_waves("0, x, 101%, 5, 4")
    message = str(caught.value)
    for why in ("'0' is not above 0", "'x' is not a count", "'101%' is over 100%", "'4' is not above the earlier 5"):
        assert why in message
    assert message.count("expected") == 1


# -- wave_ends and cut ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "total", "ends"), [
    ("", 5, [5]),
    ("1, 10%, 100%", 5, [1, 5]),  # 10% of 5 is 1: the same end, no wave
    ("1, 10%, 100%", 100, [1, 10, 100]),
    ("1, 10%, 100%", 1, [1]),
    ("1, 10%", 30, [1, 3, 30]),  # the last 100% is implied
    ("50", 10, [10]),  # capped at the total
    ("5, 10%", 20, [5, 20]),  # 10% of 20 is 2, before 5: no wave
    ("1, 30%, 100%", 30, [1, 9, 30]),
    ("1, 2, 3", 2, [1, 2]),
])
def test_wave_ends(text: str, total: int, ends: list[int]) -> None:
    assert wave_ends(parse_waves(text), total) == ends


@pytest.mark.parametrize("text", ["", "1, 10%, 100%", "5"])
def test_no_units_no_waves(text: str) -> None:
    assert wave_ends(parse_waves(text), 0) == []
    assert cut([], parse_waves(text)) == []


def test_cut_keeps_the_order_given_so_the_first_unit_is_the_canary() -> None:
    units = [f"env-{n}" for n in range(10)]
    assert cut(units, parse_waves("1, 30%")) == [["env-0"], ["env-1", "env-2"], units[3:]]


@pytest.mark.parametrize("text", ["", "1", "1, 10%, 100%", "3, 50%", "1, 2, 3, 4", "99%", "1, 1%, 2%, 40"])
def test_the_waves_hold_every_unit_once_and_none_is_empty(text: str) -> None:
    sizes = parse_waves(text)
    for total in range(60):
        items = list(range(total))
        waves = cut(items, sizes)
        assert [unit for wave in waves for unit in wave] == items
        assert all(waves), (text, total, waves)
        ends = wave_ends(sizes, total)
        assert ends == sorted(set(ends)) and (not ends or ends[-1] == total)


# -- the budget ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "size"), [
    ("0", count(0)), ("2", count(2)), (" 3 ", count(3)), ("0%", pct(0)), ("5%", pct(5)), ("100%", pct(100)),
    ("5 %", pct(5)),
])
def test_a_budget_is_a_count_or_a_percentage(text: str, size: Size) -> None:
    assert parse_budget(text) == size


@pytest.mark.parametrize("text", ["", "-1", "101%", "2.5%", "x", "1,2", "1 2", "1234567890"])
def test_a_refused_budget_names_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_budget(text)
    assert str(caught.value).startswith(f"{text.strip()!r} is not accepted; expected ")
    assert BUDGET_ACCEPTS in str(caught.value) and "5%" in str(caught.value)


@pytest.mark.parametrize(("budget", "total", "tolerated"), [
    (count(0), 30, 0), (count(2), 30, 2), (count(50), 3, 50),
    (pct(2), 30, 0),  # 0.6 rounds down: "at most 2%" never tolerates more than 2%
    (pct(2), 50, 1), (pct(2), 99, 1), (pct(2), 100, 2), (pct(10), 15, 1), (pct(100), 7, 7), (pct(0), 100, 0),
])
def test_failures_tolerated_round_down(budget: Size, total: int, tolerated: int) -> None:
    assert allowed(budget, total) == tolerated


@pytest.mark.parametrize(("failures", "budget", "total", "over"), [
    (0, count(0), 10, False), (1, count(0), 10, True), (2, count(2), 10, False), (3, count(2), 10, True),
    (1, pct(2), 30, True), (1, pct(2), 50, False), (2, pct(2), 50, True), (10, pct(100), 10, False),
])
def test_the_budget_is_exceeded_by_more_failures_than_it_tolerates(failures: int, budget: Size, total: int,
                                                                    over: bool) -> None:
    assert exceeded(failures, budget, total) is over


# -- settings.fleet_options -----------------------------------------------------------------------------


def test_the_fleet_defaults_are_one_wave_twenty_at_once_no_failure_no_bake() -> None:
    assert settings.fleet_options({}) == (FleetOptions((), 20, count(0), 0, False), [])
    assert set(settings.FLEET_INPUTS) <= set(settings.OPTION_NAMES)


def test_the_fleet_options_as_given() -> None:
    found, problems = settings.fleet_options({"waves": "1, 10%", "max_parallel": " 1000 ", "max_failures": "2%",
                                              "bake_seconds": "3600", "skip_current": "true"})
    assert problems == []
    assert found == FleetOptions((count(1), pct(10)), 1000, pct(2), 3600, True)


def test_every_fleet_problem_at_once_each_naming_its_input() -> None:
    found, problems = settings.fleet_options({"waves": "0", "max_parallel": "0", "max_failures": "-1",
                                              "bake_seconds": "3601", "skip_current": "yes"})
    assert found is None
    said = {p.input: ACTION.compose(p.message) for p in problems}
    assert set(said) == {"waves", "max_parallel", "max_failures", "bake_seconds", "skip_current"}
    assert "'0' is not above 0" in said["waves"]
    assert said["max_parallel"] == "'0' is not accepted; expected an integer from 1 to 1000"
    assert BUDGET_ACCEPTS in said["max_failures"]
    assert said["bake_seconds"] == "'3601' is not accepted; expected whole seconds from 0 to 3600"
    assert "expected true or false" in said["skip_current"]


@pytest.mark.parametrize(("name", "text"), [("max_parallel", "1001"), ("max_parallel", "2.0"),
                                            ("bake_seconds", "-1"), ("max_failures", "101%")])
def test_a_fleet_option_out_of_bounds_is_refused(name: str, text: str) -> None:
    found, [problem] = settings.fleet_options({name: text})
    assert found is None and problem.input == name
