"""``restorelab-data download``: fetch a registered data set, verify it, unpack it.

Files under the data root (``ROOT``)::

    ROOT/downloads/FILE.partial   a transfer in progress; the next run resumes it (HTTP Range)
    ROOT/downloads/FILE           the complete archive, renamed from .partial once verified
    ROOT/downloads/FILE.bad       an archive whose checksum or size was wrong, kept to look at
    ROOT/downloads/FILE.sha256    the archive's sha256, as computed (``sha256sum -c`` reads it)
    ROOT/downloads/FILE.extracted its members are all in place (the run skips it next time)
    ROOT/<layout>/...             the images, where the registry's extract rules put them

A run does only what is missing, so running it again after an interruption (or on a finished
data set) is always safe. Transfers use the standard library (``urllib``); an interrupted one
is retried ``retries`` times from where it stopped before the run gives up, keeping the
``.partial`` file for the next run.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from restorelab.atomic import atomic_write_text
from restorelab.data.extract import extract
from restorelab.data.progress import Bar, progress_bar
from restorelab.data.registry import Archive, Entry
from restorelab.errors import DataError

#: Environment variable naming the data root (also read by ``conf/paths/default.yaml``).
DATA_ROOT_ENV = "RESTORELAB_DATA"
#: The data root when neither ``--root`` nor ``RESTORELAB_DATA`` is given (relative to the cwd).
DEFAULT_DATA_ROOT = "data"
USER_AGENT = "restorelab-data (https://github.com/restorelab)"
#: HTTP statuses worth retrying: the server may answer next time.
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
#: errnos of a dropped connection, as opposed to the disk's (full, read-only).
NETWORK_ERRNOS = {
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.ETIMEDOUT,
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
}


@dataclass(frozen=True)
class DownloadOptions:
    """How patient a download is (the command-line options of ``restorelab-data download``).

    Args:
        retries: further attempts after a dropped or failed transfer, each resuming it.
        timeout_s: seconds a connection may stay silent before it counts as dropped.
        retry_wait_s: pause before each retry (doubled every time).
        chunk_bytes: bytes read and written at a time.
        delete_archives: delete each archive once unpacked (its .sha256 and .extracted stay,
            so later runs know the data set is complete without it).
    """

    retries: int = 3
    timeout_s: float = 60.0
    retry_wait_s: float = 5.0
    chunk_bytes: int = 1 << 20
    delete_archives: bool = False


def data_root(root: str | Path | None = None) -> Path:
    """``root``, else ``$RESTORELAB_DATA``, else ``./data``: where data sets live."""
    chosen = root if root not in (None, "") else os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT
    return Path(chosen).expanduser()  # type: ignore[arg-type]


class _Interrupted(Exception):
    """A transfer that stopped early (connection dropped, timed out, server error)."""


def _digests(path: Path, kinds: set[str], chunk: int) -> dict[str, str]:
    hashes = {kind: hashlib.new(kind) for kind in kinds | {"sha256"}}
    with open(path, "rb") as f:
        while block := f.read(chunk):
            for h in hashes.values():
                h.update(block)
    return {kind: h.hexdigest() for kind, h in hashes.items()}


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """``(first byte, total)`` of a ``Content-Range: bytes A-B/T`` (or ``bytes */T``) header."""
    found = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not found:
        return None, None
    first, total = found.groups()
    return (int(first) if first else None), (int(total) if total != "*" else None)


def _attempt(archive: Archive, partial: Path, options: DownloadOptions, bar: Bar) -> bool:
    """One request for the rest of ``partial``; True once the whole file is there."""
    assert archive.url is not None
    url = archive.url
    have = partial.stat().st_size if partial.exists() else 0
    if archive.size is not None and have >= archive.size:
        if have == archive.size:
            return True
        partial.unlink()  # longer than the file can be: not a prefix of it
        have = 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=options.timeout_s)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing after byte `have`: complete, or not this file
            _, total = _content_range(e.headers.get("Content-Range"))
            if total == have:
                return True
            partial.unlink()
            raise _Interrupted(f"the server has no byte {have} of it; starting again") from e
        if e.code in RETRY_STATUSES:
            raise _Interrupted(f"HTTP {e.code} {e.reason}") from e
        raise DataError(f"downloading {url}: HTTP {e.code} {e.reason}") from None
    except (OSError, http.client.HTTPException) as e:
        raise _Interrupted(str(e) or type(e).__name__) from e
    with response:
        first, total = _content_range(response.headers.get("Content-Range"))
        if response.status == 206 and first != have:
            partial.unlink(missing_ok=True)
            raise _Interrupted(f"the server resumed at byte {first}, not {have}; starting again")
        if response.status != 206:
            have, total = 0, None  # the whole file (a server that ignores Range sends it all)
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        if total is None and expected is not None:
            total = have + expected
        bar.update(completed=have, total=total)
        received = 0
        try:
            with open(partial, "ab" if have else "wb") as out:
                while block := response.read(options.chunk_bytes):
                    out.write(block)
                    received += len(block)
                    bar.advance(len(block))
        except (OSError, http.client.HTTPException) as e:
            if isinstance(e, OSError) and e.errno is not None and not _network_errno(e):
                raise DataError(f"writing {partial}: {e}") from e
            raise _Interrupted(f"{type(e).__name__}: {e}") from e
    if expected is not None and received < expected:
        raise _Interrupted(f"the connection closed after {have + received} bytes")
    return True


def _network_errno(error: OSError) -> bool:
    """True for the errno of a dropped connection (not a full or read-only disk)."""
    return error.errno in NETWORK_ERRNOS


def fetch(archive: Archive, downloads: Path, options: DownloadOptions) -> Path:
    """Download ``archive`` into ``downloads/FILE.partial``, resuming what is there."""
    assert archive.url is not None
    partial = downloads / f"{archive.file}.partial"
    downloads.mkdir(parents=True, exist_ok=True)
    wait = options.retry_wait_s
    with progress_bar(archive.file, archive.size, unit="bytes") as bar:
        for attempt in range(options.retries + 1):
            try:
                if _attempt(archive, partial, options, bar):
                    return partial
            except _Interrupted as e:
                have = partial.stat().st_size if partial.exists() else 0
                if attempt == options.retries:
                    raise DataError(
                        f"downloading {archive.file} stopped after {have} bytes ({e}); the "
                        f"partial file is kept as {partial}: run the command again to resume"
                    ) from None
                time.sleep(wait)
                wait *= 2
    return partial  # not reached: the loop returns or raises


def verify(path: Path, archive: Archive, options: DownloadOptions) -> str:
    """Check ``path`` against the registry's size and checksums; return its sha256.

    A file that fails is renamed to ``FILE.bad`` (kept for a look, never used). A file the
    registry has no checksum for passes with a warning: its sha256 is recorded instead.
    """
    final = path.parent / archive.file
    size = path.stat().st_size
    problem = None
    if archive.size is not None and size != archive.size:
        problem = f"it has {size} bytes, the registry says {archive.size}"
    digests = _digests(path, set(archive.digests), options.chunk_bytes)
    for kind, expected in archive.digests.items():
        if problem is None and digests[kind] != expected:
            problem = f"its {kind} is {digests[kind]}, the registry says {expected}"
    if problem is not None:
        bad = path.parent / f"{archive.file}.bad"
        os.replace(path, bad)
        raise DataError(
            f"{archive.file} failed verification: {problem}; kept as {bad} (delete it and run "
            "again to download it anew)"
        )
    if path != final:
        os.replace(path, final)
    record = final.parent / f"{archive.file}.sha256"
    atomic_write_text(record, f"{digests['sha256']}  {final.name}\n")
    if not archive.digests:
        print(
            f"warning: could not verify {archive.file}: the registry has no published checksum "
            f"for it; its sha256 {digests['sha256']} is recorded in {archive.file}.sha256"
        )
    else:
        print(f"verified {archive.file} ({', '.join(sorted(archive.digests))})")
    return digests["sha256"]


def _obtain(entry: Entry, archive: Archive, downloads: Path, options: DownloadOptions) -> Path:
    """The verified archive in ``downloads``: already there, fetched now, or put there by hand."""
    final = downloads / archive.file
    record = downloads / f"{archive.file}.sha256"
    if final.is_file():
        if not record.is_file():  # placed by hand, or its record was lost: check it once
            verify(final, archive, options)
        return final
    if archive.url is None:
        raise DataError(
            f"{entry.name}: {archive.file} has no direct download link; put it at {final} "
            f"and run this again (see {entry.page or 'the registry note'})"
        )
    verify(fetch(archive, downloads, options), archive, options)
    return final


def download(entry: Entry, root: Path, options: DownloadOptions) -> list[Path]:
    """Download, verify and unpack every archive of ``entry`` under ``root``.

    Returns:
        The archives' marker files (``FILE.extracted``), one per archive.

    Raises:
        DataError: a transfer that could not finish, a failed checksum, a damaged archive, a
            data set that has to be fetched by hand (the message says how).
    """
    if not entry.archives:
        raise DataError(f"{entry.name} cannot be downloaded by restorelab-data: {entry.note}")
    downloads = root / "downloads"
    markers = []
    for archive in entry.archives:
        marker = downloads / f"{archive.file}.extracted"
        markers.append(marker)
        if marker.is_file():
            print(f"{archive.file}: already in place ({marker.name})")
            continue
        path = _obtain(entry, archive, downloads, options)
        count = extract(path, archive, root)
        atomic_write_text(marker, json.dumps({"files": count}) + "\n")
        print(f"{archive.file}: {count} files under {root}")
        if options.delete_archives:
            path.unlink()
    return markers
