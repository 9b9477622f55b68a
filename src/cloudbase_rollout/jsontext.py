"""JSON from input text, with a depth limit: nesting is a ValueError, never a RecursionError
(here, or later where pruning and validation recurse)."""

from __future__ import annotations

import json
from typing import Any

#: The API's deepest structure (mount_volume_info[].nfs_volumes[]) is 4 levels.
MAX_DEPTH = 32


def loads(text: str) -> Any:
    """json.loads for input text; nesting deeper than MAX_DEPTH is a ValueError, not a
    RecursionError here or later (pruning and validation recurse)."""
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        deep = True
    else:
        deep = _deeper_than(value, MAX_DEPTH)
    if deep:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            if level >= limit:
                return True
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False
