"""What every endpoint checks before it does anything, in the order WeChat's gateway would.

43002 non-POST, 41001 no token, 42001 expired token, 40014 wrong token, then the token's quota
(45009 daily, 45011 minute: see `quota`), 44002 empty body, 47001 malformed JSON; the read
endpoints then hold the body to its schema/*.request.schema.json (40101 missing, 40097 invalid).
A refusal is raised as `Refused` and started nothing: no state has changed by then.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cloudbase_rollout.emulator.quota import ERRMSG
from cloudbase_rollout.emulator.state import State
from cloudbase_rollout.jsontext import loads
from cloudbase_rollout.vocabulary import schemas
from cloudbase_rollout.vocabulary.validator import fast_valid

BUSY = {-1: "system error", **ERRMSG}


def error_reply(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg}


class Refused(Exception):
    """The reply to a call the emulator will not carry out."""

    def __init__(self, errcode: int, errmsg: str, status: int = 200) -> None:
        super().__init__(errmsg)
        self.status, self.reply = status, error_reply(errcode, errmsg)


def admitted(state: State, method: str, token: str, raw: bytes) -> dict[str, Any]:
    """The body of a call that passes the gateway's checks, in WeChat's order; else Refused."""
    if method != "POST":
        raise Refused(43002, "require POST method")
    if not token:
        raise Refused(41001, "access_token missing")
    if token in state.expired_tokens:
        raise Refused(42001, "access_token expired")
    if token != state.token:
        raise Refused(40014, "invalid access_token")
    refusal = state.take_quota()  # the gateway knows whose quota it is only from a valid token
    if refusal is not None:
        raise Refused(refusal, BUSY[refusal])
    if not raw.strip():
        raise Refused(44002, "empty post data")
    try:
        body = loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Refused(47001, "data format error") from None
    if not isinstance(body, dict):
        raise Refused(47001, "data format error")
    return body


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schemas.load(name))


def checked(state: State, method: str, token: str, raw: bytes, schema: str, read: bool = False) -> dict[str, Any]:
    """A body past the gateway, the read-failure control (reads only) and its schema; else Refused.

    The compiled validator answers the common, valid case (a bench sends thousands a second);
    jsonschema explains the rest."""
    body = admitted(state, method, token, raw)
    failure = state.take_read_failure() if read else None
    if failure is not None:
        raise Refused(failure[1], BUSY.get(failure[1], "system error"), failure[0])
    if fast_valid(body, which=schema.removesuffix(".schema.json")):
        return body
    errors = sorted(_validator(schema).iter_errors(body), key=lambda e: e.validator != "required")
    missing = [n for e in errors if e.validator == "required" for n in e.validator_value if n not in e.instance]
    if missing:
        raise Refused(40101, f"missing parameter: {', '.join(missing)}")
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "body"
        raise Refused(40097, f"invalid args: {where}: {errors[0].message[:200]}")
    return body
