"""The error tables: the spec's, verbatim (errmsg and 解决方案), with an English hint
for users who do not read Chinese. Codes not in a table pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
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

#: Errors of POST /cgi-bin/component/api_component_token (docs/spec/FACTS.md section 1).
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


#: The neighbours share the roll-update's table (docs/spec/NEIGHBOURS.md), plus the quota codes of section 6.
QUOTA_ERRORS: dict[int, ErrorCode] = {
    45009: ErrorCode(
        "reach max api daily quota limit",
        "接口调用超过每日限额",
        "The daily quota of this API is used up; retrying within this job is futile. Try again tomorrow, "
        "or watch the version in the console.",
    ),
    45011: ErrorCode(
        "api minute-quota reach limit",
        "API 调用太频繁,请稍候再试",
        "The minute quota is used up; the call is retried after a pause.",
    ),
}
API_ERRORS: dict[int, ErrorCode] = {**ROLL_UPDATE_ERRORS, **QUOTA_ERRORS}


def describe(errcode: int, table: Mapping[int, ErrorCode] = ROLL_UPDATE_ERRORS) -> str:
    """The spec's remedy for a code, or a pass-through note for unknown codes."""
    known = table.get(errcode)
    if known is None:
        return "not in the API's error table; passed through from CloudBase unchanged"
    return f"{known.remedy_zh} ({known.hint})"
