"""VGG16/VGG19 feature extractors with torchvision-compatible weights, written here.

torchvision does not install beside this project's torch build, so the VGG ``features`` stack
is rebuilt as a plain ``nn.Sequential`` whose state-dict keys (``features.N.weight`` /
``features.N.bias``) are exactly torchvision's: the ImageNet weights torchvision caches under
``<torch hub dir>/checkpoints/`` (e.g. ``vgg19-dcbb9e9d.pth``) load unchanged. Nothing is ever
downloaded; a missing file is a :class:`~restorelab.errors.ConfigError` that says which file to
put where.

Layers are addressed by the names BasicSR and the papers use (``conv5_4``, ``relu5_4``, ...):
``conv*`` is the output *before* the ReLU (ESRGAN's choice), ``relu*`` after it (SRGAN's).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor, nn

from restorelab.errors import ConfigError

# convolution widths per block (torchvision's configurations "D" and "E")
VGG_BLOCKS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": (
        (64, 64),
        (128, 128),
        (256, 256, 256, 256),
        (512, 512, 512, 512),
        (512, 512, 512, 512),
    ),
}
# file names torchvision gives the ImageNet weights in its cache
TORCHVISION_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
TORCHVISION_URL = "https://download.pytorch.org/models/{}"
# ImageNet statistics the torchvision weights were trained with
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg_layer_names(arch: str) -> list[str]:
    """Names of the ``features`` layers in order: ``conv1_1, relu1_1, ..., pool5``."""
    if arch not in VGG_BLOCKS:
        raise ConfigError(f"VGG arch {arch!r} unknown; choose from {sorted(VGG_BLOCKS)}")
    names: list[str] = []
    for b, widths in enumerate(VGG_BLOCKS[arch], start=1):
        for c in range(1, len(widths) + 1):
            names += [f"conv{b}_{c}", f"relu{b}_{c}"]
        names.append(f"pool{b}")
    return names


def torchvision_cache_path(arch: str) -> Path:
    """Where torchvision keeps the ImageNet weights of ``arch`` (``TORCH_HOME`` respected)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILES[arch]


def resolve_vgg_weights(arch: str, weights: str | None, key: str) -> Path | None:
    """The weights file to load, or None for random initialisation.

    Args:
        arch: ``vgg16`` or ``vgg19``.
        weights: ``"torchvision"`` (the torchvision cache path), a file path, or
            ``None``/``"random"`` (random init, for tests only: features are meaningless).
        key: the config key named in errors, e.g. ``loss.terms.perceptual.weights``.

    Raises:
        ConfigError: the file does not exist; the message names the file and where to put it.
    """
    if weights is None or str(weights).lower() in ("random", "none", "null"):
        return None
    if str(weights) == "torchvision":
        path = torchvision_cache_path(arch)
        if not path.is_file():
            name = TORCHVISION_FILES[arch]
            raise ConfigError(
                f"{key}: {arch} ImageNet weights not found at {path} (no download at run "
                f"time): fetch {TORCHVISION_URL.format(name)} and put it at that path, or set "
                f"{key}=/path/to/{name}"
            )
        return path
    path = Path(str(weights)).expanduser()
    if not path.is_file():
        raise ConfigError(f"{key}: {arch} weights file not found: {path}")
    return path


