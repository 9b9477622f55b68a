"""Build the request body from inputs: the one place where text becomes API values.

Inputs arrive as text (INPUT_*, CLI flags) or as JSON values (request_file); both
go through `normalize`, so a field means the same wherever it was written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudbase_rollout.errors import Problem
from cloudbase_rollout.inputs import image, request_file
from cloudbase_rollout.inputs.settings import BODY_DEFAULTS, parse_bool
from cloudbase_rollout.jsontext import loads
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.words import Input, Message

ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
INTEGER = re.compile(r"[+-]?[0-9]+\Z")
@dataclass
class Built:
    """A body and where each field came from (for error messages)."""

    body: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def build(raw: Mapping[str, str], env: Mapping[str, str], workspace: Path,
          overrides: Mapping[str, str] | None = None) -> Built:
    """Merge defaults < request_file < explicit inputs < image, then prune empties.

    With `overrides` (one `services` entry) the entry is a second layer: its own
    request_file and inputs override everything the step gave.
    """
    built = Built()
    _apply(built, dict(BODY_DEFAULTS), "default")
    for layer in (raw, overrides or {}):
        _apply_layer(built, layer, workspace)
    _apply_image(built, {**raw, **(overrides or {})})
    if "version_remark" not in built.body:
        remark = default_remark(env)
        if remark:
            built.body["version_remark"] = remark
            built.sources["version_remark"] = "version_remark"
    built.body = prune(built.body)
    return built


def _apply_layer(built: Built, raw: Mapping[str, str], workspace: Path) -> None:
    if "request_file" in raw:
        _apply(built, request_file.read(raw["request_file"], workspace, built.problems), "request_file")
    explicit = {name: raw[name] for name in schemas.body_fields() if name in raw}
    for name, default in BODY_DEFAULTS.items():
        # The runner passes action.yml's defaults as if given: they must not beat the file.
        if built.sources.get(name) == "request_file" and explicit.get(name, "").strip() == default:
            del explicit[name]
    _apply(built, explicit, "input")


def _apply(built: Built, values: Mapping[str, Any], origin: str) -> None:
    for name, value in values.items():
        label = origin if origin == "request_file" else name
        try:
            normalized = normalize(name, value)
        except ValueError as error:
            built.problems.append(Problem(name if origin != "request_file" else f"request_file ({name})", str(error)))
            continue
        if normalized is None:
            continue
        built.body[name] = normalized
        built.sources[name] = label


def normalize(name: str, value: Any) -> Any:
    """One field's value as the API wants it; None when it counts as absent."""
    if name not in schemas.request_schema()["properties"]:
        return value  # an unknown field: the schema names it
    if isinstance(value, str) and value.strip() == "":
        return None
    if name == "env_params":
        return env_params(value)
    kind = schemas.field_kind(name)
    if not isinstance(value, str):
        if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value
    return _from_text(name, kind, value)


def _from_text(name: str, kind: str, text: str) -> Any:
    accepts = schemas.accepts(schemas.field_schema(name))
    text = text.strip()
    if kind == "integer":
        if not INTEGER.match(text):
            raise ValueError(f"{json.dumps(text)} is not an integer; expected {accepts}")
        return int(text)
    if kind == "boolean":
        return parse_bool(text)
    if kind in ("object", "array"):
        try:
            return loads(text)
        except ValueError as error:
            raise ValueError(f"is not valid JSON ({error}); expected {accepts}") from None
    return text


def env_params(value: Any) -> str:
    """A JSON object, or KEY=VALUE lines split on the first '=' only, as the API's JSON string."""
    if isinstance(value, dict):
        return _env_json(value)
    if not isinstance(value, str):
        raise ValueError(f"{json.dumps(value)} is not accepted; expected a JSON object, or one KEY=VALUE per line")
    text = value.strip()
    if text.startswith("{"):
        try:
            parsed = loads(text)
        except ValueError as error:
            raise ValueError(f"looks like JSON but does not parse ({error}); expected a JSON object "
                             "of string values, or one KEY=VALUE per line") from None
        if not isinstance(parsed, dict):
            raise ValueError("expected a JSON object of string values")
        return _env_json(parsed)
    return _env_json(_env_lines(value))  # unstripped: a line's value must not depend on its position


