"""Apply groups of stages in a random order: Real-ESRGAN's final step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from restorelab.degradations.base import DegradationError, Stage, clamped, prefixed
from restorelab.degradations.build import build_stage
from restorelab.degradations.context import record, stage_name

__all__ = ["RandomOrder"]


class RandomOrder(Stage):
    r"""Run named groups of stages, each group's stages in order, the groups in a random order.

    Real-ESRGAN ends with either "resize back + sinc filter, then JPEG" or "JPEG, then resize
    back + sinc filter", with equal odds: two groups here. One order is drawn per batch (per
    image with validation seeds).

    Args:
        groups: mapping of group name to an ordered mapping of stage name to stage (or stage
            config). ``None`` stages are skipped.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H', W')`, as the stages make it

    Example:
        >>> from restorelab.degradations import JPEG, GaussianNoise
        >>> stage = RandomOrder({"noise": {"n": GaussianNoise()}, "jpeg": {"j": JPEG()}})
        >>> stage(torch.rand(2, 3, 16, 16), torch.Generator().manual_seed(0)).shape
        torch.Size([2, 3, 16, 16])
    """

    def __init__(self, groups: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__()
        if not isinstance(groups, Mapping) or not groups:
            raise DegradationError(
                f"RandomOrder: `groups` must be a non-empty mapping of group name to stages, "
                f"got {groups!r}."
            )
        built = nn.ModuleDict()
        scale = 1
        for group, stages in groups.items():
            if not isinstance(stages, Mapping):
                raise DegradationError(
                    f"groups.{group}: must be a mapping of stage name to stage, got {stages!r}."
                )
            members = nn.ModuleDict()
            for name, spec in stages.items():
                stage = build_stage(f"groups.{group}.{name}", spec)
                if stage is not None:
                    members[str(name)] = stage
                    scale *= int(stage.scale)
            built[str(group)] = members
        self.groups = built
        self.scale = scale

    def _group_stages(self) -> list[tuple[str, list[tuple[str, Stage]]]]:
        """The groups in configured order, each as its (name, stage) pairs."""
        out = []
        for group, members in self.groups.items():
            assert isinstance(members, nn.ModuleDict)
            pairs = [(name, stage) for name, stage in members.items() if isinstance(stage, Stage)]
            out.append((group, pairs))
        return out

    def check_input_size(self, height: int, width: int) -> tuple[int, int]:
        """Check every stage in the configured group order; returns the output size."""
        for group, pairs in self._group_stages():
            for name, stage in pairs:
                try:
                    height, width = stage.check_input_size(height, width)
                except DegradationError as exc:
                    raise prefixed(f"groups.{group}.{name}", exc) from None
        return height, width

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        groups = self._group_stages()
        order = torch.randperm(len(groups), generator=generator, device=x.device).tolist()
        record("order", ",".join(groups[i][0] for i in order))
        for i in order:
            group, stages = groups[i]
            for name, stage in stages:
                with stage_name(f"{group}/{name}"):
                    x = clamped(stage(x, generator), x)
        return x

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
