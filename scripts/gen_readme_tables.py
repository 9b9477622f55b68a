#!/usr/bin/env python3
"""Generate the input and output tables of the documentation from action.yml.

    scripts/gen_readme_tables.py           rewrite each table between its markers
    scripts/gen_readme_tables.py --check   exit 1 with a diff when a table is out of date

Each table lives in one file (HOMES): the inputs table in docs/inputs.md, between
`<!-- inputs:start -->` and `<!-- inputs:end -->`; the outputs table on the front page,
README.md, between `<!-- outputs:start -->` and `<!-- outputs:end -->`. Everything outside the
markers is left alone. A marker in a file that is not its table's home is refused, so a table
left behind after a move cannot go stale unnoticed.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("inputs", "outputs")


class TableError(Exception):
    """action.yml, or the file a table lives in, is not in the shape this script expects."""


def cell(value: object) -> str:
    """One Markdown table cell: a single line, `|` escaped."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|")


def code(value: object) -> str:
    r"""An inline code span that survives any backticks in the value (`|` still escaped: GFM splits cells first)."""
    text = cell(value)
    if not text:
        return ""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _section(action: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    section = action.get(key) or {}
    if not isinstance(section, Mapping):
        raise TableError(f"action.yml: {key} must be a mapping")
    for name, spec in section.items():
        if not isinstance(spec, Mapping):
            raise TableError(f"action.yml: {key}.{name} must be a mapping")
    return section


def inputs_table(action: Mapping[str, Any]) -> str:
    rows = ["| input | required | default | description |", "|---|---|---|---|"]
    for name, spec in _section(action, "inputs").items():
        required = "yes" if spec.get("required") is True else "no"
        default = code(spec["default"]) if spec.get("default") not in (None, "") else ""
        rows.append(f"| {code(name)} | {required} | {default} | {cell(spec.get('description', ''))} |")
    return "\n".join(rows)


def outputs_table(action: Mapping[str, Any]) -> str:
    rows = ["| output | description |", "|---|---|"]
    for name, spec in _section(action, "outputs").items():
        rows.append(f"| {code(name)} | {cell(spec.get('description', ''))} |")
    return "\n".join(rows)


#: Where each table lives, relative to the repository root.
HOMES = {"inputs": Path("docs/inputs.md"), "outputs": Path("README.md")}


def _markers(marker: str) -> tuple[str, str]:
    return f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"


def render(text: str, action: Mapping[str, Any], markers: Sequence[str] = MARKERS, name: str = "README.md") -> str:
    """`text` with the tables of `markers` replaced; raises TableError when a marker pair is missing."""
    tables = {"inputs": inputs_table, "outputs": outputs_table}
    for marker in markers:
        start, end = _markers(marker)
        if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
            raise TableError(f"{name} needs exactly one {start} followed by one {end}")
        head, rest = text.split(start)
        _, tail = rest.split(end)
        text = f"{head}{start}\n{tables[marker](action)}\n{end}{tail}"
    return text


def homes(root: Path) -> dict[Path, tuple[str, ...]]:
    """Each file under `root` that holds tables, and which."""
    files: dict[Path, tuple[str, ...]] = {}
    for marker in MARKERS:
        path = root / HOMES[marker]
        files[path] = (*files.get(path, ()), marker)
    return files


def render_file(path: Path, markers: Sequence[str], action: Mapping[str, Any], root: Path) -> tuple[str, str]:
    """(current, wanted) text of one home; TableError when it holds another home's marker."""
    name = str(path.relative_to(root))
    current = path.read_text(encoding="utf-8")
    for marker in MARKERS:
        if marker not in markers and any(m in current for m in _markers(marker)):
            raise TableError(f"{name} holds the {marker} markers, but the {marker} table lives in "
                             f"{HOMES[marker]}: remove them from {name}")
    return current, render(current, action, markers, name)


def load_action(path: Path) -> Mapping[str, Any]:
    action = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(action, Mapping):
        raise TableError(f"{path}: not a YAML mapping")
    return action


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff when a table is out of date")
    parser.add_argument("--action", type=Path, default=ROOT / "action.yml", help="default: action.yml")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the tree holding " + " and ".join(sorted({str(p) for p in HOMES.values()})) +
                        " (default: the repository)")
    args = parser.parse_args(argv)
    try:
        action = load_action(args.action)
        texts = {path: render_file(path, markers, action, args.root) for path, markers in homes(args.root).items()}
    except (OSError, yaml.YAMLError, TableError) as error:
        print(f"gen_readme_tables: {error}", file=sys.stderr)
        return 2
    stale = {path: pair for path, pair in texts.items() if pair[0] != pair[1]}
    if args.check:
        for path, (current, wanted) in stale.items():
            diff = difflib.unified_diff(
                current.splitlines(keepends=True), wanted.splitlines(keepends=True),
                fromfile=f"{path} (current)", tofile=f"{path} (from {args.action.name})",
            )
            try:
                sys.stdout.writelines(diff)
                sys.stdout.flush()
            except BrokenPipeError:  # e.g. piped into head
                pass
            print(f"{path} is out of date with {args.action}: run scripts/gen_readme_tables.py", file=sys.stderr)
        return 1 if stale else 0
    for path, (_, wanted) in stale.items():
        path.write_text(wanted, encoding="utf-8")
        print(f"gen_readme_tables: updated {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
