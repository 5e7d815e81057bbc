"""RestorationModule: a generator, an optional discriminator, their steps and metrics.

One training-step code path serves both pixel-only and GAN training: the module always uses
manual optimization, runs the generator step, and runs the discriminator step only when a
discriminator is configured. Low-quality inputs are synthesized on the device at the start of
each step (:meth:`RestorationModule.prepare_batch`), so the degradation runs on the GPU when
there is one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from restorelab.degradations import Degradation
from restorelab.errors import ConfigError
from restorelab.losses import CompositeLoss, L1Loss
from restorelab.losses.deep_supervision import deep_supervision_loss
from restorelab.metrics import PSNRY, SSIMY
from restorelab.ops.imresize import imresize
from restorelab.training import compat
from restorelab.training.ema import check_ema_decay, ema_update, make_ema
from restorelab.training.scoring import (
    check_output_shape,
    counted_images,
    per_image_scores,
    scoring_view,
    update_metrics,
)
from restorelab.training.steps import (
    NONFINITE_ACTIONS,
    OptimizerFactory,
    OptimizerSpec,
    SchedulerFactory,
    build_optimizers,
    check_finite,
    check_gan_options,
    discriminator_steps,
    logs_this_batch,
    optimizer_specs,
    replan_optimizers,
)

__all__ = [
    "NONFINITE_ACTIONS",
    "OptimizerFactory",
    "RestorationModule",
    "SchedulerFactory",
    "scoring_view",
]


class RestorationModule(L.LightningModule):
    """Train and evaluate an image-restoration generator, optionally against a discriminator.

    Args:
        generator: network mapping ``lq`` (B,3,h,w) to ``sr`` (B,3,h*scale,w*scale).
        loss: weighted named terms; adversarial terms need ``discriminator`` (default: L1,
            enough for evaluation-only use).
        optimizer_g: partial optimizer for the generator's parameters.
        scheduler_g: partial LR scheduler for ``optimizer_g`` (stepped every iteration).
        degradation: synthesizes ``lq`` from ``gt`` when the batch has no ``lq``.
        discriminator: optional critic; enables the GAN step.
        optimizer_d: partial optimizer for the discriminator (required with one).
        scheduler_d: partial LR scheduler for ``optimizer_d``.
        scale: super-resolution factor; metrics crop ``scale`` pixels from each border.
        channels_last: run the generator in channels-last memory format (faster convs on
            recent CPUs and GPUs).
        grad_clip: max gradient norm for each network (None: no clipping).
        ema_decay: keep an exponential moving average of the generator's weights
            (``generator_ema``, updated after every generator step with
            ``ema = decay * ema + (1 - decay) * live``; Real-ESRGAN: 0.999). Validation, test
            and the saved inference weights (``generator_ema.*`` in checkpoints, preferred by
            enhance/export and ``generator.pretrained``) use the EMA copy. None: no EMA.
        d_start_step: iteration from which the discriminator trains and the adversarial terms
            enter the generator's loss (before it: content terms only, a warm-up).
        d_updates: discriminator updates per iteration (per generator update), e.g. 5 for
            WGAN-GP's critic; each reuses the iteration's generated batch.
        nonfinite: what a NaN/Inf loss does: ``raise`` (stop with an error naming the term and
            the step, before any weight is touched) or ``skip`` (warn and skip the update).
        compile: compile the generator's forward with ``torch.compile`` (same results,
            faster after the first batches; state-dict keys unchanged).
        compile_backend: the ``torch.compile`` backend (``inductor`` needs a C++ compiler on
            the CPU; ``aot_eager`` needs none).
        generator_config: the generator's resolved config, stored in checkpoints so inference
            rebuilds the architecture without unpickling code.
        run_config: the whole resolved run config, stored in checkpoints for reproduction.
    """

    bicubic_baseline: Tensor

    def __init__(
        self,
        generator: nn.Module,
        loss: CompositeLoss | None = None,
        optimizer_g: OptimizerFactory | None = None,
        scheduler_g: SchedulerFactory | None = None,
        degradation: Degradation | None = None,
        discriminator: nn.Module | None = None,
        optimizer_d: OptimizerFactory | None = None,
        scheduler_d: SchedulerFactory | None = None,
        scale: int = 4,
        channels_last: bool = False,
        grad_clip: float | None = None,
        ema_decay: float | None = None,
        d_start_step: int = 0,
        d_updates: int = 1,
        nonfinite: str = "raise",
        compile: bool = False,
        compile_backend: str = "inductor",
        generator_config: Mapping[str, Any] | None = None,
        run_config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss if loss is not None else CompositeLoss({"l1": L1Loss()})
        loss = self.loss
        self.degradation = degradation
        self.optimizer_g = optimizer_g
        self.scheduler_g = scheduler_g
        self.optimizer_d = optimizer_d
        self.scheduler_d = scheduler_d
        self.scale = int(scale)
        self.channels_last = channels_last
        self.grad_clip = grad_clip
        self.generator_config = dict(generator_config or {})
        self.run_config = dict(run_config or {})
        check_gan_options(loss, discriminator, optimizer_d, d_start_step, d_updates, nonfinite)
        self.ema_decay = check_ema_decay(ema_decay)
        self.d_start_step = int(d_start_step)
        self.d_updates = int(d_updates)
        self.nonfinite = nonfinite
        self.skipped_batches = 0
        self.val_psnr = PSNRY(crop_border=self.scale)
        self.val_ssim = SSIMY(crop_border=self.scale)
        self.val_psnr_bicubic = PSNRY(crop_border=self.scale)
        self.val_ssim_bicubic = SSIMY(crop_border=self.scale)
        self.test_psnr = PSNRY(crop_border=self.scale)
        self.test_ssim = SSIMY(crop_border=self.scale)
        # the bicubic baseline is computed in the first full validation and then reused
        self.register_buffer("bicubic_baseline", torch.full((2,), float("nan")))
        self.test_results: list[dict[str, Any]] = []
        self.last_val_step = -1
        self._baseline_scored = False
        self._degradation_seed = degradation.seed if degradation is not None else 0
        if channels_last:
            self.generator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        # copied after any pretrained weights were loaded into the generator (GAN fine-tuning
        # averages from the stage-1 weights) and before compiling (the copy runs eagerly)
        self.generator_ema: nn.Module | None = None
        if self.ema_decay is not None:
            self.generator_ema = make_ema(self.generator)
        if compile:
            self.generator.compile(backend=compile_backend)

    # ------------------------------------------------------------------ data
    def prepare_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """uint8 -> float [0, 1] on the device, and ``lq`` synthesized when missing (in place).

        Called first by every step rather than from Lightning's ``on_after_batch_transfer``
        hook, which Lightning flags with a warning whenever a datamodule is passed as well.
        The batch dict is updated in place, so callbacks see the float ``lq``/``gt``; tensors
        already in float are left alone (calling it twice changes nothing).
        """
        if batch["gt"].dtype == torch.uint8:
            batch["gt"] = batch["gt"].float().div_(255.0)
        gt = batch["gt"]
        if "lq" in batch:
            if batch["lq"].dtype == torch.uint8:
                batch["lq"] = batch["lq"].float().div_(255.0)
        else:
            if self.degradation is None:
                raise ConfigError("the data has no lq images and no degradation is configured")
            seeds = batch.get("seed")
            # pairs(): with a training-pair pool (degradation.pool_size) gt is swapped too
            batch["gt"], batch["lq"] = self.degradation.pairs(
                gt, seeds=None if seeds is None else [int(s) for s in seeds]
            )
        return batch

    def setup(self, stage: str) -> None:
        """Under DDP with a discriminator, let each backward reduce only its own network.

        Lightning wraps the whole module (G and D) in one ``DistributedDataParallel``; each
        iteration runs two backward passes, G's (D frozen, unused) and D's (on ``sr.detach()``,
        G unused). DDP must then find the unused parameters of each pass, or it waits for
        gradients that never come. This runs before Lightning wraps the module, so it holds
        for any DDP trainer config; pixel-only training keeps the faster default.
        """
        from lightning.pytorch.strategies import DDPStrategy

        strategy = self.trainer.strategy
        if self.discriminator is not None and isinstance(strategy, DDPStrategy):
            compat.set_find_unused_parameters(strategy)

    def on_fit_start(self) -> None:
        """Give every DDP rank its own degradation stream (same seed = same run)."""
        if self.degradation is not None:
            self.degradation.reseed(self._degradation_seed + 1000 * self.global_rank)

    def forward(self, lq: Tensor) -> Tensor:
        """Restore ``lq``: the generator's output, same memory format as configured."""
        if self.channels_last:
            lq = lq.contiguous(memory_format=torch.channels_last)
        return self.generator(lq)

    def stages(self, lq: Tensor) -> list[Tensor]:
        """Every stage's output of a multi-stage generator (RefineNet), else ``[self(lq)]``."""
        stages_fn = getattr(self.generator, "stages", None)
        if not callable(stages_fn):
            return [self(lq)]
        if self.channels_last:
            lq = lq.contiguous(memory_format=torch.channels_last)
        return list(stages_fn(lq))

    def upsample_baseline(self, lq: Tensor) -> Tensor:
        """The parameter-free baseline: MATLAB-style bicubic upsampling of ``lq``."""
        return lq if self.scale == 1 else imresize(lq, scale=self.scale).clamp(0, 1)

    # -------------------------------------------------------------- training
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Generator step, then (with an active discriminator) ``d_updates`` D steps.

        Each network's step runs with the other frozen: D's parameters have
        ``requires_grad=False`` during G's backward (G's adversarial loss leaves no gradient
        on D), and D's loss sees ``sr.detach()`` (no gradient reaches G). A non-finite loss is
        caught before its backward, so no weight ever holds a NaN.
        """
        lq, gt = self.prepare_batch(batch)["lq"], batch["gt"]
        optimizers = self.optimizers()
        opt_g, opt_d = optimizers if isinstance(optimizers, list) else (optimizers, None)
        disc = self.discriminator
        d_active = disc is not None and opt_d is not None and self.global_step >= self.d_start_step
        judge = disc if d_active else None

        stages = self.stages(lq)
        sr = stages[-1]
        if disc is not None:
            disc.requires_grad_(False)  # G's step must not leave gradients on D
        if len(stages) > 1:  # deep supervision: every stage's content terms, weighted
            weights = getattr(self.generator, "stage_weights", [1.0] * len(stages))
            loss_g, parts = deep_supervision_loss(self.loss, stages, gt, weights, judge)
        else:
            loss_g, parts = self.loss.generator(sr, gt, judge)
        if not self._finite("generator", loss_g, parts, batch_idx):
            return loss_g.detach()
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        if self.grad_clip:
            self.clip_gradients(opt_g, gradient_clip_val=self.grad_clip)  # type: ignore[arg-type]
        opt_g.step()
        self.update_ema()

        logs = {f"train/{k}": v for k, v in parts.items()}
        if d_active:
            assert disc is not None and opt_d is not None
            finite = functools.partial(self._finite, idx=batch_idx)
            args = (self.loss, disc, opt_d, sr.detach(), gt, self.d_updates, self.grad_clip)
            logs.update(discriminator_steps(self, *args, finite))

        schedulers = self.lr_schedulers()
        if schedulers is not None:
            for sched in schedulers if isinstance(schedulers, list) else [schedulers]:
                sched.step()  # type: ignore[union-attr,call-arg]

        if logs_this_batch(self.trainer):
            self.log("train/loss", loss_g.detach(), prog_bar=True)
            self.log_dict(logs)
        return loss_g.detach()

    def _finite(self, network: str, total: Tensor, parts: Mapping[str, Tensor], idx: int) -> bool:
        """Whether ``total`` is finite on every process; else raise or (``nonfinite=skip``)
        warn and count a skip, on every process alike.

        See :func:`restorelab.training.steps.check_finite`.
        """
        where = f"step {self.global_step} (epoch {self.current_epoch}, batch {idx})"
        if check_finite(network, total, parts, self.loss.terms, self.nonfinite, where):
            return True
        self.skipped_batches += 1
        return False

    def update_ema(self) -> None:
        """``ema = decay * ema + (1 - decay) * live`` for parameters; buffers are copied."""
        if self.generator_ema is not None and self.ema_decay is not None:
            ema_update(self.generator_ema, self.generator, self.ema_decay)

    @property
    def inference_generator(self) -> nn.Module:
        """The network validation, test and exported weights use: the EMA copy when kept."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def restore(self, lq: Tensor) -> Tensor:
        """Inference: the EMA generator when enabled (else the live one) on ``lq``."""
        if self.generator_ema is None:
            return self(lq)
        if self.channels_last:
            lq = lq.contiguous(memory_format=torch.channels_last)
        return self.generator_ema(lq)

    def _optimizer_specs(self) -> list[OptimizerSpec]:
        """``(network, optimizer factory, scheduler factory, parameters)``, G first."""
        g = (self.generator, self.optimizer_g, self.scheduler_g)
        return optimizer_specs(*g, self.discriminator, self.optimizer_d, self.scheduler_d)

    def on_train_start(self) -> None:
        """After a resume: learning rates and schedules from the config, not the checkpoint.

        See :func:`restorelab.training.schedulers.replan_after_resume`; prints one line per network.
        """
        if self.global_step > 0:
            replan_optimizers(
                self.trainer, self.optimizers(), self._optimizer_specs(), self.global_step
            )

    def configure_optimizers(self) -> Any:
        """One optimizer (and scheduler) per network, G first."""
        return build_optimizers(self._optimizer_specs())

    # ------------------------------------------------------------ evaluation
    def _restore_and_score(
        self, batch: dict[str, Any], psnr: PSNRY, ssim: SSIMY
    ) -> tuple[Tensor, list[tuple[float, float]]]:
        """Run the generator on ``lq`` and update the metrics image by image.

        Returns the restored batch and, for test only, each counted image's
        ``(psnr_y, ssim_y)`` (DDP's padding repeats are not scored: every image counts once).
        """
        lq, gt = batch["lq"], batch["gt"]
        sr = self.restore(lq).float().clamp(0, 1)
        check_output_shape(sr, gt)
        views = update_metrics(sr, gt, batch["gray"], psnr, ssim, counted_images(batch))
        return sr, per_image_scores(views, self.scale) if psnr is self.test_psnr else []

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        self.prepare_batch(batch)
        sr, _ = self._restore_and_score(batch, self.val_psnr, self.val_ssim)
        if torch.isnan(self.bicubic_baseline).any() and not self.trainer.sanity_checking:
            base = self.upsample_baseline(batch["lq"])
            psnr, ssim = self.val_psnr_bicubic, self.val_ssim_bicubic
            update_metrics(base, batch["gt"], batch["gray"], psnr, ssim, counted_images(batch))
            self._baseline_scored = True  # on every rank (each has batches), counted or not
        self.log("val/psnr_y", self.val_psnr, prog_bar=True)
        self.log("val/ssim_y", self.val_ssim)
        return {"sr": sr, "lq": batch["lq"], "gt": batch["gt"]}

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self.last_val_step = self.global_step
        # the same decision on every rank: compute() gathers the metric from all of them
        if torch.isnan(self.bicubic_baseline).any() and self._baseline_scored:
            self._baseline_scored = False
            self.bicubic_baseline = torch.stack(
                [self.val_psnr_bicubic.compute(), self.val_ssim_bicubic.compute()]
            ).to(self.bicubic_baseline)
            self.val_psnr_bicubic.reset()
            self.val_ssim_bicubic.reset()
        if not torch.isnan(self.bicubic_baseline).any():
            self.log("val/psnr_y_bicubic", self.bicubic_baseline[0])
            self.log("val/ssim_y_bicubic", self.bicubic_baseline[1])

    def on_test_epoch_start(self) -> None:
        self.test_results = []

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        self.prepare_batch(batch)
        sr, per_image = self._restore_and_score(batch, self.test_psnr, self.test_ssim)
        names = [n for n, c in zip(batch["name"], counted_images(batch), strict=True) if c]
        for name, (p, s) in zip(names, per_image, strict=True):
            self.test_results.append({"name": name, "psnr_y": p, "ssim_y": s})
        self.log("test/psnr_y", self.test_psnr)
        self.log("test/ssim_y", self.test_ssim)
        return {"sr": sr, "lq": batch["lq"], "gt": batch["gt"]}

    # ----------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store plain-data configs so a checkpoint loads with ``weights_only=True``."""
        from restorelab import __version__

        checkpoint["restorelab"] = {
            "version": __version__,
            "scale": self.scale,
            "generator": self.generator_config,
            "config": self.run_config,
        }
