"""Tests for restorelab.runs.wandb_offline: reading logged metrics back from offline W&B run files.

Real runs are created with ``WANDB_MODE=offline`` inside tmp dirs (config/cache/data dirs are
redirected too, so nothing touches the user's home), then parsed back.  Synthetic files built by a
tiny independent writer cover the format corners that real runs hit only by chance (block trailer
padding, fragment sequencing errors).
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wandb

from restorelab.runs.wandb_offline import (
    BLOCK_SIZE,
    FILE_HEADER,
    Record,
    find_run_files,
    iter_records,
    read_config,
    read_history,
    read_summary,
)

BIG = "x" * 100_000  # > 3 blocks: forces FIRST / MIDDLE / LAST fragments


def _set_wandb_env(mp: pytest.MonkeyPatch, root: Path) -> None:
    """Run W&B offline and silent, with every directory it writes to inside ``root``."""
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    mp.setenv("WANDB_DIR", str(root))
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        mp.setenv(var, str(root / var.lower()))
    mp.delenv("WANDB_RUN_ID", raising=False)
    mp.delenv("WANDB_RESUME", raising=False)


@pytest.fixture(scope="module")
def run_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real offline run, shared by the read-back tests (wandb.init costs ~1 s)."""
    root = tmp_path_factory.mktemp("wandb_run")
    with pytest.MonkeyPatch.context() as mp:
        _set_wandb_env(mp, root)
        run = wandb.init(project="t", dir=root, config={"lr": 0.01, "model": {"depth": 3}})
        run.config.update({"batch_size": 8})
        run.log({"train/loss": 1.0, "val/psnr_y": 27.5})
        run.log({"train/loss": 0.5, "val/psnr_y": 28.25, "val/ssim": 0.75})
        run.log({"big": BIG, "nan_metric": float("nan")})
        run.summary["best/psnr_y"] = 28.25
        run.finish()
    files = find_run_files(root)
    assert len(files) == 1, files
    assert files[0].parent.name.startswith("offline-run-")
    return files[0]


# --------------------------------------------------------------------------- real runs


def test_file_layout(run_file: Path) -> None:
    data = run_file.read_bytes()
    assert data[:7] == b":W&B\xe1\xbe\x00" == FILE_HEADER
    # The 100 kB value cannot fit one chunk: the chunk at the start of block 1 must be a
    # continuation fragment (MIDDLE=3 or LAST=4), i.e. fragment reassembly is exercised.
    assert len(data) > 3 * BLOCK_SIZE
    assert data[BLOCK_SIZE + 6] in (3, 4)


def test_history_roundtrip(run_file: Path) -> None:
    rows = read_history(run_file)
    assert len(rows) == 3
    assert [r["_step"] for r in rows] == [0, 1, 2]
    assert {k: rows[0][k] for k in ("train/loss", "val/psnr_y")} == {
        "train/loss": 1.0,
        "val/psnr_y": 27.5,
    }
    assert rows[1]["val/psnr_y"] == 28.25
    assert rows[1]["val/ssim"] == 0.75
    assert "val/ssim" not in rows[0]
    assert rows[2]["big"] == BIG
    assert math.isnan(rows[2]["nan_metric"])
    for row in rows:
        assert isinstance(row["_timestamp"], float)
        assert isinstance(row["_runtime"], float)


def test_summary_and_config(run_file: Path) -> None:
    summary = read_summary(run_file)
    assert summary["val/psnr_y"] == 28.25  # last logged value
    assert summary["train/loss"] == 0.5
    assert summary["best/psnr_y"] == 28.25  # explicit summary assignment
    assert summary["big"] == BIG
    assert summary["_step"] == 2

    config = read_config(run_file)
    assert config["lr"] == 0.01
    assert config["model"] == {"depth": 3}
    assert config["batch_size"] == 8  # from a later `config` record


def test_iter_records_kinds(run_file: Path) -> None:
    records = list(iter_records(run_file))
    kinds = [r.WhichOneof("record_type") for r in records]
    assert kinds[0] == "header"
    assert "run" in kinds and kinds.count("history") == 3
    assert kinds[-1] == "exit"
    assert all(type(r) is Record for r in records)


def test_lightning_wandb_logger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The framework logs through Lightning's WandbLogger; its metrics must be readable."""
    from lightning.pytorch.loggers import WandbLogger

    _set_wandb_env(monkeypatch, tmp_path)
    logger = WandbLogger(offline=True, save_dir=str(tmp_path), project="t")
    logger.log_metrics({"val/psnr_y": 25.0}, step=3)
    logger.experiment.finish()

    (path,) = find_run_files(tmp_path)
    rows = read_history(path)
    assert len(rows) == 1
    assert rows[0]["val/psnr_y"] == 25.0
    # WandbLogger records the Lightning step as a metric; W&B's own _step counts log calls.
    assert rows[0]["trainer/global_step"] == 3
    assert read_summary(path)["val/psnr_y"] == 25.0


# --------------------------------------------------------------------------- damaged files


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copyfile(src, dst)
    return dst


