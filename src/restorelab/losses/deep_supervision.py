"""Deep supervision: one loss over every stage of a multi-stage generator.

A multi-stage generator (``restorelab.archs.RefineNet``) returns one image per stage. Scoring
only the last would leave the early stages without a direct training signal; scoring each with
the content terms (MPRNet's recipe) makes every stage a usable restoration and lets each later
stage learn the correction of the one before it.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from restorelab.errors import ConfigError
from restorelab.losses.composite import CompositeLoss


def deep_supervision_loss(
    loss: CompositeLoss,
    stages: Sequence[Tensor],
    gt: Tensor,
    stage_weights: Sequence[float],
    discriminator: nn.Module | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """``sum_k w_k * content(stage_k) + adversarial(final stage)``.

    Adversarial terms judge only the final output (intermediate stages are not meant to look
    real, only to be closer to the ground truth). The final stage's terms keep their usual
    names (``l1``, ...), so a multi-stage run logs the same keys as any other; earlier stages
    are logged as ``<term>_stage<k>`` (k from 1), unweighted.

    Args:
        loss: the configured composite loss.
        stages: every stage's output, first to last (the last is the final image).
        gt: ground truth.
        stage_weights: one weight per stage for its content terms.
        discriminator: passed on for the final stage's adversarial terms.

    Returns:
        the weighted total and the per-term values (detached).
    """
    if len(stage_weights) != len(stages):
        raise ConfigError(
            f"generator.stage_weights has {len(stage_weights)} entries for {len(stages)} stages"
        )
    target = loss.content_target(gt)
    *early, final = stages
    total, parts = loss.generator(final, gt, discriminator, content_gt=target)
    w_final = float(stage_weights[-1])
    if w_final != 1.0:  # rescale the final content terms only (no discriminator: content only)
        content, _ = loss.generator(final, gt, None, content_gt=target)
        total = total + (w_final - 1.0) * content
    for k, (out, weight) in enumerate(zip(early, stage_weights, strict=False), start=1):
        content, stage_parts = loss.generator(out, gt, None, content_gt=target)
        if float(weight) != 0.0:
            total = total + float(weight) * content
        parts.update({f"{name}_stage{k}": v for name, v in stage_parts.items()})
    return total, parts
