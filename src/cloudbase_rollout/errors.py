"""Errors are data (errcode, errmsg, may_have_started, run_id...); their text is composed here.

Every layer raises one of these with fields; nothing parses a message back. The
front ends print `error.text(words)` (the whole story, in their own words: see
words.py; `str(error)` is the Action's) or `error.short()` (one line for a summary
cell or the `results` output).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from cloudbase_rollout.vocabulary.errcodes import API_ERRORS as API_ERRORS  # re-exported: the tables' historic home
from cloudbase_rollout.vocabulary.errcodes import ROLL_UPDATE_ERRORS as ROLL_UPDATE_ERRORS
from cloudbase_rollout.vocabulary.errcodes import TOKEN_ERRORS as TOKEN_ERRORS
from cloudbase_rollout.vocabulary.statuses import FAILED, HEALTHY, classify
from cloudbase_rollout.words import ACTION, Message, Words

MAY_HAVE_STARTED = (
    "The rollout may have started. Before running this step again, check the service's "
    "versions in the WeChat Cloud Run console (or the deploy record of env_id/server_name): "
    "a second call starts a second rollout."
)
MAY_HAVE_RELEASED = ("The release may have been made. Check the version's traffic in the WeChat Cloud Run "
                     "console before running this step again.")
NOT_STARTED = "This was the token call: no rollout was started."
#: What a lost answer may mean, by what the call does: a read changes nothing.
Effect = Literal["rollout", "release", "token", "read"]


#: What a call may have done when its answer is lost, said in full and in a summary cell.
AMBIGUITY: dict[str, tuple[str, str]] = {
    "rollout": (MAY_HAVE_STARTED, " (the rollout may have started)"),
    "release": (MAY_HAVE_RELEASED, " (the release may have been made)"),
}


def _ambiguity(effect: Effect, may_have_started: bool, short: bool = False) -> str:
    if effect == "token":
        return "" if short else NOT_STARTED
    if not may_have_started or effect not in AMBIGUITY:
        return ""
    return AMBIGUITY[effect][short]


def _attempts(text: str, attempts: int) -> str:
    return f"after {attempts} attempts, last error: {text}" if attempts > 1 else text


class RolloutError(Exception):
    """Base of every expected failure; its text is already safe to print."""

    exit_code = 1
    title = "Rollout failed"
    may_have_started = False
    attempts = 1

    def text(self, words: Words = ACTION) -> str:
        """The whole story, naming inputs and commands in the words of the front end that prints it."""
        return super().__str__()

    def __str__(self) -> str:
        return self.text(ACTION)

    def short(self) -> str:
        """One line for a summary cell: our own words, never a server's excerpt."""
        return str(self).split("\n", 1)[0][:160]


@dataclass
class Problem:
    """One invalid input, named as the user wrote it."""

    input: str
    message: Message
    kind: str = "invalid"

    def text(self, words: Words = ACTION) -> str:
        label = words.label(self.input)
        message = words.compose(self.message)
        return f"{label}: {message}" if label else message

    def __str__(self) -> str:
        return self.text(ACTION)


def unique(problems: list[Problem]) -> list[Problem]:
    """Each problem once, in the order first seen."""
    first: dict[str, Problem] = {}
    for problem in problems:
        first.setdefault(str(problem), problem)
    return list(first.values())


class InvalidInput(RolloutError):
    """Raised before any connection when the inputs cannot make a valid request."""

    exit_code = 2
    title = "Invalid input"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    def short(self) -> str:
        return f"invalid input: {self.problems[0]}"[:160] if self.problems else "invalid input"


@dataclass(eq=False)
class ApiError(RolloutError):
    """WeChat answered with a non-zero errcode (or without success)."""

    errcode: int
    errmsg: str
    remedy: str
    may_have_started: bool = False
    attempts: int = 1
    title: str = field(default="updateCloudbaseServiceVersion failed")
    effect: Effect = "rollout"

    def text(self, words: Words = ACTION) -> str:
        text = " ".join(filter(None, [f"errcode {self.errcode}: {self.errmsg} - {self.remedy}",
                                      _ambiguity(self.effect, self.may_have_started)]))
        return _attempts(text, self.attempts)

    def short(self) -> str:
        return f"errcode {self.errcode} {self.errmsg}"[:160] + _ambiguity(self.effect, self.may_have_started, True)


