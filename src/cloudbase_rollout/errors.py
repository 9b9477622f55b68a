"""Error vocabulary: the spec's error table and the exceptions the layers raise.

The table is the spec's, verbatim (errmsg and 解决方案), with an English hint for
users who do not read Chinese. Codes not in it pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple


class ErrorCode(NamedTuple):
    errmsg: str
    remedy_zh: str
    hint: str


#: Error table of updateCloudbaseServiceVersion (spec section 错误码).
ROLL_UPDATE_ERRORS: dict[int, ErrorCode] = {
    0: ErrorCode("ok", "ok", "success"),
    -1: ErrorCode(
        "system error",
        "系统繁忙,此时请开发者稍候再试",
        "WeChat is busy; the call is retried with backoff, or run the step again later.",
    ),
    -1000: ErrorCode(
        "system error",
        "系统错误",
        "WeChat reported a system error.",
    ),
    40014: ErrorCode(
        "invalid access_token",
        "不合法的 access_token ,请开发者认真比对 access_token 的有效性(如是否过期),"
        "或查看是否正在为恰当的公众号调用接口",
        "The access_token is not a valid component_access_token (expired, or of another "
        "platform). Mint a fresh one and update the secret.",
    ),
    40097: ErrorCode(
        "invalid args",
        "参数错误",
        "WeChat rejected a field value; compare the request (dry_run) with the service's "
        "settings in the console.",
    ),
    40101: ErrorCode(
        "missing parameter",
        "缺少必填参数",
        "A required field is missing (env_id, version_name, server_name, or what upload_type needs).",
    ),
    41001: ErrorCode(
        "access_token missing",
        "缺少 access_token 参数",
        "No access_token reached WeChat; set the access_token input from a secret.",
    ),
    42001: ErrorCode(
        "access_token expired",
        "access_token 超时,请检查 access_token 的有效期,请参考基础支持 - 获取 access_token 中,"
        "对 access_token 的详细机制说明",
        "The component_access_token expired (it lives 7200 s). Refresh the secret, or give "
        "component_appid, component_appsecret and component_verify_ticket to mint one.",
    ),
    43002: ErrorCode("require POST method", "需要 POST 请求", "The call must be a POST."),
    44002: ErrorCode("empty post data", "POST 的数据包为空", "The request body was empty."),
    47001: ErrorCode(
        "data format error",
        "解析 JSON/XML 内容错误;post 数据中参数缺失;检查修正后重试。",
        "WeChat could not parse the body or a parameter is missing; fix it and retry.",
    ),
    85088: ErrorCode(
        "no qbase privilege",
        "该APP未开通云开发",
        "CloudBase is not enabled for this app (env_id); enable it in the console first.",
    ),
}

#: Errors of POST /cgi-bin/component/api_component_token (FACTS.md section 1).
TOKEN_ERRORS: dict[int, ErrorCode] = {
    -1: ErrorCode("system error", "系统繁忙,此时请开发者稍候再试",
                  "WeChat is busy; the token call is retried with backoff, or run the step again later."),
    61004: ErrorCode(
        "access clientip is not registered",
        "IP 不在白名单",
        "This runner's IP address is not on the third-party platform's IP allow-list. CI "
        "runners have changing addresses: mint the token on an allow-listed host and pass "
        "it as access_token, or add the runner's address in the Open Platform console.",
    ),
    61005: ErrorCode(
        "component ticket is expired",
        "component_verify_ticket 已过期",
        "The component_verify_ticket expired (valid 12 h); pass the newest ticket WeChat "
        "pushed to your callback server.",
    ),
    61006: ErrorCode(
        "component ticket is invalid",
        "component_verify_ticket 无效",
        "The component_verify_ticket is not valid for this component_appid.",
    ),
    40125: ErrorCode(
        "invalid appsecret",
        "component_appsecret 无效",
        "The component_appsecret is wrong; check the secret in the Open Platform console.",
    ),
    45009: ErrorCode(
        "reach max api daily quota limit",
        "接口调用超过每日限额",
        "The daily quota for minting tokens is used up; reuse a token (it lives 7200 s).",
    ),
}


def describe(errcode: int, table: Mapping[int, ErrorCode] = ROLL_UPDATE_ERRORS) -> str:
    """The spec's remedy for a code, or a pass-through note for unknown codes."""
    known = table.get(errcode)
    if known is None:
        return "not in the API's error table; passed through from CloudBase unchanged"
    return f"{known.remedy_zh} ({known.hint})"


class RolloutError(Exception):
    """Base of every expected failure; its text is already safe to print."""

    exit_code = 1
    title = "Rollout failed"


@dataclass
class Problem:
    """One invalid input, named as the user wrote it."""

    input: str
    message: str
    kind: str = "invalid"

    def __str__(self) -> str:
        return f"{self.input}: {self.message}"


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


@dataclass
class ApiError(RolloutError):
    """WeChat answered with a non-zero errcode (or without success)."""

    errcode: int
    errmsg: str
    remedy: str
    may_have_started: bool = False
    attempts: int = 1
    title: str = field(default="updateCloudbaseServiceVersion failed")

    def __str__(self) -> str:
        text = f"errcode {self.errcode}: {self.errmsg} - {self.remedy}"
        if self.attempts > 1:
            text = f"after {self.attempts} attempts, last error: {text}"
        return text


class TransportError(RolloutError):
    """The call did not produce an API answer (connection, timeout, HTTP status, bad body)."""

    title = "Call to WeChat failed"

    def __init__(self, message: str, *, may_have_started: bool, attempts: int = 1) -> None:
        self.may_have_started = may_have_started
        self.attempts = attempts
        if attempts > 1:
            message = f"after {attempts} attempts, last error: {message}"
        super().__init__(message)


class Cancelled(RolloutError):
    """SIGTERM or SIGINT arrived: the job was cancelled."""

    title = "Cancelled"

    def __init__(self, signum: int, detail: str = "") -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"cancelled by signal {signum}" + (f" {detail}" if detail else ""))


MAY_HAVE_STARTED = (
    "The rollout may have started. Before running this step again, check the service's "
    "versions in the WeChat Cloud Run console (or the deploy record of env_id/server_name): "
    "a second call starts a second rollout."
)
