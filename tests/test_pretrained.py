"""`generator.pretrained=PATH`: every file layout, EMA preference, clear mismatch errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from restorelab.archs import SRVGGNetCompact
from restorelab.config import config_dir
from restorelab.errors import ConfigError, DataError
from restorelab.weights import (
    architecture_config,
    build_generator,
    load_pretrained,
    read_generator_state,
)
from restorelab.weights_layouts import implied_settings
from tests.helpers import TINY_COMPACT, save_checkpoint

CFG = {
    "_target_": "restorelab.archs.SRVGGNetCompact",
    "num_feat": 8,
    "num_conv": 2,
    "scale": 2,
}


def _net(seed: int) -> SRVGGNetCompact:
    torch.manual_seed(seed)
    return SRVGGNetCompact(num_feat=8, num_conv=2, scale=2)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_every_generator_config_has_a_pretrained_key() -> None:
    for path in sorted((Path(config_dir()) / "generator").glob("*.yaml")):
        assert "\npretrained:" in "\n" + path.read_text(), f"{path.name} lacks 'pretrained: null'"


@pytest.mark.parametrize("layout", ["bare", "module", "params", "params_ema", "lightning", "ema"])
def test_layouts_load_the_right_weights(tmp_path: Path, layout: str) -> None:
    live, ema = _net(1), _net(2)
    sd, sd_ema = live.state_dict(), ema.state_dict()
    expected = ema if layout in ("params_ema", "ema") else live
    payload: dict = {
        "bare": sd,
        "module": {f"module.{k}": v for k, v in sd.items()},
        "params": {"params": sd},
        "params_ema": {"params": sd, "params_ema": sd_ema},
        "lightning": {"state_dict": {f"generator.{k}": v for k, v in sd.items()}},
        "ema": {
            "state_dict": {
                **{f"generator.{k}": v for k, v in sd.items()},
                **{f"generator_ema.{k}": v for k, v in sd_ema.items()},
            }
        },
    }[layout]
    path = tmp_path / "w.pth"
    torch.save(payload, path)
    fresh = _net(3)
    load_pretrained(fresh, path)
    assert _same(fresh, expected)


def test_prefer_ema_false_takes_the_live_weights(tmp_path: Path) -> None:
    live, ema = _net(1), _net(2)
    path = tmp_path / "w.pth"
    torch.save({"params": live.state_dict(), "params_ema": ema.state_dict()}, path)
    assert torch.equal(
        read_generator_state(path, prefer_ema=False)["body.0.weight"], live.body[0].weight
    )


def test_safetensors_and_build_generator(tmp_path: Path) -> None:
    net = _net(4)
    path = tmp_path / "g.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    built = build_generator({**CFG, "pretrained": str(path)})
    assert _same(built, net)
    assert "pretrained" not in architecture_config({**CFG, "pretrained": str(path)})


def test_mismatch_lists_keys_and_shapes(tmp_path: Path) -> None:
    other = SRVGGNetCompact(num_feat=16, num_conv=3, scale=2)
    path = tmp_path / "w.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(ConfigError) as err:
        load_pretrained(_net(0), path)
    msg = str(err.value)
    assert f"generator.pretrained={path} does not fit SRVGGNetCompact" in msg
    assert "unexpected keys [" in msg and "shape mismatches (file vs model)" in msg
    assert "body.0.weight (16, 3, 3, 3) vs (8, 3, 3, 3)" in msg
    assert "\n" not in msg


def test_missing_and_code_bearing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"generator.pretrained: file not found: .*nope.pth"):
        load_pretrained(_net(0), tmp_path / "nope.pth")
    path = tmp_path / "evil.pth"
    torch.save({"params": _net(0).state_dict(), "obj": Path("x")}, path)
    with pytest.raises(DataError, match="refusing to load checkpoint"):
        load_pretrained(_net(0), path)
    junk = tmp_path / "junk.pth"
    torch.save({"epoch": 3}, junk)
    with pytest.raises(DataError, match="no generator weights found"):
        load_pretrained(_net(0), junk)


def _edsr_pytorch_state(ours: dict) -> dict:
    """Our EDSR's weights under EDSR-PyTorch's names (head/body/tail + frozen mean shifts)."""
    names = {"conv_first.": "head.0.", "conv_after_body.": "body.2.", "upsample.": "tail.0."}
    names["conv_last."] = "tail.1."
    out = {}
    for k, v in ours.items():
        new = k
        for a, b in names.items():
            if k.startswith(a):
                new = b + k[len(a) :]
        if k.startswith("body.") and ".conv" in k:
            i, conv, rest = k.split(".", 3)[1], k.split(".")[2], k.split(".")[3]
            new = f"body.{i}.body.{0 if conv == 'conv1' else 2}.{rest}"
        out[new] = v
    out["sub_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
    out["sub_mean.bias"] = torch.zeros(3)
    out["add_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
    out["add_mean.bias"] = torch.zeros(3)
    return out


def test_edsr_pytorch_release_names_load(tmp_path: Path) -> None:
    from restorelab.archs import EDSR

    torch.manual_seed(0)
    src = EDSR(num_feat=8, num_block=2, scale=4)
    state = _edsr_pytorch_state(src.state_dict())
    assert "body.0.body.2.weight" in state and "tail.0.2.weight" in state
    path = tmp_path / "edsr_baseline_x4.pt"
    torch.save(state, path)
    dst = EDSR(num_feat=8, num_block=2, scale=4)
    load_pretrained(dst, path)
    assert _same(dst, src)


def test_original_esrgan_release_names_load(tmp_path: Path) -> None:
    from restorelab.archs import RRDBNet

    torch.manual_seed(0)
    src = RRDBNet(num_feat=8, num_block=2, num_grow_ch=4, scale=4)
    old = {"conv_body.": "trunk_conv.", "conv_up1.": "upconv1.", "conv_up2.": "upconv2."}
    old["conv_hr."] = "HRconv."
    state = {}
    for k, v in src.state_dict().items():
        new = k
        for a, b in old.items():
            if k.startswith(a):
                new = b + k[len(a) :]
        if k.startswith("body."):
            _, i, rdb, rest = k.split(".", 3)
            new = f"RRDB_trunk.{i}.RDB{rdb[-1]}.{rest}"
        state[new] = v
    path = tmp_path / "RRDB_ESRGAN_x4.pth"
    torch.save(state, path)
    dst = RRDBNet(num_feat=8, num_block=2, num_grow_ch=4, scale=4)
    load_pretrained(dst, path)
    assert _same(dst, src)


# ------------------------------------ settings a released file implies but cannot record
def real_esrgan_compact(state: dict, x: torch.Tensor, scale: int) -> torch.Tensor:
    """Real-ESRGAN's SRVGGNetCompact forward written from its state dict alone: (conv, PReLU)
    pairs, a last conv, pixel shuffle, plus the *nearest*-upsampled input."""
    out = x
    for i in range(1 + max(int(k.split(".")[1]) for k in state)):
        if f"body.{i}.bias" in state:
            out = F.conv2d(out, state[f"body.{i}.weight"], state[f"body.{i}.bias"], padding=1)
        else:
            out = F.prelu(out, state[f"body.{i}.weight"])
    return F.pixel_shuffle(out, scale) + F.interpolate(x, scale_factor=scale, mode="nearest")


@pytest.fixture
def general_x4v3(tmp_path: Path) -> tuple[Path, dict]:
    """A file laid out as realesr-general-x4v3.pth: 64 features, 32 convs, x4, PReLU."""
    torch.manual_seed(7)
    net = SRVGGNetCompact(num_feat=64, num_conv=32, scale=4, act_type="prelu")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.02 * torch.randn_like(p))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    path = tmp_path / "realesr-general-x4v3.pth"
    torch.save({"params": state}, path)
    return path, state


def test_real_esrgan_compact_release_needs_the_nearest_skip(
    general_x4v3: tuple[Path, dict], compose_cfg: Callable[..., Any]
) -> None:
    path, state = general_x4v3
    release = ["generator.num_feat=64", "generator.num_conv=32", f"generator.pretrained={path}"]
    cfg = compose_cfg("generator=compact", "data.scale=4", *release)
    assert cfg.generator.upsample_skip == "bilinear"
    with pytest.raises(ConfigError) as err:
        build_generator(cfg.generator)
    msg = str(err.value)
    assert f"generator.pretrained={path} holds Real-ESRGAN SRVGGNetCompact" in msg
    assert msg.endswith("set generator.upsample_skip=nearest") and "\n" not in msg
    x = torch.rand(1, 3, 13, 17, generator=torch.Generator().manual_seed(0))
    want = real_esrgan_compact(state, x, 4)
    for overrides in (
        ["generator=compact", "generator.upsample_skip=nearest"],
        ["generator=srvgg"],
    ):
        net = build_generator(compose_cfg(*overrides, "data.scale=4", *release).generator).eval()
        with torch.no_grad():
            torch.testing.assert_close(net(x), want, rtol=0, atol=1e-5)


def test_a_restorelab_checkpoint_is_loaded_with_the_skip_it_was_trained_with(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nearest.ckpt"
    trained = save_checkpoint(path, dict(TINY_COMPACT, upsample_skip="nearest"))
    with pytest.raises(ConfigError) as err:
        build_generator({**TINY_COMPACT, "pretrained": str(path)})
    assert str(err.value) == (
        f"generator.pretrained={path} was trained with generator.upsample_skip=nearest, this "
        "config has generator.upsample_skip=bilinear (the weights fit either, the outputs "
        "differ): set generator.upsample_skip=nearest"
    )
    net = build_generator({**TINY_COMPACT, "upsample_skip": "nearest", "pretrained": str(path)})
    assert _same(net, trained)


def _swinir(**kw: Any) -> dict[str, Any]:
    opts = {"img_size": 16, "embed_dim": 12, "depths": [2], "num_heads": [2], "window_size": 8}
    return {"_target_": "restorelab.archs.SwinIR", "scale": 2, **opts, **kw}


EDSR_SMALL = {"_target_": "restorelab.archs.EDSR", "num_feat": 8, "num_block": 2, "scale": 2}


@pytest.mark.parametrize(
    ("release", "config", "fix"),
    [
        (EDSR_SMALL, {**EDSR_SMALL, "img_range": 1.0}, "set generator.img_range=255.0"),
        (EDSR_SMALL, {**EDSR_SMALL, "rgb_mean": [0.5, 0.5, 0.5]},
         "set generator.rgb_mean=[0.4488,0.4371,0.404]"),
        (_swinir(), _swinir(img_range=255.0), "set generator.img_range=1.0"),
        (_swinir(upsampler="pixelshuffledirect"),
         _swinir(upsampler="pixelshuffledirect", img_range=255.0, rgb_mean=[0.0, 0.0, 0.0]),
         "set generator.img_range=1.0, generator.rgb_mean=[0.4488,0.4371,0.404]"),
    ],
    ids=["edsr-range", "edsr-mean", "swinir-range", "swinir-light-both"],
)  # fmt: skip
def test_releases_refuse_a_config_they_were_not_trained_with(
    tmp_path: Path, release: dict, config: dict, fix: str
) -> None:
    """BasicSR's EDSR works on 0-255 minus the DIV2K mean, SwinIR's releases on 0-1 minus it."""
    torch.manual_seed(0)
    state = hydra.utils.instantiate(release).state_dict()
    path = tmp_path / "release.pth"
    torch.save({"params_ema": state}, path)
    with pytest.raises(ConfigError) as err:
        build_generator({**config, "pretrained": str(path)})
    assert str(err.value).endswith(fix) and "cannot record" in str(err.value)
    build_generator({**release, "pretrained": str(path)})


def test_edsr_pytorch_release_names_need_its_range(tmp_path: Path) -> None:
    from restorelab.archs import EDSR

    state = _edsr_pytorch_state(EDSR(num_feat=8, num_block=2, scale=4).state_dict())
    path = tmp_path / "edsr_baseline_x4.pt"
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"holds EDSR .*set generator\.img_range=255\.0$"):
        load_pretrained(EDSR(num_feat=8, num_block=2, scale=4, img_range=1.0), path)


@pytest.mark.parametrize(("width", "blocks", "res_scale"), [(64, 16, 1.0), (256, 32, 0.1)])
def test_edsr_releases_imply_their_residual_scaling(
    width: int, blocks: int, res_scale: float
) -> None:
    """EDSR baseline (64 x 16) has no residual scaling, the full EDSR (256 x 32) scales by 0.1."""
    from restorelab.archs import EDSR

    with torch.device("meta"):  # shapes only: the full EDSR's 43M weights are never allocated
        state = EDSR(num_feat=width, num_block=blocks, scale=4).state_dict()
    found = implied_settings("EDSR", state)
    assert found is not None and found[1]["res_scale"] == res_scale


def test_checking_a_stored_config_leaves_the_training_seed_alone(tmp_path: Path) -> None:
    """The stored config is built to read its settings; the discriminator drawn next is not
    to change because of it."""
    path = tmp_path / "g.ckpt"
    save_checkpoint(path, TINY_COMPACT)
    draws = []
    for config in (dict(TINY_COMPACT), {**TINY_COMPACT, "pretrained": str(path)}):
        torch.manual_seed(0)
        build_generator(config)
        draws.append(torch.rand(4))
    assert torch.equal(draws[0], draws[1])
