"""Validate a request body against schema/ and the rules a schema cannot say.

jsonschema is the reference validator and explains every problem at once. It is
imported only when a body needs explaining: the common, valid path goes through
a validator compiled from the same schema (see `vocabulary.validator`), when present.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cloudbase_rollout.errors import Problem, unique
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.vocabulary.validator import dotted, fast_valid

if TYPE_CHECKING:
    from jsonschema import ValidationError

#: CPU sizes the console offers (docs/spec/FACTS.md section 2); others get a warning only.
CONSOLE_CPU = ("0.25", "0.5", "1", "2", "4", "8", "16")
CONTROL_OK_IN = {"version_remark": "\n\t"}


def request_problems(body: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem with a body, each naming the input it came from."""
    sources = sources or {}
    problems = [] if fast_valid(body) else schema_problems(body, sources)
    reported = {p.input for p in problems}
    for path, message in rule_problems(body):
        problem = _named(path, message, sources)
        if problem.input not in reported:  # one problem per input is enough to fix it
            problems.append(problem)
    return problems


#: The read endpoints' names for the address of a version (docs/spec/NEIGHBOURS.md sections 2, 3).
READ_NAMES = {"env_id": "env", "server_name": "service_name", "version_name": "version_name"}


def address_problems(address: Mapping[str, str]) -> list[Problem]:
    """env_id, server_name and version_name for release and status, against versiondetail's request schema."""
    problems = [Problem(name, "is required") for name, value in address.items() if not value]
    body = {READ_NAMES[name]: value for name, value in address.items() if value}
    if problems or fast_valid(body, which="versiondetail.request"):
        return problems
    from jsonschema import Draft202012Validator

    inputs = {read: name for name, read in READ_NAMES.items()}
    validator = Draft202012Validator(schemas.load(schemas.file_name("versiondetail.request")))
    for error in validator.iter_errors(body):
        for path, message in _explain(error):
            problems.append(Problem(inputs.get(path, path), message, str(error.validator)))
    return unique(problems)


def schema_problems(body: Mapping[str, Any], sources: Mapping[str, str]) -> list[Problem]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schemas.request_schema())
    errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    return unique([_named(path, message, sources, error.validator)
                   for error in errors for path, message in _explain(error)])


def _explain(error: ValidationError) -> Iterable[tuple[str, str]]:
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    accepted = schemas.accepts(schema)
    value: Any = error.instance
    limit: Any = error.validator_value
    kind = error.validator
    if kind == "required":
        when = f" when {schema['x-when']}" if "x-when" in schema else ""
        hint = f"; {schema['x-hint']}" if "x-hint" in schema else ""
        missing = [name for name in schema.get("required", []) if name not in value]
        for name in missing:
            yield dotted([*path, name]), f"is required{when}{hint}"
    elif kind == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        for name in sorted(set(value) - set(known)):
            yield dotted([*path, name]), f"is not a field of the API; accepted: {', '.join(known)}"
    elif kind == "minimum":
        yield dotted(path), f"{_show(value)} is below the minimum {limit}"
    elif kind == "maximum":
        yield dotted(path), f"{_show(value)} is above the maximum {limit}"
    elif kind == "enum":
        options = ", ".join(str(v) for v in limit)
        yield dotted(path), f"{_show(value)} is not one of {options}"
    elif kind == "minLength" and limit == 1:
        yield dotted(path), "must not be empty"
    elif kind == "maxLength":
        yield dotted(path), f"is longer than {limit} characters"
    elif kind == "type":
        yield dotted(path), f"{_show(value)} is not {_a(limit)}; expected {accepted}"
    else:
        yield dotted(path), f"{_show(value)} is not accepted; expected {accepted}"


def rule_problems(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the schema cannot say: relations between fields and content of strings."""
    found: list[tuple[str, str]] = []
    min_num, max_num = _int_text(body.get("min_num")), _int_text(body.get("max_num"))
    if min_num is not None and max_num is not None and min_num > max_num:
        found.append(("min_num", f"{min_num} is above max_num {max_num}; min_num must be <= max_num"))
    env_params = body.get("env_params")
    if isinstance(env_params, str):
        message = env_params_problem(env_params)
        if message:
            found.append(("env_params", message))
    found += [(path, message) for path, message in _control_characters(body, [])]
    return found


def env_params_problem(text: str) -> str | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return "is not a JSON object; expected a JSON object of string values, or one KEY=VALUE per line"
    if not isinstance(parsed, dict):
        return f"{_show(parsed)} is not a JSON object of string values"
    bad = [key for key, value in parsed.items() if not isinstance(value, str)]
    if bad:
        return f"values must be strings; not strings: {', '.join(bad)}"
    return None


def _control_characters(node: Any, path: list[str | int]) -> Iterable[tuple[str, str]]:
    if isinstance(node, str):
        allowed = CONTROL_OK_IN.get(str(path[0]) if path else "", "")
        if any((ord(c) < 0x20 or ord(c) == 0x7F) and c not in allowed for c in node):
            yield dotted(path), f"{_show(node)} holds a control character (such as a newline)"
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _control_characters(value, [*path, key])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _control_characters(value, [*path, index])


def convention_warnings(body: Mapping[str, Any]) -> list[str]:
    """Console conventions the API may not enforce: a warning, never a failure."""
    warnings = []
    cpu, mem = _hundredths(body.get("cpu")), _hundredths(body.get("mem"))
    if cpu is not None and mem is not None and mem != 2 * cpu:
        warnings.append(f"mem {body['mem']} is not 2 x cpu {body['cpu']} (the console pairs mem = 2 x cpu)")
    if cpu is not None and body["cpu"] not in CONSOLE_CPU:
        warnings.append(f"cpu {body['cpu']} is not one the console offers ({', '.join(CONSOLE_CPU)})")
    port = body.get("container_port")
    if isinstance(port, int) and (port > 61000 or port == 9100):
        warnings.append(f"container_port {port}: Cloud Run documents 1..61000 and reserves 9100")
    threshold = _int_text(body.get("policy_threshold"))
    if threshold is not None and threshold > 100:
        warnings.append(f"policy_threshold {threshold} is above 100 percent")
    return warnings


def _named(path: str, message: str, sources: Mapping[str, str], kind: Any = "invalid") -> Problem:
    top = path.split(".")[0].split("[")[0]
    source = sources.get(top)
    if source and source != top:
        return Problem(f"{source} ({path})", message, str(kind))
    return Problem(path, message, str(kind))


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _a(kind: Any) -> str:
    names = {"integer": "an integer", "string": "a string", "boolean": "true or false",
             "object": "a JSON object", "array": "a JSON array", "number": "a number"}
    return names.get(str(kind), str(kind))


def _int_text(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value)
    return None


#: cpu and mem as the schema accepts them: up to two decimals, ASCII digits.
_CORES = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?\Z")


def _hundredths(value: Any) -> int | None:
    """cpu or mem text in hundredths ("0.25" -> 25): exact, and no decimal import."""
    match = _CORES.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    return int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
