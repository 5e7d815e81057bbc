"""SwinIR: image restoration with shifted-window (Swin) transformer blocks.

Module and buffer names follow the official SwinIR release (the layout BasicSR also uses), so the
released ``.pth`` files (``params`` / ``params_ema``) load with ``strict=True``; this includes
the persistent ``relative_position_index`` and ``attn_mask`` buffers the releases carry.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.archs._checks import ArchConfigError, check_choice, check_positive, check_scale
from restorelab.archs.edsr import _pixel_shuffle_upsampler
from restorelab.archs.padding import pad_to_multiple

#: Scales each reconstruction head supports (as in the SwinIR paper and release).
UPSAMPLER_SCALES: dict[str, tuple[int, ...]] = {
    "pixelshuffle": (2, 3, 4, 8),  # classical SR
    "pixelshuffledirect": (2, 3, 4),  # lightweight SR: one conv + PixelShuffle
    "nearest+conv": (2, 4),  # real-world SR: fewer checkerboard artifacts
    "": (1,),  # denoising / JPEG artifact removal (global residual)
}
_RESI_CONNECTIONS = ("1conv", "3conv")
#: Logit added to attention between tokens that are not neighbours in the un-shifted image.
_MASK_LOGIT = -100.0
#: LeakyReLU slope of the reconstruction heads (as released).
_LRELU_SLOPE = 0.01
_LRELU_SLOPE_3CONV = 0.2


def window_partition(x: Tensor, window_size: int) -> Tensor:
    """(B, H, W, C) -> (B * num_windows, window_size**2, C); H and W multiples of the window."""
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, c)


def window_reverse(windows: Tensor, window_size: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: (B * num_windows, ws**2, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    b = windows.shape[0] // ((h // window_size) * (w // window_size))
    x = windows.view(b, h // window_size, w // window_size, window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def relative_position_index(window_size: int) -> Tensor:
    """(ws**2, ws**2) index into the bias table for every pair of positions in a window."""
    coords = torch.stack(
        torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
    ).flatten(1)  # (2, ws**2)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # (N, N, 2), in [-ws+1, ws-1]
    rel = rel + (window_size - 1)
    return rel[..., 0] * (2 * window_size - 1) + rel[..., 1]


def _region(size: int, window_size: int, shift: int, device: torch.device | None) -> Tensor:
    """Region of each row (column) after the cyclic shift: 0 inside, 1 and 2 in the last window.

    Computed from an ``arange`` rather than slices so a traced graph keeps it size-dependent.
    """
    idx = torch.arange(size, device=device)
    return (idx >= size - window_size).long() + (idx >= size - shift).long()


def shifted_window_mask(
    h: int, w: int, window_size: int, shift: int, device: torch.device | None = None
) -> Tensor:
    """Attention mask of the shifted windows of an ``h`` x ``w`` map: (num_windows, N, N).

    After the cyclic shift a window can hold pixels from opposite borders of the image; they
    must not attend to each other, so pairs from different regions get a large negative logit.
    """
    rows, cols = _region(h, window_size, shift, device), _region(w, window_size, shift, device)
    regions = (rows[:, None] * 3 + cols[None, :]).to(torch.float32)[None, :, :, None]
    windows = window_partition(regions, window_size).squeeze(-1)  # (nW, N)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return diff.masked_fill(diff != 0, _MASK_LOGIT).masked_fill(diff == 0, 0.0)


def _body_conv(dim: int, resi_connection: str) -> nn.Module:
    """The conv closing each RSTB and the trunk: one 3x3, or the "3conv" bottleneck.

    The bottleneck (3x3 to dim/4, 1x1, 3x3 back) saves parameters in the large real-world model.
    """
    if resi_connection == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    return nn.Sequential(
        nn.Conv2d(dim, dim // 4, 3, 1, 1),
        nn.LeakyReLU(negative_slope=_LRELU_SLOPE_3CONV, inplace=True),
        nn.Conv2d(dim // 4, dim // 4, 1, 1, 0),
        nn.LeakyReLU(negative_slope=_LRELU_SLOPE_3CONV, inplace=True),
        nn.Conv2d(dim // 4, dim, 3, 1, 1),
    )


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample while training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    """Two linear layers with GELU: the feed-forward half of a transformer block."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window, with a learned relative position bias.

    Shape:
        - Input: :math:`(B \\cdot nW, N, C)` with ``N = window_size**2``; mask
          :math:`(nW, N, N)` or None.
        - Output: same as the input.
    """

    relative_position_index: Tensor

    def __init__(self, dim: int, window_size: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads)
        )
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b // nw, nw, self.num_heads, n, n) + mask.to(attn)[None, :, None]
            attn = attn.view(-1, self.num_heads, n, n)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class SwinTransformerBlock(nn.Module):
    """(Shifted-)window attention and an MLP, each with pre-norm and a residual.

    ``attn_mask`` is precomputed for ``input_resolution`` (the training patch) and computed on
    the fly for any other size, as in the original.
    """

    attn_mask: Tensor | None

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        num_heads: int,
        window_size: int,
        shift_size: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        if min(input_resolution) <= window_size:  # one window covers the patch: no shifting
            shift_size, window_size = 0, min(input_resolution)
        self.window_size = window_size
        self.shift_size = shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        mask = (
            shifted_window_mask(*input_resolution, window_size, shift_size) if shift_size else None
        )
        self.register_buffer("attn_mask", mask)

    def forward(self, x: Tensor, x_size: tuple[int, int]) -> Tensor:
        h, w = x_size
        b, _, c = x.shape
        ws, shift = self.window_size, self.shift_size
        y = self.norm1(x).view(b, h, w, c)
        if shift:
            y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2))
        mask = None
        if shift:
            # the stored mask is the one of the training size; a traced graph computes its own,
            # whatever size it was traced at
            stored = self.attn_mask is not None and not torch.jit.is_tracing()
            if stored and tuple(x_size) == tuple(self.input_resolution):
                mask = self.attn_mask
            else:
                mask = shifted_window_mask(h, w, ws, shift, x.device)
        y = window_reverse(self.attn(window_partition(y, ws), mask), ws, h, w)
        if shift:
            y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
        x = x + self.drop_path(y.reshape(b, h * w, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class BasicLayer(nn.Module):
    """``depth`` Swin blocks, alternating regular and shifted windows."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop_path: Sequence[float],
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(
                dim,
                input_resolution,
                num_heads,
                window_size,
                0 if i % 2 == 0 else window_size // 2,
                mlp_ratio,
                qkv_bias,
                drop_path[i],
            )
            for i in range(depth)
        )

    def forward(self, x: Tensor, x_size: tuple[int, int]) -> Tensor:
        for block in self.blocks:
            x = block(x, x_size)
        return x


