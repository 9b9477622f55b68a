"""Parse an image reference (the distribution/reference grammar) into image_info."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?"
TAG = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*\Z")
_DOMAIN_RE = re.compile(rf"{_DOMAIN}\Z")
#: A reference CloudBase can pull, for messages.
EXAMPLE = "ccr.ccs.tencentyun.com/NAMESPACE/REPO:TAG"


@dataclass(frozen=True)
class ImageRef:
    server_addr: str | None
    repository_name: str
    tag: str | None
    digest: str | None

    @property
    def image_url(self) -> str:
        host = f"{self.server_addr}/" if self.server_addr else ""
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{host}{self.repository_name}{tag}{digest}"

    def with_tag(self, tag: str) -> ImageRef:
        if not TAG.match(tag):
            raise ValueError(f"{tag!r} is not an image tag; expected letters, digits, _ . - "
                             "(up to 128, not starting with . or -)")
        if self.digest:
            raise ValueError("cannot set a tag on an image pinned by digest; drop the @sha256:... part or image_tag")
        return replace(self, tag=tag)

    def image_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"repository_name": self.repository_name, "image_url": self.image_url}
        if self.server_addr:
            info["server_addr"] = self.server_addr
        if self.tag:
            info["tag_name"] = self.tag
        return info


def parse(reference: str) -> ImageRef:
    """Split HOST[:PORT]/PATH[:TAG][@DIGEST]; raise ValueError naming what is wrong."""
    text = reference.strip()
    if not text or len(text) > 1024 or any(c.isspace() for c in text):
        raise ValueError(f"{reference!r} is not an image reference; expected e.g. ccr.ccs.tencentyun.com/ns/app:v1")
    if "://" in text:
        raise ValueError(f"{reference!r} has a URL scheme; write the reference without it, e.g. "
                         "ccr.ccs.tencentyun.com/ns/app:v1")
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"digest {digest!r} is not valid; expected e.g. sha256:<64 hex digits>")
    server, path = _split_domain(name)
    tag = None
    if ":" in path:
        path, tag = path.rsplit(":", 1)
        if not TAG.match(tag):
            raise ValueError(f"tag {tag!r} is not valid; expected letters, digits, _ . - (up to 128)")
    if not _PATH.match(path) or len(name) > 255:
        raise ValueError(f"repository {path!r} is not valid; expected lowercase path components such as ns/app")
    return ImageRef(server, path, tag, digest or None)


def _split_domain(name: str) -> tuple[str | None, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        if not _DOMAIN_RE.match(first):
            raise ValueError(f"registry host {first!r} is not valid")
        return first, rest
    return None, name
