"""The README's inputs and outputs tables are generated from action.yml and must not drift."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_readme_tables.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_readme_tables", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load()


def test_readme_tables_match_action_yml() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert gen.render(readme, action) == readme, "README tables drifted: run scripts/gen_readme_tables.py"


def test_every_input_and_output_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    inputs = readme.split("<!-- inputs:start -->")[1].split("<!-- inputs:end -->")[0]
    outputs = readme.split("<!-- outputs:start -->")[1].split("<!-- outputs:end -->")[0]
    for name in action["inputs"]:
        assert f"| `{name}` |" in inputs
    for name in action["outputs"]:
        assert f"| `{name}` |" in outputs


def test_check_mode_exits_1_with_a_diff_on_drift(tmp_path: Path) -> None:
    action = tmp_path / "action.yml"
    readme = tmp_path / "README.md"
    action.write_text((ROOT / "action.yml").read_text(encoding="utf-8"), encoding="utf-8")
    readme.write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    cmd = [sys.executable, str(SCRIPT), "--check", "--action", str(action), "--readme", str(readme)]
    assert subprocess.run(cmd, capture_output=True, text=True, check=False).returncode == 0

    data = yaml.safe_load(action.read_text(encoding="utf-8"))
    data["inputs"]["env_id"]["description"] = "A changed description."
    action.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    before = readme.read_text(encoding="utf-8")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "+| `env_id` | no |  | A changed description. |" in done.stdout
    assert "out of date" in done.stderr
    assert readme.read_text(encoding="utf-8") == before, "--check must not write"

    cmd.remove("--check")
    assert subprocess.run(cmd, capture_output=True, text=True, check=False).returncode == 0
    assert "| `env_id` | no |  | A changed description. |" in readme.read_text(encoding="utf-8")
    cmd.append("--check")
    assert subprocess.run(cmd, capture_output=True, text=True, check=False).returncode == 0


def test_cells_escape_pipes_and_newlines() -> None:
    action = {
        "inputs": {
            "a": {"description": "cpu|mem\nsecond line", "required": True, "default": "x|y"},
            "b": {"description": "uses `code`"},
        },
        "outputs": {"o": {"description": "one | two"}},
    }
    readme = "x\n<!-- inputs:start -->\nold\n<!-- inputs:end -->\ny\n<!-- outputs:start -->\n<!-- outputs:end -->\n"
    out = gen.render(readme, action)
    assert "| `a` | yes | `x\\|y` | cpu\\|mem second line |" in out
    assert "| `b` | no |  | uses `code` |" in out
    assert "| `o` | one \\| two |" in out
    assert "old" not in out
    assert out.startswith("x\n<!-- inputs:start -->\n") and "-->\ny\n<!-- outputs:start -->" in out
    assert gen.render(out, action) == out


@pytest.mark.parametrize("readme", ["no markers", "<!-- inputs:end -->\n<!-- inputs:start -->\n<!-- outputs:start -->"
                                    "<!-- outputs:end -->"])
def test_missing_or_misordered_markers_are_refused(readme: str) -> None:
    with pytest.raises(gen.TableError):
        gen.render(readme, {"inputs": {}, "outputs": {}})
