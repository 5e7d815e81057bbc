"""Every option of every config group composes, and the objects it names can be built."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from restorelab.config import config_dir
from restorelab.weights import build_generator

CONF = Path(config_dir())
GROUPS = [
    "generator",
    "discriminator",
    "loss",
    "degradation",
    "data",
    "optimizer",
    "scheduler",
    "trainer",
    "logger",
    "callbacks",
    "paths",
    "experiment",
    "debug",
]
# Restoration at scale 1 (issue 4): these options set or need data.scale=1.
SCALE_1 = {
    ("experiment", "deblur_gopro_style"),
    ("experiment", "denoise_sigma25"),
    ("experiment", "jpeg_q10"),
    ("generator", "nafnet"),
    ("generator", "nafnet_tiny"),
    ("generator", "unet"),
    ("generator", "unet_tiny"),
}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g in GROUPS for o in options(g)], ids=lambda x: str(x)
)
def test_every_option_composes_and_resolves(compose_cfg, group: str, option: str) -> None:
    overrides = [f"{group}={option}"]
    if group == "generator" and option != "bicubic":
        pass
    cfg = compose_cfg(*overrides)
    # everything but the Hydra-only run dir must resolve
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    assert cfg.data.scale == (1 if (group, option) in SCALE_1 and group == "experiment" else 4)


@pytest.mark.parametrize("option", options("generator"))
def test_generator_options_instantiate_with_declared_scale(compose_cfg, option: str) -> None:
    scale = 1 if ("generator", option) in SCALE_1 else 4
    cfg = compose_cfg(f"generator={option}", f"data.scale={scale}")
    net = build_generator(cfg.generator)
    assert net.scale == scale


@pytest.mark.parametrize("option", options("loss"))
def test_loss_options_instantiate(compose_cfg, option: str) -> None:
    cfg = compose_cfg(f"loss={option}")
    if "perceptual" in cfg.loss.terms:  # no ImageNet VGG19 file in tests: random weights
        cfg.loss.terms.perceptual.weights = "random"
    loss = hydra.utils.instantiate(cfg.loss)
    assert len(loss.terms) >= 1


@pytest.mark.parametrize("option", options("degradation"))
def test_degradation_options_instantiate(compose_cfg, option: str) -> None:
    cfg = compose_cfg(f"degradation={option}")
    assert hydra.utils.instantiate(cfg.degradation).scale in (1, 4)


def test_eval_config_composes(compose_cfg) -> None:
    cfg = compose_cfg("generator=bicubic", "data.test_dir=/x", config_name="eval")
    assert cfg.degradation.stages.bicubic.scale == 4
    assert cfg.generator._target_ == "restorelab.archs.Bicubic"


def test_unknown_option_is_a_clear_error(compose_cfg) -> None:
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="generator"):
        compose_cfg("generator=nope")


def test_default_experiment_is_the_documented_recipe(compose_cfg) -> None:
    cfg = compose_cfg()
    assert cfg.generator._target_ == "restorelab.archs.SRVGGNetCompact"
    assert (cfg.generator.num_feat, cfg.generator.num_conv) == (48, 12)
    assert cfg.loss.terms.l1.weight == 1.0
    assert cfg.trainer.precision == "auto"
    assert cfg.budget.plan and cfg.trainer.max_time == "00:00:09:00"
    assert (cfg.data.patch_size, cfg.data.batch_size) == (96, 16)
    assert cfg.optimizer.generator.lr == 5e-4
    assert cfg.scheduler.generator.T_max == cfg.trainer.max_steps
    assert not cfg.get("discriminator")
