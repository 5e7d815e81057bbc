"""Loggers as ``restorelab-train`` configures them (``conf/logger/``)."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger

from restorelab.training import compat


class WandbLogger(LightningWandbLogger):
    """Lightning's W&B logger without the ``anonymous`` warning of recent wandb versions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        compat.drop_unset_wandb_anonymous(self)
