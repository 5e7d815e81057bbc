"""Score a checkpoint, or the bicubic baseline, on a folder of images (``restorelab-eval``).

Low-quality inputs are synthesized from the ground truth by the configured degradation
(MATLAB-compatible bicubic at ``data.scale`` by default), outputs are scored with PSNR/SSIM on
Y with ``scale`` border pixels cropped, and a JSON report lists the mean and every image.
The Lightning Trainer is the config's ``trainer`` group (``conf/trainer/``), on one device,
with ``trainer.precision`` resolved as in training (``auto``: see ``training/precision.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig

from restorelab.atomic import atomic_write_text, check_writable
from restorelab.errors import ConfigError
from restorelab.training.builder import check_scales
from restorelab.training.fit import output_dir
from restorelab.training.module import RestorationModule
from restorelab.training.precision import choose_precision
from restorelab.weights import build_generator, generator_from_checkpoint


def generator_to_score(cfg: DictConfig) -> tuple[Any, str]:
    """The generator to score and a label for the report."""
    if cfg.get("ckpt_path"):
        generator, _ = generator_from_checkpoint(cfg.ckpt_path)
        return generator, str(cfg.ckpt_path)
    if cfg.get("generator"):
        return build_generator(cfg.generator), str(cfg.generator.get("_target_"))
    raise ConfigError("nothing to evaluate: set ckpt_path=CKPT or generator=bicubic")


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run the test loop over ``data.test_dir`` and write the report; returns it.

    The report's folder is checked first, so an unwritable ``report=`` fails before any
    image is scored rather than after all of them.
    """
    path = Path(cfg.report) if cfg.get("report") else output_dir(cfg) / "report.json"
    try:
        check_writable(path.parent)
    except OSError as e:
        raise ConfigError(f"report={path}: cannot write there: {e.strerror or e}") from e
    generator, label = generator_to_score(cfg)
    degradation = hydra.utils.instantiate(cfg.degradation) if cfg.get("degradation") else None
    check_scales(cfg, generator, degradation, label, training=False)
    datamodule = hydra.utils.instantiate(cfg.data)
    if datamodule.test_source is None:
        raise ConfigError("no images to evaluate: set data.test_dir=DIR")
    module = RestorationModule(
        generator=generator, degradation=degradation, scale=int(cfg.data.scale)
    )
    # device= and precision= are eval.yaml's older spellings of the trainer's keys
    accelerator = str(cfg.get("device") or cfg.trainer.get("accelerator", "auto"))
    choice = choose_precision(cfg.get("precision") or cfg.trainer.get("precision"), accelerator)
    if choice.requested == "auto":
        print(choice.line())  # as training does; an explicit precision (the default) is quiet
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        accelerator=accelerator,
        devices=1,
        num_nodes=1,
        precision=choice.precision,
        logger=False,
        enable_checkpointing=False,
        default_root_dir=str(output_dir(cfg)),
    )
    trainer.test(module, datamodule=datamodule, verbose=False)
    images = module.test_results
    report = {
        "psnr_y": float(trainer.callback_metrics["test/psnr_y"]),
        "ssim_y": float(trainer.callback_metrics["test/ssim_y"]),
        "scale": int(cfg.data.scale),
        "model": label,
        "test_dir": str(cfg.data.get("test_dir")),
        "images": images,
    }
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    print(
        f"{len(images)} images, x{report['scale']}: PSNR-Y {report['psnr_y']:.2f} dB, "
        f"SSIM-Y {report['ssim_y']:.4f} -> {path}"
    )
    return report
