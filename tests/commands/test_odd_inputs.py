"""Odd inputs through the commands (issue 13): one table per command, plus the full disk.

restorelab-train and restorelab-eval refuse a data folder holding a bad file at start-up, with
one line naming it and exit code 2 (a smaller training set or a benchmark mean over fewer images
would silently change the result); odd-but-valid files are converted as documented.
restorelab-enhance reports each bad file of a batch by name, still enhances the others and
exits 1. Nothing half-written is left behind. Most cases run in-process (the entry points'
own error handling, so a traceback would surface here as an exception); a few run the real
console scripts for the "exit 2, no traceback" contract.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restorelab.commands.common import report_errors
from restorelab.commands.enhance import main as enhance_main
from restorelab.inference.enhancer import upscale_alpha
from restorelab.runs.job import run_job
from restorelab.training.evaluate import evaluate
from restorelab.training.fit import output_dir, train
from tests.helpers import (
    ODD_NAMES,
    ODD_SIDE,
    REFERENCE,
    TINY,
    TINY_COMPACT,
    assert_one_line_error,
    copy_reference_gt,
    gradient_image,
    make_unreadable,
    make_unwritable,
    run_cli,
    save_checkpoint,
    write_odd_input,
)

#: The bad files every command names, and the words its one-line error holds after the path.
BAD = {
    "empty": r"is empty \(0 bytes\)",
    "truncated_jpeg": r"image file is truncated",
    "animated_webp": r"is animated \(3 frames\)",
    "symlink_loop": r"is a symbolic link loop",
    "dangling_link": r"is a broken symbolic link \(to missing\.png\)",
    "unreadable": r": Permission denied",
}
#: restorelab-train/eval: the Pillow decompression-bomb guard; too small for a patch / a score.
DATA_BAD = {
    **BAD,
    "bomb": r"is too large to decode safely.*400000000 pixels",
}
#: The tiny run's overrides for folder data (``data.val_names`` belongs to the embedded set).
TINY_FOLDER = [o for o in TINY if not o.startswith("data.val_names")]
#: Odd but valid: converted (CMYK -> RGB, palette -> RGB, 16 -> 8 bits) and used.
CONVERTED = ("cmyk_jpeg", "palette_alpha", "gray16_tiff", "unicode_name", "undecodable_name")


def _odd_file(kind: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The odd file ``kind`` in ``folder``; ``unreadable`` is a valid PNG nobody may read."""
    if kind != "unreadable":
        return write_odd_input(kind, folder)
    path = folder / "unreadable.png"
    Image.fromarray(gradient_image(ODD_SIDE, ODD_SIDE)).save(path)
    make_unreadable(path, monkeypatch)
    return path


