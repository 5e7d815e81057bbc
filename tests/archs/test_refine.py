"""RefineNet (generator=refine): stages, deep supervision, the training step, PSNR per stage."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from restorelab.archs import RefineNet, SRVGGNetCompact, SwinIR
from restorelab.data.sources import EmbeddedSource
from restorelab.errors import ConfigError
from restorelab.losses import CompositeLoss, L1Loss, MSELoss
from restorelab.losses.deep_supervision import deep_supervision_loss
from restorelab.metrics import psnr_y
from restorelab.ops.imresize import imresize
from restorelab.training.module import RestorationModule
from restorelab.weights import build_generator
from tests.helpers import CONF


def tiny_refine(scale: int = 2, **kwargs: object) -> RefineNet:
    first = SRVGGNetCompact(num_feat=8, num_conv=1, scale=scale, upsample_skip="bilinear")
    options: dict = {"num_feat": 8, "num_conv": 1, **kwargs}
    return RefineNet(first, **options)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("unshuffle", [True, False])
def test_stages_shapes_and_forward_is_last(scale: int, shared: bool, unshuffle: bool) -> None:
    net = tiny_refine(scale, num_stages=3, shared=shared, unshuffle=unshuffle)
    for p in net.refiners.parameters():  # leave the zero init so every stage does something
        torch.nn.init.normal_(p, std=0.05)
    x = torch.rand(2, 3, 6, 7)
    outs = net.stages(x)
    assert len(outs) == 3
    assert all(o.shape == (2, 3, 6 * scale, 7 * scale) for o in outs)
    torch.testing.assert_close(net(x), outs[-1], rtol=0, atol=0)
    assert not torch.equal(outs[0], outs[1]) and not torch.equal(outs[1], outs[2])
    assert net.scale == scale


def test_new_stages_start_as_identity() -> None:
    """The last conv of each refinement stage is zero-initialised: stage k+1 == stage k."""
    net = tiny_refine(4, num_stages=4)
    outs = net.stages(torch.rand(1, 3, 8, 8))
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=0, atol=0)


def test_shared_weights_have_one_refiner() -> None:
    shared, separate = tiny_refine(num_stages=4, shared=True), tiny_refine(num_stages=4)
    assert len(shared.refiners) == 1 and len(separate.refiners) == 3
    n_first = sum(p.numel() for p in shared.first.parameters())
    n_stage = sum(p.numel() for p in shared.refiners[0].parameters())
    assert sum(p.numel() for p in shared.parameters()) == n_first + n_stage
    assert sum(p.numel() for p in separate.parameters()) == n_first + 3 * n_stage
    single = tiny_refine(num_stages=1)
    assert len(single.refiners) == 0 and len(single.stages(torch.rand(1, 3, 4, 4))) == 1


@pytest.mark.parametrize("shared", [False, True])
def test_scriptable_for_export(shared: bool) -> None:
    """`restorelab-export --format torchscript` scripts the generator; stages() survives it."""
    net = tiny_refine(2, num_stages=3, shared=shared).eval()
    for p in net.refiners.parameters():
        torch.nn.init.normal_(p, std=0.05)
    scripted = torch.jit.script(net)
    x = torch.rand(1, 3, 6, 7)
    torch.testing.assert_close(scripted(x), net(x))
    assert len(scripted.stages(x)) == 3


def test_refine_wraps_any_generator() -> None:
    swin = SwinIR(
        scale=2, img_size=8, embed_dim=8, depths=[1], num_heads=[2], window_size=4,
        upsampler="pixelshuffledirect",
    )  # fmt: skip
    net = RefineNet(swin, num_stages=2, num_feat=8, num_conv=0)
    assert [tuple(o.shape) for o in net.stages(torch.rand(1, 3, 8, 8))] == [(1, 3, 16, 16)] * 2


def test_bad_options_name_the_key() -> None:
    with pytest.raises(
        ConfigError, match=r"generator\.stage_weights has 2 entries for generator\.num_stages=3"
    ):
        tiny_refine(num_stages=3, stage_weights=[1.0, 1.0])
    with pytest.raises(ConfigError, match=r"generator\.stage_weights=\[1\.0, 0\.0\] .* last > 0"):
        tiny_refine(num_stages=2, stage_weights=[1.0, 0.0])
    with pytest.raises(ConfigError, match=r"generator\.num_stages=0 must be > 0"):
        tiny_refine(num_stages=0)
    with pytest.raises(ValueError, match=r"generator\.num_conv=-1 must be >= 0"):
        tiny_refine(num_conv=-1)


def test_deep_supervision_known_values() -> None:
    """total = sum_k w_k * content(stage_k); the final stage keeps the plain term names."""
    gt = torch.ones(1, 3, 4, 4)
    stages = [torch.zeros_like(gt), torch.full_like(gt, 0.5), torch.full_like(gt, 0.75)]
    loss = CompositeLoss({"l1": L1Loss(weight=1.0), "mse": MSELoss(weight=2.0)})
    total, parts = deep_supervision_loss(loss, stages, gt, [0.5, 1.0, 2.0])
    # per stage: l1 + 2 * mse = 1 + 2 = 3 ; 0.5 + 0.5 = 1.0 ; 0.25 + 0.125 = 0.375
    assert float(total) == pytest.approx(0.5 * 3.0 + 1.0 * 1.0 + 2.0 * 0.375)
    assert float(parts["l1"]) == pytest.approx(0.25)
    assert float(parts["mse"]) == pytest.approx(0.0625)
    assert float(parts["l1_stage1"]) == pytest.approx(1.0)
    assert float(parts["mse_stage2"]) == pytest.approx(0.25)
    assert set(parts) == {"l1", "mse", "l1_stage1", "mse_stage1", "l1_stage2", "mse_stage2"}
    with pytest.raises(ConfigError, match="stage_weights has 2 entries for 3 stages"):
        deep_supervision_loss(loss, stages, gt, [1.0, 1.0])


def test_training_step_supervises_every_stage(tmp_path: Path) -> None:
    """Through a real Trainer: stage losses are logged and every stage gets gradients."""
    net = tiny_refine(2, num_stages=3, stage_weights=[0.5, 0.5, 1.0])
    module = RestorationModule(
        net, optimizer_g=lambda p: torch.optim.SGD(p, lr=0.0), scale=2, channels_last=True
    )
    gt = (torch.rand(4, 3, 16, 16) * 255).to(torch.uint8)
    data = torch.utils.data.DataLoader(
        [{"gt": g, "lq": imresize(g[None].float(), scale=0.5)[0].clamp(0, 255).byte()} for g in gt],
        batch_size=2,
    )
    trainer = L.Trainer(
        max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, log_every_n_steps=1, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=data)
    logged = set(trainer.callback_metrics)
    assert {"train/l1", "train/l1_stage1", "train/l1_stage2"} <= logged
    # zero-initialised last convs get a gradient from their own stage's loss
    for refiner in net.refiners:
        assert refiner.body[-1].weight.grad is not None
        assert refiner.body[-1].weight.grad.abs().sum() > 0


def test_validation_grid_has_one_column_per_stage(tmp_path: Path) -> None:
    """bicubic | stage 1 | stage 2 | output | ground truth, each ``crop`` pixels wide."""
    from PIL import Image

    from restorelab.training.callbacks.image_grid import ImageGridLogger

    net = tiny_refine(2, num_stages=3)
    module = RestorationModule(net, scale=2)
    gt = (torch.rand(2, 3, 24, 24) * 255).to(torch.uint8)
    items = [
        {"gt": g, "lq": imresize(g[None].float(), scale=0.5)[0].clamp(0, 255).byte(), "gray": False}
        for g in gt
    ]
    grid = ImageGridLogger(num_images=2, crop=16, save_dir=str(tmp_path))
    trainer = L.Trainer(
        logger=False, callbacks=[grid], enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.validate(module, dataloaders=torch.utils.data.DataLoader(items, batch_size=1))
    (png,) = tmp_path.glob("val_step*.png")
    assert Image.open(png).size == (5 * 16, 2 * 16)
    assert grid._caption == "bicubic | stage 1 | stage 2 | output | ground truth"


def test_refine_config_builds() -> None:
    cfg = OmegaConf.load(CONF / "generator" / "refine.yaml")
    net = build_generator(OmegaConf.create({"data": {"scale": 4}, "generator": cfg}).generator)
    assert isinstance(net, RefineNet) and isinstance(net.first, SRVGGNetCompact)
    assert (net.scale, net.num_stages, net.stage_weights) == (4, 3, [1.0, 1.0, 1.0])


def _held_out(name: str, crop: int = 192) -> tuple[torch.Tensor, torch.Tensor]:
    """A centre crop of a validation photo (never a training one) and its x4 bicubic input."""
    image = EmbeddedSource([name])[0].gt
    gt = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    top, left = (gt.shape[-2] - crop) // 2, (gt.shape[-1] - crop) // 2
    gt = gt[..., top : top + crop, left : left + crop]
    return imresize(gt, scale=0.25).clamp(0, 1), gt


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny convs on one thread: on a shared, oversubscribed CPU, OpenMP barriers between many
    small ops made this training loop 100x slower (1.5 s idle, up to 5 min under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def test_psnr_rises_stage_by_stage_on_held_out_images(one_thread: None) -> None:
    """Train a tiny 3-stage refiner briefly on training photos; on the held-out validation
    photos (coffee, immunohistochemistry) every stage scores a higher PSNR-Y than the last."""
    torch.manual_seed(0)
    first = SRVGGNetCompact(num_feat=8, num_conv=2, scale=4, upsample_skip="bilinear")
    net = RefineNet(first, num_stages=3, num_feat=16, num_conv=2, shared=True)
    loss = CompositeLoss({"l1": L1Loss()})
    train = EmbeddedSource(["astronaut", "chelsea", "rocket", "motorcycle_left", "retina"])
    images = [torch.from_numpy(train[i].gt).permute(2, 0, 1).float() / 255 for i in range(5)]
    gen = torch.Generator().manual_seed(0)
    patch, patches = 48, []
    for _ in range(512):
        im = images[int(torch.randint(len(images), (1,), generator=gen))]
        y = int(torch.randint(im.shape[1] - patch, (1,), generator=gen))
        x = int(torch.randint(im.shape[2] - patch, (1,), generator=gen))
        patches.append(im[:, y : y + patch, x : x + patch])
    gt_bank = torch.stack(patches)
    lq_bank = imresize(gt_bank, scale=0.25).clamp(0, 1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(200):
        idx = torch.randint(len(patches), (8,), generator=gen)
        total, _ = deep_supervision_loss(
            loss, net.stages(lq_bank[idx]), gt_bank[idx], net.stage_weights
        )
        opt.zero_grad()
        total.backward()
        opt.step()
    net.eval()
    for name in ("coffee", "immunohistochemistry"):
        lq, gt = _held_out(name)
        with torch.no_grad():
            scores = [float(psnr_y(o.clamp(0, 1), gt, 4)[0]) for o in net.stages(lq)]
        gains = [b - a for a, b in itertools.pairwise(scores)]
        assert all(g > 0.003 for g in gains), (name, scores)
