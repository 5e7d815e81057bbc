"""restorelab.atomic: every writer leaves the whole file or the old one, with the umask's mode."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from restorelab import atomic
from restorelab.atomic import (
    atomic_path,
    atomic_write,
    atomic_write_text,
    check_writable,
    current_umask,
)
from restorelab.errors import WriteError
from restorelab.runs.info import write_run_info
from restorelab.training.callbacks import AtomicCheckpointIO
from tests.helpers import make_unwritable

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
UMASKS = [(0o022, 0o644), (0o002, 0o664)]


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Set the process umask to the test's parameter and restore it afterwards."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
@pytest.mark.parametrize(("umask", "want"), UMASKS, indirect=["umask"])
def test_text_file_mode_follows_umask(tmp_path: Path, umask: int, want: int) -> None:
    path = atomic_write_text(tmp_path / "sub" / "metrics.json", "{}\n")
    assert path.read_text() == "{}\n"
    assert mode(path) == want
    assert current_umask() == umask


@posix_only
@pytest.mark.parametrize(("umask", "want"), UMASKS, indirect=["umask"])
def test_checkpoint_mode_follows_umask(tmp_path: Path, umask: int, want: int) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(2)}}, path)
    assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], torch.ones(2))
    assert mode(path) == want


@posix_only
@pytest.mark.parametrize(("umask", "want"), UMASKS, indirect=["umask"])
def test_run_info_mode_follows_umask(tmp_path: Path, umask: int, want: int) -> None:
    path = write_run_info(tmp_path, {"git_commit": "abc", "_diff": "diff --git a b\n"})
    assert json.loads(path.read_text())["git_commit"] == "abc"
    assert mode(path) == want
    assert mode(tmp_path / "git_diff.patch") == want


@posix_only
@pytest.mark.parametrize(("umask", "want"), UMASKS, indirect=["umask"])
def test_atomic_path_mode_follows_umask(tmp_path: Path, umask: int, want: int) -> None:
    """Writers that want a file name (ONNX, safetensors) get the same mode."""
    dest = tmp_path / "model.onnx"
    with atomic_path(dest, suffix=".part") as tmp:
        tmp.write_bytes(b"model")
    assert dest.read_bytes() == b"model" and mode(dest) == want


@posix_only
def test_umask_without_proc_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where /proc is missing, the set-and-restore read gives the same answer and restores it."""
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(atomic, "_PROC_STATUS", "/nonexistent/status")
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # left as it was
    finally:
        os.umask(old)


def test_failing_write_keeps_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "run_info.json"
    atomic_write_text(path, "old\n")

    def half_then_fail(f: object) -> None:
        f.write(b"half a fi")  # type: ignore[attr-defined]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_info.json"]


def test_interrupted_checkpoint_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"v": 1}, path)

    def interrupted(obj: object, f: object, *args: object, **kwargs: object) -> None:
        f.write(b"partial")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"v": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_failing_rename_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")

    def no_replace(src: object, dst: object) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(WriteError, match=rf"^cannot write {re.escape(str(path))}: read-only$"):
        atomic_write_text(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_bytes_and_text_round_trip(tmp_path: Path) -> None:
    assert atomic.atomic_write_bytes(tmp_path / "b.bin", b"\x00\xff").read_bytes() == b"\x00\xff"
    text = "line\r\nünïcode\n"
    assert atomic_write_text(tmp_path / "t.txt", text).read_bytes() == text.encode()


def test_disk_full_mid_write_names_the_destination(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    atomic_write(path, b"old checkpoint")

    def fills_the_disk(f: object) -> None:
        f.write(b"the first megabyte")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WriteError) as err:
        atomic_write(path, fills_the_disk)
    assert str(err.value) == f"cannot write {path}: No space left on device"
    assert isinstance(err.value, OSError) and err.value.errno == errno.ENOSPC
    assert err.value.filename == str(path)  # the destination, not the temporary file
    assert path.read_bytes() == b"old checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_unwritable_folder_is_a_write_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    make_unwritable(folder, monkeypatch)
    with pytest.raises(WriteError, match=rf"^cannot write {re.escape(str(folder))}/m\.json: Perm"):
        atomic_write_text(folder / "m.json", "{}")
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(WriteError, match=r"^cannot write .*file/sub/m\.json: Not a directory$"):
        atomic_write_text(blocked / "sub" / "m.json", "{}")


def test_check_writable_creates_the_folder_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    check_writable(folder)
    assert folder.is_dir() and list(folder.iterdir()) == []
    (tmp_path / "taken").write_text("x")
    with pytest.raises(NotADirectoryError, match="Not a directory"):
        check_writable(tmp_path / "taken")
    with pytest.raises(NotADirectoryError, match="Not a directory"):
        check_writable(tmp_path / "taken" / "sub")


def test_check_writable_refuses_a_read_only_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    make_unwritable(folder, monkeypatch)
    with pytest.raises(PermissionError) as err:
        check_writable(folder)
    assert err.value.strerror == "Permission denied"
    with pytest.raises(PermissionError):
        check_writable(folder / "new")
