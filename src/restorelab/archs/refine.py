"""RefineNet: a generator that improves its output stage by stage (multi-stage refinement).

Stage 1 is any generator (it does the upsampling for super-resolution); every later stage looks
at the previous stage's output together with the input and adds a correction. Trained with a
loss on every stage (deep supervision, as in MPRNet), each stage learns to fix what the one
before it got wrong, and :meth:`RefineNet.stages` exposes every intermediate image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.archs._checks import ArchConfigError, check_positive


class RefineStage(nn.Module):
    """One correction step: ``out = prev + body(prev, input)``.

    With ``unshuffle`` > 1 the previous output is rearranged space-to-depth
    (``pixel_unshuffle``) to the input's resolution, concatenated with the input, and the
    predicted correction is rearranged back (``pixel_shuffle``): the stage still corrects every
    output pixel, but its convolutions run on ``unshuffle**2`` times fewer positions. With
    ``unshuffle`` = 1 it works at output resolution on the previous output and the upsampled
    input. The last conv starts at zero, so a new stage starts as the identity and can only
    be trained to improve on its predecessor.

    Args:
        channels: image channels.
        num_feat: width of the hidden convs.
        num_conv: hidden 3x3 convs after the first.
        unshuffle: space-to-depth factor (the generator's scale, or 1).

    Shape:
        - Input: ``prev`` :math:`(B, C, sH, sW)`, ``guide`` :math:`(B, C, H, W)` (unshuffle
          s > 1) or :math:`(B, C, sH, sW)` (s = 1).
        - Output: same as ``prev``.
    """

    def __init__(self, channels: int, num_feat: int, num_conv: int, unshuffle: int) -> None:
        super().__init__()
        self.unshuffle = unshuffle
        packed = channels * unshuffle * unshuffle
        layers: list[nn.Module] = [
            nn.Conv2d(packed + channels, num_feat, 3, 1, 1),
            nn.PReLU(num_feat),
        ]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        last = nn.Conv2d(num_feat, packed, 3, 1, 1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)  # type: ignore[arg-type]  # Conv2d(bias=True) has one
        layers.append(last)
        self.body = nn.Sequential(*layers)

    def forward(self, prev: Tensor, guide: Tensor) -> Tensor:
        s = self.unshuffle
        packed = F.pixel_unshuffle(prev, s) if s > 1 else prev
        correction = self.body(torch.cat((packed, guide), dim=1))
        return prev + (F.pixel_shuffle(correction, s) if s > 1 else correction)


class RefineNet(nn.Module):
    """A first generator followed by ``num_stages - 1`` residual refinement stages.

    ``forward`` returns the final image; :meth:`stages` returns every stage's output (the last
    one is the final image), which the training step supervises with ``stage_weights``
    (deep supervision), the validation grid shows side by side, and
    ``restorelab-enhance --save-steps`` writes out.

    Design: stage 1 (``first``, any generator, e.g. a compact SRVGG) maps the input to the
    output resolution; stages 2..K see the previous output and the input (pixel-unshuffled to
    the input resolution by default, see :class:`RefineStage`) and add a correction. With
    ``shared=True`` one refinement stage is applied K-1 times (an unrolled recurrent
    refiner: fewer parameters, same compute).

    Args:
        first: the stage-1 generator; its ``scale`` is the network's scale.
        num_stages: K, total stages including the first (>= 1).
        num_feat: width of each refinement stage.
        num_conv: hidden convs of each refinement stage.
        shared: one set of refinement weights for every stage after the first.
        unshuffle: refine on pixel-unshuffled images at input resolution (cheaper) instead of
            at output resolution on the bilinearly upsampled input.
        stage_weights: loss weight of each stage's content terms, K non-negative values
            (None: 1.0 each, as MPRNet weighs its three stages equally); the last must be > 0.
        channels: image channels.

    Shape:
        - Input: :math:`(B, C, H, W)`, values in [0, 1].
        - Output: :math:`(B, C, H \\cdot scale, W \\cdot scale)`.

    Reference:
        Zamir et al., "Multi-Stage Progressive Image Restoration" (MPRNet), CVPR 2021: stage
        outputs supervised with the same loss, summed.

    Example:
        >>> import torch
        >>> from restorelab.archs import SRVGGNetCompact
        >>> net = RefineNet(SRVGGNetCompact(num_feat=8, num_conv=1, scale=2), num_stages=3)
        >>> [tuple(o.shape) for o in net.stages(torch.rand(1, 3, 6, 8))]
        [(1, 3, 12, 16), (1, 3, 12, 16), (1, 3, 12, 16)]
    """

    def __init__(
        self,
        first: nn.Module,
        num_stages: int = 3,
        num_feat: int = 32,
        num_conv: int = 2,
        shared: bool = False,
        unshuffle: bool = True,
        stage_weights: Sequence[float] | None = None,
        channels: int = 3,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_positive(name, num_stages=num_stages, num_feat=num_feat, channels=channels)
        if num_conv < 0:
            raise ArchConfigError(f"{name}: generator.num_conv={num_conv} must be >= 0")
        scale = getattr(first, "scale", None)
        if scale is None:
            raise ArchConfigError(
                f"{name}: generator.first ({type(first).__name__}) declares no scale"
            )
        weights = [1.0] * num_stages if stage_weights is None else [float(w) for w in stage_weights]
        if len(weights) != num_stages:
            raise ArchConfigError(
                f"{name}: generator.stage_weights has {len(weights)} entries for "
                f"generator.num_stages={num_stages}"
            )
        if any(w < 0 for w in weights) or weights[-1] <= 0:
            raise ArchConfigError(
                f"{name}: generator.stage_weights={weights} must be >= 0 with the last > 0"
            )
        self.scale: int = int(scale)
        self.num_stages = num_stages
        self.shared = shared
        self.stage_weights: list[float] = weights
        self.first = first
        factor = self.scale if unshuffle else 1
        self.unshuffle_factor = factor
        count = 0 if num_stages == 1 else (1 if shared else num_stages - 1)
        self.refiners = nn.ModuleList(
            RefineStage(channels, num_feat, num_conv, factor) for _ in range(count)
        )

    def _guide(self, lq: Tensor) -> Tensor:
        """The input as the refinement stages see it: as is, or upsampled to the output size."""
        if self.unshuffle_factor > 1 or self.scale == 1:
            return lq
        return F.interpolate(
            lq, scale_factor=float(self.scale), mode="bilinear", align_corners=False
        )

    def stages(self, lq: Tensor) -> list[Tensor]:
        """Every stage's output, first to last; the last is what ``forward`` returns."""
        out = self.first(lq)
        outs = [out]
        guide = self._guide(lq)
        repeats = self.num_stages - 1 if self.shared else 1
        for refiner in self.refiners:  # one shared refiner applied K-1 times, or K-1 refiners
            for _ in range(repeats):
                out = refiner(out, guide)
                outs.append(out)
        return outs

    def forward(self, lq: Tensor) -> Tensor:
        return self.stages(lq)[-1]

    def extra_repr(self) -> str:
        return (
            f"scale={self.scale}, num_stages={self.num_stages}, shared={self.shared}, "
            f"stage_weights={self.stage_weights}"
        )
