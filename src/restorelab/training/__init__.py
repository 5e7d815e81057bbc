"""Training: the LightningModule, the builder shared by train and eval, and what fit needs.

``module`` (RestorationModule), ``builder`` (config -> generator, module), ``fit`` (one
training run end to end), ``budget`` and ``precision`` (planned steps, auto precision),
``schedulers``, ``loggers``, ``callbacks/``; ``compat`` is the one home of private Lightning
and W&B attributes.
"""
