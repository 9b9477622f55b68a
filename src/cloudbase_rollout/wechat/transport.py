"""One bounded POST: the reply, or a typed failure (not sent, sent without a reply, timed out).

Layering follows requests (api -> Session -> HTTPAdapter). The token travels only in
the query string; every text this module puts in an error has been through the
Redactor and `neutralize`, so no URL, exception or excerpt can carry it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from cloudbase_rollout import __version__
from cloudbase_rollout.errors import Cancelled, TransportError
from cloudbase_rollout.redact import Redactor, neutralize
from cloudbase_rollout.words import Input

MAX_REPLY_BYTES = 1 << 20
#: How long past timeout_seconds an attempt may take before it is abandoned.
DEADLINE_GRACE = 0.5


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: Mapping[str, str]
    data: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "") or "no Content-Type"


class Transport:
    """POSTs JSON to one base URL; safe to share across threads (one connection pool)."""

    def __init__(self, base_url: str, timeout: float, redactor: Redactor, pool_size: int = 10) -> None:
        self.base_url, self.timeout, self.redact = base_url, timeout, redactor
        self.session = _session(pool_size)
        host = urlsplit(base_url).hostname or ""
        no_proxy = {"http": None, "https": None, "all": None}
        self._proxies: dict[str, Any] = no_proxy if is_loopback(host) else {}

    def safe(self, text: str, limit: int = 500) -> str:
        """Untrusted text for the log: secrets out first (so no cut can split one), then neutralized."""
        return neutralize(self.redact(text), limit)

    def post(self, path: str, params: Mapping[str, str], body: Mapping[str, Any]) -> HttpReply:
        """One POST, bounded as a whole by the timeout.

        Socket timeouts bound each read, not the reply: a server that trickles its
        headers or body could hold a call with read timeouts alone for hours. The
        call runs in a worker thread and is abandoned at the deadline; the calling
        thread stays free for the SIGTERM/SIGINT handler.
        """
        done = threading.Event()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["reply"] = self._post_now(path, params, body, box)
            except BaseException as error:  # handed over to the calling thread
                box["error"] = error
            finally:
                done.set()

        threading.Thread(target=work, name="cloudbase-rollout-call", daemon=True).start()
        try:
            finished = done.wait(self.timeout + DEADLINE_GRACE)
        except BaseException:  # Cancelled, KeyboardInterrupt: unblock the worker, then go
            _shutdown(box.get("response"))
            raise
        if not finished:
            _shutdown(box.get("response"))
            raise TransportError((f"timed out: no complete reply from {self.base_url} within ",
                                  Input("timeout_seconds"), f" ({self.timeout:g} s); stopped waiting"),
                                 kind="timed_out")
        if "error" in box:
            error: BaseException = box["error"]
            raise error
        reply: HttpReply = box["reply"]
        return reply

    def _post_now(self, path: str, params: Mapping[str, str], body: Mapping[str, Any],
                  box: dict[str, Any]) -> HttpReply:
        started = time.monotonic()
        try:
            response = self.session.post(
                self.base_url + path, params=dict(params),
                data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=(min(10.0, self.timeout), self.timeout), stream=True, proxies=self._proxies,
                allow_redirects=False,  # a redirect could resend the body, or send it over plain http
            )
        except requests.RequestException as error:
            raise self.failure(error) from None
        box["response"] = response
        with response:
            try:
                data = _read_bounded(response, started + self.timeout)
            except _TooLarge:
                raise TransportError(f"{self.base_url} sent a reply larger than {MAX_REPLY_BYTES} bytes "
                                     "(stopped reading)", kind="no_reply") from None
            except requests.RequestException as error:
                raise self.failure(error) from None
            return HttpReply(response.status_code, response.headers, data)  # case-insensitive, as HTTP

    def failure(self, error: requests.RequestException) -> TransportError:
        """What a requests exception means for the call: was the body sent?"""
        message = self.safe(_reason(error), 400)
        where = self.base_url
        if _cert_rejected(error):  # the same certificate fails the same way on every attempt
            return TransportError(f"could not connect to {where}: its TLS certificate was not accepted "
                                  f"({message}). Nothing was sent. Behind a TLS-inspecting proxy, point "
                                  "REQUESTS_CA_BUNDLE at the proxy's CA bundle", kind="cert")
        if _not_sent(error):
            return TransportError(f"could not connect to {where}", message, kind="not_sent")
        if isinstance(error, requests.exceptions.ContentDecodingError):
            return TransportError(f"{where} sent a reply that cannot be decoded ({message})", kind="no_reply")
        if isinstance(error, requests.Timeout):
            return TransportError(f"timed out waiting for {where} after sending the request ({message})",
                                  kind="timed_out")
        return TransportError(f"lost the connection to {where} after sending the request ({message})",
                              kind="no_reply")


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


__all__ = ["MAX_REPLY_BYTES", "Cancelled", "HttpReply", "Transport"]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: where plain http may carry the token and no proxy is used."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
