"""`generator.pretrained=PATH`: every file layout, EMA preference, clear mismatch errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
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
