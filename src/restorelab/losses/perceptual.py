"""Perceptual loss: distances between VGG19 features of the output and the ground truth."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from restorelab.errors import ConfigError
from restorelab.losses.base import LossTerm
from restorelab.losses.vgg import VGGFeatureExtractor

CRITERIA = ("l1", "mse", "fro")


class PerceptualLoss(LossTerm):
    """Weighted sum over VGG layers of a feature distance (Johnson et al. 2016).

    SRGAN (Ledig et al. 2017) compares ``relu5_4`` features (after activation) with MSE;
    ESRGAN (Wang et al. 2018, sec. 3.3) uses ``conv5_4`` *before* activation, where features
    are denser and keep brightness consistent; Real-ESRGAN adds shallower layers
    (``conv1_2: 0.1, conv2_2: 0.1, conv3_4: 1, conv4_4: 1, conv5_4: 1``).

    Args:
        weight: term weight.
        layer_weights: layer name -> weight (``conv*`` before activation, ``relu*`` after).
        criterion: ``l1``, ``mse`` or ``fro`` (Frobenius norm of the difference, per sample).
        weights: ``"torchvision"`` (the torchvision cache file ``vgg19-dcbb9e9d.pth``), a path to
            that file, or ``"random"``/``None`` (random init: tests only).
        use_input_norm: ImageNet mean/std normalisation of the [0, 1] input.
        range_norm: input is in [-1, 1].

    Example:
        >>> loss = PerceptualLoss(layer_weights={"conv1_2": 1.0}, weights=None)
        >>> x = torch.rand(1, 3, 16, 16)
        >>> float(loss(x, x))
        0.0
    """

    def __init__(
        self,
        weight: float = 1.0,
        layer_weights: Mapping[str, float] | None = None,
        criterion: str = "l1",
        weights: str | None = "torchvision",
        use_input_norm: bool = True,
        range_norm: bool = False,
    ) -> None:
        super().__init__(weight)
        layer_weights = dict(layer_weights or {"conv5_4": 1.0})
        if criterion not in CRITERIA:
            raise ConfigError(
                f"loss.terms.perceptual.criterion={criterion!r} unknown; choose from {CRITERIA}"
            )
        self.layer_weights = {str(k): float(v) for k, v in layer_weights.items()}
        self.criterion = criterion
        self.vgg = VGGFeatureExtractor(
            self.layer_weights,
            arch="vgg19",
            weights=weights,
            use_input_norm=use_input_norm,
            range_norm=range_norm,
            weights_key="loss.terms.perceptual.weights",
        )

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        if self.criterion == "l1":
            return F.l1_loss(a, b)
        if self.criterion == "mse":
            return F.mse_loss(a, b)
        return torch.linalg.vector_norm((a - b).flatten(1), dim=1).mean()

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        feats_sr = self.vgg(sr)
        with torch.no_grad():
            feats_gt = self.vgg(gt.detach())
        total = sr.new_zeros((), dtype=torch.float32)
        for name, w in self.layer_weights.items():
            total = total + w * self._distance(feats_sr[name].float(), feats_gt[name].float())
        return total

    def extra_repr(self) -> str:
        return f"weight={self.weight}, criterion={self.criterion}, layers={self.layer_weights}"
