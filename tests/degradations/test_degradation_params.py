"""The sampled parameters of each batch: recorded per sample, summarized, described, previewed."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor

from restorelab.commands.data import main as data_main
from restorelab.degradations import JPEG, Degradation, GaussianNoise, RandomBlur
from tests.helpers import CONF


def realesrgan(seed: int = 0) -> Degradation:
    root = OmegaConf.create({"seed": seed, "data": {"scale": 4}})
    root.degradation = OmegaConf.load(CONF / "degradation" / "realesrgan.yaml")
    root.degradation.pool_size = 0
    degradation = instantiate(root.degradation)
    assert isinstance(degradation, Degradation)
    return degradation


def gt_batch(b: int = 8, size: int = 96) -> Tensor:
    x = torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(0))
    return torch.round(torch.nn.functional.avg_pool2d(x, 5, 1, 2) * 255) / 255


def test_every_stage_records_its_draws_per_sample() -> None:
    d = realesrgan(seed=3)
    d(gt_batch())
    p = d.last_params
    for key in [
        "blur1/kind",
        "blur1/size",
        "blur1/sigma_x",
        "resize1/scale",
        "resize1/mode",
        "noise1/kind",
        "noise1/sigma",
        "noise1/poisson_scale",
        "noise1/gray",
        "jpeg1/quality",
        "blur2/applied",
        "resize2/direction",
        "noise2/kind",
        "final/order",
        "final/jpeg/jpeg/quality",
        "final/resize_sinc/resize/mode",
        "final/resize_sinc/sinc/omega",
        "final/resize_sinc/sinc/applied",
    ]:
        assert len(p[key]) == 8, key
    sizes = p["blur1/size"]
    assert isinstance(sizes, Tensor) and set(sizes.tolist()) <= set(range(7, 22, 2))
    quality = p["jpeg1/quality"]
    assert isinstance(quality, Tensor) and bool(((quality >= 30) & (quality <= 95)).all())
    kinds = p["blur1/kind"]
    assert isinstance(kinds, list) and set(kinds) <= {
        "iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso",
        "sinc",
    }  # fmt: skip
    # per-batch draws are one value for the batch
    assert len(set(p["noise1/kind"])) == 1 and len(set(p["final/order"])) == 1
    assert len(set(p["resize1/scale"].tolist())) == 1  # type: ignore[union-attr]
    assert len(set(p["blur2/applied"].tolist())) == 1  # type: ignore[union-attr]
    # a noise kind's level is set only on samples of that kind
    sigma, scale = p["noise1/sigma"], p["noise1/poisson_scale"]
    assert isinstance(sigma, Tensor) and isinstance(scale, Tensor)
    assert bool((torch.isnan(sigma) ^ torch.isnan(scale)).all())


def test_summary_means_over_degraded_samples_and_fractions_of_names() -> None:
    d = Degradation(
        {
            "noise": GaussianNoise(sigma=(10, 20), gray_prob=0.5, prob=0.5),
            "jpeg": JPEG(quality=(40, 40)),
            "blur": RandomBlur(kernel_list=["iso", "aniso"], kernel_prob=[0.5, 0.5]),
        },
        seed=1,
    )
    d(torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    summary = d.summary()
    applied = d.last_params["noise/applied"]
    sigma = d.last_params["noise/sigma"]
    assert isinstance(applied, Tensor) and isinstance(sigma, Tensor)
    assert summary["noise/applied"] == pytest.approx(float(applied.mean()))
    assert 0.3 < summary["noise/applied"] < 0.7
    assert summary["noise/sigma"] == pytest.approx(float(sigma[applied > 0].mean()))
    assert summary["jpeg/quality"] == pytest.approx(40.0)
    assert summary["blur/kind/iso"] + summary["blur/kind/aniso"] == pytest.approx(1.0)
    assert 10 <= summary["blur/size"] <= 18  # odd sizes 7..21, mean 14


def test_describe_names_the_draws_and_validation_seeds_are_per_image() -> None:
    d = realesrgan()
    gt = gt_batch(3)
    d(gt, seeds=[5, 6, 7])
    both = [d.describe(i) for i in range(3)]
    d(gt[2:], seeds=[7])
    assert d.describe(0) == both[2]  # the same seed draws the same, in any batch
    line = both[0]
    for part in (
        "blur1: kind=",
        "resize1: direction=",
        "noise1: kind=",
        "jpeg1: quality=",
        "final: order=",
    ):
        assert part in line
    quality = d.last_params["jpeg1/quality"]
    assert isinstance(quality, Tensor)
    assert f"jpeg1: quality={float(quality[0]):.3g}" in d.describe(0)


def test_preview_prints_each_tiles_parameters(tmp_path: Any, capsys: Any) -> None:
    out = tmp_path / "grid.png"
    data_main(["preview", "degradation=realesrgan", "n=2", "size=96", "-o", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"wrote {out}: ground truth + 2 degradations")
    assert [line.split(":")[0] for line in lines[1:]] == ["lq seed +0", "lq seed +1"]
    assert all("blur1: kind=" in line and "jpeg1: quality=" in line for line in lines[1:])
    assert lines[1] != lines[2]
