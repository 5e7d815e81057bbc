"""Unpacking a downloaded archive into the data root, member by member, by the registry's rules.

Only regular files whose names match an extract rule are written, each to the path its rule
gives (so the layout under the data root is the documented one, whatever folder names the
archive uses); links, devices and unmatched members are skipped, and a rule that would write
outside the data root is refused. Every file appears whole or not at all (written to a
temporary name and renamed, :mod:`restorelab.atomic`), and a file already there with the
member's size is kept, so an interrupted extraction resumes where it stopped.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from restorelab.atomic import atomic_path
from restorelab.data.progress import progress_bar
from restorelab.data.registry import Archive
from restorelab.errors import DataError

#: A member: its name in the archive, its size, and how to open its bytes.
Member = tuple[str, int, Callable[[], IO[bytes]]]
#: Exceptions a damaged archive raises while being read (an ``OSError`` with an errno is the
#: disk's, e.g. a full one; gzip, bz2 and lzma report bad data as ``OSError`` without one).
ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError)


@contextmanager
def _members(path: Path) -> Iterator[tuple[int | None, Iterator[Member]]]:
    """``(count or None, members)`` of a zip or tar file (any compression tarfile reads)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            infos = [
                info
                for info in archive.infolist()
                if not info.is_dir() and not stat.S_ISLNK(info.external_attr >> 16)
            ]

            def zip_members() -> Iterator[Member]:
                for info in infos:
                    yield info.filename, info.file_size, partial(archive.open, info)

            yield len(infos), zip_members()
        return
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the `with tar` below
    except tarfile.TarError:
        raise DataError(f"{path} is neither a zip nor a tar archive") from None
    with tar:

        def tar_members() -> Iterator[Member]:
            for info in tar:
                if info.isreg():
                    yield info.name, info.size, partial(_open_tar_member, tar, info)

        yield None, tar_members()


def _open_tar_member(tar: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    stream = tar.extractfile(info)
    assert stream is not None  # regular files always have one
    return stream


def _target(root: Path, relative: str, member: str, archive: Path) -> Path:
    """``root / relative``, refused when it would leave ``root`` (``..``, absolute paths)."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
        raise DataError(
            f"{archive.name}: member {member!r} would be written to {relative!r}, outside the "
            f"data root {root}; refusing it"
        )
    return root.joinpath(*parts)


def extract(path: Path, archive: Archive, root: Path) -> int:
    """Write the members of ``path`` that ``archive``'s rules place under ``root``.

    Returns:
        How many files the archive holds for the data root (written now or already there).

    Raises:
        DataError: the archive is damaged, a rule points outside ``root``, or no member
            matches any rule (the archive's layout is not the one the registry describes).
    """
    placed = 0
    seen: list[str] = []
    try:
        with (
            _members(path) as (count, members),
            progress_bar(f"extracting {path.name}", count) as bar,
        ):
            for name, size, open_member in members:
                bar.advance()
                name = name.removeprefix("./")
                if len(seen) < 3:
                    seen.append(name)
                relative = archive.destination(name)
                if relative is None:
                    continue
                target = _target(root, relative, name, path)
                placed += 1
                if target.is_file() and target.stat().st_size == size:
                    continue
                with atomic_path(target, fsync=False) as tmp, open(tmp, "wb") as out:
                    source = open_member()
                    with source:
                        shutil.copyfileobj(source, out)
    except ARCHIVE_ERRORS as e:
        if isinstance(e, OSError) and e.errno is not None:  # the disk, not the archive
            raise DataError(f"extracting {path.name} into {root}: {e}") from e
        raise DataError(f"archive {path} is damaged or truncated: {e}") from e
    if placed == 0:
        raise DataError(
            f"archive {path}: none of its files matches the registry's extract rules "
            f"(its first files: {', '.join(seen) or 'none'}); the archive's layout changed?"
        )
    return placed
