"""Hold a document to its schema in schema/: the compiled fast path first, jsonschema to explain.

A reply is untrusted and every layer above checks one, so this sits on the ground floor
beside the schemas. jsonschema is imported only when a document needs explaining: the
common, valid path goes through a validator compiled from the same schemas (`_compiled`,
made by scripts/gen_validator.py), when present.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from cloudbase_rollout.vocabulary import schemas


def reply_errors(which: str, reply: Mapping[str, Any]) -> list[str]:
    """Why a reply does not fit schema/<which>.schema.json (empty when it does)."""
    if fast_valid(reply, which=which):
        return []
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schemas.load(schemas.file_name(which)))
    return [
        f"{dotted(list(e.absolute_path)) or 'reply'}: {e.message[:200]}"
        for e in validator.iter_errors(reply)
    ]


def response_errors(reply: Mapping[str, Any]) -> list[str]:
    """Why a roll-update reply does not fit schema/response.schema.json."""
    return reply_errors("response", reply)


def fast_valid(instance: Mapping[str, Any], which: str = "request") -> bool:
    """True when the compiled validator accepts; False means 'ask jsonschema'."""
    try:
        compiled = importlib.import_module("cloudbase_rollout.vocabulary._compiled")
        return bool(compiled.is_valid(which, instance))
    except (ImportError, KeyError, ValueError):  # absent, or compiled before this schema existed
        return False


def dotted(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