def _env_lines(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    first_line: dict[str, int] = {}
    bad: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, val = line.partition("=")
        key = key.strip()
        if not sep or not ENV_KEY.match(key):
            bad.append(f"line {number} {json.dumps(line[:60])} is not KEY=VALUE")
        elif key in found:
            bad.append(f"line {number}: {key} repeats line {first_line[key]}")
        else:
            found[key], first_line[key] = val, number
    if bad:
        raise ValueError("; ".join(bad) + "; expected one KEY=VALUE per line (KEY: ASCII letters, digits, "
                         "_ . -, not starting with a digit), or a JSON object")
    return found


def _env_json(values: Mapping[str, Any]) -> str:
    out: dict[str, str] = {}
    for key, val in values.items():
        if isinstance(val, bool):
            out[key] = "true" if val else "false"
        elif isinstance(val, (str, int, float)):
            out[key] = str(val)
        else:
            raise ValueError(f"{key}: {json.dumps(val)[:60]} is not a string; env values are text")
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def _apply_image(built: Built, raw: Mapping[str, str]) -> None:
    """image (and image_tag) fill image_info; image_tag alone retags image_info.image_url."""
    reference = raw.get("image")
    source = "image"
    if reference is None and "image_tag" in raw:
        info = built.body.get("image_info")
        reference = info.get("image_url") if isinstance(info, dict) else None
        source = "image_tag"
        if not isinstance(reference, str):
            needs = ("needs ", Input("image"), " (or image_info.image_url) to retag")
            built.problems.append(Problem("image_tag", needs))
            return
    if reference is None:
        return
    try:
        ref = image.parse(reference)
    except ValueError as error:
        built.problems.append(Problem(source if source == "image" else "image_info.image_url", str(error)))
        return
    if "image_tag" in raw:
        try:
            ref = ref.with_tag(raw["image_tag"].strip())
        except ValueError as error:
            built.problems.append(Problem("image_tag", str(error)))
            return
    upload_type = built.body.get("upload_type")
    if upload_type != "image":
        built.warnings.append(f"{source} is given but upload_type is {upload_type}: image_info is sent, and "
                              "CloudBase builds from the upload_type's source")
    unpullable = _unpullable(ref)
    if unpullable:
        built.problems.append(Problem(source if source == "image" else "image_info.image_url", unpullable))
        return
    info = built.body.get("image_info")
    if info is not None and not isinstance(info, dict):
        return  # not an object: leave it for the schema to report, naming where it came from
    base = dict(info) if isinstance(info, dict) else {}
    base.pop("tag_name", None)
    built.body["image_info"] = {**base, **ref.image_info()}
    built.sources.setdefault("image_info", "image")  # other keys keep the name of where they came from


def _unpullable(ref: image.ImageRef) -> Message | None:
    """CloudBase pulls exactly the reference it is sent: without a registry host there is nothing to pull
    from, and without a tag or digest a rollout is not repeatable."""
    missing = [what for what, absent in (("no registry host", ref.server_addr is None),
                                         ("no tag or digest", ref.tag is None and ref.digest is None)) if absent]
    if not missing:
        return None
    tag = ("; add one with ", Input("image_tag")) if ref.tag is None and ref.digest is None else ()
    return (f"{json.dumps(ref.image_url)} has {' and '.join(missing)}; CloudBase pulls exactly this reference: "
            f"expected a full reference such as {image.EXAMPLE}", *tag)


def prune(value: Any) -> Any:
    """Drop empty strings, objects and arrays at every depth: the API never gets an empty field."""
    if isinstance(value, dict):
        pruned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if not _empty(v)}
    if isinstance(value, list):
        return [v for v in (prune(v) for v in value) if not _empty(v)]
    return value


def _empty(value: Any) -> bool:
    return (isinstance(value, str) and value.strip() == "") or (isinstance(value, (dict, list)) and not value)


def default_remark(env: Mapping[str, str]) -> str | None:
    """project@commit and the CI run, so a console version leads back to its commit and its log:
    from GitHub Actions, GitLab CI or Jenkins, by their own variables."""
    for project, commit, run_url in (_github(env), _gitlab(env), _jenkins(env)):
        if project:
            remark = f"{project}@{commit}" if commit else project
            return (remark + (f" run {run_url}" if run_url else ""))[:1024]
    return None


def _github(env: Mapping[str, str]) -> tuple[str, str, str]:
    repo, run_id = env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "")
    if not (repo and run_id):
        return repo, env.get("GITHUB_SHA", "")[:7], ""
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    attempt = env.get("GITHUB_RUN_ATTEMPT", "")
    again = f"/attempts/{attempt}" if attempt and attempt != "1" else ""
    return repo, env.get("GITHUB_SHA", "")[:7], f"{server}/{repo}/actions/runs/{run_id}{again}"


def _gitlab(env: Mapping[str, str]) -> tuple[str, str, str]:
    return env.get("CI_PROJECT_PATH", ""), env.get("CI_COMMIT_SHORT_SHA", ""), env.get("CI_PIPELINE_URL", "")


def _jenkins(env: Mapping[str, str]) -> tuple[str, str, str]:
    return env.get("JOB_NAME", ""), env.get("GIT_COMMIT", "")[:7], env.get("BUILD_URL", "")
