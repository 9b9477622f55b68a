"""Read request_file: a JSON object from the workspace, with a hard byte cap whatever the file is.

The file comes from the repository, so from any pull request: git stores symlinks, and one to
/dev/zero, a FIFO or a huge sparse file must end in a problem, not a hang or a MemoryError.
`read_text` is that reader for any workspace file input (targets_file too), each with its own
byte limit and the words it says with a refusal.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from cloudbase_rollout.errors import Problem
from cloudbase_rollout.jsontext import loads
from cloudbase_rollout.words import Input

MAX_REQUEST_FILE = 1 << 20
#: What request_file accepts, said with every refusal.
REQUEST_FILE_ACCEPTS = "a regular JSON file in the workspace, at most 1 MiB"
#: Never blocks on a FIFO, never makes a terminal ours; binary on Windows. (0 where the OS lacks the flag.)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read(name: str, workspace: Path, problems: list[Problem]) -> dict[str, Any]:
    """The body in request_file; each problem joins `problems` and gives {}."""
    path = workspace_path(name, workspace)
    text = read_text(name, workspace, problems)
    if text is None:
        return {}
    try:
        data = loads(text)
    except ValueError as error:
        problems.append(Problem("request_file", f"{path} cannot be read as JSON: {error}"))
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        problems.append(Problem("request_file", f"{path} holds {kind}; expected a JSON object (a request body)"))
        return {}
    if "access_token" in data:
        problems.append(Problem(f"request_file {name.strip()}", (
            "must not hold access_token; pass the token as the ", Input("access_token"), " input, from a secret")))
        data.pop("access_token")
    return data


def workspace_path(name: str, workspace: Path) -> Path:
    """Where a file input points: a relative name is in the workspace."""
    path = Path(name.strip())
    return path if path.is_absolute() else workspace / path


def read_text(name: str, workspace: Path, problems: list[Problem], *, label: str = "request_file",
              limit: int = MAX_REQUEST_FILE, accepts: str = REQUEST_FILE_ACCEPTS) -> str | None:
    """The UTF-8 text of the workspace file `name`, at most `limit` bytes; None when it cannot be
    read, its problem (named `label`, saying `accepts`) joining `problems`.

    One reader for every file input, so each gets the same refusals (symlinks out of the
    workspace, FIFOs, devices, huge files) and only its own limit and words differ.
    """
    path = workspace_path(name, workspace)
    try:
        return _file_text(path, workspace, limit)
    except FileNotFoundError:
        problems.append(Problem(label, f"{path} does not exist; expected {accepts}"))
    except _Refused as error:
        problems.append(Problem(label, f"{_describe(path)} {error}; expected {accepts}"))
    except OSError as error:
        problems.append(Problem(label, f"{path} cannot be read: {error}"))
    return None


class _Refused(Exception):
    """The file is not something to read: its message says what it is instead."""


def _file_text(path: Path, workspace: Path, limit: int) -> str:
    """The file's text, read with a hard cap whatever the file claims to be.

    The file comes from the repository, so from any pull request: git stores symlinks, and one
    to /dev/zero, a FIFO or a huge sparse file must end in a problem, not a hang or a MemoryError.
    """
    _require_regular(os.stat(path).st_mode)  # before open: opening a FIFO or a device can block or act
    _require_inside(path, workspace)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        _require_regular(os.fstat(fd).st_mode)  # the path may have been swapped since the stat
        raw = _read_at_most(fd, limit + 1)
    finally:
        os.close(fd)
    if len(raw) > limit:
        raise _Refused(f"is larger than {size_text(limit)}")
    try:
        return raw.decode("utf-8-sig")  # a byte order mark is allowed (RFC 8259 lets parsers ignore it)
    except UnicodeDecodeError as error:  # its positions count from after a byte order mark
        offset = len(raw) - len(error.object) + error.start
        raise _Refused(f"is not UTF-8 text (byte 0x{raw[offset]:02x} at offset {offset})") from None


def size_text(limit: int) -> str:
    """A byte limit as people say it: 1 MiB, 8 MiB, 512 KiB, 100 bytes."""
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if limit >= 1 << shift and limit % (1 << shift) == 0:
            return f"{limit >> shift} {unit}"
    return f"{limit} bytes"


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(limit - size, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _require_inside(path: Path, workspace: Path) -> None:
    """The file, after every symlink, must be in the workspace: a symlink committed in a pull request
    (or ../) must not read the runner's other files, whose values problems would echo."""
    real, home = os.path.realpath(path), os.path.realpath(workspace)
    if os.path.commonpath([real, home]) != home:
        raise _Refused(f"is outside the workspace {home}")


def _require_regular(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "something else")
    raise _Refused(f"is {kind}, not a regular file")


def _describe(path: Path) -> str:
    """The path, and where it leads when it is a symlink (the usual way to smuggle in a device)."""
    return f"{path} (a symlink to {os.path.realpath(path)})" if path.is_symlink() else str(path)
