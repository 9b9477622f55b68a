"""Load the JSON Schemas in `schema/`: the single source of truth for validation.

Installed, they ship inside the package (`cloudbase_rollout/schema/`); from a
source checkout or an editable install they are read from the repository's
top-level `schema/` folder.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

REQUEST = "request.schema.json"
RESPONSE = "response.schema.json"


def schema_dir() -> Path:
    packaged = Path(__file__).parents[1] / "schema"
    if (packaged / REQUEST).is_file():
        return packaged
    return Path(__file__).resolve().parents[3] / "schema"


@cache
def load(name: str) -> dict[str, Any]:
    with (schema_dir() / name).open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


def file_name(which: str) -> str:
    """schema/ file of a validator key: request/response are the roll-update's, others name their endpoint."""
    return {"request": REQUEST, "response": RESPONSE}.get(which, f"{which}.schema.json")


def options_schema() -> dict[str, Any]:
    """The inputs that are not body fields: types, defaults, bounds, choices, secrets."""
    return load("options.schema.json")


def request_schema() -> dict[str, Any]:
    return load(REQUEST)


def response_schema() -> dict[str, Any]:
    return load(RESPONSE)


def field_schema(name: str) -> dict[str, Any]:
    """The schema of one top-level body field, with a $ref resolved."""
    schema = request_schema()
    node: dict[str, Any] = schema["properties"][name]
    return resolve(node)


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not ref:
        return node
    target: dict[str, Any] = request_schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def body_fields() -> list[str]:
    """The body fields, in the spec's order."""
    return list(request_schema()["properties"])


def field_kind(name: str) -> str:
    """string, integer, boolean, object or array: how an input text becomes a value."""
    node = field_schema(name)
    kind = node.get("type", "string")
    return str(kind)


def accepts(node: dict[str, Any]) -> str:
    return str(node.get("x-accepts", node.get("description", "")))
