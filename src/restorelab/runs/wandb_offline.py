"""Read W&B offline run files (``run-<id>.wandb``) without network access.

Why: tests (and offline post-hoc analysis) need to check what a training run actually logged, but
``wandb`` 0.31 ships no Python reader for its on-disk transaction log, and syncing to wandb.ai is
not an option offline. This module parses the file directly.

File format (verified against files written by wandb 0.31 / ``wandb-core``):

* A 7-byte file header: ident ``b":W&B"``, magic ``0xBEE1`` as little-endian uint16
  (bytes ``e1 be``) and version byte ``0``.
* After it, the LevelDB log format (https://github.com/google/leveldb/blob/main/doc/log_format.md)
  in 32 KiB blocks aligned to *absolute* file offsets, i.e. the file header occupies the first
  7 bytes of block 0.  Each chunk has a 7-byte header: checksum (uint32 LE), payload length
  (uint16 LE) and type (FULL=1, FIRST=2, MIDDLE=3, LAST=4), followed by the payload.  Chunks never
  straddle a block; a block tail shorter than a chunk header is zero padding.  A record is one
  FULL chunk or the concatenation of FIRST, MIDDLE*, LAST chunks.
* The checksum is the plain (unmasked) CRC-32/IEEE -- ``zlib.crc32`` -- of the type byte followed
  by the payload.  (Unlike upstream LevelDB, it is not a masked CRC-32C.)
* Each reassembled record is a serialized ``wandb.proto.wandb_internal_pb2.Record``.

Key naming: W&B stores metric names in ``nested_key`` (a list of path components).  A logged key
``"val/psnr_y"`` is stored as the single component ``["val/psnr_y"]``, while a nested dict
``{"val": {"psnr_y": 1}}`` becomes ``["val", "psnr_y"]``.  Both are reported here as
``"val/psnr_y"``: components are joined with ``"/"`` (so the two spellings are indistinguishable,
which matches how the W&B UI displays them).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from google.protobuf.message import DecodeError
from wandb.proto import wandb_internal_pb2

if TYPE_CHECKING:
    # The generated protobuf module creates its classes dynamically (and picks a module per
    # protobuf major version), so mypy cannot see ``Record``; treat it as ``Any`` statically.
    Record = Any
else:
    Record = wandb_internal_pb2.Record

__all__ = [
    "BLOCK_SIZE",
    "FILE_HEADER",
    "Record",
    "find_run_files",
    "iter_records",
    "read_config",
    "read_history",
    "read_summary",
    "read_tables",
    "wait_until_complete",
]

#: File header: ident ``:W&B``, magic ``0xBEE1`` (little-endian uint16), version 0.
FILE_HEADER = b":W&B" + struct.pack("<H", 0xBEE1) + bytes([0])
#: Size of a LevelDB-log block; chunks never straddle a block boundary.
BLOCK_SIZE = 32 * 1024
#: Size of a chunk header: crc32 (4) + length (2) + type (1).
CHUNK_HEADER_SIZE = 7

_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_CHUNK_HEADER = struct.Struct("<IHB")


class _Truncated(Exception):
    """Internal signal: the file ends in the middle of a chunk or a fragmented record."""

    def __init__(self, offset: int, what: str) -> None:
        super().__init__(what)
        self.offset = offset
        self.what = what


def _read_blocks(fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield ``(file_offset, block_bytes)`` for each 32 KiB block (the last may be short)."""
    offset = 0
    while True:
        block = fh.read(BLOCK_SIZE)
        if not block:
            return
        yield offset, block
        offset += len(block)


