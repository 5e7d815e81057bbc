"""Shared fixtures: offline W&B in a temp dir, and composing the real Hydra configs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from restorelab.config import config_dir, register_resolvers

register_resolvers()


@pytest.fixture(autouse=True)
def _offline_wandb(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test runs W&B offline and keeps its files out of the home directory."""
    home = tmp_path_factory.mktemp("wandb_home")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(home / var.lower()))
    # an in-process wandb.init of an earlier test leaves its service's address here; a training
    # subprocess inheriting it would join that service, which still holds killed runs' ids
    monkeypatch.delenv("WANDB_SERVICE", raising=False)


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Iterator[Callable[..., DictConfig]]:
    """Compose a root config (``train`` or ``eval``) with overrides, run dir in tmp_path."""

    def _compose(*overrides: str, config_name: str = "train", run_dir: Path | None = None):
        out = run_dir or tmp_path / "run"
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides))
        with open_dict(cfg):
            cfg.paths.output_dir = str(out)
        return cfg

    yield _compose
