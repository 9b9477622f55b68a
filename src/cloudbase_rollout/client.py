"""Talk to the WeChat API: one POST per attempt, retried only when no rollout can have started.

Layering follows requests (client -> Session -> HTTPAdapter). The token travels
only in the query string of the request; every text that leaves this module has
been through the Redactor, so no URL, exception or excerpt can carry it.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from cloudbase_rollout import API_PATH, TOKEN_PATH, __version__
from cloudbase_rollout.errors import (
    MAY_HAVE_STARTED,
    ROLL_UPDATE_ERRORS,
    TOKEN_ERRORS,
    ApiError,
    ErrorCode,
    RolloutError,
    TransportError,
    describe,
)
from cloudbase_rollout.redact import Redactor, neutralize
from cloudbase_rollout.settings import CallSettings, is_loopback
from cloudbase_rollout.validate import response_errors

MAX_REPLY_BYTES = 1 << 20
RETRY_AFTER_CAP = 30.0
BACKOFF_CAP = 10.0
RETRY_STATUS = (429, 503)
AMBIGUOUS_STATUS = (500, 502, 504)


@dataclass(frozen=True)
class Reply:
    errcode: int
    errmsg: str
    result: str
    run_id: str
    attempts: int


class _Retryable(Exception):
    """An attempt failed in a way that provably started nothing (or WeChat said retry)."""

    def __init__(self, error: RolloutError, delay: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay = delay


class Client:
    """Calls the API with the settings of one step; safe to share across threads."""

    def __init__(
        self,
        settings: CallSettings,
        redactor: Redactor,
        *,
        on_secret: Callable[[str], None] = lambda _s: None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        pool_size: int = 10,
    ) -> None:
        self.settings = settings
        self.redact = redactor
        self.on_secret = on_secret
        self.sleep = sleep
        self.session = session or _session(pool_size)
        self._mint_lock = threading.Lock()
        self.backoff_base = float(os.environ.get("CLOUDBASE_ROLLOUT_BACKOFF_BASE", "1.0"))
        self._token = settings.access_token
        host = urlsplit(settings.api_base_url).hostname or ""
        self._proxies: dict[str, Any] = {"http": None, "https": None} if is_loopback(host) else {}

    # -- the two API calls -------------------------------------------------

    def roll_update(self, body: Mapping[str, Any]) -> Reply:
        """POST the body; mint once and retry once on 42001 when credentials allow."""
        token = self._token or self._refresh("")
        try:
            data, attempts = self._with_retries(API_PATH, {"access_token": token}, body, ROLL_UPDATE_ERRORS)
        except ApiError as error:
            if error.errcode != 42001 or self.settings.mint is None:
                raise
            token = self._refresh(token)
            data, more = self._with_retries(API_PATH, {"access_token": token}, body, ROLL_UPDATE_ERRORS)
            attempts = error.attempts + more
        return self._reply(data, attempts)

    def _refresh(self, expired: str) -> str:
        """Mint once for every thread that saw the same token expire."""
        with self._mint_lock:
            if self._token and self._token != expired:
                return self._token
            return self.mint_token()

    def mint_token(self) -> str:
        """component_access_token from appid, appsecret and verify ticket (FACTS.md section 1)."""
        if self.settings.mint is None:
            raise ApiError(42001, "access_token expired", describe(42001))
        appid, secret, ticket = self.settings.mint
        payload = {"component_appid": appid, "component_appsecret": secret,
                   "component_verify_ticket": ticket}
        data, _ = self._with_retries(TOKEN_PATH, {}, payload, TOKEN_ERRORS, minting=True)
        token = data.get("component_access_token")
        if not isinstance(token, str) or not token or len(token) > 1024 or any(c.isspace() for c in token):
            raise TransportError("the token endpoint replied without a usable component_access_token",
                                 may_have_started=False)
        self.redact.add(token)
        self.on_secret(token)
        self._token = token
        return token

    def _reply(self, data: Mapping[str, Any], attempts: int) -> Reply:
        result = str(data.get("result", ""))
        if result != "succ":
            raise ApiError(0, neutralize(str(data.get("errmsg", ""))),
                           f"the API answered errcode 0 without result succ (result {neutralize(result)!r}). "
                           + MAY_HAVE_STARTED, may_have_started=True, attempts=attempts)
        return Reply(0, str(data.get("errmsg", "")), result, str(data["run_id"]), attempts)

    # -- retries -----------------------------------------------------------

    def _with_retries(
        self, path: str, params: dict[str, str], body: Mapping[str, Any],
        table: Mapping[int, ErrorCode], *, minting: bool = False,
    ) -> tuple[dict[str, Any], int]:
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(path, params, body, table, minting), attempt
            except _Retryable as retry:
                if attempt == attempts:
                    raise _with_attempts(retry.error, attempt) from None
                self.sleep(self._delay(attempt, retry.delay))
            except (ApiError, TransportError) as error:
                raise _with_attempts(error, attempt) from None
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_CAP)
        delay: float = min(BACKOFF_CAP, self.backoff_base * 2 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not crypto)

    # -- one attempt -------------------------------------------------------

    def _attempt(
        self, path: str, params: dict[str, str], body: Mapping[str, Any],
        table: Mapping[int, ErrorCode], minting: bool,
    ) -> dict[str, Any]:
        raw = self._post(path, params, body)
        data = self._parse(raw, minting)
        errcode = data.get("errcode", 0)
        if errcode == 0:
            return data
        remedy = describe(errcode, table)
        errmsg = neutralize(str(data.get("errmsg", "")))
        if errcode == -1:
            raise _Retryable(ApiError(-1, errmsg, remedy))
        ambiguous = errcode == -1000
        if ambiguous:
            remedy = f"{remedy} {MAY_HAVE_STARTED}"
        raise ApiError(errcode, errmsg, remedy, may_have_started=ambiguous)

    def _post(self, path: str, params: dict[str, str], body: Mapping[str, Any]) -> bytes:
        url = self.settings.api_base_url + path
        timeout = self.settings.timeout_seconds
        started = time.monotonic()
        try:
            response = self.session.post(
                url, params=params, data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=(min(10.0, timeout), timeout), stream=True, proxies=self._proxies,
            )
        except requests.RequestException as error:
            raise self._transport(error) from None
        with response:
            try:
                data = _read_bounded(response, started + timeout)
            except requests.RequestException as error:
                raise self._transport(error) from None
            self._check_status(response, data)
        return data

    def _check_status(self, response: requests.Response, data: bytes) -> None:
        status = response.status_code
        if status == 200:
            return
        excerpt = neutralize(self.redact(data[:200].decode("utf-8", "replace")), 200)
        message = f"HTTP {status} from {self._where()}: {excerpt}"
        if status in RETRY_STATUS:
            raise _Retryable(TransportError(message, may_have_started=False),
                             _retry_after(response.headers.get("Retry-After")))
        ambiguous = status in AMBIGUOUS_STATUS
        raise TransportError(message + (f". {MAY_HAVE_STARTED}" if ambiguous else ""),
                             may_have_started=ambiguous)

    def _parse(self, raw: bytes, minting: bool) -> dict[str, Any]:
        text = raw.decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            excerpt = neutralize(self.redact(text[:200]), 200)
            raise self._unreadable(f"a reply that is not a JSON object: {excerpt}", minting)
        if minting:
            if "errcode" in data and not isinstance(data["errcode"], int):
                raise self._unreadable("a token reply with a non-integer errcode", minting)
            return data
        problems = response_errors(data)
        if problems:
            raise self._unreadable("a reply that does not fit the API's response schema: "
                                   + neutralize(self.redact("; ".join(problems)), 300), minting)
        return data

    def _unreadable(self, what: str, minting: bool) -> TransportError:
        suffix = "" if minting else f". {MAY_HAVE_STARTED}"
        return TransportError(f"{self._where()} sent {what}{suffix}", may_have_started=not minting)

    def _transport(self, error: requests.RequestException) -> Exception:
        message = neutralize(self.redact(f"{type(error).__name__}: {error}"), 400)
        if _not_sent(error):
            return _Retryable(TransportError(f"could not connect to {self._where()}: {message}",
                                             may_have_started=False))
        what = "timed out waiting for" if isinstance(error, requests.Timeout) else "lost the connection to"
        return TransportError(
            f"{what} {self._where()} after sending the request ({message}). {MAY_HAVE_STARTED}",
            may_have_started=True,
        )

    def _where(self) -> str:
        return self.settings.api_base_url


def _session(pool_size: int) -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = f"cloudbase-rollout/{__version__}"
    return session


def _not_sent(error: requests.RequestException) -> bool:
    """Connection refused, DNS, TLS handshake, connect timeout: the body never left."""
    if isinstance(error, (requests.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        return True
    if isinstance(error, requests.ConnectionError) and not isinstance(error, requests.Timeout):
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        reason = error.args[0] if error.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        return isinstance(reason, NewConnectionError)
    return False


def _read_bounded(response: requests.Response, deadline: float) -> bytes:
    """At most MAX_REPLY_BYTES, within the attempt's deadline, whatever the server sends."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise TransportError(f"the reply is larger than {MAX_REPLY_BYTES} bytes; stopped reading. "
                                 + MAY_HAVE_STARTED, may_have_started=True)
        if time.monotonic() > deadline:
            raise requests.exceptions.ReadTimeout("the reply did not finish within timeout_seconds")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _with_attempts(error: RolloutError, attempts: int) -> RolloutError:
    if attempts > 1 and isinstance(error, ApiError):
        error.attempts = attempts
    elif attempts > 1 and isinstance(error, TransportError):
        return TransportError(str(error), may_have_started=error.may_have_started, attempts=attempts)
    return error
