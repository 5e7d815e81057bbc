"""``restorelab-train``: compose the config, then train one run (or each job of a sweep).

The work is :func:`restorelab.training.fit.train`; :func:`restorelab.runs.job.run_job`
wraps it with the run's status files and, inside a sweep, failure isolation.

The command line Hydra composes is computed here, once, from the user's (:func:`hydra_argv`):
``resume=RUN`` becomes RUN's saved config with its checkpoint and W&B run as explicit overrides
(:func:`restorelab.runs.resume.resume_argv`), and a saved config gets restorelab's Hydra
settings back (:func:`restorelab.runs.info.rerun_argv`). So ``--cfg job`` prints what runs.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from restorelab.commands.common import report_errors
from restorelab.config import config_dir, register_resolvers
from restorelab.runs.info import rerun_argv
from restorelab.runs.job import run_job
from restorelab.runs.resume import resume_argv
from restorelab.runs.sweeps import exit_code as sweep_exit_code
from restorelab.training import compat
from restorelab.training.fit import output_dir, train

register_resolvers()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    # run_info.json + run_status.json; in a sweep a failed job does not stop the others
    return run_job("restorelab-train", train, cfg, output_dir(cfg))


#: Hydra's command-line flags that take a value (``--info`` takes an optional one).
_VALUE_FLAGS = (
    "-c", "--cfg", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name",
    "-cd", "--config-dir", "--experimental-rerun",
)  # fmt: skip
_INFO_FLAGS = ("-i", "--info")
_INFO_CHOICES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")


def options_first(argv: list[str]) -> list[str]:
    """``argv`` with Hydra's flags (and their values) before the overrides, each kept in order.

    Hydra's parser takes the overrides as one run of positional arguments, so overrides after
    a flag (``resume=RUN --cfg job`` rewritten, or the ``hydra.run.dir=`` Lightning's DDP
    launcher appends) would be refused as unrecognized.
    """
    options: list[str] = []
    overrides: list[str] = []
    args = list(argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        takes = arg in _VALUE_FLAGS or (
            arg in _INFO_FLAGS and i + 1 < len(args) and args[i + 1] in _INFO_CHOICES
        )
        if arg.startswith("-"):
            options += args[i : i + 2] if takes else [arg]
            i += 2 if takes else 1
        else:
            overrides.append(arg)
            i += 1
    return [argv[0], *options, *overrides]


def hydra_argv(argv: list[str]) -> list[str]:
    """The command line Hydra composes for ``argv`` (the user's, ``argv[0]`` the program).

    ``resume=RUN``: RUN's saved config, checkpoint and W&B run, in RUN; ``--config-dir
    RUN/.hydra``: keep restorelab's Hydra settings; flags before overrides. A new list.
    """
    return options_first(rerun_argv(resume_argv(argv)))


def main() -> None:
    """Console entry point of ``restorelab-train``."""
    compat.silence_lightning_pytree_deprecation()
    compat.silence_model_summary_precision_note()
    argv = report_errors("restorelab-train", hydra_argv, list(sys.argv))
    # The one place restorelab-train sets the command line (runs/ddp.py swaps it only while a
    # sweep job's DDP ranks are launched): Hydra's @hydra.main parses sys.argv, and Lightning's
    # DDP launcher starts ranks 1..N-1 by re-running it, so both must see the rewritten one.
    sys.argv = argv
    _hydra_main()
    if sweep_exit_code():  # a job of a sweep failed; the others ran
        sys.exit(sweep_exit_code())


if __name__ == "__main__":
    main()
