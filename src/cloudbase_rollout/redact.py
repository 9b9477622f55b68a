"""Keep secrets out of every line we print, like pip's redact_auth_from_url.

One Redactor lives for the whole process; every secret is registered the moment
it is known (inputs, minted tokens), and every outgoing text passes through it.
"""

from __future__ import annotations

import re

_QUERY_SECRET = re.compile(
    r"(?i)((?:access_token|component_access_token|component_appsecret|component_verify_ticket)"
    r"(?:=[\"']?|%3D|\"\s*:\s*\"|'\s*:\s*'))[^&\s\"'<>]+"
)
MASK = "***"


class Redactor:
    """Replace every registered secret (and any token-shaped query value) by ***."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return _QUERY_SECRET.sub(rf"\1{MASK}", text)


def neutralize(text: str, limit: int = 500) -> str:
    """Make untrusted server text printable on one line that cannot start a runner command.

    Control characters (newlines included) become escapes, so nothing after them can
    begin a line; `::` and `##[` lose their meaning to the runner's command parser.
    """
    text = text[:limit] + ("..." if len(text) > limit else "")
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code < 0xA0 or ch in "\u2028\u2029":
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out).replace("::", ":\u200b:").replace("##[", "#\u200b#[")
