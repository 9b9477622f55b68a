#!/usr/bin/env python3
"""Generate the README's inputs and outputs tables from action.yml.

    scripts/gen_readme_tables.py           rewrite README.md between the markers
    scripts/gen_readme_tables.py --check   exit 1 with a diff when README.md is out of date

The tables go between `<!-- inputs:start -->` / `<!-- inputs:end -->` and
`<!-- outputs:start -->` / `<!-- outputs:end -->`; everything outside the markers is left alone.
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
    """action.yml or README.md is not in the shape this script expects."""


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


def render(readme: str, action: Mapping[str, Any]) -> str:
    """README text with both tables replaced; raises TableError when a marker pair is missing."""
    tables = {"inputs": inputs_table(action), "outputs": outputs_table(action)}
    for marker in MARKERS:
        start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
        if readme.count(start) != 1 or readme.count(end) != 1 or readme.index(start) > readme.index(end):
            raise TableError(f"README.md needs exactly one {start} followed by one {end}")
        head, rest = readme.split(start)
        _, tail = rest.split(end)
        readme = f"{head}{start}\n{tables[marker]}\n{end}{tail}"
    return readme


def load_action(path: Path) -> Mapping[str, Any]:
    action = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(action, Mapping):
        raise TableError(f"{path}: not a YAML mapping")
    return action


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff when README.md is out of date")
    parser.add_argument("--action", type=Path, default=ROOT / "action.yml", help="default: action.yml")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help="default: README.md")
    args = parser.parse_args(argv)
    try:
        current = args.readme.read_text(encoding="utf-8")
        wanted = render(current, load_action(args.action))
    except (OSError, yaml.YAMLError, TableError) as error:
        print(f"gen_readme_tables: {error}", file=sys.stderr)
        return 2
    if current == wanted:
        return 0
    if args.check:
        diff = difflib.unified_diff(
            current.splitlines(keepends=True), wanted.splitlines(keepends=True),
            fromfile=f"{args.readme} (current)", tofile=f"{args.readme} (from {args.action.name})",
        )
        try:
            sys.stdout.writelines(diff)
            sys.stdout.flush()
        except BrokenPipeError:  # e.g. piped into head
            pass
        print(f"{args.readme} is out of date with {args.action}: run scripts/gen_readme_tables.py", file=sys.stderr)
        return 1
    args.readme.write_text(wanted, encoding="utf-8")
    print(f"gen_readme_tables: updated {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
