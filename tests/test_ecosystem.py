"""Cheap static facts about what GitHub, the Marketplace and users read: action.yml, the
workflows, the examples and their request files."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudbase_rollout.front import cli

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.y*ml"))
REQUEST_FILES = sorted((ROOT / "examples" / "deploy").glob("*.json"))
# Examples pin this action like any other: a full commit SHA (a placeholder until a release
# exists) with the version tag in a comment.
THIS_ACTION = re.compile(r"OWNER/cloudbase-rollout@[0-9a-f]{40}")
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
MARKETPLACE_COLORS = {"white", "black", "yellow", "blue", "green", "orange", "red", "purple", "gray-dark"}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{_rel(path)} is not a YAML mapping"
    return data


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow.get("jobs", {}).values() for step in job.get("steps", [])]


def _ours(step: dict[str, Any]) -> bool:
    return THIS_ACTION.fullmatch(str(step.get("uses", ""))) is not None


def test_action_metadata_is_marketplace_ready() -> None:
    assert isinstance(ACTION["name"], str) and ACTION["name"].strip()
    description = ACTION["description"]
    assert isinstance(description, str) and 0 < len(description) < 125, len(description)
    branding = ACTION["branding"]
    assert isinstance(branding.get("icon"), str) and branding["icon"].strip()
    assert branding.get("color") in MARKETPLACE_COLORS


def test_action_runs_as_a_docker_action() -> None:
    runs = ACTION["runs"]
    assert runs["using"] == "docker"
    # Dockerfile in the source; the release commit behind a major tag points at the GHCR image.
    prebuilt = r"docker://ghcr\.io/[a-z0-9._/-]+@sha256:[0-9a-f]{64}"
    assert runs["image"] == "Dockerfile" or re.fullmatch(prebuilt, runs["image"])


def test_release_workflow_rewrites_the_image_line_that_exists() -> None:
    release = (ROOT / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8")
    assert r"s|^  image: Dockerfile\$|" in release
    if ACTION["runs"]["image"] == "Dockerfile":
        lines = (ROOT / "action.yml").read_text(encoding="utf-8").splitlines()
        assert lines.count("  image: Dockerfile") == 1


@pytest.mark.parametrize("path", WORKFLOWS + EXAMPLES, ids=_rel)
def test_workflow_parses_as_yaml(path: Path) -> None:
    workflow = _load(path)
    # PyYAML reads the `on:` key as True (YAML 1.1); GitHub reads it as "on".
    assert "on" in workflow or True in workflow
    assert workflow.get("jobs"), f"{_rel(path)} has no jobs"
    for step in _steps(workflow):
        assert ("uses" in step) != ("run" in step), f"{_rel(path)}: a step needs exactly one of uses/run: {step}"


@pytest.mark.parametrize("path", WORKFLOWS + EXAMPLES, ids=_rel)
def test_this_action_gets_only_declared_inputs(path: Path) -> None:
    declared = set(ACTION["inputs"])
    for step in _steps(_load(path)):
        if _ours(step) or step.get("uses") == "./":
            unknown = set(step.get("with") or {}) - declared
            assert not unknown, f"{_rel(path)}: inputs {sorted(unknown)} are not in action.yml"


@pytest.mark.parametrize("path", EXAMPLES, ids=_rel)
def test_example_uses_the_published_action_with_the_token_secret(path: Path) -> None:
    ours = [s for s in _steps(_load(path)) if _ours(s)]
    assert ours, f"{_rel(path)} never uses {THIS_ACTION.pattern}"
    for step in ours:
        if step["with"].get("command") == "report":
            # It calls no API: the job that merges the shards holds no secret.
            assert not {"access_token", "component_appsecret", "component_verify_ticket"} & set(step["with"])
        else:
            assert step["with"]["access_token"] == "${{ secrets.COMPONENT_ACCESS_TOKEN }}"


@pytest.mark.parametrize("path", WORKFLOWS + EXAMPLES, ids=_rel)
def test_third_party_actions_are_pinned_to_commits_with_the_tag_in_a_comment(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for step in _steps(_load(path)):
        uses = step.get("uses")
        if uses is None or uses == "./" or uses.startswith("docker://"):
            continue
        assert PINNED.fullmatch(uses), f"{_rel(path)}: {uses} is not pinned to a full commit SHA"
        assert re.search(re.escape(uses) + r" # v\d+(\.\d+)*\b", text), f"{_rel(path)}: {uses} has no # vX.Y.Z comment"


def test_example_set_is_complete() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"deploy-on-push.yml", "deploy-on-release.yml", "pr-preview.yml", "monorepo-matrix.yml",
            "canary.yml", "fleet.yml", "fleet-matrix.yml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=_rel)
def test_checkouts_leave_no_credentials(path: Path) -> None:
    for step in _steps(_load(path)):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{_rel(path)}: {step}"


def test_release_example_takes_the_image_tag_from_the_git_tag() -> None:
    workflow = _load(ROOT / "examples" / "deploy-on-release.yml")
    assert workflow[True]["push"]["tags"]
    (step,) = [s for s in _steps(workflow) if _ours(s)]
    assert step["with"]["image_tag"] == "${{ github.ref_name }}"


def test_preview_example_rolls_out_at_flow_ratio_0_and_reports_back() -> None:
    workflow = _load(ROOT / "examples" / "pr-preview.yml")
    assert "pull_request" in workflow[True]
    steps = _steps(workflow)
    (deploy,) = [s for s in steps if _ours(s)]
    assert str(deploy["with"]["flow_ratio"]) == "0"
    assert deploy["with"].get("version_name") or deploy["with"].get("server_name")
    report = [s for s in steps if str(s.get("uses", "")).startswith("actions/github-script@")]
    assert report and "steps.deploy.outputs.run_id" in json.dumps(report)


def test_matrix_example_has_a_request_file_per_service() -> None:
    workflow = _load(ROOT / "examples" / "monorepo-matrix.yml")
    (job,) = workflow["jobs"].values()
    services = job["strategy"]["matrix"]["service"]
    (step,) = [s for s in job["steps"] if _ours(s)]
    assert step["with"]["request_file"] == "deploy/${{ matrix.service }}.json"
    assert sorted(services) == sorted(p.stem for p in REQUEST_FILES)


def test_canary_example_releases_the_canary_version_behind_an_environment() -> None:
    jobs = _load(ROOT / "examples" / "canary.yml")["jobs"]
    canary, release = jobs["canary"], jobs["release"]
    (roll,) = [s for s in canary["steps"] if _ours(s)]
    assert str(roll["with"]["flow_ratio"]) == "10" and str(roll["with"]["wait"]).lower() == "true"
    assert canary["outputs"]["version_name"] == f"${{{{ steps.{roll['id']}.outputs.version_name }}}}"
    assert release["needs"] == "canary" and release["environment"] == "production"
    (promote,) = [s for s in release["steps"] if _ours(s)]
    assert promote["with"]["command"] == "release"
    assert promote["with"]["version_name"] == "${{ needs.canary.outputs.version_name }}"


@pytest.mark.parametrize("path", REQUEST_FILES, ids=_rel)
def test_example_request_file_is_a_valid_rollout(path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPONENT_ACCESS_TOKEN", raising=False)
    code = cli.main(["--request-file", str(path), "--image", f"ccr.ccs.tencentyun.com/my-namespace/{path.stem}",
                     "--image-tag", "0123abc", "--dry-run", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    body = json.loads(path.read_text(encoding="utf-8"))
    assert body["server_name"] == path.stem
    assert "image_info" not in body, "the image comes from the step, not the file"


# -- fleets (issues 12 and 13) -----------------------------------------------------------------------

UPLOAD = "actions/upload-artifact@"
DOWNLOAD = "actions/download-artifact@"


def _uses(steps: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [s for s in steps if str(s.get("uses", "")).startswith(prefix)]


def _true(value: object) -> bool:
    return str(value).lower() == "true"


def _upload_of(steps: list[dict[str, Any]], results_file: str) -> dict[str, Any]:
    """The upload step of that results file: runs whatever happened, and may replace a re-run's."""
    (upload,) = [s for s in _uses(steps, UPLOAD) if s["with"]["path"] == results_file]
    assert upload["if"] == "always()"
    assert _true(upload["with"]["overwrite"]), "a re-run job uploads the same artifact name again"
    return upload


