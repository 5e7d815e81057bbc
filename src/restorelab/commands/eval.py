"""``restorelab-eval``: score a checkpoint, or the bicubic baseline, on a folder of images.

The work is :func:`restorelab.training.evaluate.evaluate`; this is the Hydra entry point.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from restorelab.commands.common import report_errors
from restorelab.config import config_dir, register_resolvers
from restorelab.training.evaluate import evaluate

register_resolvers()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="eval")
def _hydra_main(cfg: DictConfig) -> float:
    return float(report_errors("restorelab-eval", evaluate, cfg)["psnr_y"])


def main() -> None:
    """Console entry point of ``restorelab-eval``."""
    _hydra_main()


if __name__ == "__main__":
    main()
