"""Content loss terms: known values, gradients, the perceptual loss on a random VGG19."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from restorelab.errors import ConfigError
from restorelab.losses import (
    CompositeLoss,
    EdgeLoss,
    FFTLoss,
    L1Loss,
    MSSSIMLoss,
    PerceptualLoss,
    SSIMLoss,
    TVLoss,
    UnsharpMask,
    VGGFeatureExtractor,
)
from restorelab.losses.vgg import build_vgg_features, vgg_layer_names


def _pair(seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(2, 3, size, size, generator=g)
    sr = (gt + 0.1 * torch.randn(2, 3, size, size, generator=g)).clamp(0, 1)
    return sr, gt


@pytest.mark.parametrize(
    "term", [SSIMLoss(), MSSSIMLoss(), FFTLoss(), EdgeLoss(), TVLoss()], ids=type
)
def test_every_content_term_is_a_differentiable_scalar(term) -> None:
    sr, gt = _pair()
    sr.requires_grad_(True)
    value = term(sr, gt)
    assert value.ndim == 0 and torch.isfinite(value) and float(value) > 0
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0


def test_ssim_and_ms_ssim_are_zero_on_identical_images_and_grow_with_noise() -> None:
    _, gt = _pair(size=64)
    assert float(SSIMLoss()(gt, gt)) == pytest.approx(0.0, abs=1e-5)
    assert float(MSSSIMLoss()(gt, gt)) == pytest.approx(0.0, abs=1e-5)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(gt.shape, generator=g)
    small, large = (gt + 0.05 * noise).clamp(0, 1), (gt + 0.3 * noise).clamp(0, 1)
    assert 0 < float(SSIMLoss()(small, gt)) < float(SSIMLoss()(large, gt)) <= 2.0
    assert 0 < float(MSSSIMLoss()(small, gt)) < float(MSSSIMLoss()(large, gt)) <= 1.0
    with pytest.raises(ConfigError, match="window_size"):
        SSIMLoss(window_size=4)


def test_ssim_loss_matches_one_minus_the_ssim_formula_on_constant_images() -> None:
    # constant images a and b: SSIM = (2ab + C1) / (a^2 + b^2 + C1), the structure part is 1
    a, b, c1 = 0.2, 0.6, 0.01**2
    expected = 1 - (2 * a * b + c1) / (a * a + b * b + c1)
    x, y = (torch.full((1, 1, 16, 16), v, dtype=torch.float64) for v in (a, b))
    assert float(SSIMLoss()(x, y)) == pytest.approx(expected, rel=1e-7)


def test_fft_tv_edge_known_values() -> None:
    # rfft2 (ortho) of a constant image c on 4x4: only the DC term, 4c, among 4*3 complex = 24 reals
    assert float(FFTLoss()(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4))) == pytest.approx(
        4 / 24
    )
    checker = (torch.arange(4).view(4, 1) + torch.arange(4).view(1, 4)) % 2
    assert float(TVLoss()(checker.float()[None, None], torch.zeros(1, 1, 4, 4))) == 2.0
    # a horizontal ramp of slope a against a flat image: normalised Sobel gives a inside and a/2
    # on the replicated border columns; the y-gradients are 0 for both
    a, w = 0.1, 8
    ramp = (a * torch.arange(w, dtype=torch.float32)).expand(1, 1, w, w)
    expected = a * (w - 2 + 1) / w / 2
    assert float(EdgeLoss()(ramp, torch.zeros_like(ramp))) == pytest.approx(expected, rel=1e-5)
    assert float(EdgeLoss()(ramp, ramp + 0.3)) == pytest.approx(0.0, abs=1e-7)  # offsets ignored


def test_vgg_layer_names_follow_torchvision_indices() -> None:
    names = vgg_layer_names("vgg19")
    assert len(names) == 37 and names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names.index("conv5_4") == 34 and names.index("relu5_4") == 35
    keys = set(build_vgg_features("vgg19", 37).state_dict())
    assert {"0.weight", "34.weight", "34.bias"} <= keys and "35.weight" not in keys
    with pytest.raises(ConfigError, match=r"unknown vgg19 layer\(s\) \['conv6_1'\]"):
        VGGFeatureExtractor(["conv6_1"], weights=None)


def test_perceptual_loss_on_a_random_vgg19() -> None:
    torch.manual_seed(0)
    loss = PerceptualLoss(layer_weights={"conv1_2": 0.5, "conv2_2": 1.0}, weights="random")
    sr, gt = _pair()
    assert float(loss(gt, gt)) == 0.0
    sr.requires_grad_(True)
    value = loss(sr, gt)
    assert float(value) > 0
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.vgg.parameters())
    # the value is the weighted sum of per-layer L1 feature distances
    feats_sr, feats_gt = loss.vgg(sr.detach()), loss.vgg(gt)
    expected = sum(
        w * (feats_sr[n] - feats_gt[n]).abs().mean() for n, w in loss.layer_weights.items()
    )
    assert float(value) == pytest.approx(float(expected), rel=1e-5)
    # the extractor stays frozen in eval mode, and its weights stay out of checkpoints
    loss.train()
    assert not loss.vgg.training
    assert not [k for k in loss.state_dict() if "vgg" in k]
    loss.load_state_dict(loss.state_dict())  # loads although the VGG weights are not in it
    # randomly initialised as torchvision does, the deepest layer ESRGAN uses still responds
    deep = PerceptualLoss(layer_weights={"conv5_4": 1.0}, weights="random")
    assert float(deep(sr.detach(), gt)) > 1e-3


def test_perceptual_before_and_after_activation_differ() -> None:
    sr, _ = _pair()
    torch.manual_seed(0)
    before = VGGFeatureExtractor(["conv1_2", "relu1_2"], weights=None)(sr)
    assert (before["conv1_2"] < 0).any()  # ESRGAN's choice keeps the negative responses
    assert torch.equal(before["relu1_2"], before["conv1_2"].clamp(min=0))
    with pytest.raises(ConfigError, match="criterion"):
        PerceptualLoss(criterion="cosine", weights=None)


def test_perceptual_weights_load_from_a_torchvision_file(tmp_path: Path) -> None:
    torch.manual_seed(3)
    features = build_vgg_features("vgg19", 37)
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    loss = PerceptualLoss(layer_weights={"conv5_4": 1.0}, weights=str(path))
    assert torch.equal(loss.vgg.features[34].weight, features[34].weight)

    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ConfigError, match="not a torchvision VGG state dict"):
        PerceptualLoss(weights=str(tmp_path / "bad.pth"))


def test_missing_vgg19_weights_say_which_file_to_put_where(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    with pytest.raises(ConfigError) as info:
        PerceptualLoss(weights="torchvision")
    message = str(info.value)
    assert str(expected) in message
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message
    assert "loss.terms.perceptual.weights" in message
    with pytest.raises(ConfigError, match=r"weights file not found: /nowhere/vgg\.pth"):
        PerceptualLoss(weights="/nowhere/vgg.pth")


def test_unsharp_mask_sharpens_edges_and_leaves_flat_areas() -> None:
    usm = UnsharpMask(kernel_size=7, sigma=1.4, weight=0.5, threshold=10)
    flat = torch.full((1, 3, 16, 16), 0.4)
    assert torch.allclose(usm(flat), flat)
    step = torch.zeros(1, 1, 16, 16)
    step[..., 8:] = 0.8
    sharp = usm(step)
    assert float(sharp[..., 8].max()) > 0.8 + 1e-3  # overshoot on the bright side
    assert float(sharp[..., 7].min()) == 0.0 and sharp.shape == step.shape  # clamped at 0
    assert torch.allclose(sharp[..., :, :3], step[..., :, :3])  # far from the edge: untouched


def test_composite_sharpens_the_target_of_content_terms_only() -> None:
    usm = UnsharpMask(kernel_size=7, sigma=1.4)
    loss = CompositeLoss({"l1": L1Loss()}, sharpen_gt=usm)
    sr, gt = _pair()
    _, parts = loss.generator(sr, gt)
    assert float(parts["l1"]) == pytest.approx(float((sr - usm(gt)).abs().mean()), rel=1e-6)
    assert not math.isclose(float(parts["l1"]), float((sr - gt).abs().mean()), rel_tol=1e-4)
