"""GAN training mechanics: EMA, delayed and repeated D updates, the NaN guard, warm-up."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor
from torch.utils.data import DataLoader

from restorelab.archs import PatchGANDiscriminator, SRVGGNetCompact
from restorelab.degradations import BicubicDown, Degradation
from restorelab.errors import ConfigError, NonFiniteLossError
from restorelab.losses import CompositeLoss, GANLoss, L1Loss, LossTerm
from restorelab.training.callbacks import AtomicCheckpointIO
from restorelab.training.module import RestorationModule
from restorelab.training.schedulers import with_warmup
from restorelab.weights import generator_from_checkpoint, load_checkpoint

GEN_CFG = {"_target_": "restorelab.archs.SRVGGNetCompact", "num_feat": 8, "num_conv": 2, "scale": 4}


def _module(loss: CompositeLoss | None = None, **options) -> RestorationModule:
    torch.manual_seed(0)
    return RestorationModule(
        generator=SRVGGNetCompact(num_feat=8, num_conv=2, scale=4),
        discriminator=PatchGANDiscriminator(num_feat=8, n_layers=2),
        loss=loss or CompositeLoss({"l1": L1Loss(), "adversarial": GANLoss(weight=0.1)}),
        degradation=Degradation({"down": BicubicDown(4)}, seed=0),
        optimizer_g=functools.partial(torch.optim.Adam, lr=1e-2),
        optimizer_d=functools.partial(torch.optim.Adam, lr=1e-2),
        scale=4,
        generator_config=GEN_CFG,
        **options,
    )


def _data(n: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    items = [{"gt": torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=g)}]
    return DataLoader(items * n, batch_size=2)


def _trainer(tmp_path: Path, steps: int, **kwargs) -> L.Trainer:
    return L.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=kwargs.pop("enable_checkpointing", bool(kwargs.get("callbacks"))),
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
        plugins=[AtomicCheckpointIO()],
        **kwargs,
    )


def _count_steps(module: RestorationModule) -> dict[str, int]:
    """Count each optimizer's steps (wrapping ``configure_optimizers``)."""
    counts = {"g": 0, "d": 0}
    original = module.configure_optimizers

    def spying():
        entries = original()
        for name, entry in zip(("g", "d"), entries, strict=True):
            opt, step = entry["optimizer"], entry["optimizer"].step

            def wrapped(*a, _step=step, _name=name, **k):
                counts[_name] += 1
                return _step(*a, **k)

            opt.step = wrapped
        return entries

    module.configure_optimizers = spying  # type: ignore[method-assign]
    return counts


def test_ema_is_the_configured_average_and_lags_the_live_weights(tmp_path) -> None:
    module = _module(ema_decay=0.9)
    assert module.generator_ema is not None
    w0 = {k: v.clone() for k, v in module.generator.state_dict().items()}
    _trainer(tmp_path, 1).fit(module, _data())
    w1 = module.generator.state_dict()
    ema = module.generator_ema.state_dict()
    for k in w0:  # one update: ema = 0.9 * w0 + 0.1 * w1, exactly
        assert torch.allclose(ema[k], 0.9 * w0[k] + 0.1 * w1[k], atol=1e-7)

    _trainer(tmp_path, 6).fit(module, _data())  # continue to 6 iterations

    def dist(a: dict[str, Tensor]) -> float:
        return sum(float((a[k] - w0[k]).abs().sum()) for k in w0)

    live, avg = module.generator.state_dict(), module.generator_ema.state_dict()
    assert any(not torch.equal(live[k], avg[k]) for k in live)
    assert 0 < dist(avg) < dist(live)  # the average moved, but less than the live weights
    assert not any(p.requires_grad for p in module.generator_ema.parameters())

    # validation and the saved inference weights use the EMA copy
    lq = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(module.restore(lq), module.generator_ema(lq))
        assert not torch.equal(module.restore(lq), module.generator(lq))
    ckpt = tmp_path / "ema.ckpt"
    trainer = _trainer(tmp_path, 1)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(ckpt)
    assert any(k.startswith("generator_ema.") for k in load_checkpoint(ckpt)["state_dict"])
    restored, _ = generator_from_checkpoint(ckpt)
    for k, v in restored.state_dict().items():
        assert torch.equal(v, avg[k])


def test_without_ema_validation_uses_the_live_generator() -> None:
    module = _module()
    assert module.generator_ema is None and module.inference_generator is module.generator
    with pytest.raises(ConfigError, match=r"module\.ema_decay must be in \[0, 1\)"):
        _module(ema_decay=1.0)