def _last_error(err: str, prog: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err[-3000:]
    assert lines and lines[-1].startswith(f"{prog}: error: "), err[-3000:]
    return lines[-1]


# ------------------------------------------------------------------------ restorelab-train
def _train_exit(cfg, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        run_job("restorelab-train", train, cfg, output_dir(cfg))
    return int(info.value.code or 0), capsys.readouterr().err


def _folder_train_cfg(compose_cfg, train_dir: Path, val_dir: Path, *extra: str):
    return compose_cfg(
        *TINY_FOLDER,
        "data=folder",
        f"data.train_dir={train_dir}",
        f"data.val_dir={val_dir}",
        "data.num_workers=0",
        "logger=none",
        "callbacks=none",
        *extra,
    )


@pytest.mark.parametrize("kind", [*sorted(DATA_BAD), "one_pixel"])
def test_train_refuses_a_bad_training_file_at_start_up(
    kind: str, compose_cfg, tmp_path: Path, monkeypatch, capsys
) -> None:
    train_dir = copy_reference_gt(tmp_path / "train")
    bad = _odd_file(kind, train_dir, monkeypatch)
    cfg = _folder_train_cfg(compose_cfg, train_dir, copy_reference_gt(tmp_path / "val"))
    code, err = _train_exit(cfg, capsys)
    line = _last_error(err, "restorelab-train")
    assert code == 2, err[-3000:]
    if kind == "one_pixel":
        want = rf"image {re.escape(str(bad))} is 1x1, smaller than data\.patch_size=32"
    else:
        want = rf"data\.train_dir: .*{re.escape(str(bad))}.*{DATA_BAD[kind]}"
    assert re.search(want, line), line
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_train_converts_odd_but_valid_files(compose_cfg, tmp_path: Path) -> None:
    """CMYK, palette + transparency, 16-bit gray TIFF, non-ASCII and non-UTF-8 names: in the
    training and the validation folder, with the default loggers and callbacks."""
    train_dir, val_dir = tmp_path / "train", tmp_path / "val"
    for kind in CONVERTED:
        write_odd_input(kind, train_dir)
        write_odd_input(kind, val_dir)
    cfg = compose_cfg(
        *TINY_FOLDER,
        "data=folder",
        f"data.train_dir={train_dir}",
        f"data.val_dir={val_dir}",
        "data.num_workers=0",
        "~callbacks.rich_progress_bar",
    )
    metrics = train(cfg)
    assert np.isfinite(metrics["val/psnr_y"]) and metrics["val/psnr_y"] > 10
    assert (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").is_file()


def test_disk_full_during_a_checkpoint_write(
    compose_cfg, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The second checkpoint write fails half-way with ENOSPC: one line naming the file, exit
    2, the first checkpoint intact, no temporary file, the run marked failed."""
    cfg = compose_cfg(
        *TINY,
        "logger=none",
        "~callbacks.rich_progress_bar",
        "~callbacks.image_grid",
        "~callbacks.val_table",
        "callbacks.last_checkpoint.every_n_train_steps=1",
    )
    real_save = torch.save
    calls: list[str] = []

    def fills_the_disk(obj: object, f, *args: object, **kwargs: object) -> None:
        calls.append(str(getattr(f, "name", f)))
        if len(calls) == 1:
            real_save(obj, f, *args, **kwargs)
            return
        f.write(b"the first megabyte of a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", fills_the_disk)
    code, err = _train_exit(cfg, capsys)
    monkeypatch.undo()
    ckpts = Path(cfg.paths.output_dir) / "checkpoints"
    line = _last_error(err, "restorelab-train")
    assert code == 2, err[-3000:]
    assert re.fullmatch(
        rf"restorelab-train: error: cannot write {re.escape(str(ckpts))}/\S+\.ckpt\S*: "
        r"No space left on device",
        line,
    ), line
    assert len(calls) == 2
    files = sorted(p.name for p in ckpts.iterdir())
    assert files == ["last.ckpt"], files  # the first write; no temporary file
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["global_step"] == 1
    status = json.loads((Path(cfg.paths.output_dir) / "run_status.json").read_text())
    assert status["status"] == "failed" and "No space left on device" in status["error"]


# ------------------------------------------------------------------------- restorelab-eval
def _eval_cfg(compose_cfg, test_dir: Path, report: Path):
    return compose_cfg(
        "generator=bicubic",
        f"data.test_dir={test_dir}",
        "data.scale=4",
        "data.num_workers=0",
        f"report={report}",
        config_name="eval",
    )


def _eval_exit(cfg, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        report_errors("restorelab-eval", evaluate, cfg)
    return int(info.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("kind", [*sorted(DATA_BAD), "one_pixel"])
def test_eval_refuses_a_bad_test_file_before_scoring(
    kind: str, compose_cfg, tmp_path: Path, monkeypatch, capsys
) -> None:
    test_dir = copy_reference_gt(tmp_path / "test")
    bad = _odd_file(kind, test_dir, monkeypatch)
    report = tmp_path / "report.json"
    code, err = _eval_exit(_eval_cfg(compose_cfg, test_dir, report), capsys)
    line = _last_error(err, "restorelab-eval")
    assert code == 2, err[-3000:]
    if kind == "one_pixel":
        want = rf"image {re.escape(str(bad))} is 0x0 after cropping .*too small to score"
    else:
        want = rf"data\.test_dir: .*{re.escape(str(bad))}.*{DATA_BAD[kind]}"
    assert re.search(want, line), line
    assert not report.exists()


def test_eval_scores_odd_but_valid_files(compose_cfg, tmp_path: Path) -> None:
    test_dir = tmp_path / "test"
    for kind in CONVERTED:
        write_odd_input(kind, test_dir)
    report = tmp_path / "report.json"
    result = evaluate(_eval_cfg(compose_cfg, test_dir, report))
    written = json.loads(report.read_text())
    names = sorted(Path(ODD_NAMES[k]).stem for k in CONVERTED)
    assert sorted(image["name"] for image in written["images"]) == names
    assert written["psnr_y"] == pytest.approx(result["psnr_y"]) and 20 < result["psnr_y"] < 60


@pytest.mark.parametrize("how", ["file_in_the_way", "read_only"])
def test_eval_refuses_an_unwritable_report_before_scoring(
    how: str, compose_cfg, tmp_path: Path, monkeypatch, capsys
) -> None:
    test_dir = copy_reference_gt(tmp_path / "test")
    if how == "file_in_the_way":
        (tmp_path / "results").write_text("a file, not a folder\n")
        report, reason = tmp_path / "results" / "report.json", "Not a directory"
    else:
        (tmp_path / "results").mkdir()
        make_unwritable(tmp_path / "results", monkeypatch)
        report, reason = tmp_path / "results" / "report.json", "Permission denied"
    code, err = _eval_exit(_eval_cfg(compose_cfg, test_dir, report), capsys)
    line = _last_error(err, "restorelab-eval")
    assert code == 2, err[-3000:]
    assert line == f"restorelab-eval: error: report={report}: cannot write there: {reason}"
    assert "PSNR-Y" not in capsys.readouterr().out  # refused before any image was scored
    monkeypatch.undo()
    assert not report.exists()


# ---------------------------------------------------------------------- restorelab-enhance
@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    save_checkpoint(path, TINY_COMPACT)
    return path


def _enhance(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        enhance_main([*args, "--no-progress"])
    return int(info.value.code or 0), capsys.readouterr().err


#: restorelab-enhance: its own --max-pixels guard (default 50 MP) refuses the bomb.
ENHANCE_BAD = {
    **BAD,
    "animated_gif": BAD["animated_webp"],
    "bomb": r"20000x20000 = 400000000 pixels is above the limit of 50000000 pixels",
}


@pytest.mark.parametrize("kind", sorted(ENHANCE_BAD))
def test_enhance_names_a_bad_file_and_enhances_the_rest(
    kind: str, ckpt: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(gradient_image(12, 16)).save(folder / "good.png")
    bad = _odd_file(kind, folder, monkeypatch)
    inputs = [str(folder)] + ([str(bad)] if bad.suffix == ".gif" else [])  # no .gif in scans
    out = tmp_path / "out"
    code, err = _enhance([*inputs, "-o", str(out), "--ckpt", str(ckpt)], capsys)
    assert code == 1 and "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1, err
    assert re.search(rf"^restorelab-enhance: error: .*{re.escape(str(bad))}", errors[0]), errors
    assert re.search(ENHANCE_BAD[kind], errors[0]), errors[0]
    assert "enhanced 1 of 2 image(s)" in err
    assert sorted(os.listdir(out)) == ["good.png"]


def test_enhance_converts_odd_but_valid_files(ckpt: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "in"
    paths = {kind: write_odd_input(kind, folder) for kind in (*CONVERTED, "one_pixel")}
    out = tmp_path / "out"
    code, err = _enhance([str(folder), "-o", str(out), "--ckpt", str(ckpt)], capsys)
    assert code == 0, err[-3000:]
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths.values())
    side = 2 * ODD_SIDE
    with Image.open(out / paths["one_pixel"].name) as img:
        assert (img.mode, img.size) == ("RGB", (2, 2))  # smaller than the tile and the scale
    with Image.open(out / paths["cmyk_jpeg"].name) as img:
        assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (side, side))
    with Image.open(out / paths["gray16_tiff"].name) as img:
        assert (img.mode, img.size) == ("I;16", (side, side))  # 16-bit gray stays so
    with Image.open(paths["palette_alpha"]) as src:
        alpha = np.asarray(src.convert("RGBA"))[:, :, 3]
    with Image.open(out / paths["palette_alpha"].name) as img:
        assert (img.mode, img.size) == ("RGBA", (side, side))  # the transparency is kept
        np.testing.assert_array_equal(np.asarray(img)[:, :, 3], upscale_alpha(alpha, 2))
    for kind in ("unicode_name", "undecodable_name"):
        with Image.open(out / paths[kind].name) as img:
            assert (img.mode, img.size) == ("RGB", (side, side))


def test_enhance_names_a_symlink_loop_given_on_the_command_line(
    ckpt: Path, tmp_path: Path, capsys
) -> None:
    loop = write_odd_input("symlink_loop", tmp_path / "in")
    good = tmp_path / "in" / "good.png"
    Image.fromarray(gradient_image(12, 16)).save(good)
    out = tmp_path / "out"
    code, err = _enhance([str(loop), str(good), "-o", str(out), "--ckpt", str(ckpt)], capsys)
    assert code == 1 and "Traceback" not in err, err[-3000:]
    assert f"restorelab-enhance: error: image {loop} is a symbolic link loop" in err
    assert sorted(os.listdir(out)) == ["good.png"]


@pytest.mark.parametrize("how", ["file_in_the_way", "read_only"])
def test_enhance_refuses_an_unwritable_output_folder_at_once(
    how: str, ckpt: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    src = tmp_path / "a.png"
    Image.fromarray(gradient_image(12, 16)).save(src)
    if how == "file_in_the_way":
        (tmp_path / "results").write_text("a file, not a folder\n")
        out, reason = tmp_path / "results" / "x4", "Not a directory"
    else:
        out, reason = tmp_path / "results", "Permission denied"
        out.mkdir()
        make_unwritable(out, monkeypatch)
    code, err = _enhance([str(src), "-o", str(out), "--ckpt", str(ckpt)], capsys)
    monkeypatch.undo()
    assert code == 2, err[-3000:]
    assert _last_error(err, "restorelab-enhance") == (
        f"restorelab-enhance: error: -o {out}: cannot write there: {reason}"
    )
    assert "enhanced" not in err  # refused before any image was read
    assert not out.exists() or os.listdir(out) == []


def test_enhance_disk_full_mid_write_leaves_no_partial_file(
    ckpt: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The disk fills up while the first output is flushed (a full disk often surfaces at
    fsync): that image is named, nothing half-written stays, the next one is written."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(gradient_image(12, 16)).save(folder / name)
    real_fsync = os.fsync
    calls: list[int] = []

    def fills_the_disk_once(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fills_the_disk_once)
    out = tmp_path / "out"
    code, err = _enhance([str(folder), "-o", str(out), "--ckpt", str(ckpt)], capsys)
    assert code == 1, err[-3000:]
    errors = [line for line in err.splitlines() if "error" in line]
    assert errors == [
        f"restorelab-enhance: error: cannot write {out / 'a.png'}: No space left on device"
    ], err
    assert sorted(os.listdir(out)) == ["b.png"]  # no half-written a.png, no temporary file


# ----------------------------------------------- the real console scripts: exit 2, one line
def test_cli_train_names_an_empty_file_in_the_training_folder(tmp_path: Path) -> None:
    train_dir = copy_reference_gt(tmp_path / "train")
    write_odd_input("empty", train_dir)
    done = run_cli(
        "restorelab-train",
        "data=folder",
        f"data.train_dir={train_dir}",
        f"data.val_dir={REFERENCE}",
        "debug=fast",
        cwd=tmp_path,
    )
    line = assert_one_line_error(done, "restorelab-train")
    assert line == (
        f"restorelab-train: error: data.train_dir: image file {train_dir / 'empty.png'} is "
        "empty (0 bytes)"
    )


def test_cli_eval_names_a_truncated_jpeg(tmp_path: Path) -> None:
    test_dir = copy_reference_gt(tmp_path / "test")
    bad = write_odd_input("truncated_jpeg", test_dir)
    done = run_cli(
        "restorelab-eval",
        "generator=bicubic",
        f"data.test_dir={test_dir}",
        "data.scale=4",
        f"report={tmp_path / 'r.json'}",
        cwd=tmp_path,
    )
    line = assert_one_line_error(done, "restorelab-eval")
    assert line.startswith(
        f"restorelab-eval: error: data.test_dir: corrupt or truncated image {bad}: "
    )
    assert not (tmp_path / "r.json").exists()


def test_cli_enhance_batch_and_unwritable_output(tmp_path: Path, ckpt: Path) -> None:
    folder = tmp_path / "in"
    for kind in ("empty", "animated_webp", "cmyk_jpeg", "unicode_name"):
        write_odd_input(kind, folder)
    (tmp_path / "taken").write_text("x\n")
    done = run_cli(
        "restorelab-enhance", str(folder), "-o", str(tmp_path / "taken" / "out"),
        "--ckpt", str(ckpt), cwd=tmp_path,
    )  # fmt: skip
    line = assert_one_line_error(done, "restorelab-enhance")
    assert line.endswith("cannot write there: Not a directory")
    out = tmp_path / "out"
    done = run_cli(
        "restorelab-enhance", str(folder), "-o", str(out), "--ckpt", str(ckpt), cwd=tmp_path
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [
        line for line in done.stderr.splitlines() if line.startswith("restorelab-enhance: error")
    ]
    assert [Path(re.search(r"image (?:file )?(\S+)", e)[1]).name for e in errors] == [
        "animated.webp",
        "empty.png",
    ], errors
    assert sorted(os.listdir(out)) == ["café photo ✓.png", "cmyk.jpg"]
