"""Talk to the WeChat API: one POST per attempt, retried only when no rollout can have started.

Layering follows requests (client -> Session -> HTTPAdapter). The token travels
only in the query string of the request; every text that leaves this module has
been through the Redactor, so no URL, exception or excerpt can carry it.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import random
import re
import ssl
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
    Cancelled,
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
#: How long past timeout_seconds an attempt may take before it is abandoned.
DEADLINE_GRACE = 0.5
#: As schema/response.schema.json says, but whole-string: Python's `$` (which the
#: schema validators use) also matches before a final newline.
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
TOKEN_CALL = "Minting a component_access_token failed"  # noqa: S105 (a title)
NOT_STARTED = "This was the token call: no rollout was started."
RETRY_STATUS = (429, 503)
#: Any other 5xx (500, 502, 504, a CDN's 52x...) may come after the API accepted the request.
#: 501 is not among them: nothing handled the request.


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
        on_retry: Callable[[str], None] = lambda _m: None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        pool_size: int = 10,
    ) -> None:
        self.settings = settings
        self.redact = redactor
        self.on_secret = on_secret
        self.on_retry = on_retry
        self.sleep = sleep
        self.session = session or _session(pool_size)
        self._mint_lock = threading.Lock()
        self.backoff_base = float(os.environ.get("CLOUDBASE_ROLLOUT_BACKOFF_BASE", "1.0"))
        self._token = settings.access_token
        host = urlsplit(settings.api_base_url).hostname or ""
        no_proxy = {"http": None, "https": None, "all": None}
        self._proxies: dict[str, Any] = no_proxy if is_loopback(host) else {}

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
            try:
                data, more = self._with_retries(API_PATH, {"access_token": token}, body, ROLL_UPDATE_ERRORS)
            except ApiError as again:
                again.attempts += error.attempts
                if again.errcode == 42001:
                    again.remedy = ("WeChat refused the component_access_token minted just now as expired too, so "
                                    "the step stops (it mints only once). Check that component_appid is the "
                                    "platform authorised for env_id, then run the step again.")
                raise
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
        if not isinstance(token, str) or not 8 <= len(token) <= 1024 or not all("!" <= c <= "~" for c in token):
            raise TransportError(f"{self._where()} replied to the token call without a usable "
                                 f"component_access_token. {NOT_STARTED}", may_have_started=False)
        self.redact.add(token)
        self.on_secret(token)
        self._token = token
        return token

    def _reply(self, data: Mapping[str, Any], attempts: int) -> Reply:
        result = str(data.get("result", ""))
        if result != "succ":
            raise ApiError(0, self._safe(str(data.get("errmsg", ""))),
                           f"the API answered errcode 0 without result succ (result {self._safe(result, 64)!r}). "
                           + MAY_HAVE_STARTED, may_have_started=True, attempts=attempts)
        run_id = data.get("run_id")
        if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
            raise TransportError(f"{self._where()} answered succ with a run_id that is not 1 to 128 letters, "
                                 f"digits, - or _ ({self._safe(str(run_id), 150)!r}); nothing was written to "
                                 f"the outputs. {MAY_HAVE_STARTED}", may_have_started=True, attempts=attempts)
        return Reply(0, str(data.get("errmsg", "")), result, run_id, attempts)

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
                delay = self._delay(attempt, retry.delay)
                what = "the token call" if minting else f"{body.get('server_name', 'the rollout')}"
                self.on_retry(f"{what}: attempt {attempt} of {attempts} failed ({retry.error}); "
                              f"nothing was started, retrying in {delay:.1f} s")
                self.sleep(delay)
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
        raw = self._post(path, params, body, minting)
        data = self._parse(raw, minting)
        errcode = int(data.get("errcode", 0))
        if errcode == 0:
            return data
        remedy = describe(errcode, table)
        errmsg = self._safe(str(data.get("errmsg", "")))
        if minting:
            error = ApiError(errcode, errmsg, f"{remedy} {NOT_STARTED}", title=TOKEN_CALL)
            raise _Retryable(error) if errcode == -1 else error
        if errcode == -1:
            raise _Retryable(ApiError(-1, errmsg, remedy))
        ambiguous = errcode == -1000
        if ambiguous:
            remedy = f"{remedy} {MAY_HAVE_STARTED}"
        raise ApiError(errcode, errmsg, remedy, may_have_started=ambiguous)

    def _post(self, path: str, params: dict[str, str], body: Mapping[str, Any], minting: bool) -> bytes:
        """One POST, bounded as a whole by timeout_seconds.

        Socket timeouts bound each read, not the reply: a server that trickles its
        headers or body could hold a call with read timeouts alone for hours. The
        call runs in a worker thread and is abandoned at the deadline; the calling
        thread stays free for the SIGTERM/SIGINT handler.
        """
        timeout = self.settings.timeout_seconds
        done = threading.Event()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["data"] = self._post_now(path, params, body, minting, box)
            except BaseException as error:  # handed over to the calling thread
                box["error"] = error
            finally:
                done.set()

        threading.Thread(target=work, name="cloudbase-rollout-call", daemon=True).start()
        try:
            finished = done.wait(timeout + DEADLINE_GRACE)
        except Cancelled as cancelled:
            _shutdown(box.get("response"))
            if minting:
                raise
            raise Cancelled(cancelled.signum, f"while waiting for {self._where()} to answer the rollout call. "
                            + MAY_HAVE_STARTED) from None
        except BaseException:
            _shutdown(box.get("response"))
            raise
        if not finished:
            _shutdown(box.get("response"))
            what = f"no complete reply from {self._where()} within timeout_seconds ({timeout:g} s)"
            if minting:
                raise TransportError(f"{what}. {NOT_STARTED}", may_have_started=False)
            raise TransportError(f"timed out: {what}; stopped waiting. {MAY_HAVE_STARTED}", may_have_started=True)
        if "error" in box:
            error: BaseException = box["error"]
            raise error
        data: bytes = box["data"]
        return data

    def _post_now(
        self, path: str, params: dict[str, str], body: Mapping[str, Any], minting: bool, box: dict[str, Any],
    ) -> bytes:
        url = self.settings.api_base_url + path
        timeout = self.settings.timeout_seconds
        started = time.monotonic()
        try:
            response = self.session.post(
                url, params=params, data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=(min(10.0, timeout), timeout), stream=True, proxies=self._proxies,
                allow_redirects=False,  # a redirect could resend the body, or send it over plain http
            )
        except requests.RequestException as error:
            raise self._transport(error, minting) from None
        box["response"] = response
        with response:
            try:
                data = _read_bounded(response, started + timeout)
            except _TooLarge:
                raise self._unreadable(f"a reply larger than {MAX_REPLY_BYTES} bytes (stopped reading)",
                                       minting) from None
            except requests.RequestException as error:
                raise self._transport(error, minting) from None
            self._check_status(response, data, minting)
        return data

    def _check_status(self, response: requests.Response, data: bytes, minting: bool) -> None:
        status = response.status_code
        if status == 200:
            return
        excerpt = self._safe(data.decode("utf-8", "replace"), 200)
        message = f"HTTP {status} from {self._where()}: {excerpt}"
        if 300 <= status < 400:
            location = self._safe(response.headers.get("Location", ""), 200)
            message = f"HTTP {status} from {self._where()}: a redirect to {location!r}, not followed (the API does " \
                      "not redirect; following could send the request twice or over plain http)"
        if status in RETRY_STATUS:
            raise _Retryable(TransportError(message, may_have_started=False),
                             _retry_after(response.headers.get("Retry-After")))
        if minting:
            raise TransportError(f"{message}. {NOT_STARTED}", may_have_started=False)
        ambiguous = 500 <= status < 600 and status != 501
        raise TransportError(message + (f". {MAY_HAVE_STARTED}" if ambiguous else ""),
                             may_have_started=ambiguous)

    def _safe(self, text: str, limit: int = 500) -> str:
        """Untrusted text for the log: secrets out first (so no cut can split one), then neutralized."""
        return neutralize(self.redact(text), limit)

    def _parse(self, raw: bytes, minting: bool) -> dict[str, Any]:
        text = raw.decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            excerpt = self._safe(text, 200)
            raise self._unreadable(f"a reply that is not a JSON object: {excerpt}", minting)
        code = data.get("errcode", 0 if minting else None)
        if isinstance(code, bool) or not isinstance(code, int):
            if minting:
                raise self._unreadable("a token reply with a non-integer errcode", minting)
        elif minting or code != 0:
            return data  # an error reply: its errcode is what the user must see, whatever else it holds
        problems = response_errors(data)
        if problems:
            raise self._unreadable("a reply that does not fit the API's response schema: "
                                   + self._safe("; ".join(problems), 300), minting)
        return data

    def _unreadable(self, what: str, minting: bool) -> TransportError:
        suffix = NOT_STARTED if minting else MAY_HAVE_STARTED
        return TransportError(f"{self._where()} sent {what}. {suffix}", may_have_started=not minting)

    def _transport(self, error: requests.RequestException, minting: bool) -> Exception:
        message = self._safe(_reason(error), 400)
        if _cert_rejected(error):  # the same certificate fails the same way on every attempt
            return TransportError(f"could not connect to {self._where()}: its TLS certificate was not accepted "
                                  f"({message}). Nothing was sent. Behind a TLS-inspecting proxy, point "
                                  "REQUESTS_CA_BUNDLE at the proxy's CA bundle.", may_have_started=False)
        if _not_sent(error):
            return _Retryable(TransportError(f"could not connect to {self._where()}: {message}",
                                             may_have_started=False))
        if isinstance(error, requests.exceptions.ContentDecodingError):
            return self._unreadable(f"a reply that cannot be decoded ({message})", minting)
        what = "timed out waiting for" if isinstance(error, requests.Timeout) else "lost the connection to"
        if minting:
            return TransportError(f"{what} {self._where()} ({message}). {NOT_STARTED}", may_have_started=False)
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
    """Connection refused, DNS, connect timeout, a failed TLS handshake: the body never left.

    requests' SSLError alone proves nothing: it also wraps TLS errors raised while
    reading the reply, after the request went out. Only a failure inside the
    handshake itself counts (see `_in_handshake`).
    """
    if isinstance(error, (requests.ConnectTimeout, requests.exceptions.ProxyError)):
        return True
    if _in_handshake(error):
        return True
    if isinstance(error, requests.ConnectionError) and not isinstance(
        error, (requests.Timeout, requests.exceptions.SSLError)
    ):
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        reason = error.args[0] if error.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        return isinstance(reason, NewConnectionError)
    return False


def _causes(error: BaseException) -> list[BaseException]:
    """An error and every error it explicitly wraps, depth first: `raise ... from`, urllib3's
    `reason`, and args. Never __context__, so an unrelated earlier error cannot make a failure
    after the request was sent look retryable."""
    found: list[BaseException] = []

    def visit(node: BaseException) -> None:
        if len(found) >= 20 or any(node is seen for seen in found):
            return
        found.append(node)
        for linked in (node.__cause__, getattr(node, "reason", None), *node.args):
            if isinstance(linked, BaseException):
                visit(linked)

    visit(error)
    return found


def _reason(error: BaseException) -> str:
    """The root cause in a few words ('[Errno 111] Connection refused'), not urllib3's pool wording."""
    root = _causes(error)[-1]
    text = re.sub(r"^\w+\(host=[^)]*\):\s*", "", str(root)) or type(root).__name__
    return f"{type(root).__name__}: {text}"


