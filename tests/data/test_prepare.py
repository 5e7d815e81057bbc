"""``restorelab-data prepare``: BasicSR-style overlapping sub-images, MATLAB-bicubic lq crops."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorelab.commands.data import main
from restorelab.data import PairedSource
from restorelab.data.prepare import PrepareOptions, crop_positions, prepare, shrink
from restorelab.errors import ConfigError, DataError
from tests.helpers import REFERENCE, assert_one_line_error, gradient_image, run_cli


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def load(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def images(folder: Path, sizes: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """Write one gradient PNG per ``name: (height, width)`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, (name, (h, w)) in enumerate(sizes.items()):
        array = np.roll(gradient_image(h, w), 7 * i, axis=0)
        Image.fromarray(array).save(folder / f"{name}.png")
        out[name] = array
    return out


def test_crop_positions_follow_basicsr_with_a_last_crop_at_the_border() -> None:
    # DIV2K's 2040-px side: 0, 240, ..., 1440 and one more flush with the border at 1560
    assert crop_positions(2040, 480, 240, 0) == [0, 240, 480, 720, 960, 1200, 1440, 1560]
    assert crop_positions(1000, 480, 240, 0) == [0, 240, 480, 520]
    assert crop_positions(1000, 480, 240, 40) == [0, 240, 480]  # 40 px left: not more than 40
    assert crop_positions(960, 480, 240, 0) == [0, 240, 480]  # flush already
    assert crop_positions(300, 480, 240, 0) == [0]  # smaller than a crop: kept whole


def test_prepare_cuts_overlapping_crops_named_row_by_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = images(tmp_path / "in", {"a": (70, 100), "b": (40, 30)})
    out = tmp_path / "out"
    args = ("prepare", str(tmp_path / "in"), str(out), "--crop", "48", "--step", "24")
    code, stdout, _ = run(capsys, *args, "--workers", "1")
    assert code == 0
    # a: rows [0, 22], columns [0, 24, 48, 52] -> 8 crops; b (40x30) is smaller: kept whole
    assert stdout.strip().endswith("2 images -> 9 crops in " + str(out) + ": 9 files written, "
                                   "0 images already done")  # fmt: skip
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [f"a_s{i:03d}.png" for i in range(1, 9)] + ["b_s001.png"]
    boxes = [(t, left) for t in (0, 22) for left in (0, 24, 48, 52)]
    for i, (top, left) in enumerate(boxes, start=1):
        np.testing.assert_array_equal(
            load(out / f"a_s{i:03d}.png"), source["a"][top : top + 48, left : left + 48]
        )
    np.testing.assert_array_equal(load(out / "b_s001.png"), source["b"])


def test_lq_crops_are_matlab_bicubic_of_the_whole_image(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    Image.open(REFERENCE / "gt_astronaut_96.png").save(tmp_path / "in" / "astronaut.png")
    options = PrepareOptions(crop=96, step=96, scale=4)
    prepare(tmp_path / "in", tmp_path / "gt", options, tmp_path / "lq")
    reference = load(REFERENCE / "lq_astronaut_24_x4.png").astype(int)
    ours = load(tmp_path / "lq" / "astronaut_s001.png").astype(int)
    assert ours.shape == (24, 24, 3)
    diff = np.abs(ours - reference)  # an independent implementation's imresize (BasicSR)
    assert diff.max() <= 1 and (diff > 0).sum() <= 3


def test_lq_crops_sit_under_their_gt_crops(tmp_path: Path) -> None:
    # 101 x 83: mod-cropped to 100 x 80 at x4 first; crops 40 px every 20 (lq: 10 every 5)
    source = images(tmp_path / "in", {"p": (101, 83)})["p"][:100, :80]
    prepare(tmp_path / "in", tmp_path / "gt", PrepareOptions(40, 20, scale=4), tmp_path / "lq")
    whole = shrink(source, 4)
    assert whole.shape == (25, 20, 3)
    boxes = [(t, left) for t in (0, 20, 40, 60) for left in (0, 20, 40)]
    assert len(list((tmp_path / "lq").glob("*.png"))) == len(boxes) == 12
    for i, (top, left) in enumerate(boxes, start=1):
        name = f"p_s{i:03d}.png"
        np.testing.assert_array_equal(
            load(tmp_path / "gt" / name), source[top : top + 40, left : left + 40]
        )
        lt, ll = top // 4, left // 4
        np.testing.assert_array_equal(
            load(tmp_path / "lq" / name), whole[lt : lt + 10, ll : ll + 10]
        )
    # the folders pair up by name for data=paired
    pairs = PairedSource(tmp_path / "lq", tmp_path / "gt")
    assert pairs[0].lq.shape == (10, 10, 3) and pairs[0].gt.shape == (40, 40, 3)


def test_grayscale_images_stay_grayscale(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    gray = gradient_image(64, 64, channels=1)
    Image.fromarray(gray).save(folder / "g.png")
    prepare(folder, tmp_path / "gt", PrepareOptions(32, 32, scale=2), tmp_path / "lq")
    assert load(tmp_path / "gt" / "g_s004.png").shape == (32, 32)
    np.testing.assert_array_equal(load(tmp_path / "lq" / "g_s001.png"), shrink(gray, 2)[:16, :16])


def test_rerunning_skips_finished_images_and_fills_in_what_is_missing(tmp_path: Path) -> None:
    images(tmp_path / "in", {"a": (70, 100), "b": (64, 64)})
    options = PrepareOptions(crop=32, step=32, scale=2)
    first = prepare(tmp_path / "in", tmp_path / "gt", options, tmp_path / "lq")
    # a: 3 rows (0, 32, 38) x 4 columns (0, 32, 64, 68); b: 2 x 2; each crop with its lq
    assert first == {"images": 2, "crops": 16, "written": 32, "skipped_images": 0}
    crop = tmp_path / "gt" / "a_s002.png"
    old = {p: p.stat().st_mtime_ns for p in (tmp_path / "gt").glob("*.png")}
    assert prepare(tmp_path / "in", tmp_path / "gt", options, tmp_path / "lq") == {
        "images": 2, "crops": 16, "written": 0, "skipped_images": 2,
    }  # fmt: skip
    content = crop.read_bytes()
    crop.unlink()
    (tmp_path / "lq" / "b_s003.png").unlink()
    again = prepare(tmp_path / "in", tmp_path / "gt", options, tmp_path / "lq")
    assert again == {"images": 2, "crops": 16, "written": 2, "skipped_images": 0}
    assert crop.read_bytes() == content
    assert {p: p.stat().st_mtime_ns for p in old if p != crop} == {
        p: t for p, t in old.items() if p != crop
    }
    leftovers = [p.name for p in (tmp_path / "gt").iterdir() if p.name.startswith(".a_")]
    assert leftovers == []


def test_workers_write_the_same_bytes_as_one_process(tmp_path: Path) -> None:
    images(tmp_path / "in", {f"i{k}": (50 + k, 60) for k in range(4)})
    options = PrepareOptions(crop=32, step=16, scale=2)
    prepare(tmp_path / "in", tmp_path / "one", options, tmp_path / "one_lq", workers=1)
    prepare(tmp_path / "in", tmp_path / "two", options, tmp_path / "two_lq", workers=2)
    for a, b in (("one", "two"), ("one_lq", "two_lq")):
        files = sorted(p.name for p in (tmp_path / a).glob("*.png"))
        assert files == sorted(p.name for p in (tmp_path / b).glob("*.png")) and len(files) == 36
        for name in files:
            assert (tmp_path / a / name).read_bytes() == (tmp_path / b / name).read_bytes()


def test_other_settings_into_the_same_folder_are_refused(tmp_path: Path) -> None:
    images(tmp_path / "in", {"a": (64, 64)})
    prepare(tmp_path / "in", tmp_path / "out", PrepareOptions(crop=32, step=32))
    with pytest.raises(
        ConfigError, match=r"holds crops made with other settings \(step 32 -> 16\)"
    ):
        prepare(tmp_path / "in", tmp_path / "out", PrepareOptions(crop=32, step=16))


@pytest.mark.parametrize(
    ("options", "lq", "message"),
    [
        (
            PrepareOptions(crop=30, step=16, scale=4),
            True,
            "--crop 30 is not a multiple of --scale 4",
        ),
        (PrepareOptions(crop=32, step=0), False, "--step must be >= 1, got 0"),
        (PrepareOptions(crop=32, step=16, scale=2), False, "--lq-output and --scale go together"),
    ],
)
def test_bad_settings_are_one_line_errors(
    tmp_path: Path, options: PrepareOptions, lq: bool, message: str
) -> None:
    images(tmp_path / "in", {"a": (64, 64)})
    with pytest.raises(ConfigError, match=message):
        prepare(tmp_path / "in", tmp_path / "out", options, tmp_path / "lq" if lq else None)


def test_an_unreadable_image_stops_the_run_naming_it(tmp_path: Path) -> None:
    images(tmp_path / "in", {"a": (64, 64)})
    bad = tmp_path / "in" / "z_truncated.png"
    bad.write_bytes((tmp_path / "in" / "a.png").read_bytes()[:200])
    done = run_cli(
        "restorelab-data", "prepare", str(tmp_path / "in"), str(tmp_path / "out"), "--crop",
        "32", "--step", "32", "--workers", "2", cwd=tmp_path,
    )  # fmt: skip
    message = assert_one_line_error(done, "restorelab-data")
    assert str(bad) in message
    assert not (tmp_path / "out").exists()  # the folder scan refuses it before any work


def test_an_image_that_fails_to_decode_in_a_worker_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images(tmp_path / "in", {"a": (64, 64)})
    bad = tmp_path / "in" / "z_truncated.png"
    bad.write_bytes((tmp_path / "in" / "a.png").read_bytes()[:200])
    files = sorted((tmp_path / "in").glob("*.png"))
    monkeypatch.setattr("restorelab.data.prepare.list_images", lambda folder, key: files)
    with pytest.raises(DataError, match=rf"{re.escape(str(bad))}"):
        prepare(tmp_path / "in", tmp_path / "out", PrepareOptions(crop=32, step=32))
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [".restorelab-prepare.json", "a_s001.png", "a_s002.png", "a_s003.png",
                       "a_s004.png"]  # fmt: skip
