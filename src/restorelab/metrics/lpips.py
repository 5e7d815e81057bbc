"""LPIPS (Zhang et al. 2018) with a VGG16 backbone, built without torchvision.

torchmetrics' LPIPS needs torchvision for its backbone, which does not install beside this
project's torch build. The metric itself is small: ImageNet features at five VGG16 layers, unit-
normalised along channels, squared differences weighted per channel by learned 1x1 "lin" layers,
averaged over space and summed over layers. The backbone here is restorelab's own VGG
(torchvision-compatible weights, ``vgg16-397923af.pth``); the learned lin weights are the ones
torchmetrics ships inside its package (``lpips_models/vgg.pth``), so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from restorelab.errors import ConfigError
from restorelab.losses.vgg import VGGFeatureExtractor
from restorelab.metric_direction import higher_is_better

LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
# the input scaling of the LPIPS release: x in [-1, 1] -> (x - shift) / scale
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


def torchmetrics_lin_path() -> Path:
    """The LPIPS-VGG lin-layer weights shipped inside the torchmetrics package."""
    import torchmetrics

    return Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / "vgg.pth"


class LPIPS(nn.Module):
    """Learned perceptual image patch similarity, VGG16 variant; lower is more similar.

    Args:
        backbone_weights: ``"torchvision"`` (the cached ``vgg16-397923af.pth``), a path to it,
            or ``"random"`` (tests only: the number is then meaningless).
        lin_weights: ``"torchmetrics"`` (the file inside the torchmetrics package) or a path to
            an LPIPS ``vgg.pth`` (keys ``lin{k}.model.1.weight``).

    Raises:
        ConfigError: a weights file is missing or does not fit, naming the file.

    Shape:
        - Input: two :math:`(B, 3, H, W)` images in [0, 1].
        - Output: :math:`(B,)` distances.
    """

    higher_is_better = higher_is_better("lpips")  # a distance
    shift: Tensor
    scale: Tensor

    def __init__(
        self, backbone_weights: str | None = "torchvision", lin_weights: str = "torchmetrics"
    ) -> None:
        super().__init__()
        self.backbone = VGGFeatureExtractor(
            LPIPS_LAYERS,
            arch="vgg16",
            weights=backbone_weights,
            use_input_norm=False,
            weights_key="callbacks.perceptual_metric.backbone_weights",
        )
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in LPIPS_CHANNELS)
        path = torchmetrics_lin_path() if lin_weights == "torchmetrics" else Path(lin_weights)
        if not path.is_file():
            raise ConfigError(f"callbacks.perceptual_metric.lin_weights: file not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            self.lins.load_state_dict(
                {f"{k}.weight": state[f"lin{k}.model.1.weight"] for k in range(len(self.lins))}
            )
        except (KeyError, RuntimeError) as e:
            raise ConfigError(f"{path} is not an LPIPS-VGG lin-weights file: {e}") from e
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), False)
        self.requires_grad_(False)
        self.eval()

    def _features(self, x: Tensor) -> dict[str, Tensor]:
        x = (x.float() * 2 - 1 - self.shift) / self.scale
        return self.backbone(x)

    @torch.no_grad()
    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa, fb = self._features(a), self._features(b)
        total = a.new_zeros(a.shape[0], dtype=torch.float32)
        for name, lin in zip(LPIPS_LAYERS, self.lins, strict=True):
            na = fa[name] / torch.sqrt((fa[name] ** 2).sum(1, keepdim=True) + 1e-10)
            nb = fb[name] / torch.sqrt((fb[name] ** 2).sum(1, keepdim=True) + 1e-10)
            total = total + lin((na - nb) ** 2).mean(dim=(1, 2, 3))
        return total
