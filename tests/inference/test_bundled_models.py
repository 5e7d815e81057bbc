"""Bundled models: found by name through their manifest; none installed asks for a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from restorelab.errors import ConfigError
from restorelab.inference.bundled import (
    BUNDLED_DIR,
    bundled_models,
    default_model,
    resolve_model,
)


def write_manifest(folder: Path, manifest: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models.json").write_text(json.dumps(manifest))
    return folder


def test_without_a_manifest_there_is_no_default_and_names_are_refused(tmp_path: Path) -> None:
    assert BUNDLED_DIR.name == "models" and BUNDLED_DIR.parent.name == "restorelab"
    assert bundled_models(tmp_path) == {}
    with pytest.raises(ConfigError) as caught:
        default_model(tmp_path)
    assert str(caught.value) == (
        "no bundled model is installed; pass --ckpt RUN/checkpoints/best.ckpt or "
        "--model FILE.onnx|FILE.safetensors"
    )
    with pytest.raises(
        ConfigError,
        match=r"^--model general: no such file, and no bundled "
        r"model of that name \(bundled: none installed\)$",
    ):
        resolve_model("general", tmp_path)
    # files: existing ones, and missing ones with a model suffix (loading then names them)
    (tmp_path / "weights").write_bytes(b"")
    assert resolve_model(str(tmp_path / "weights"), tmp_path).path == tmp_path / "weights"
    assert resolve_model("gone.onnx", tmp_path).name == "gone.onnx"


def test_a_manifest_names_the_default_and_its_cards(tmp_path: Path) -> None:
    card = {"task": "real-world x4", "scores": {"RealSRSet/niqe": 4.2}}
    folder = write_manifest(
        tmp_path / "models",
        {
            "default": "general",
            "models": {
                "general": {"file": "general.safetensors", "card": card},
                "anime": {"file": "anime.onnx"},
            },
        },
    )
    found = default_model(folder)
    assert (found.name, found.path, found.card) == ("general", folder / "general.safetensors", card)
    assert resolve_model("anime", folder).path == folder / "anime.onnx"
    with pytest.raises(ConfigError, match=r"\(bundled: anime, general\)$"):
        resolve_model("photo", folder)
    write_manifest(folder, {"default": "photo", "models": {"anime": {"file": "a.onnx"}}})
    with pytest.raises(ConfigError, match="default 'photo' is not one of its models \\(anime\\)"):
        default_model(folder)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "unreadable bundled-model manifest"),
        (json.dumps({"models": []}), "a bundled-model manifest needs a 'models' mapping"),
        (json.dumps({"models": {"x": {"card": {}}}}), "model 'x' names no 'file'"),
    ],
)
def test_a_bad_manifest_is_named(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "models.json").write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        bundled_models(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'models.json'}: ")


# ---------------------------------------------------------------- the models in the wheel
SHIPPED = {
    "sr_x4": ("SRVGGNetCompact", 4),
    "real_x4": ("SRVGGNetCompact", 4),
    "denoise": ("NAFNet", 1),
}


def test_the_package_ships_three_models_with_real_x4_the_default() -> None:
    models = bundled_models()
    assert set(SHIPPED) <= set(models)
    assert default_model().name == "real_x4"
    for name, source in models.items():
        card = source.card
        assert source.path.is_file() and source.path.suffix == ".safetensors", name
        assert source.path.stat().st_size < 16e6, name  # "a few MB"
        for key in ("task", "scale", "architecture", "parameters", "trained_on", "command"):
            assert card.get(key), (name, key)
        assert card["scores"] and card["selfcheck"]["psnr"] > 0, name


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_each_bundled_model_loads_by_name_and_repeats_its_selfcheck(name: str) -> None:
    """The card's self-check PSNR is recomputed to 0.1 dB."""
    from restorelab.inference.enhancer import Enhancer
    from restorelab.inference.selfcheck import selfcheck

    card = bundled_models()[name].card
    enhancer = Enhancer.from_checkpoint(name)
    arch, scale = SHIPPED[name]
    assert (card["architecture"], card["scale"], enhancer.scale) == (arch, scale, scale)
    got = selfcheck(enhancer, card["selfcheck"]["task"])
    assert abs(got - card["selfcheck"]["psnr"]) < 0.1, (name, got, card["selfcheck"])


def _bicubic_psnr_y(task: str) -> float:
    from restorelab.inference.selfcheck import degraded, reference_gt, to_uint8
    from restorelab.metrics import psnr_y
    from restorelab.ops.imresize import imresize

    gt = reference_gt()
    lq = torch.from_numpy(to_uint8(degraded(gt, task, 4).clamp(0, 1))).permute(2, 0, 1)[None]
    return float(psnr_y(imresize(lq.float() / 255, 4.0).clamp(0, 1), gt, crop_border=4)[0])


def test_sr_x4_beats_bicubic_on_clean_input_and_real_x4_beats_both_on_real_degradations() -> None:
    """The issue's claims in miniature, on the self-check crop (held-out figures: the cards)."""
    from restorelab.inference.enhancer import Enhancer
    from restorelab.inference.selfcheck import selfcheck

    sr_x4, real_x4 = Enhancer.from_checkpoint("sr_x4"), Enhancer.from_checkpoint("real_x4")
    assert selfcheck(sr_x4, "sr") > _bicubic_psnr_y("sr") + 1.0
    real = selfcheck(real_x4, "real")
    assert real > _bicubic_psnr_y("real") + 0.3
    assert real > selfcheck(sr_x4, "real") + 0.3


def test_denoise_removes_most_of_sigma_25_noise() -> None:
    from restorelab.inference.enhancer import Enhancer
    from restorelab.inference.selfcheck import degraded, psnr_rgb, reference_gt, selfcheck, to_uint8

    gt = reference_gt()
    noisy = torch.from_numpy(to_uint8(degraded(gt, "denoise", 1).clamp(0, 1)))
    noisy_psnr = psnr_rgb(noisy.permute(2, 0, 1)[None].float() / 255, gt)
    assert 20.0 < noisy_psnr < 21.0  # sigma 25 is 20.2 dB; clipping at 0 and 255 removes some
    assert selfcheck(Enhancer.from_checkpoint("denoise"), "denoise") > noisy_psnr + 10


def test_enhancer_without_a_model_uses_the_default() -> None:
    from restorelab.inference.enhancer import Enhancer

    assert (
        Enhancer.from_checkpoint().model.config == Enhancer.from_checkpoint("real_x4").model.config
    )