def build_vgg_features(arch: str, num_layers: int) -> nn.Sequential:
    """The first ``num_layers`` layers of torchvision's ``vgg*.features`` (same indices).

    Randomly initialised as torchvision does (Kaiming normal, fan-out), so that even without
    ImageNet weights (tests) the deep layers' features do not vanish.
    """
    layers: list[nn.Module] = []
    in_ch = 3
    for widths in VGG_BLOCKS[arch]:
        for w in widths:
            layers += [nn.Conv2d(in_ch, w, 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = w
        layers.append(nn.MaxPool2d(2, 2))
    features = nn.Sequential(*layers[:num_layers])
    for m in features.modules():  # torchvision's VGG init: deep random features stay alive
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return features


def _drop_own_keys(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    """State-dict post-hook: remove the extractor's (file-loaded) weights."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        del state_dict[key]


def _fill_own_keys(module: nn.Module, state_dict: dict, prefix: str, *args: object) -> None:
    """Load pre-hook: keep the current weights for keys the incoming dict leaves out."""
    features = module.get_submodule("features")
    for name, value in features.state_dict().items():
        state_dict.setdefault(f"{prefix}features.{name}", value)


class VGGFeatureExtractor(nn.Module):
    """Frozen VGG features at named layers, for perceptual losses and metrics.

    Args:
        layers: names of the layers to return (``conv5_4``, ``relu2_2``, ...); the network is
            truncated after the deepest one.
        arch: ``vgg19`` (perceptual losses) or ``vgg16`` (LPIPS).
        weights: ``"torchvision"``, a path to a torchvision-format state dict, or
            ``None``/``"random"`` (tests only).
        use_input_norm: normalise [0, 1] input with the ImageNet mean/std the weights expect.
        range_norm: map input from [-1, 1] to [0, 1] first.
        weights_key: config key named in weight-file errors.

    Shape:
        - Input: :math:`(B, 3, H, W)` in [0, 1] (or [-1, 1] with ``range_norm``).
        - Output: dict layer name -> feature map.

    Example:
        >>> net = VGGFeatureExtractor(["relu1_2"], weights=None)
        >>> net(torch.rand(1, 3, 16, 16))["relu1_2"].shape
        torch.Size([1, 64, 16, 16])
    """

    mean: Tensor
    std: Tensor

    def __init__(
        self,
        layers: Iterable[str],
        arch: str = "vgg19",
        weights: str | None = "torchvision",
        use_input_norm: bool = True,
        range_norm: bool = False,
        weights_key: str = "weights",
    ) -> None:
        super().__init__()
        names = vgg_layer_names(arch)
        self.layers = list(dict.fromkeys(layers))
        if not self.layers:
            raise ConfigError(f"{weights_key}: no VGG layers requested")
        unknown = [n for n in self.layers if n not in names]
        if unknown:
            raise ConfigError(f"unknown {arch} layer(s) {unknown}; valid names: {names}")
        self.index = {n: names.index(n) for n in self.layers}
        depth = max(self.index.values()) + 1
        self.features = build_vgg_features(arch, depth)
        path = resolve_vgg_weights(arch, weights, weights_key)
        if path is not None:
            self._load(path, weights_key)
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)
        self.requires_grad_(False)
        self.eval()
        # the weights come from their file, not from the training checkpoint: keep ~80 MB of
        # fixed ImageNet weights out of every saved state dict, and accept dicts without them
        self.register_state_dict_post_hook(_drop_own_keys)
        self.register_load_state_dict_pre_hook(_fill_own_keys)

    def _load(self, path: Path, key: str) -> None:
        """Load a torchvision VGG state dict (``features.*`` keys; classifier ignored)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ConfigError(f"{key}: cannot read VGG weights {path}: {e}") from e
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        wanted = self.features.state_dict()
        sub = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
        missing = [f"features.{k}" for k in wanted if k not in sub]
        if missing:
            raise ConfigError(
                f"{key}: {path} is not a torchvision VGG state dict; missing {missing[:4]}"
            )
        bad = [f"features.{k}" for k in wanted if tuple(sub[k].shape) != tuple(wanted[k].shape)]
        if bad:
            raise ConfigError(f"{key}: {path}: weights of the wrong shape for {bad[:4]}")
        self.features.load_state_dict({k: sub[k] for k in wanted})

    def train(self, mode: bool = True) -> VGGFeatureExtractor:
        """Stay in eval mode: the extractor is a fixed measuring instrument."""
        return super().train(False)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        wanted = {i: n for n, i in self.index.items()}
        out: dict[str, Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
        return out
