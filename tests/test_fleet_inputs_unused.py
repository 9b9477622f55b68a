"""Inputs only a fleet reads, given to a single rollout (no targets, targets_file, discover or services),
are refused with exit 2 and nothing is called, rather than silently ignored; the runner's defaults pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudbase_rollout.inputs import plan
from tests.conftest import good_inputs
from tests.runner import run_inprocess

URL = "http://127.0.0.1:9"  # nothing listens: a call would fail with 1, not 2


@pytest.mark.parametrize(("name", "value"), [("waves", "1, 100%"), ("max_parallel", "5"), ("bake_seconds", "60"),
                                             ("skip_current", "true"), ("results_file", "r.json"),
                                             ("max_failures", "2"), ("env_alias", "shop-*"),
                                             ("appids", "wx0123456789abcdef")])
def test_each_fleet_input_with_a_single_rollout_is_refused_naming_it(tmp_path: Path, name: str, value: str) -> None:
    result = run_inprocess(tmp_path, {**good_inputs(URL), name: value})
    assert result.returncode == 2, result.log
    assert f"{name}: is used by a fleet: give targets, targets_file, discover or services" in result.log
    assert "no request was sent" in result.log


def test_the_defaults_the_runner_passes_are_not_refused() -> None:
    assert plan.unused({"max_parallel": "20", "bake_seconds": "0", "skip_current": "false"}) == []


def test_results_files_with_a_rollout_is_refused(tmp_path: Path) -> None:
    result = run_inprocess(tmp_path, {**good_inputs(URL), "results_files": "*.json"})
    assert result.returncode == 2 and "results_files: is only read by command report" in result.log
