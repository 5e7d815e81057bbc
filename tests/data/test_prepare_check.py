"""``restorelab-data check DIR``: unreadable files, odd modes, sizes, mismatched lq/gt pairs."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorelab.commands.data import main
from restorelab.data.check import check, odd_mode
from tests.helpers import gradient_image, png_chunk, run_cli


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def png16_rgb(path: Path, side: int) -> None:
    """A 16-bit RGB PNG (Pillow cannot write one), every row with filter 0."""
    samples = gradient_image(side, side, 3, np.uint16)
    raw = b"".join(b"\x00" + samples[y].astype(">u2").tobytes() for y in range(side))
    header = struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def odd_folder(folder: Path) -> None:
    """Plain RGB and gray images next to every kind of file ``check`` reports."""
    folder.mkdir(parents=True)
    rgb = gradient_image(48, 64)
    Image.fromarray(rgb).save(folder / "plain.png")
    Image.fromarray(gradient_image(40, 40, 1)).save(folder / "gray.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    Image.fromarray(rgb).quantize(colors=16).save(folder / "palette.png")
    Image.fromarray(gradient_image(32, 32, 1, np.uint16)).save(folder / "gray16.png")
    png16_rgb(folder / "rgb16.png", 32)
    Image.fromarray(gradient_image(20, 90)).save(folder / "thin.png")
    (folder / "truncated.png").write_bytes((folder / "plain.png").read_bytes()[:150])
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()


def test_check_reports_unreadable_files_odd_modes_and_small_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "gt"
    odd_folder(folder)
    code, out, _ = run(capsys, "check", str(folder), "--min-size", "24", "--workers", "1")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{folder}: 8 image files"
    assert lines[1] == (
        "  sizes: width 32-90, height 20-48; modes: CMYK 1, I;16 1, L 1, P 1, RGB 2, RGB;16 1"
    )
    assert lines[2].startswith("  not looked at: 1 other files, 1 subfolders")
    assert lines[3] == "  unreadable: 1"
    assert lines[4].startswith(f"    corrupt or truncated image {folder / 'truncated.png'}")
    assert lines[5:10] == [
        "  odd modes: 4",
        "    cmyk.jpg: CMYK, converted to RGB",
        "    gray16.png: 16-bit gray, scaled to 8 bits",
        "    palette.png: palette, converted to RGB",
        "    rgb16.png: 16-bit RGB, reduced to 8 bits",
    ]
    assert lines[10:12] == ["  too small: 1", "    thin.png: 90x20, under 24 px"]
    assert lines[-1] == "problems found: unreadable, odd modes, too small"


def test_check_matches_pairs_by_name_and_scale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt, lq = tmp_path / "gt", tmp_path / "lq"
    gt.mkdir()
    lq.mkdir()
    for name, side in (("a", 40), ("b", 40), ("c", 41), ("only_gt", 40)):
        Image.fromarray(gradient_image(side, side)).save(gt / f"{name}.png")
    for name, side in (("ax4", 10), ("b", 9), ("c", 11), ("only_lq", 10)):
        Image.fromarray(gradient_image(side, side)).save(lq / f"{name}.png")
    code, out, _ = run(capsys, "check", str(gt), "--lq", str(lq), "--scale", "4")
    assert code == 1
    # a/ax4 (DIV2K's naming) and c (41 px: 10 or 11 both agree with x4) are fine
    assert "  ground truths without lq: 1\n    only_gt.png\n" in out
    assert (
        "  pairs off scale: 1\n    b.png 40x40 / b.png 9x9: lq should be 10x10 at scale 4\n"
    ) in out
    assert "  lq without ground truth: 1\n    only_lq.png\n" in out
    assert out.splitlines()[-1] == (
        "problems found: ground truths without lq, lq without ground truth, pairs off scale"
    )


def test_a_clean_folder_passes_with_status_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "clean"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(gradient_image(30 + i, 40)).save(folder / f"{i}.png")
    reports = check(folder, workers=2)
    assert reports[0].ok and len(reports[0].files) == 3
    assert [f.size for f in reports[0].files] == [(40, 30), (40, 31), (40, 32)]
    code, out, _ = run(capsys, "check", str(folder))
    assert code == 0
    assert out.splitlines()[-1] == "no problems found"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing"], "check: DIR is not a folder: missing"),
        ([".", "--lq", "."], "check: --lq needs --scale (>= 1), the factor between the folders"),
        ([".", "--workers", "0"], "--workers must be >= 1, got 0"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    args: list[str], message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "check", *args)
    assert (code, out, err) == (2, "", f"restorelab-data: error: {message}\n")


def test_problems_exit_1_without_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "gt"
    folder.mkdir()
    Image.fromarray(gradient_image(32, 32)).convert("CMYK").save(folder / "c.jpg")
    done = run_cli("restorelab-data", "check", str(folder), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stdout.splitlines()[-2:] == ["    c.jpg: CMYK, converted to RGB",
                                             "problems found: odd modes"]  # fmt: skip


def test_plain_modes_are_not_odd() -> None:
    assert odd_mode("RGB") is None and odd_mode("L") is None
    assert odd_mode("RGBA") == "RGBA, alpha dropped"
    assert odd_mode("I;16B") == "16-bit gray, scaled to 8 bits"