def test_d_start_step_delays_the_discriminator_and_the_adversarial_term(tmp_path) -> None:
    module = _module(d_start_step=2)
    counts = _count_steps(module)
    judged: list[bool] = []
    original = module.loss.generator

    def spy(sr, gt, discriminator=None, content_gt=None):
        judged.append(discriminator is not None)
        return original(sr, gt, discriminator, content_gt)

    module.loss.generator = spy  # type: ignore[method-assign]
    d_states: list[dict[str, Tensor]] = []

    class RecordD(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            d_states.append({k: v.clone() for k, v in pl_module.discriminator.state_dict().items()})

    _trainer(tmp_path, 4, callbacks=[RecordD()], enable_checkpointing=False).fit(module, _data())
    assert judged == [False, False, True, True] and counts == {"g": 4, "d": 2}
    # D's weights did not move during the warm-up iterations 0 and 1, and did from 2 on
    assert all(torch.equal(d_states[2][k], d_states[0][k]) for k in d_states[0])
    assert any(not torch.equal(d_states[3][k], d_states[2][k]) for k in d_states[0])


def test_d_updates_runs_several_discriminator_steps_per_iteration(tmp_path) -> None:
    module = _module(d_updates=3)
    counts = _count_steps(module)
    trainer = _trainer(tmp_path, 2)
    trainer.fit(module, _data())
    assert counts == {"g": 2, "d": 6}
    assert trainer.global_step == 2  # iterations, not optimizer steps


class NaNOnCall(LossTerm):
    """An L1 term that returns NaN on its ``bad_call``-th evaluation (0-based)."""

    def __init__(self, bad_call: int) -> None:
        super().__init__(1.0)
        self.calls, self.bad_call = 0, bad_call

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        self.calls += 1
        value = (sr - gt).abs().mean()
        return value * float("nan") if self.calls - 1 == self.bad_call else value


def test_nan_loss_stops_naming_the_term_and_step_and_keeps_the_checkpoint(tmp_path) -> None:
    loss = CompositeLoss({"pixel": NaNOnCall(bad_call=2), "adversarial": GANLoss(weight=0.1)})
    module = _module(loss)
    ckpt_dir = tmp_path / "ckpt"
    saver = ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=1, save_last=True)
    with pytest.raises(NonFiniteLossError) as info:
        _trainer(tmp_path, 5, callbacks=[saver]).fit(module, _data())
    message = str(info.value)
    assert "non-finite generator loss at step 2" in message and "pixel=nan (weight 1.0)" in message
    assert "adversarial=" not in message  # only the offending term is named
    last = load_checkpoint(ckpt_dir / "last.ckpt")
    assert last["global_step"] == 2
    state = last["state_dict"]
    weights = [v for k, v in state.items() if k.startswith(("generator.", "discriminator."))]
    assert weights and all(torch.isfinite(v).all() for v in weights if v.is_floating_point())
    # no update happened after the last save: the weights in memory are the saved ones
    for k, v in module.generator.state_dict().items():
        assert torch.equal(v, state[f"generator.{k}"])


def test_nan_loss_can_skip_the_batch_instead(tmp_path) -> None:
    loss = CompositeLoss({"pixel": NaNOnCall(bad_call=1), "adversarial": GANLoss(weight=0.1)})
    module = _module(loss, nonfinite="skip")
    trainer = _trainer(tmp_path, 3)
    with pytest.warns(UserWarning, match="non-finite generator loss at step 1.*skipped"):
        trainer.fit(module, _data())
    assert module.skipped_batches == 1 and trainer.global_step == 3
    assert all(torch.isfinite(p).all() for p in module.parameters())
    with pytest.raises(ConfigError, match=r"module\.nonfinite='ignore' unknown"):
        _module(nonfinite="ignore")


def test_warmup_then_cosine_learning_rates() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([param], lr=1.0)
    cosine = functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=4, eta_min=0.0)
    sched = with_warmup(opt, cosine, warmup_steps=4, start_factor=0.25)
    lrs = []
    for _ in range(9):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # linear ramp 0.25 -> 1 over 4 steps, then cosine over T_max=4 from the hand-over
    ramp = [0.25, 0.4375, 0.625, 0.8125]
    cos = [0.5 * (1 + math.cos(math.pi * t / 4)) for t in range(5)]
    assert lrs == pytest.approx(ramp + cos, abs=1e-9)
    with pytest.raises(ConfigError, match="warmup_steps"):
        with_warmup(opt, cosine, warmup_steps=0)


def test_lpips_is_zero_for_identical_images_symmetric_and_grows_with_distortion() -> None:
    from restorelab.metrics.lpips import LPIPS, torchmetrics_lin_path

    torch.manual_seed(0)
    net = LPIPS(backbone_weights="random")
    shipped = torch.load(torchmetrics_lin_path(), map_location="cpu", weights_only=True)
    assert torch.equal(net.lins[2].weight, shipped["lin2.model.1.weight"])
    assert not [k for k in net.state_dict() if k.startswith("backbone.")]
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 32, 32, generator=g)
    noise = torch.randn(a.shape, generator=g)
    small, large = (a + 0.05 * noise).clamp(0, 1), (a + 0.3 * noise).clamp(0, 1)
    assert net(a, a).tolist() == [0.0, 0.0]
    assert torch.allclose(net(a, small), net(small, a))
    assert (net(a, small) < net(a, large)).all() and net(a, small).shape == (2,)


def test_grad_clip_bounds_each_networks_gradient_at_its_step(tmp_path) -> None:
    module = _module(grad_clip=1e-3)
    norms: dict[str, list[float]] = {"g": [], "d": []}
    original = module.configure_optimizers

    def spying():
        entries = original()
        nets = {"g": module.generator, "d": module.discriminator}
        for name, entry in zip(("g", "d"), entries, strict=True):
            opt, step = entry["optimizer"], entry["optimizer"].step

            def wrapped(*a, _step=step, _name=name, **k):
                grads = [p.grad.flatten() for p in nets[_name].parameters() if p.grad is not None]
                norms[_name].append(float(torch.cat(grads).norm()))
                return _step(*a, **k)

            opt.step = wrapped
        return entries

    module.configure_optimizers = spying  # type: ignore[method-assign]
    _trainer(tmp_path, 2).fit(module, _data())
    assert len(norms["g"]) == len(norms["d"]) == 2
    assert max(norms["g"] + norms["d"]) <= 1e-3 * (1 + 1e-4)
