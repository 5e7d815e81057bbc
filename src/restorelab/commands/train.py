"""``restorelab-train``: compose the config, then train one run (or each job of a sweep).

The work is :func:`restorelab.training.fit.train`; :func:`restorelab.runs.job.run_job`
wraps it with the run's status files and, inside a sweep, failure isolation.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from restorelab.commands.common import report_errors
from restorelab.config import config_dir, register_resolvers
from restorelab.runs.info import rerun_argv
from restorelab.runs.job import run_job
from restorelab.runs.resume import main_argv as resume_main_argv
from restorelab.runs.sweeps import exit_code as sweep_exit_code
from restorelab.training import compat
from restorelab.training.fit import output_dir, train

register_resolvers()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    # run_info.json + run_status.json; in a sweep a failed job does not stop the others
    return run_job("restorelab-train", train, cfg, output_dir(cfg))


def main() -> None:
    """Console entry point of ``restorelab-train``."""
    compat.silence_lightning_pytree_deprecation()
    compat.silence_model_summary_precision_note()
    report_errors("restorelab-train", resume_main_argv)  # resume=RUN: compose RUN's config
    sys.argv = rerun_argv(sys.argv)  # --config-dir RUN/.hydra: keep restorelab's hydra settings
    _hydra_main()
    if sweep_exit_code():  # a job of a sweep failed; the others ran
        sys.exit(sweep_exit_code())


if __name__ == "__main__":
    main()
