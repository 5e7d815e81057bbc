"""Structural-similarity losses (kornia): ``1 - SSIM`` and ``1 - MS-SSIM``."""

from __future__ import annotations

from collections.abc import Sequence

import kornia
import torch
from torch import Tensor

from restorelab.errors import ConfigError
from restorelab.losses.base import LossTerm


def _at_least_fp32(x: Tensor) -> Tensor:
    """Half-precision inputs in float32 (variances cancel badly); float64 stays float64."""
    return x if x.dtype == torch.float64 else x.float()


class SSIMLoss(LossTerm):
    """``1 - SSIM(sr, gt)`` on RGB with a Gaussian window (Wang et al. 2004), via kornia.

    Args:
        weight: term weight.
        window_size: side of the Gaussian window (odd; 11 as in the SSIM paper).
        max_val: dynamic range of the images (1.0 for [0, 1]).

    Example:
        >>> x = torch.rand(1, 3, 16, 16)
        >>> float(SSIMLoss()(x, x)) < 1e-6
        True
    """

    def __init__(self, weight: float = 1.0, window_size: int = 11, max_val: float = 1.0) -> None:
        super().__init__(weight)
        if window_size < 1 or window_size % 2 == 0:
            raise ConfigError(f"SSIMLoss: window_size must be odd and >= 1, got {window_size}")
        self.window_size = int(window_size)
        self.max_val = float(max_val)

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        # kornia's ssim_loss returns (1 - SSIM) / 2; scale back to 1 - SSIM
        half = kornia.losses.ssim_loss(
            _at_least_fp32(sr),
            _at_least_fp32(gt),
            window_size=self.window_size,
            max_val=self.max_val,
            padding="valid",  # no zero-padded borders: the value of the SSIM paper
        )
        return 2.0 * half


class MSSSIMLoss(LossTerm):
    """``1 - MS-SSIM`` over Gaussian scales (Zhao et al. 2017's loss), via kornia.

    kornia's ``MS_SSIMLoss`` is Zhao et al.'s mix ``alpha * (1 - MS-SSIM) + (1 - alpha) *
    G-weighted L1``; ``alpha=1`` (the default here) keeps the pure MS-SSIM term, so that an L1
    term stays a separate, separately weighted and logged entry.

    Args:
        weight: term weight.
        sigmas: Gaussian sigmas of the scales.
        alpha: share of the MS-SSIM part in kornia's mix (1.0: MS-SSIM only).
        data_range: dynamic range of the images.
    """

    def __init__(
        self,
        weight: float = 1.0,
        sigmas: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0),
        alpha: float = 1.0,
        data_range: float = 1.0,
    ) -> None:
        super().__init__(weight)
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"MSSSIMLoss: alpha must be in [0, 1], got {alpha}")
        # kornia's compensation factor (200) rescales its mix; 1.0 keeps 1 - MS-SSIM in [0, 1]
        self.ms_ssim = kornia.losses.MS_SSIMLoss(
            sigmas=list(sigmas), data_range=data_range, alpha=alpha, compensation=1.0
        )

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        return self.ms_ssim(_at_least_fp32(sr), _at_least_fp32(gt))
