"""Run bookkeeping: what a run directory holds and how runs are started, resumed and listed.

``job`` (run one training job: status, failure isolation inside sweeps, closing loggers),
``info`` (``run_info.json``), ``resume``, ``ddp`` (DDP launch under Hydra), ``sweeps``
(W&B grouping resolvers, the sweep report), ``table`` (``restorelab-runs``), ``wandb_offline``
(reading offline W&B files).
"""
