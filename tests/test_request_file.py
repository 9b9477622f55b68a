"""request_file comes from the repository, so from a pull request: it must never hang or exhaust the step.

git stores symlinks, so a request_file can point at /dev/zero, a FIFO or a directory; it can also be a
sparse file claiming gigabytes, or not be UTF-8. Each must end fast in a problem that names request_file
and the path and says what is accepted. The dangerous cases run in a child process with an address-space
limit and a timeout, so a regression fails the test instead of eating the machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloudbase_rollout.inputs import request

ACCEPTED = "a regular JSON file in the workspace, at most 1 MiB"
MIB = 1 << 20
#: The child gets this much address space: plenty for Python, far less than reading /dev/zero wants.
ADDRESS_SPACE = 512 * MIB
TIMEOUT = 30

CHILD = """
import json, os, resource, sys
from pathlib import Path
from cloudbase_rollout.inputs import request
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[3]), int(sys.argv[3])))
if len(sys.argv) > 4:  # a swap between the check and the open: the check sees a regular file
    swapped, real_stat = os.fspath(Path(sys.argv[2]) / sys.argv[1]), os.stat
    os.stat = lambda path, *args, **kwargs: real_stat(sys.argv[4] if os.fspath(path) == swapped else path,
                                                      *args, **kwargs)
built = request.build({"request_file": sys.argv[1]}, {}, Path(sys.argv[2]))
print(json.dumps([str(p) for p in built.problems]))
"""


def problems(workspace: Path, name: str) -> list[str]:
    """The problems of a build from request_file alone, in this process."""
    return [str(p) for p in request.build({"request_file": name}, {}, workspace).problems]


def problems_in_child(workspace: Path, name: str, *stat_as: str) -> list[str]:
    """As problems(), in a child with limited memory that is killed when it does not finish in time.

    With stat_as, os.stat in the child answers for that file instead (a path swapped after the check)."""
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, name, str(workspace), str(ADDRESS_SPACE), *stat_as],
                              capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading request_file {name} did not finish in {TIMEOUT} s")
    assert proc.returncode == 0, f"the build crashed instead of reporting a problem:\n{proc.stderr[-2000:]}"
    found: list[str] = json.loads(proc.stdout)
    return found


def assert_refused(found: list[str], path: Path, *fragments: str) -> None:
    [problem] = found
    assert problem.startswith("request_file: "), problem
    assert str(path) in problem, problem
    assert ACCEPTED in problem, problem
    for fragment in fragments:
        assert fragment in problem, problem


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a Unix socket's path must fit in about 100 bytes."""
    with tempfile.TemporaryDirectory(prefix="rf-") as name:
        yield Path(name)


@pytest.mark.process
def test_a_symlink_to_dev_zero_is_refused_fast(tmp_path: Path) -> None:
    (tmp_path / "r.json").symlink_to("/dev/zero")
    assert_refused(problems_in_child(tmp_path, "r.json"), tmp_path / "r.json", "character device")


@pytest.mark.process
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "r.json")
    assert_refused(problems_in_child(tmp_path, "r.json"), tmp_path / "r.json", "FIFO")


@pytest.mark.process
def test_a_symlink_to_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "r.json").symlink_to(tmp_path / "pipe")
    assert_refused(problems_in_child(tmp_path, "r.json"), tmp_path / "r.json", "FIFO")


@pytest.mark.process
@pytest.mark.parametrize("make", [os.mkfifo, os.mkdir], ids=["fifo", "directory"])
def test_a_swap_after_the_check_is_caught_after_the_open(tmp_path: Path, make: Callable[[Path], None]) -> None:
    (tmp_path / "real.json").write_text("{}")
    make(tmp_path / "r.json")
    found = problems_in_child(tmp_path, "r.json", str(tmp_path / "real.json"))
    assert_refused(found, tmp_path / "r.json", "not a regular file")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r.json").mkdir()
    assert_refused(problems(tmp_path, "r.json"), tmp_path / "r.json", "directory")


@pytest.mark.process
def test_a_socket_is_refused(short_dir: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(short_dir / "s"))
        assert_refused(problems_in_child(short_dir, "s"), short_dir / "s", "socket")


def test_one_byte_over_1_mib_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_bytes(b"{}" + b" " * (MIB - 1))
    assert_refused(problems(tmp_path, "r.json"), tmp_path / "r.json", "larger than 1 MiB")


def test_exactly_1_mib_is_accepted(tmp_path: Path) -> None:
    text = json.dumps({"custom_logs": "stdout"})
    (tmp_path / "r.json").write_text(text + " " * (MIB - len(text)))
    built = request.build({"request_file": "r.json"}, {}, tmp_path)
    assert built.problems == []
    assert built.body["custom_logs"] == "stdout"


@pytest.mark.process
def test_a_sparse_file_claiming_a_huge_size_is_refused_fast(tmp_path: Path) -> None:
    with (tmp_path / "r.json").open("wb") as handle:
        handle.write(b"{}")
        handle.truncate(1 << 40)  # 1 TiB of holes: no disk used
    assert_refused(problems_in_child(tmp_path, "r.json"), tmp_path / "r.json", "larger than 1 MiB")


@pytest.mark.parametrize("content", [b'{"custom_logs": "\xff"}', b"\xef\xbb", b'{"a": "\xed\xa0\x80"}'])
def test_content_that_is_not_utf8_is_a_clear_problem(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "r.json").write_bytes(content)
    assert_refused(problems(tmp_path, "r.json"), tmp_path / "r.json", "not UTF-8")


def test_the_first_bad_byte_is_named_at_its_offset_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_bytes(b"\xef\xbb\xbf{}\xfe")
    assert_refused(problems(tmp_path, "r.json"), tmp_path / "r.json", "byte 0xfe at offset 5")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """Editors on Windows write one; RFC 8259 lets a parser ignore it."""
    (tmp_path / "r.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"custom_logs": "stdout"}).encode())
    built = request.build({"request_file": "r.json"}, {}, tmp_path)
    assert built.problems == []
    assert built.body["custom_logs"] == "stdout"


def test_a_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text(json.dumps({"custom_logs": "stdout"}))
    (tmp_path / "r.json").symlink_to("real.json")
    built = request.build({"request_file": "r.json"}, {}, tmp_path)
    assert built.problems == []
    assert built.body["custom_logs"] == "stdout"


def test_a_dangling_symlink_does_not_exist(tmp_path: Path) -> None:
    (tmp_path / "r.json").symlink_to("gone.json")
    [problem] = problems(tmp_path, "r.json")
    assert problem.startswith("request_file: ") and "does not exist" in problem, problem
