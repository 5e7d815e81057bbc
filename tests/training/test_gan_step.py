"""The GAN training step: each optimizer moves only its own network, D gets no G gradient."""

from __future__ import annotations

import functools

import lightning as L
import torch
from torch.utils.data import DataLoader

from restorelab.archs import SRVGGNetCompact, VGGStyleDiscriminator
from restorelab.degradations import BicubicDown, Degradation
from restorelab.losses import CompositeLoss, GANLoss, L1Loss
from restorelab.training.module import RestorationModule


def _module() -> RestorationModule:
    torch.manual_seed(0)
    return RestorationModule(
        generator=SRVGGNetCompact(num_feat=8, num_conv=2, scale=4),
        discriminator=VGGStyleDiscriminator(num_feat=8, input_size=32),
        loss=CompositeLoss({"l1": L1Loss(weight=1.0), "gan": GANLoss(weight=0.1)}),
        degradation=Degradation({"down": BicubicDown(4)}, seed=0),
        optimizer_g=functools.partial(torch.optim.Adam, lr=1e-3),
        optimizer_d=functools.partial(torch.optim.Adam, lr=1e-3),
        scale=4,
    )


def test_each_optimizer_moves_only_its_network(tmp_path) -> None:
    module = _module()
    g0 = {k: v.clone() for k, v in module.generator.state_dict().items()}
    d0 = {k: v.clone() for k, v in module.discriminator.state_dict().items()}
    g_param_names = {n for n, _ in module.generator.named_parameters()}

    opt_steps: list[str] = []
    d_states: list[str] = []
    original = module.configure_optimizers

    def spying_configure():  # wrap each optimizer's step to record grads at step time
        entries = original()
        for name, entry in zip(("g", "d"), entries, strict=True):
            opt = entry["optimizer"]
            step = opt.step

            def wrapped(*args, _step=step, _name=name, **kwargs):
                g_has = any(p.grad is not None for p in module.generator.parameters())
                d_has = any(p.grad is not None for p in module.discriminator.parameters())
                d_trainable = all(p.requires_grad for p in module.discriminator.parameters())
                opt_steps.append(f"{_name}:{int(g_has)}{int(d_has)}")
                # D is frozen (requires_grad False) for G's step, trainable for its own
                d_states.append(f"{_name}:{int(d_trainable)}")
                return _step(*args, **kwargs)

            opt.step = wrapped
        return entries

    module.configure_optimizers = spying_configure  # type: ignore[method-assign]
    data = [{"gt": torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)} for _ in range(4)]
    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, DataLoader(data, batch_size=2))
    # at G's step only G has gradients: D got none from the generator's loss
    assert opt_steps[0] == "g:10"
    # at D's step D has gradients (G's are stale from its own step, never from D's loss)
    assert opt_steps[1] == "d:11"
    assert len(opt_steps) == 4  # two iterations, G then D each time
    assert d_states == ["g:0", "d:1", "g:0", "d:1"]
    assert trainer.global_step == 2  # global_step counts iterations, not optimizer steps
    # both networks moved
    g1, d1 = module.generator.state_dict(), module.discriminator.state_dict()
    assert any(not torch.equal(g0[k], g1[k]) for k in g_param_names)
    assert any(not torch.equal(d0[k], d1[k]) for k in d0 if "running" not in k)


def test_generator_step_alone_does_not_touch_the_discriminator() -> None:
    module = _module()
    d0 = {k: v.clone() for k, v in module.discriminator.state_dict().items()}
    lq, gt = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 32, 32)
    module.discriminator.requires_grad_(False)
    loss, _ = module.loss.generator(module.generator(lq), gt, module.discriminator)
    loss.backward()
    assert all(p.grad is None for p in module.discriminator.parameters())
    assert all(p.grad is not None for p in module.generator.parameters())
    # BatchNorm running stats aside, D's weights are untouched
    for k, v in module.discriminator.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, d0[k])

    # and D's loss on a detached output gives G no gradient
    module.generator.zero_grad(set_to_none=True)
    module.discriminator.requires_grad_(True)
    d_loss, _ = module.loss.discriminator(module.discriminator, module.generator(lq).detach(), gt)
    d_loss.backward()
    assert all(p.grad is None for p in module.generator.parameters())