def _cert_rejected(error: BaseException) -> bool:
    return any(isinstance(cause, ssl.SSLCertVerificationError) for cause in _causes(error))


def _in_handshake(error: BaseException) -> bool:
    """True when a failure was raised inside a TLS handshake (`do_handshake`)."""
    for cause in _causes(error):
        tb = cause.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_name == "do_handshake":
                return True
            tb = tb.tb_next
    return False


def _shutdown(response: requests.Response | None) -> None:
    """Best effort: unblock a worker still reading an abandoned reply."""
    if response is None:
        return
    with contextlib.suppress(Exception):  # the attempt has already failed
        response.raw.shutdown()


class _TooLarge(Exception):
    pass


def _read_bounded(response: requests.Response, deadline: float) -> bytes:
    """At most MAX_REPLY_BYTES, within the attempt's deadline, whatever the server sends."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise _TooLarge
        if time.monotonic() > deadline:
            raise requests.exceptions.ReadTimeout("the reply did not finish within timeout_seconds")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), RETRY_AFTER_CAP)
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None


def _with_attempts(error: RolloutError, attempts: int) -> RolloutError:
    if attempts > 1 and isinstance(error, ApiError):
        error.attempts = attempts
    elif attempts > 1 and isinstance(error, TransportError):
        return TransportError(str(error), may_have_started=error.may_have_started, attempts=attempts)
    return error