TransportKind = Literal["not_sent", "no_reply", "timed_out", "http", "unreadable", "cert"]


class TransportError(RolloutError):
    """The call did not produce an API answer (connection, timeout, HTTP status, bad body).

    `summary` is our own words ("HTTP 502 from URL"); `detail` what the server or the
    socket said (already redacted and neutralized).
    """

    title = "Call to WeChat failed"

    def __init__(self, summary: Message, detail: str = "", *, kind: TransportKind, may_have_started: bool = False,
                 effect: Effect = "rollout", status: int | None = None, retry_after: float | None = None,
                 attempts: int = 1) -> None:
        self.summary, self.detail, self.kind, self.status = summary, detail, kind, status
        self.may_have_started, self.effect, self.retry_after, self.attempts = (
            may_have_started, effect, retry_after, attempts)
        super().__init__(ACTION.compose(summary))

    def text(self, words: Words = ACTION) -> str:
        text = words.compose(self.summary) + (f": {self.detail}" if self.detail else "")
        ambiguity = _ambiguity(self.effect, self.may_have_started)
        return _attempts(f"{text}. {ambiguity}" if ambiguity else text, self.attempts)

    def short(self) -> str:
        return ACTION.compose(self.summary)[:160] + _ambiguity(self.effect, self.may_have_started, True)


WaitKind = Literal["failed", "timeout", "unwatchable", "preflight", "refused", "release_failed"]
TITLES = {"failed": "Rollout failed", "timeout": "Wait timed out", "unwatchable": "Cannot watch the rollout",
          "preflight": "Cannot read the version", "refused": "Release refused", "release_failed": "Release failed"}
CONSOLE = "the version's build and deploy logs in the WeChat Cloud Run console (云托管 > 服务管理 > 版本列表)"
#: Codes that say nothing about env_id, server_name or version_name: the token, the quota, a busy system.
NOT_THE_ADDRESS = (-1, 40014, 41001, 42001, 45009, 45011, 85088)


@dataclass(eq=False)
class LifecycleError(RolloutError):
    """A version did not become healthy, could not be read or watched, or could not be released."""

    kind: WaitKind
    server_name: str
    version_name: str
    status: str | None = None
    run_id: str | None = None
    waited: float | None = None
    cause: RolloutError | None = None
    versions: tuple[str, ...] = ()
    command: str = "rollout"
    limit: int | None = None  #: wait_timeout_seconds

    def __post_init__(self) -> None:
        self.title = "Version failed" if (self.kind, self.command) == ("failed", "status") else \
            "Cannot watch the version" if self.kind == "unwatchable" and not self.run_id else TITLES[self.kind]
        self.may_have_started = self.run_id is not None

    def text(self, words: Words = ACTION) -> str:
        return lifecycle_text(self, words)

    def short(self) -> str:
        words = {"failed": f"settled {self.status}", "timeout": f"timed out in status {self.status}",
                 "unwatchable": "cannot be watched", "preflight": "cannot be read",
                 "refused": f"not released: status {self.status}", "release_failed": "release failed"}
        return f"{self.version_name}: {words[self.kind]}"[:160]


def lifecycle_text(e: LifecycleError, words: Words = ACTION) -> str:
    """The one place that words a failed wait, read or release (one function per kind, in TEXTS)."""
    return TEXTS[e.kind](e, f"version {e.version_name} of {e.server_name}", words)


def _started(e: LifecycleError) -> str:
    return f"The rollout was started (run_id {e.run_id}) and goes on; it was not promoted." if e.run_id else ""


def _failed(e: LifecycleError, what: str, words: Words) -> str:
    waited = f" after {e.waited:.0f} s" if e.waited is not None else ""
    if e.command == "status":
        return f"{what} settled in status {e.status}{waited}. Look at {CONSOLE}."
    run = f" (run_id {e.run_id})" if e.run_id else ""
    return (f"{what} settled in status {e.status}{waited}{run}: it is not serving the new version. "
            f"Look at {CONSOLE}. It was not promoted.")


