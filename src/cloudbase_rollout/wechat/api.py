"""The WeChat API: a table of endpoints and one `call(endpoint, body)`.

Token minting and the one refresh on 42001 live here, once for every endpoint; the
retry policy (retry.py) is told whether an endpoint is safe to repeat. Replies are
untrusted: each is held to its reply schema in schema/ before a field is used.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudbase_rollout import (
    API_PATH,
    BATCH_ENV_ID_PATH,
    CLOUDRUN_ENVS_PATH,
    RELEASE_PATH,
    TOKEN_PATH,
    VERSION_DETAIL_PATH,
    VERSION_LIST_PATH,
)
from cloudbase_rollout.errors import ApiError, Effect, RolloutError, TransportError
from cloudbase_rollout.redact import Redactor
from cloudbase_rollout.vocabulary.errcodes import API_ERRORS, ROLL_UPDATE_ERRORS, TOKEN_ERRORS, ErrorCode, describe
from cloudbase_rollout.vocabulary.validator import reply_errors
from cloudbase_rollout.wechat import retry
from cloudbase_rollout.wechat.transport import HttpReply, Transport


@dataclass(frozen=True)
class CallSettings:
    """How one step calls WeChat: everything but the body (built from the inputs by inputs.settings)."""

    api_base_url: str
    timeout_seconds: float
    max_attempts: int
    dry_run: bool
    access_token: str | None
    mint: tuple[str, str, str] | None


@dataclass(frozen=True)
class Endpoint:
    name: str  #: the docs' interface name, for titles
    path: str
    reply_schema: str | None  #: key of schema/<key>.schema.json
    safe: bool  #: may be repeated after an answer was lost (reads are; changes are not)
    effect: Effect
    errors: Mapping[int, ErrorCode]


ROLL_UPDATE = Endpoint("updateCloudbaseServiceVersion", API_PATH, "response", False, "rollout", ROLL_UPDATE_ERRORS)
RELEASE = Endpoint("releaseCloudbaseServiceVersion", RELEASE_PATH, "release.reply", False, "release", API_ERRORS)
VERSION_LIST = Endpoint("getcsversionlist", VERSION_LIST_PATH, "versionlist.reply", True, "read", API_ERRORS)
VERSION_DETAIL = Endpoint("getcsversiondetail", VERSION_DETAIL_PATH, "versiondetail.reply", True, "read", API_ERRORS)
#: Finding a fleet (docs/spec/FLEET.md sections 1, 2): reads, so safe to repeat.
CLOUDRUN_ENVS = Endpoint("getWxCloudBaseRunEnvs", CLOUDRUN_ENVS_PATH, "cloudrunenvs.reply", True, "read", API_ERRORS)
BATCH_ENV_ID = Endpoint("getShareCloudbaseEnv", BATCH_ENV_ID_PATH, "batchgetenvid.reply", True, "read", API_ERRORS)
TOKEN = Endpoint("api_component_token", TOKEN_PATH, None, False, "token", TOKEN_ERRORS)
TITLES = {"rollout": "updateCloudbaseServiceVersion failed", "token": "Minting a component_access_token failed"}
EXPIRED_AGAIN = ("WeChat refused the component_access_token minted just now as expired too, so the step stops "
                 "(it mints only once). Check that component_appid is the platform authorised for env_id, "
                 "then run the step again.")


@dataclass(frozen=True)
class Answer:
    data: dict[str, Any]
    attempts: int


class WeChat:
    """Calls the API with one step's settings; safe to share across threads."""

    def __init__(self, settings: CallSettings, redactor: Redactor, *,
                 on_secret: Callable[[str], None] = lambda _s: None,
                 on_retry: Callable[[str], None] = lambda _m: None,
                 sleep: Callable[[float], None] = time.sleep, pool_size: int = 10,
                 backoff_base: float = 1.0) -> None:
        self.settings, self.redact = settings, redactor
        self.on_secret, self.on_retry, self.sleep = on_secret, on_retry, sleep
        self.transport = Transport(settings.api_base_url, settings.timeout_seconds, redactor, pool_size)
        self.backoff_base = backoff_base
        self._token = settings.access_token
        self._mint_lock = threading.Lock()

    def call(self, endpoint: Endpoint, body: Mapping[str, Any], label: str, attempts: int | None = None) -> Answer:
        """POST body to endpoint; mint once and retry once on 42001 when credentials allow.

        `attempts` (default: max_attempts) lets a caller that retries itself, the wait, try once.
        """
        token = self._token or self._refresh("")
        try:
            return self._with_retries(endpoint, {"access_token": token}, body, label, attempts)
        except ApiError as error:
            if error.errcode != 42001 or self.settings.mint is None:
                raise
            first = error.attempts
        token = self._refresh(token)
        try:
            answer = self._with_retries(endpoint, {"access_token": token}, body, label, attempts)
        except (ApiError, TransportError) as again:
            again.attempts += first
            if isinstance(again, ApiError) and again.errcode == 42001:
                again.remedy = EXPIRED_AGAIN
            raise
        return Answer(answer.data, answer.attempts + first)

    def _refresh(self, expired: str) -> str:
        """Mint once for every thread that saw the same token expire."""
        with self._mint_lock:
            if self._token and self._token != expired:
                return self._token
            return self.mint_token()

    def mint_token(self) -> str:
        """component_access_token from appid, appsecret and verify ticket (docs/spec/FACTS.md section 1)."""
        if self.settings.mint is None:
            raise ApiError(42001, "access_token expired", describe(42001))
        appid, secret, ticket = self.settings.mint
        payload = {"component_appid": appid, "component_appsecret": secret, "component_verify_ticket": ticket}
        data = self._with_retries(TOKEN, {}, payload, "the token call").data
        token = data.get("component_access_token")
        if not isinstance(token, str) or not 8 <= len(token) <= 1024 or not all("!" <= c <= "~" for c in token):
            raise TransportError(f"{self.where} replied to the token call without a usable component_access_token",
                                 kind="unreadable", effect="token")
        self.redact.add(token)
        self.on_secret(token)
        self._token = token
        return token

    @property
    def where(self) -> str:
        return self.settings.api_base_url

    def _with_retries(self, endpoint: Endpoint, params: dict[str, str], body: Mapping[str, Any],
                      label: str, most: int | None = None) -> Answer:
        attempts = most or self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return Answer(self._attempt(endpoint, params, body), attempt)
            except (ApiError, TransportError) as error:
                if attempt == attempts or not retry.retryable(error, endpoint.safe):
                    error.attempts = attempt
                    raise
                pause = retry.delay(attempt, getattr(error, "retry_after", None), self.backoff_base)
                note = "a read changes nothing" if endpoint.effect == "read" else "nothing was started"
                self.on_retry(f"{label}: attempt {attempt} of {attempts} failed ({error}); {note}, "
                              f"retrying in {pause:.1f} s")
                self.sleep(pause)
        raise AssertionError("unreachable")

    def _attempt(self, endpoint: Endpoint, params: dict[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            reply = self.transport.post(endpoint.path, params, body)
            data = self._parse(endpoint, reply)
        except TransportError as error:
            raise _judged(error, endpoint) from None
        errcode = int(data.get("errcode", 0))
        if errcode == 0:
            return data
        ambiguous = errcode == -1000 and endpoint.effect in ("rollout", "release")
        raise ApiError(errcode, self.transport.safe(str(data.get("errmsg", ""))),
                       describe(errcode, endpoint.errors), may_have_started=ambiguous,
                       title=TITLES.get(endpoint.effect, f"{endpoint.name} failed"), effect=endpoint.effect)

    def _parse(self, endpoint: Endpoint, reply: HttpReply) -> dict[str, Any]:
        """The reply as a dict: an HTTP error, a non-object or a reply off its schema is a TransportError."""
        self._check_status(reply)
        text = reply.data.decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            raise TransportError(f"{self.where} sent a reply that is not a JSON object (HTTP {reply.status}, "
                                 f"{self.transport.safe(reply.content_type, 100)})",
                                 self.transport.safe(text, 200), kind="unreadable")
        minting = endpoint.effect == "token"
        code = data.get("errcode", 0 if minting else None)
        if isinstance(code, bool) or not isinstance(code, int):
            if minting:
                raise TransportError(f"{self.where} sent a token reply with a non-integer errcode",
                                     kind="unreadable")
        elif minting or code != 0:
            return data  # an error reply: its errcode is what the user must see, whatever else it holds
        problems = reply_errors(endpoint.reply_schema, data) if endpoint.reply_schema else []
        if problems:
            raise TransportError(f"{self.where} sent a reply that does not fit the API's response schema",
                                 self.transport.safe("; ".join(problems), 300), kind="unreadable")
        return data

    def _check_status(self, reply: HttpReply) -> None:
        status = reply.status
        if status == 200:
            return
        summary = f"HTTP {status} from {self.where}"
        detail = self.transport.safe(reply.data.decode("utf-8", "replace"), 200)
        if 300 <= status < 400:
            location = self.transport.safe(reply.headers.get("Location", ""), 200)
            detail = (f"a redirect to {location!r}, not followed (the API does not redirect; following could "
                      "send the request twice or over plain http)")
        raise TransportError(summary, detail, kind="http", status=status,
                             retry_after=retry.retry_after(reply.headers.get("Retry-After")))


def _judged(error: TransportError, endpoint: Endpoint) -> RolloutError:
    """Say what a failed transport means for this endpoint: could it have changed anything?"""
    error.effect = endpoint.effect
    if endpoint.effect in ("rollout", "release"):
        if error.kind == "http":
            status = error.status or 0
            # Any 5xx (500, 502, 504, a CDN's 52x...) may come after the API accepted the request;
            # 501 is not among them (nothing handled it), nor 429/503 (the server said "not now").
            error.may_have_started = 500 <= status < 600 and status not in (501, *retry.RETRY_STATUS)
        else:
            error.may_have_started = error.kind in ("no_reply", "timed_out", "unreadable")
    return error