def _iter_payloads(path: Path, fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset_of_first_chunk, payload)`` for each reassembled record.

    Raises ``ValueError`` on corruption and ``_Truncated`` when the file ends mid-record.
    """
    pending: list[bytes] = []  # fragments of a FIRST/MIDDLE.../LAST record
    pending_offset = -1
    saw_header = False
    for block_offset, block in _read_blocks(fh):
        pos = 0
        if block_offset == 0:
            if len(block) < len(FILE_HEADER):
                raise _Truncated(0, "file header")
            header = block[: len(FILE_HEADER)]
            if header[:4] != FILE_HEADER[:4] or header[4:6] != FILE_HEADER[4:6]:
                raise ValueError(
                    f"{path}: not a W&B run file (header {header!r}, expected {FILE_HEADER!r})"
                )
            if header[6] != FILE_HEADER[6]:
                raise ValueError(f"{path}: unsupported W&B log version {header[6]}")
            pos = len(FILE_HEADER)
            saw_header = True
        while True:
            remaining = len(block) - pos
            if remaining == 0:
                break
            if remaining < CHUNK_HEADER_SIZE:
                if len(block) == BLOCK_SIZE:
                    # Block trailer: zero padding, the next chunk starts in the next block.
                    if any(block[pos:]):
                        raise ValueError(
                            f"{path}: non-zero block trailer at offset {block_offset + pos}"
                        )
                    break
                raise _Truncated(block_offset + pos, "chunk header")
            chunk_offset = block_offset + pos
            crc, length, kind = _CHUNK_HEADER.unpack_from(block, pos)
            start = pos + CHUNK_HEADER_SIZE
            end = start + length
            if end > BLOCK_SIZE:
                raise ValueError(
                    f"{path}: corrupt record at offset {chunk_offset}: length {length} "
                    "crosses a block boundary"
                )
            if end > len(block):
                raise _Truncated(chunk_offset, "chunk payload")
            payload = block[start:end]
            actual = zlib.crc32(payload, zlib.crc32(bytes([kind])))
            if actual != crc:
                raise ValueError(
                    f"{path}: corrupt record at offset {chunk_offset}: checksum mismatch "
                    f"(stored {crc:#010x}, computed {actual:#010x})"
                )
            pos = end

            if kind in (_FULL, _FIRST):
                if pending:
                    raise ValueError(
                        f"{path}: corrupt record at offset {chunk_offset}: new record starts "
                        f"before the fragmented record at offset {pending_offset} ended"
                    )
                if kind == _FULL:
                    yield chunk_offset, payload
                else:
                    pending, pending_offset = [payload], chunk_offset
            elif kind in (_MIDDLE, _LAST):
                if not pending:
                    raise ValueError(
                        f"{path}: corrupt record at offset {chunk_offset}: "
                        f"{'MIDDLE' if kind == _MIDDLE else 'LAST'} fragment without FIRST"
                    )
                pending.append(payload)
                if kind == _LAST:
                    yield pending_offset, b"".join(pending)
                    pending, pending_offset = [], -1
            else:
                raise ValueError(
                    f"{path}: corrupt record at offset {chunk_offset}: unknown chunk type {kind}"
                )
    if not saw_header:
        raise _Truncated(0, "file header")  # empty file
    if pending:
        raise _Truncated(pending_offset, "fragmented record (no LAST fragment)")


def iter_records(path: str | Path, *, allow_truncated: bool = False) -> Iterator[Record]:
    """Yield every ``Record`` protobuf stored in a W&B ``.wandb`` run file, in file order.

    Checksums are verified; a corrupt chunk (bad checksum, bad header, impossible length or
    fragment sequence, undecodable protobuf) raises ``ValueError`` naming the file and the byte
    offset of the offending chunk.

    A file that ends mid-record (e.g. a run that is still being written or was killed) raises
    ``ValueError`` ("truncated") by default, so silent data loss cannot make a test pass.  With
    ``allow_truncated=True`` iteration instead stops after the last complete record.
    """
    path = Path(path)
    with path.open("rb") as fh:
        payloads = _iter_payloads(path, fh)
        while True:
            try:
                offset, payload = next(payloads)
            except StopIteration:
                return
            except _Truncated as exc:
                if allow_truncated:
                    return
                raise ValueError(
                    f"{path}: truncated file: {exc.what} at offset {exc.offset} is incomplete"
                ) from None
            record = Record()
            try:
                record.ParseFromString(payload)
            except DecodeError as exc:
                raise ValueError(
                    f"{path}: corrupt record at offset {offset}: cannot decode protobuf: {exc}"
                ) from exc
            yield record


def find_run_files(root: str | Path) -> list[Path]:
    """Return all ``*.wandb`` run files below ``root`` (recursively), sorted by path.

    Typically ``root`` is the ``dir``/``save_dir`` passed to W&B; files then live in
    ``<root>/wandb/offline-run-*/run-<id>.wandb``.
    """
    return sorted(p for p in Path(root).rglob("*.wandb") if p.is_file())


def _item_key(item: Any) -> str:
    """Key of a History/Summary/Config item: ``nested_key`` joined with "/" or plain ``key``."""
    if item.nested_key:
        return "/".join(item.nested_key)
    return str(item.key)


def _item_value(path: Path, item: Any) -> Any:
    """JSON-decode an item's ``value_json`` (W&B writes NaN/Infinity, which json accepts)."""
    try:
        return json.loads(item.value_json)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: invalid value_json for key {_item_key(item)!r}: {item.value_json[:80]!r}"
        ) from exc


def _apply(
    path: Path, target: dict[str, Any], updates: Iterable[Any], removes: Iterable[Any]
) -> None:
    """Apply a Summary/Config record's ``update`` and ``remove`` items to ``target`` in place."""
    for item in updates:
        target[_item_key(item)] = _item_value(path, item)
    for item in removes:
        target.pop(_item_key(item), None)


def read_history(path: str | Path, *, allow_truncated: bool = False) -> list[dict[str, Any]]:
    """Return the logged history rows (one dict per ``wandb.log`` step), in order.

    Each row maps key -> JSON-decoded value and includes W&B's own ``_step``, ``_runtime`` and
    ``_timestamp`` entries.  Lightning's ``WandbLogger`` additionally logs
    ``trainer/global_step`` (the ``step`` passed to ``log_metrics``).
    """
    path = Path(path)
    rows: list[dict[str, Any]] = []
    for record in iter_records(path, allow_truncated=allow_truncated):
        if record.WhichOneof("record_type") == "history":
            rows.append({_item_key(it): _item_value(path, it) for it in record.history.item})
    return rows