def _timeout(e: LifecycleError, what: str, words: Words) -> str:
    limit = f" ({e.limit} s)" if e.limit is not None else ""
    why = ""
    if classify(e.status or "") == HEALTHY:
        why = (" It reads normal, but nothing showed that this is the new rollout (updated_time unchanged, no other "
               "status seen since the call): the platform may not have picked it up, or latest may name another "
               "version.")
    timeout = words.input("wait_timeout_seconds")
    text = (f"{what} did not settle within {timeout}{limit}; last status: {e.status}.{why} "
            f"{_started(e)} Do not run this step again blindly: check {CONSOLE} first, then raise "
            f"{timeout} or look again with {words.setting('command', 'status')}.")
    return " ".join(text.split())


def _unwatchable(e: LifecycleError, what: str, words: Words) -> str:
    cause = f" ({e.cause.text(words)})" if e.cause is not None else ""
    watched = f"{what} cannot be watched: reading it failed{cause}. Check it in the console."
    return f"{_started(e)} But {watched}" if e.run_id else watched[0].upper() + watched[1:]


def _preflight(e: LifecycleError, what: str, words: Words) -> str:
    cause = f" ({e.cause.text(words)})" if e.cause is not None else ""
    known = f" The service's versions: {', '.join(e.versions)}." if e.versions else ""
    address = not isinstance(e.cause, TransportError) and getattr(e.cause, "errcode", None) not in NOT_THE_ADDRESS
    names = [words.input(name) for name in ("env_id", "server_name", "version_name")]
    check = f" Check {names[0]}, {names[1]} and {names[2]}." if address else ""
    if e.command == "status":
        return f"{what} cannot be read{cause}.{known}{check}"
    return (f"{what} cannot be read before the {e.command}{cause}.{known} Nothing was changed: no request that "
            f"changes the service was sent.{check}")


def _refused(e: LifecycleError, what: str, words: Words) -> str:
    if classify(e.status or "") == FAILED:
        return f"{what} is in status {e.status}: a failed version is never released. Look at {CONSOLE}."
    return (f"{what} is in status {e.status}, not normal: it was not released. "
            f"Set {words.setting('wait', 'true')} to wait until it is normal.")


def _release_failed(e: LifecycleError, what: str, words: Words) -> str:
    cause = f" ({e.cause.text(words)})" if e.cause is not None else ""
    return f"releasing {what} failed{cause}. {_started(e)}".strip()


TEXTS: dict[str, Callable[[LifecycleError, str, Words], str]] = {
    "failed": _failed, "timeout": _timeout, "unwatchable": _unwatchable, "preflight": _preflight,
    "refused": _refused, "release_failed": _release_failed,
}


class Cancelled(RolloutError):
    """SIGTERM or SIGINT arrived: the job was cancelled."""

    title = "Cancelled"

    def __init__(self, signum: int, detail: str = "", *, may_have_started: bool = False) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        self.may_have_started = may_have_started
        super().__init__(f"cancelled by signal {signum}" + (f" {detail}" if detail else ""))


def cancelled_text(where: str, states: list[tuple[str, str, str | None, bool]]) -> tuple[str, bool]:
    """What a cancel interrupted, from (id, phase, run_id, promoted) per service; and whether a call was
    in flight that may have started a rollout."""
    calling = [sid for sid, phase, _, _ in states if phase == "calling"]
    waiting = [sid for sid, phase, _, _ in states if phase == "waiting"]
    releasing = [sid for sid, phase, _, _ in states if phase == "releasing"]
    if calling and len(states) == 1:
        parts = [f"while waiting for {where} to answer the rollout call."]
    elif calling:
        were = "rollout was" if len(calling) == 1 else "rollouts were"
        parts = [f"while {len(calling)} {were} in flight ({', '.join(calling)})."]
    elif releasing:
        parts = [f"while releasing {', '.join(releasing)}. {MAY_HAVE_RELEASED}"]
    elif waiting:
        parts = [f"while waiting for {', '.join(waiting)} to settle."]
    else:
        started_any = any(run_id for _, _, run_id, _ in states)
        parts = ["after the rollouts were started." if started_any else "before any rollout was sent."]
    started = [f"{sid} (run_id {run_id}, {'promoted' if promoted else 'not promoted'})"
               for sid, _, run_id, promoted in states if run_id]
    if started:
        parts.append(f"These rollouts were started and go on: {', '.join(started)}.")
    if calling:
        parts.append(MAY_HAVE_STARTED)
    return " ".join(parts), bool(calling)


class OutputsNotWritten(RolloutError):
    title = "Outputs not written"
