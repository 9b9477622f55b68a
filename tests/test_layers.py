"""The tree shows the architecture: each layer imports only the layers below it.

vocabulary (the API's own words: errcodes, statuses, schemas, the compiled validator)
< the common ground at the package root (errors, redact, jsontext, words) < wechat (transport,
retry, endpoints, operations) < inputs (settings, request, validation, plan) < run
(scheduler, waiting) < emulator (beside the front ends; it may use the inputs' validation)
< front (Action, CLI, report). The CLI starts the emulator for its `emulator` and `demo`
subcommands, so front sits above it; the emulator never imports a front end.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cloudbase_rollout"
LAYERS = {"vocabulary": 0, "": 1, "wechat": 2, "inputs": 3, "run": 4, "emulator": 5, "front": 6}
ROOT_MODULES = {"errors", "redact", "jsontext", "words", "__init__", "__main__"}


def layer_of(dotted: str) -> int:
    """The layer of a module `cloudbase_rollout.<folder>.<module>` (or a root module)."""
    parts = dotted.split(".")[1:]
    if parts[:1] == ["__main__"]:
        return max(LAYERS.values()) + 1  # `python -m cloudbase_rollout`: the CLI's door
    if not parts or parts[0] not in LAYERS:
        return LAYERS[""]  # a root module, or a name of the package itself (API_PATH, __version__)
    return LAYERS[parts[0]]


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cloudbase_rollout"):
            found += [f"{node.module}.{alias.name}" if node.module == "cloudbase_rollout" else node.module
                      for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("cloudbase_rollout")]
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def dotted_of(path: Path) -> str:
    return ".".join(("cloudbase_rollout", *path.relative_to(PACKAGE).with_suffix("").parts))


def test_every_module_is_in_a_known_layer() -> None:
    for path in MODULES:
        parts = path.relative_to(PACKAGE).parts
        assert (len(parts) == 1 and path.stem in ROOT_MODULES) or parts[0] in LAYERS, path


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path: Path) -> None:
    mine = layer_of(dotted_of(path))
    upward = [name for name in imports(path) if layer_of(name) > mine]
    assert not upward, f"{path.name} (layer {mine}) imports upward: {upward}"


def test_no_module_knows_both_the_runner_and_http() -> None:
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        assert not ("github_action_utils" in text and "import requests" in text), path


def test_a_break_is_seen() -> None:
    """The check can fail: a wechat module importing a front end is upward."""
    assert layer_of("cloudbase_rollout.front.action") > layer_of("cloudbase_rollout.wechat.api")
    assert layer_of("cloudbase_rollout.errors") < layer_of("cloudbase_rollout.wechat.api")
    assert layer_of("cloudbase_rollout.vocabulary.schemas") < layer_of("cloudbase_rollout.errors")