def test_fleet_example_rolls_a_targets_file_out_in_waves_with_a_budget() -> None:
    workflow = _load(ROOT / "examples" / "fleet.yml")
    (job,) = workflow["jobs"].values()
    (step,) = [s for s in job["steps"] if _ours(s)]
    given = step["with"]
    assert given["targets_file"] and "targets" not in given
    assert given["waves"] == "1, 10%, 100%"
    assert _true(given["wait"]) and _true(given["promote"]) and _true(given["skip_current"])
    assert given["max_failures"] == "2%"
    assert given["image_tag"] == "${{ github.sha }}", "skip_current wants an immutable tag"
    assert not given["results_file"].startswith(("/", "$")), "a workspace path: the container and the upload agree"
    _upload_of(job["steps"], given["results_file"])


def test_fleet_example_targets_file_parses() -> None:
    from cloudbase_rollout.inputs import targets

    text = (ROOT / "examples" / "fleet" / "targets.txt").read_text(encoding="utf-8")
    entries, problems = targets.parse(text, "targets_file", json_form=False)
    assert not problems and len(entries) >= 2


def test_fleet_matrix_example_plans_canaries_shards_and_reports() -> None:
    workflow = _load(ROOT / "examples" / "fleet-matrix.yml")
    jobs = workflow["jobs"]
    assert {"plan", "canary", "rollout", "report"} <= set(jobs)

    def ours(job: str) -> dict[str, Any]:
        (step,) = [s for s in jobs[job]["steps"] if _ours(s)]
        return dict(step["with"])

    plan, canary, rollout, report = ours("plan"), ours("canary"), ours("rollout"), ours("report")
    assert plan["command"] == "plan" and "shard" not in plan, "the plan covers the whole fleet"
    assert canary["targets"] and _true(canary["wait"]) and _true(canary["promote"])
    assert canary.get("command", "rollout") == "rollout" and "shard" not in canary

    job = jobs["rollout"]
    assert job["needs"] == "canary" or job["needs"] == ["canary"]
    assert job["strategy"]["matrix"]["shard"] == list(range(1, 9))
    assert job["strategy"]["fail-fast"] is False and job["strategy"]["max-parallel"] == 4
    assert rollout["shard"] == "${{ matrix.shard }}/8"
    assert _true(rollout["skip_current"])
    assert "${{ matrix.shard }}" in rollout["results_file"], "merge-multiple needs one file name per shard"
    upload = _upload_of(job["steps"], rollout["results_file"])
    assert "${{ matrix.shard }}" in upload["with"]["name"]

    job = jobs["report"]
    assert job["needs"] == "rollout" and job["if"] == "always()"
    (download,) = _uses(job["steps"], DOWNLOAD)
    assert _true(download["with"]["merge-multiple"])
    prefix = upload["with"]["name"].replace("${{ matrix.shard }}", "")
    assert download["with"]["pattern"] == prefix + "*"
    assert report["command"] == "report"
    folder = download["with"]["path"]
    shard_file = rollout["results_file"].replace("${{ matrix.shard }}", "3")
    assert any(fnmatch.fnmatch(f"{folder}/{Path(shard_file).name}", glob.strip())
               for glob in report["results_files"].splitlines() if glob.strip())


@pytest.mark.parametrize("path", [ROOT / "examples" / "fleet.yml", ROOT / "examples" / "fleet-matrix.yml"], ids=_rel)
def test_fleet_examples_pass_one_token_to_every_job(path: Path) -> None:
    """A mint per shard would retire the other shards' tokens: one secret, no minting inputs."""
    for step in _steps(_load(path)):
        if _ours(step):
            assert not {"component_appid", "component_appsecret", "component_verify_ticket"} & set(step["with"])
