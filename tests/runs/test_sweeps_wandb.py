"""``experiments/*/wandb_sweep.yaml``: W&B's agent can drive restorelab-train with them.

Every parameter name must be a Hydra override of the composed train config (a config group or
an existing key), and every value W&B may pick must compose and land at that key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from restorelab.config import config_dir
from tests.helpers import ROOT

SWEEPS = sorted((ROOT / "experiments").glob("*/wandb_sweep.yaml"))


def sample_values(spec: dict) -> list:
    """The values W&B can choose for one parameter: all listed ones, or the range's ends."""
    if "value" in spec:
        return [spec["value"]]
    if "values" in spec:
        return list(spec["values"])
    assert {"min", "max"} <= set(spec), spec
    return [spec["min"], spec["max"]]


def test_there_is_a_wandb_sweep() -> None:
    assert SWEEPS, "no experiments/<name>/wandb_sweep.yaml"


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.parent.name)
def test_wandb_sweep_parameters_are_overrides_of_the_train_config(path: Path) -> None:
    sweep = yaml.safe_load(path.read_text())
    assert sweep["program"] == "restorelab-train"
    # hyphen-less key=value arguments: Hydra overrides, not argparse flags
    assert sweep["command"] == ["${env}", "${program}", "${args_no_hyphens}"]
    assert sweep["metric"]["name"] == "val/psnr_y" and sweep["metric"]["goal"] == "maximize"
    params = sweep["parameters"]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        groups = {k for k in compose("train", return_hydra_config=True).hydra.runtime.choices}
        # one composed config per sampled value, other parameters at their first value
        first = {k: sample_values(v)[0] for k, v in params.items()}
        for name, spec in params.items():
            for value in sample_values(spec):
                chosen = {**first, name: value}
                overrides = [f"{k}={v}" for k, v in chosen.items()]
                cfg = compose("train", overrides=overrides, return_hydra_config=True)
                if name in groups:
                    assert cfg.hydra.runtime.choices[name] == value, name
                else:
                    assert OmegaConf.select(cfg, name) == value, (name, value)
