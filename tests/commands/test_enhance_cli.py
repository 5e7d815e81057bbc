"""restorelab-enhance end to end: batches, bad files, overwrite rules, loading safety, steps."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import restorelab.weights
from restorelab.commands.enhance import main
from tests.helpers import TINY_COMPACT, gradient_image, save_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    save_checkpoint(path, TINY_COMPACT)
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--no-progress"])
    return int(exit_info.value.code or 0), capsys.readouterr().err


def _save(path: Path, h: int = 12, w: int = 16) -> Path:
    Image.fromarray(gradient_image(h, w)).save(path)
    return path


def test_batch_with_a_corrupt_file_still_processes_the_rest(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _save(tmp_path / "a.png")
    _save(tmp_path / "b.jpg")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "z.png").write_bytes(b"")
    out = tmp_path / "out"
    code, err = _run([str(tmp_path), "-o", str(out), "--ckpt", str(ckpt)], capsys)
    assert code == 1
    assert "restorelab-enhance: error: " in err and "broken.png" in err and "z.png" in err
    assert "enhanced 2 of 4 image(s)" in err
    assert sorted(os.listdir(out)) == ["a.png", "b.jpg"]
    with Image.open(out / "a.png") as img:
        assert img.size == (32, 24)


def test_files_globs_suffix_and_ext(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("one.png", "two.png", "three.bmp"):
        _save(tmp_path / name)
    out = tmp_path / "out"
    args = [str(tmp_path / "t*.png"), str(tmp_path / "three.bmp"), "-o", str(out)]
    code, err = _run([*args, "--ckpt", str(ckpt), "--suffix", "_x2", "--ext", "webp"], capsys)
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["three_x2.webp", "two_x2.webp"]
    code, err = _run([str(tmp_path / "nothing*.png"), "-o", str(out), "--ckpt", str(ckpt)], capsys)
    assert code == 1 and "no files match" in err


def test_tiles_and_precision_flags_give_the_same_picture(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _save(tmp_path / "p.png", 40, 52)
    results = {}
    for name, extra in {
        "whole": ["--tile", "0"],
        "tiled": ["--tile", "24", "--tile-overlap", "12"],
        "bf16": ["--tile", "24", "--tile-overlap", "12", "--precision", "bf16"],
    }.items():
        code, err = _run(
            [str(src), "-o", str(tmp_path / name), "--ckpt", str(ckpt), *extra], capsys
        )
        assert code == 0, err
        results[name] = np.asarray(Image.open(tmp_path / name / "p.png")).astype(int)
    assert np.abs(results["tiled"] - results["whole"]).max() <= 1
    assert np.abs(results["bf16"] - results["whole"]).max() <= 8  # bf16: ~3 significant digits


def test_inputs_are_never_overwritten_without_flag(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _save(tmp_path / "photo.png")
    before = src.read_bytes()
    code, err = _run([str(src), "-o", str(tmp_path), "--ckpt", str(ckpt)], capsys)
    assert code == 1 and "is an input file; not overwriting it" in err and "--overwrite" in err
    assert src.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["photo.png"]
    code, err = _run([str(src), "-o", str(tmp_path), "--ckpt", str(ckpt), "--overwrite"], capsys)
    assert code == 0, err
    with Image.open(src) as img:
        assert img.size == (32, 24)
    assert sorted(os.listdir(tmp_path)) == ["photo.png"]  # no temporary left behind


def test_two_inputs_mapping_to_one_output_are_not_merged(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _save(tmp_path / "same.png")
    _save(tmp_path / "same.bmp", 8, 8)
    out = tmp_path / "out"
    code, err = _run([str(tmp_path), "-o", str(out), "--ckpt", str(ckpt), "--ext", "png"], capsys)
    assert code == 1 and "would replace the output of" in err
    assert os.listdir(out) == ["same.png"]


def test_pixel_limit_via_flag(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _save(tmp_path / "big.png", 30, 40)
    out = tmp_path / "out"
    args = [str(src), "-o", str(out), "--ckpt", str(ckpt), "--max-pixels", "1000"]
    code, err = _run(args, capsys)
    assert code == 1
    assert "big.png: 40x30 = 1200 pixels is above the limit of 1000" in err
    assert "raise it with --max-pixels N" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--scale", "4"], "--scale 4, but .*tiny.ckpt is a x2 model"),
        (["--arch", "msrresnet"], "--arch msrresnet, but .* holds a SRVGGNetCompact"),
        (["--arch", "RRDBNet"], "--arch RRDBNet, but"),
        (["--save-steps"], "--save-steps: the generator in .* has no intermediate steps"),
        (["--device", "tpu"], "--device 'tpu': not one of cpu, cuda, mps"),
        (["--tile", "20", "--tile-overlap", "11"], r"--tile-overlap \(11\) must be at most half"),
    ],
)
def test_flag_disagreements_are_one_line_errors(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    src = _save(tmp_path / "a.png")
    args = [str(src), "-o", str(tmp_path / "out"), "--ckpt", str(ckpt), *flags]
    code, err = _run(args, capsys)
    assert code == 2
    assert re.search(f"restorelab-enhance: error: {message}", err), err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_matching_scale_and_arch_are_accepted(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _save(tmp_path / "a.png")
    for arch in ("compact", "SRVGGNetCompact"):
        args = [str(src), "-o", str(tmp_path / arch), "--ckpt", str(ckpt), "--scale", "2"]
        code, err = _run([*args, "--arch", arch], capsys)
        assert code == 0, err


class Payload:
    """Stands for any object whose unpickling would run code."""


def test_checkpoint_needing_unpickling_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Payload()}, evil)
    src = _save(tmp_path / "a.png")
    code, err = _run([str(src), "-o", str(tmp_path / "out"), "--ckpt", str(evil)], capsys)
    assert code == 2
    assert "refusing to load checkpoint" in err and "evil.ckpt" in err
    assert "needs arbitrary code to unpickle" in err


def test_stored_config_cannot_name_arbitrary_callables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stored ``_target_`` outside restorelab.archs (e.g. os.system) is never instantiated."""
    ckpt = tmp_path / "sneaky.ckpt"
    torch.save(
        {
            "state_dict": {},
            "restorelab": {
                "scale": 2,
                "generator": {"_target_": "os.system", "command": "touch pwned"},
            },
        },
        ckpt,
    )
    src = _save(tmp_path / "a.png")
    code, err = _run([str(src), "-o", str(tmp_path / "out"), "--ckpt", str(ckpt)], capsys)
    assert code == 2 and "_target_ 'os.system'" in err and "sneaky.ckpt" in err
    assert not Path("pwned").exists() and not (tmp_path / "pwned").exists()


