"""Fleet inputs are declared (their parsers exist) but no step runs a fleet yet: given, each is refused
with exit 2 and nothing is called, rather than silently rolling out only the step's env_id."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudbase_rollout.inputs import plan
from tests.conftest import good_inputs
from tests.runner import run_inprocess

URL = "http://127.0.0.1:9"  # nothing listens: a call would fail with 1, not 2


@pytest.mark.parametrize(("name", "value"), [("targets", "env-a\nenv-b"), ("targets_file", "fleet.txt"),
                                             ("waves", "1, 100%"), ("max_parallel", "5"), ("bake_seconds", "60"),
                                             ("skip_current", "true"), ("shard", "1/8"), ("discover", "envs"),
                                             ("env_alias", "shop-*"), ("appids", "wx0123456789abcdef")])
def test_each_fleet_input_is_refused_naming_it(tmp_path: Path, name: str, value: str) -> None:
    result = run_inprocess(tmp_path, {**good_inputs(URL), name: value})
    assert result.returncode == 2, result.log
    assert f"{name}: is not built yet" in result.log and "no request was sent" in result.log


def test_the_defaults_the_runner_passes_are_not_refused() -> None:
    assert plan.not_built({"max_parallel": "20", "bake_seconds": "0", "skip_current": "false"}) == []


@pytest.mark.parametrize("name", ["results_files", "results_file", "max_failures"])
def test_report_inputs_with_a_rollout_are_refused(tmp_path: Path, name: str) -> None:
    result = run_inprocess(tmp_path, {**good_inputs(URL), name: "2"})
    assert result.returncode == 2 and f"{name}: is only read by command report" in result.log