class PatchEmbed(nn.Module):
    """(B, C, H, W) -> (B, H*W, C) tokens (patch size 1), optionally layer-normed."""

    def __init__(self, dim: int, norm: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim) if norm else None

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(2).transpose(1, 2)
        return self.norm(x) if self.norm is not None else x


def patch_unembed(x: Tensor, x_size: tuple[int, int]) -> Tensor:
    """(B, H*W, C) tokens -> (B, C, H, W)."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], x_size[0], x_size[1])


class RSTB(nn.Module):
    """Residual Swin Transformer Block: Swin blocks, a conv, and a residual around both.

    The conv brings back the spatial inductive bias of convolutions between transformer stages.
    """

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop_path: Sequence[float],
        resi_connection: str,
    ) -> None:
        super().__init__()
        self.residual_group = BasicLayer(
            dim, input_resolution, depth, num_heads, window_size, mlp_ratio, qkv_bias, drop_path
        )
        self.conv = _body_conv(dim, resi_connection)
        self.patch_embed = PatchEmbed(dim, norm=False)

    def forward(self, x: Tensor, x_size: tuple[int, int]) -> Tensor:
        y = patch_unembed(self.residual_group(x, x_size), x_size)
        return self.patch_embed(self.conv(y)) + x


class SwinIR(nn.Module):
    """Shallow conv features, residual Swin transformer groups, and a reconstruction head.

    Window self-attention gives content-dependent, long-range mixing that convolutions lack, at
    a cost linear in the image size; SwinIR beat CNNs of similar size on classical,
    lightweight and real-world SR, denoising and JPEG artifact removal. The input is padded
    (reflect) to a multiple of ``window_size`` and the output cropped back, so any size works.

    Defaults are classical SR (SwinIR-M: 180 channels, 6 RSTBs of 6 blocks, 6 heads, window 8,
    MLP ratio 2, pixel-shuffle head; 11.9M parameters at x4). Lightweight SR uses
    ``embed_dim=60, depths=[6,6,6,6], num_heads=[6,6,6,6], upsampler="pixelshuffledirect"``
    (0.9M at x4); denoising/JPEG use ``upsampler=""`` at scale 1.

    Args:
        num_in_ch: channels of the input image.
        num_out_ch: channels of the output image; must equal ``num_in_ch`` (mean shift and,
            at scale 1, the global residual).
        scale: upsampling factor; the supported ones depend on ``upsampler``
            (see ``UPSAMPLER_SCALES``).
        img_size: training patch side at the input resolution; the shifted-window masks for
            this size are precomputed and stored (they are part of the released state dicts).
        embed_dim: transformer width.
        depths: Swin blocks per RSTB.
        num_heads: attention heads per RSTB; each must divide ``embed_dim``.
        window_size: attention window side; should divide the training patch.
        mlp_ratio: hidden width of the MLP relative to ``embed_dim``.
        qkv_bias: learn a bias for the query/key/value projection.
        drop_path_rate: stochastic-depth rate, increased linearly over the blocks.
        ape: add a learned absolute position embedding (``img_size`` tokens; off as released).
        patch_norm: layer-norm the tokens after embedding.
        upsampler: ``"pixelshuffle"``, ``"pixelshuffledirect"``, ``"nearest+conv"`` or ``""``.
        resi_connection: ``"1conv"`` or ``"3conv"`` (bottleneck) at the end of each RSTB.
        num_feat: width of the ``pixelshuffle`` / ``nearest+conv`` heads.
        img_range: factor applied after the mean shift.
        rgb_mean: per-channel mean subtracted from the input (DIV2K mean; zeros if not RGB).

    Shape:
        - Input: :math:`(B, C, H, W)`, values in [0, 1].
        - Output: :math:`(B, C, H \\cdot scale, W \\cdot scale)`.

    Raises:
        ArchConfigError: unsupported scale for the head, unknown option, ``depths`` and
            ``num_heads`` of different lengths, ``embed_dim`` not divisible by a head count,
            ``img_size`` not a multiple of ``window_size``.

    Reference:
        Liang et al., "SwinIR: Image Restoration Using Swin Transformer", ICCVW 2021.

    Example:
        >>> import torch
        >>> net = SwinIR(scale=2, img_size=8, embed_dim=12, depths=[2], num_heads=[2],
        ...              window_size=4, upsampler="pixelshuffledirect")
        >>> net(torch.rand(1, 3, 10, 12)).shape
        torch.Size([1, 3, 20, 24])
    """

    mean: Tensor

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        img_size: int = 64,
        embed_dim: int = 180,
        depths: Sequence[int] = (6, 6, 6, 6, 6, 6),
        num_heads: Sequence[int] = (6, 6, 6, 6, 6, 6),
        window_size: int = 8,
        mlp_ratio: float = 2.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.1,
        ape: bool = False,
        patch_norm: bool = True,
        upsampler: str = "pixelshuffle",
        resi_connection: str = "1conv",
        num_feat: int = 64,
        img_range: float = 1.0,
        rgb_mean: Sequence[float] = (0.4488, 0.4371, 0.4040),
    ) -> None:
        super().__init__()
        name = type(self).__name__
        depths, num_heads = [int(d) for d in depths], [int(h) for h in num_heads]
        check_choice(name, "upsampler", upsampler, UPSAMPLER_SCALES)
        check_choice(name, "resi_connection", resi_connection, _RESI_CONNECTIONS)
        try:
            self.scale: int = check_scale(name, scale, UPSAMPLER_SCALES[upsampler])
        except ArchConfigError as e:
            if scale == 1:  # denoising / JPEG: the restoration head, not an upsampler
                raise ArchConfigError(f"{e}; for scale 1 set generator.upsampler=''") from None
            raise
        check_positive(
            name, embed_dim=embed_dim, window_size=window_size, img_size=img_size, num_feat=num_feat
        )
        if not depths or len(depths) != len(num_heads):
            raise ArchConfigError(
                f"{name}: generator.depths ({len(depths)} entries) and generator.num_heads "
                f"({len(num_heads)} entries) must be non-empty and of equal length"
            )
        for heads in num_heads:
            if heads <= 0 or embed_dim % heads:
                raise ArchConfigError(
                    f"{name}: generator.embed_dim={embed_dim} is not divisible by "
                    f"generator.num_heads entry {heads}"
                )
        if img_size % window_size:
            raise ArchConfigError(
                f"{name}: generator.window_size={window_size} does not divide "
                f"generator.img_size={img_size} (the training patch at input resolution)"
            )
        if resi_connection == "3conv" and embed_dim % 4:
            raise ArchConfigError(
                f"{name}: generator.embed_dim={embed_dim} must be divisible by 4 with "
                "resi_connection=3conv"
            )
        if num_in_ch != num_out_ch:
            raise ArchConfigError(
                f"{name}: generator.num_in_ch ({num_in_ch}) must equal generator.num_out_ch "
                f"({num_out_ch})"
            )
        means = [float(v) for v in rgb_mean] if num_in_ch == 3 else [0.0] * num_in_ch
        if len(means) != num_in_ch:
            raise ArchConfigError(
                f"{name}: generator.rgb_mean has {len(means)} entries for {num_in_ch} channels"
            )
        self.upsampler = upsampler
        self.window_size = window_size
        self.img_range = img_range
        self.register_buffer("mean", torch.tensor(means).view(1, -1, 1, 1), persistent=False)

        self.conv_first = nn.Conv2d(num_in_ch, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim, norm=patch_norm)
        self.absolute_pos_embed: nn.Parameter | None = None
        if ape:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, img_size * img_size, embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        resolution = (img_size, img_size)
        self.layers = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(depths, num_heads, strict=True)):
            start = sum(depths[:i])
            self.layers.append(
                RSTB(
                    embed_dim,
                    resolution,
                    depth,
                    heads,
                    window_size,
                    mlp_ratio,
                    qkv_bias,
                    rates[start : start + depth],
                    resi_connection,
                )
            )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = _body_conv(embed_dim, resi_connection)

        if upsampler == "pixelshuffle":
            self.conv_before_upsample = nn.Sequential(
                nn.Conv2d(embed_dim, num_feat, 3, 1, 1),
                nn.LeakyReLU(negative_slope=_LRELU_SLOPE, inplace=True),
            )
            self.upsample = _pixel_shuffle_upsampler(scale, num_feat)
            self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        elif upsampler == "pixelshuffledirect":
            self.upsample = nn.Sequential(
                nn.Conv2d(embed_dim, scale * scale * num_out_ch, 3, 1, 1), nn.PixelShuffle(scale)
            )
        elif upsampler == "nearest+conv":
            self.conv_before_upsample = nn.Sequential(
                nn.Conv2d(embed_dim, num_feat, 3, 1, 1),
                nn.LeakyReLU(negative_slope=_LRELU_SLOPE, inplace=True),
            )
            self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            if scale == 4:
                self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
            self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        else:
            self.conv_last = nn.Conv2d(embed_dim, num_out_ch, 3, 1, 1)
        self.apply(_init_weights)

    def forward_features(self, x: Tensor) -> Tensor:
        """The deep-feature trunk: tokens through every RSTB, layer-normed, back to a map."""
        x_size = (x.shape[-2], x.shape[-1])
        tokens = self.patch_embed(x)
        if self.absolute_pos_embed is not None:
            tokens = tokens + self.absolute_pos_embed
        for layer in self.layers:
            tokens = layer(tokens, x_size)
        return patch_unembed(self.norm(tokens), x_size)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, self.window_size)
        mean = self.mean.to(x.dtype)
        x = (x - mean) * self.img_range
        if self.upsampler == "":
            first = self.conv_first(x)
            out = x + self.conv_last(self.conv_after_body(self.forward_features(first)) + first)
        else:
            feat = self.conv_first(x)
            feat = self.conv_after_body(self.forward_features(feat)) + feat
            if self.upsampler == "pixelshuffle":
                out = self.conv_last(self.upsample(self.conv_before_upsample(feat)))
            elif self.upsampler == "pixelshuffledirect":
                out = self.upsample(feat)
            else:
                feat = self.conv_before_upsample(feat)
                feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2.0)))
                if self.scale == 4:
                    feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2.0)))
                out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        out = out / self.img_range + mean
        return out[..., : h * self.scale, : w * self.scale]


def _init_weights(m: nn.Module) -> None:
    """Truncated-normal linear weights, unit LayerNorms (the SwinIR / Swin initialisation)."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