def test_save_steps_writes_every_intermediate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        restorelab.weights, "TRUSTED_TARGET_PREFIXES", ("restorelab.archs.", "tests.")
    )
    ckpt = tmp_path / "stages.ckpt"
    net = save_checkpoint(ckpt, {"_target_": "tests.helpers.TinyStages", "scale": 2})
    src = _save(tmp_path / "a.png", 10, 14)
    out = tmp_path / "out"
    args = [str(src), "-o", str(out), "--ckpt", str(ckpt), "--save-steps", "--suffix", "_sr"]
    code, err = _run(args, capsys)
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["a_sr.png", "a_step1_sr.png"]
    lq = torch.from_numpy(gradient_image(10, 14)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        want = [o[0].permute(1, 2, 0).clamp(0, 1).numpy() for o in net.stages(lq)]
    for name, expected in zip(["a_step1_sr.png", "a_sr.png"], want, strict=True):
        got = np.asarray(Image.open(out / name)).astype(np.float64) / 255
        assert got.shape == (20, 28, 3)
        assert np.abs(got - expected).max() < 0.6 / 255, name
    assert np.abs(want[0] - want[1]).max() > 0.1  # the two steps really differ


def test_python_api_from_checkpoint(ckpt: Path) -> None:
    from restorelab import Enhancer

    enhancer = Enhancer.from_checkpoint(ckpt, tile=0)
    assert enhancer.scale == 2 and enhancer.settings.tile == 0
    out = enhancer.enhance(Image.fromarray(gradient_image(8, 10)))
    assert isinstance(out, Image.Image) and out.size == (20, 16)


def test_output_must_be_a_folder(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _save(tmp_path / "a.png")
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    code, err = _run([str(src), "-o", str(blocker), "--ckpt", str(ckpt)], capsys)
    assert code == 2 and "notes.txt: exists and is not a folder" in err
    assert blocker.read_text() == "keep me"


def test_nested_untrusted_targets_are_refused() -> None:
    from restorelab.errors import DataError
    from restorelab.weights import check_targets

    trusted = {"_target_": "restorelab.archs.SRVGGNetCompact", "scale": 2}
    assert check_targets(trusted, "ok.ckpt") is trusted
    nested = {**trusted, "extra": [{"_target_": "builtins.eval", "_args_": ["1"]}]}
    with pytest.raises(DataError, match=r"refusing to load bad\.ckpt: .*'builtins\.eval'"):
        check_targets(nested, "bad.ckpt")


def test_no_model_flag_uses_the_bundled_real_x4_and_model_names_pick_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from restorelab.inference.enhancer import Enhancer

    src = _save(tmp_path / "photo.png", 20, 24)
    assert _run([str(src), "-o", str(tmp_path / "default")], capsys)[0] == 0
    assert _run([str(src), "-o", str(tmp_path / "sr"), "--model", "sr_x4"], capsys)[0] == 0
    default = np.asarray(Image.open(tmp_path / "default" / "photo.png"))
    sr = np.asarray(Image.open(tmp_path / "sr" / "photo.png"))
    assert default.shape == sr.shape == (80, 96, 3)
    pixels = np.asarray(Image.open(src))
    assert np.array_equal(default, np.asarray(Enhancer.from_checkpoint("real_x4").enhance(pixels)))
    assert np.array_equal(sr, np.asarray(Enhancer.from_checkpoint("sr_x4").enhance(pixels)))
    assert not np.array_equal(default, sr)
    code, err = _run([str(src), "-o", str(tmp_path / "x"), "--model", "sharpen"], capsys)
    assert code == 2
    assert err.strip() == (
        "restorelab-enhance: error: --model sharpen: no such file, and no bundled model of "
        "that name (bundled: denoise, real_x4, sr_x4)"
    )


def test_list_models_shows_each_with_task_scale_size_command_and_scores(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--list-models"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("sr_x4: x4 super-resolution of clean images")
    assert "denoise: colour denoising" in out
    assert "real_x4 (default): blind x4 super-resolution" in out
    assert re.search(r"scale x4, SRVGGNetCompact, 621424 parameters, 2\.5 MB \(sr_x4", out)
    assert out.count("training command: restorelab-train experiment=zoo/") == 3
    assert "heldout/bsds_test195/psnr_y" in out


def test_inputs_and_output_are_still_required_without_list_models(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["photo.png"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: -o/--output" in capsys.readouterr().err