def read_summary(path: str | Path, *, allow_truncated: bool = False) -> dict[str, Any]:
    """Return the run summary by replaying all ``summary`` records (later updates win).

    By default the summary holds the last logged value of every key plus explicit
    ``run.summary[...]`` assignments; nested summary keys are joined with "/" (e.g.
    ``"_wandb/runtime"``).
    """
    path = Path(path)
    summary: dict[str, Any] = {}
    for record in iter_records(path, allow_truncated=allow_truncated):
        if record.WhichOneof("record_type") == "summary":
            _apply(path, summary, record.summary.update, record.summary.remove)
    return summary


def read_config(path: str | Path, *, allow_truncated: bool = False) -> dict[str, Any]:
    """Return the run config by replaying the config stored in ``run`` and ``config`` records.

    The config passed to ``wandb.init`` lives in the ``run`` record; later
    ``run.config.update(...)`` calls produce ``config`` records.  Top-level keys map to their
    JSON-decoded values (nested dicts stay dicts).  W&B's internal ``_wandb`` entry is included.
    """
    path = Path(path)
    config: dict[str, Any] = {}
    for record in iter_records(path, allow_truncated=allow_truncated):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            _apply(path, config, record.run.config.update, record.run.config.remove)
        elif kind == "config":
            _apply(path, config, record.config.update, record.config.remove)
    return config


def _table_artifacts(path: Path, key: str) -> list[dict[str, str]]:
    """For each ``run_table`` artifact holding ``<key>.table.json``: entry path -> local file."""
    found = []
    for record in iter_records(path):
        if record.WhichOneof("record_type") != "artifact" or record.artifact.type != "run_table":
            continue
        entries = {e.path: e.local_path for e in record.artifact.manifest.contents}
        if f"{key}.table.json" in entries:
            found.append(entries)
    return found


def _load_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ValueError(f"{what} points to {path}, which is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def read_tables(path: str | Path, key: str) -> list[dict[str, Any]]:
    """Return every ``wandb.Table`` logged under ``key``, in logging order.

    A logged table is a history entry ``{key: {"_type": "table-file", "path": ...}}`` (read
    here as ``key/_type`` and ``key/path``) naming a JSON file ``{"columns", "data"}`` under the
    run's ``files/``. A table with images is also logged as a ``run_table`` artifact, whose
    manifest maps ``<key>.table.json`` and ``media/images/*.png`` to local files (offline, in
    W&B's artifact staging directory until ``wandb sync``); there the image cells are
    ``{"_type": "image-file", "path": ...}`` instead of the placeholder ``"Image"`` of the run
    file, so rows are read from the artifact when there is one per table.

    Each result is ``{"step": trainer/global_step (else _step), "columns": [...],
    "rows": [{column: value}]}``; an image cell gets ``"file"``: the absolute path of its PNG.
    """
    path = Path(path)
    files = path.parent / "files"
    logged = [row for row in read_history(path) if row.get(f"{key}/_type") == "table-file"]
    artifacts = _table_artifacts(path, key)
    use_artifacts = len(artifacts) == len(logged)
    tables = []
    for n, row in enumerate(logged):
        what = f"{path}: table {key!r}"
        if use_artifacts:
            entries = artifacts[n]
            table = _load_json(Path(entries[f"{key}.table.json"]), what)
        else:
            entries = {}
            table = _load_json(files / str(row[f"{key}/path"]), what)
        columns = list(table["columns"])
        rows = []
        for values in table["data"]:
            cells = {}
            for column, value in zip(columns, values, strict=True):
                if isinstance(value, dict) and "path" in value:
                    local = entries.get(str(value["path"]), str(files / str(value["path"])))
                    value = {**value, "file": local}
                cells[column] = value
            rows.append(cells)
        step = row.get("trainer/global_step", row.get("_step"))
        tables.append({"step": step, "columns": columns, "rows": rows})
    return tables


def wait_until_complete(path: str | Path, timeout: float = 60.0, poll: float = 0.2) -> Path:
    """Wait until the run file holds its final ``exit`` record; return its path.

    In offline mode ``wandb.finish()`` can return before W&B's service process has written the
    last records (seen with wandb 0.31 on a loaded machine: history rows and table artifacts
    arrived a second later), so a reader right after training must wait for them.

    Raises:
        TimeoutError: naming the file, when no ``exit`` record appears within ``timeout`` s.
    """
    import time

    path = Path(path)
    deadline = time.monotonic() + timeout
    while True:
        records = iter_records(path, allow_truncated=True) if path.is_file() else iter(())
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            return path
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: no exit record after {timeout:.0f} s (run not finished)")
        time.sleep(poll)