@pytest.mark.parametrize("where", ["first_record", "middle_fragment"])
def test_corrupt_byte_raises(run_file: Path, tmp_path: Path, where: str) -> None:
    path = _copy(run_file, tmp_path)
    data = bytearray(path.read_bytes())
    if where == "first_record":
        (length,) = struct.unpack_from("<H", data, 7 + 4)
        pos = 7 + 7 + length // 2  # inside the first record's payload
    else:
        pos = BLOCK_SIZE + 7 + 100  # inside the continuation fragment starting block 1
    data[pos] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch") as excinfo:
        read_history(path)
    assert path.name in str(excinfo.value)
    assert "offset" in str(excinfo.value)


def test_truncated_file(run_file: Path, tmp_path: Path) -> None:
    """Default: a clear ValueError; allow_truncated=True: stop at the last complete record."""
    full = list(iter_records(run_file))
    path = _copy(run_file, tmp_path)
    path.write_bytes(run_file.read_bytes()[: BLOCK_SIZE + 1000])  # cuts the 100 kB record

    with pytest.raises(ValueError, match="truncated") as excinfo:
        list(iter_records(path))
    assert path.name in str(excinfo.value)

    partial = list(iter_records(path, allow_truncated=True))
    assert 0 < len(partial) < len(full)
    assert [r.SerializeToString() for r in partial] == [
        r.SerializeToString() for r in full[: len(partial)]
    ]
    rows = read_history(path, allow_truncated=True)
    assert [r["val/psnr_y"] for r in rows] == [27.5, 28.25]  # the big step is lost


def test_bad_header_and_empty_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wandb"
    bad.write_bytes(b"LEVELDB" + b"\x00" * 20)
    with pytest.raises(ValueError, match="not a W&B run file"):
        list(iter_records(bad))
    empty = tmp_path / "empty.wandb"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="truncated"):
        list(iter_records(empty))
    assert list(iter_records(empty, allow_truncated=True)) == []
    header_only = tmp_path / "header_only.wandb"
    header_only.write_bytes(FILE_HEADER)
    assert list(iter_records(header_only)) == []


# --------------------------------------------------------------------------- synthetic files


def _chunk(kind: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(bytes([kind])))
    return struct.pack("<IHB", crc, len(payload), kind) + payload


def _write_log(payloads: list[bytes]) -> bytes:
    """Minimal independent writer of the format (mirrors LevelDB's log writer)."""
    out = bytearray(FILE_HEADER)
    for payload in payloads:
        rest, first = payload, True
        while True:
            left = BLOCK_SIZE - len(out) % BLOCK_SIZE
            if left < 7:
                out += b"\x00" * left
                left = BLOCK_SIZE
            piece, rest = rest[: left - 7], rest[left - 7 :]
            last = not rest
            kind = (1 if last else 2) if first else (4 if last else 3)
            out += _chunk(kind, piece)
            first = False
            if last:
                break
    return bytes(out)


def _history_record(num: int, value: Any) -> bytes:
    record = Record(num=num)
    item = record.history.item.add()
    item.nested_key.append("val/psnr_y")
    item.value_json = json.dumps(value)
    return record.SerializeToString()


def _padded_records() -> Iterator[bytes]:
    """A record sized so exactly 3 bytes (a zero trailer) remain in block 0, then more."""
    target = BLOCK_SIZE - len(FILE_HEADER) - 7 - 3
    filler = target
    while True:
        payload = _history_record(1, "s" * filler)
        if len(payload) == target:
            break
        filler -= len(payload) - target
    yield payload
    yield _history_record(2, 30.5)
    yield _history_record(3, 31.5)


def test_synthetic_block_padding(tmp_path: Path) -> None:
    payloads = list(_padded_records())
    data = _write_log(payloads)
    assert data[BLOCK_SIZE - 3 : BLOCK_SIZE] == b"\x00\x00\x00"
    path = tmp_path / "padded.wandb"
    path.write_bytes(data)
    assert [r.SerializeToString() for r in iter_records(path)] == payloads
    assert [row["val/psnr_y"] for row in read_history(path)][1:] == [30.5, 31.5]


def test_synthetic_fragment_sequence_errors(tmp_path: Path) -> None:
    payload = _history_record(1, 1.5)
    cases = {
        "orphan_last": _chunk(4, payload),
        "orphan_middle": _chunk(3, payload),
        "first_then_full": _chunk(2, payload[:5]) + _chunk(1, payload),
        "unknown_type": _chunk(9, payload),
    }
    for name, body in cases.items():
        path = tmp_path / f"{name}.wandb"
        path.write_bytes(FILE_HEADER + body)
        with pytest.raises(ValueError, match=f"{name}.wandb.*offset 7"):
            list(iter_records(path))
    # A FIRST fragment at EOF is truncation, not corruption.
    path = tmp_path / "dangling_first.wandb"
    path.write_bytes(FILE_HEADER + _chunk(2, payload[:5]))
    with pytest.raises(ValueError, match="truncated"):
        list(iter_records(path))
    assert list(iter_records(path, allow_truncated=True)) == []
