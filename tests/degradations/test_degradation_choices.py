"""Which random choices are drawn per batch and which per sample, and the training-pair pool."""

from __future__ import annotations

import copy
import signal
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor

from restorelab.degradations import (
    BicubicDown,
    Degradation,
    DegradationError,
    GaussianNoise,
    RandomBlur,
    RandomNoise,
    bicubic_down,
)
from restorelab.weights import load_checkpoint
from tests.helpers import COMMON, CONF, ok, train_cli


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def realesrgan(overrides: tuple[str, ...] = ()) -> Degradation:
    root = OmegaConf.create({"seed": 0, "data": {"scale": 4}})
    root.degradation = OmegaConf.load(CONF / "degradation" / "realesrgan.yaml")
    merged = OmegaConf.merge(root, OmegaConf.from_dotlist([f"degradation.{o}" for o in overrides]))
    degradation = instantiate(merged.degradation)
    assert isinstance(degradation, Degradation)
    return degradation


def noise_kinds(stage: RandomNoise, batches: int, size: int = 16) -> list[list[bool]]:
    """Per batch, which samples got the strong (Gaussian, sigma 20) noise on flat grey."""
    generator = gen(3)
    kinds = []
    for _ in range(batches):
        out = stage(torch.full((size, 3, 16, 16), 0.5), generator) - 0.5
        std = out.flatten(1).std(1) * 255
        assert bool(((std > 15) | (std < 2)).all())
        kinds.append((std > 15).tolist())
    return kinds


def test_realesrgan_draws_noise_kind_and_second_blur_per_batch_as_published() -> None:
    stages = realesrgan().stages
    assert stages["noise1"].choose_per == "batch"  # type: ignore[union-attr]
    assert stages["noise2"].choose_per == "batch"  # type: ignore[union-attr]
    assert stages["blur2"].choose_per == "batch"  # type: ignore[union-attr]
    assert stages["blur1"].prob == 1.0  # type: ignore[union-attr]
    sinc = stages["final"].groups["resize_sinc"]["sinc"]  # type: ignore[index]
    assert sinc.choose_per == "sample"  # the final sinc or pulse kernel is drawn per image
    assert realesrgan().pool_size == 180  # queue_size in train_realesrgan_x4plus.yml


def test_noise_kind_per_batch_or_per_sample() -> None:
    common = {"gaussian_prob": 0.5, "sigma": (20, 20), "poisson_scale": (0.05, 0.05)}
    per_batch = noise_kinds(RandomNoise(**common, gray_prob=0.0, choose_per="batch"), 40)
    assert all(len(set(kinds)) == 1 for kinds in per_batch)  # one kind for the whole batch
    gaussian_batches = sum(kinds[0] for kinds in per_batch)
    assert 10 < gaussian_batches < 30  # both kinds, with gaussian_prob 0.5
    per_sample = noise_kinds(RandomNoise(**common, gray_prob=0.0, choose_per="sample"), 4)
    assert all(len(set(kinds)) == 2 for kinds in per_sample)  # every batch mixes both


def test_blur_prob_per_batch_blurs_all_or_none() -> None:
    x = torch.rand(8, 3, 32, 32, generator=gen(1))
    stage = RandomBlur(prob=0.5, choose_per="batch")
    generator = gen(2)
    outcomes = []
    for _ in range(30):
        changed = (stage(x, generator) != x).flatten(1).any(1)
        assert bool(changed.all()) or not bool(changed.any())
        outcomes.append(bool(changed.all()))
    assert 5 < sum(outcomes) < 25
    changed = (RandomBlur(prob=0.5)(x, gen(2)) != x).flatten(1).any(1)
    assert 0 < int(changed.sum()) < 8  # the default stays per sample


def test_choose_per_must_be_known() -> None:
    with pytest.raises(DegradationError, match=r"`choose_per` must be one of sample, batch"):
        RandomNoise(choose_per="image")
    with pytest.raises(InstantiationException, match=r"stages.blur2: RandomBlur: `choose_per`"):
        realesrgan(("stages.blur2.choose_per=epoch",))


# --- the training-pair pool --------------------------------------------------------------------


def pooled(pool_size: int, seed: int = 0) -> Degradation:
    return Degradation({"down": BicubicDown(2)}, seed=seed, quantize=False, pool_size=pool_size)


def batches(count: int, size: int = 4) -> list[Tensor]:
    """Batches whose images all differ: each a constant of its own 8-bit level."""
    levels = torch.arange(count * size, dtype=torch.float32) * 4 / 255
    return [
        levels[i * size : (i + 1) * size].view(-1, 1, 1, 1).expand(-1, 3, 8, 8).contiguous()
        for i in range(count)
    ]


def test_pool_fills_then_hands_out_random_consistent_pairs() -> None:
    degradation = pooled(12)
    stream = batches(10)
    seen: set[float] = set()
    for i, gt in enumerate(stream):
        out_gt, lq = degradation.pairs(gt)
        assert out_gt.shape == gt.shape and lq.shape == (4, 3, 4, 4)
        assert torch.equal(lq, bicubic_down(out_gt, 2))  # every pair stays a pair
        levels = out_gt[:, 0, 0, 0].tolist()
        if i < 3:  # 12 / 4 batches fill the pool and pass through
            assert torch.equal(out_gt, gt)
        else:
            seen.update(levels)
            assert not torch.equal(out_gt, gt)
    assert len(seen) > 12  # images from many earlier batches, not only the last ones
    # Validation draws (per-image seeds) never touch the pool.
    gt = stream[0]
    out_gt, lq = degradation.pairs(gt, seeds=[1, 2, 3, 4])
    assert torch.equal(out_gt, gt)


def test_pool_smaller_than_batch_and_pool_off() -> None:
    degradation = pooled(2)
    stream = batches(4)
    for gt in stream:
        out_gt, lq = degradation.pairs(gt)
        assert torch.equal(lq, bicubic_down(out_gt, 2))
    assert not torch.equal(out_gt, stream[-1])
    off = pooled(0)
    out_gt, lq = off.pairs(stream[0])
    assert torch.equal(out_gt, stream[0]) and torch.equal(lq, off(stream[0]))
    with pytest.raises(DegradationError, match=r"`pool_size` must be an integer >= 0, got -1"):
        pooled(-1)


def test_pool_state_round_trips_through_the_state_dict() -> None:
    noisy = {"noise": GaussianNoise(sigma=(5, 5))}
    first = Degradation(noisy, seed=1, pool_size=8)
    stream = batches(6)
    for gt in stream[:3]:
        first.pairs(gt)
    state = copy.deepcopy(first.state_dict())
    rng = first.rng_state()
    assert rng is not None
    second = Degradation(noisy, seed=1, pool_size=8)
    second.load_state_dict(state)
    second.set_rng_state(rng)
    for gt in stream[3:]:
        a, b = first.pairs(gt), second.pairs(gt)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    # A pool-less pipeline has no state at all: old checkpoints load as before.
    assert Degradation(noisy).state_dict() == {}


def test_training_batches_take_their_pairs_from_the_pool() -> None:
    from restorelab.archs import SRVGGNetCompact
    from restorelab.training.module import RestorationModule

    module = RestorationModule(
        generator=SRVGGNetCompact(num_feat=4, num_conv=1, scale=2), degradation=pooled(4)
    )
    stream = batches(4)
    outputs = [module.prepare_batch({"gt": gt.clone()}) for gt in stream]
    assert torch.equal(outputs[0]["gt"], stream[0])  # the first batch fills the pool
    assert not torch.equal(outputs[-1]["gt"], stream[-1])  # later ones come from it
    for batch in outputs:
        assert torch.equal(batch["lq"], bicubic_down(batch["gt"], 2))


@pytest.mark.slow
def test_a_killed_and_resumed_run_continues_with_the_same_pool(tmp_path: Path) -> None:
    pooled_run = [*COMMON, "+degradation.pool_size=4", "logger=csv"]
    full = tmp_path / "full"
    ok(train_cli([*pooled_run, f"hydra.run.dir={full}"], tmp_path / "o1"))
    part = tmp_path / "part"
    killed = train_cli(
        [
            *pooled_run,
            f"hydra.run.dir={part}",
            "+callbacks.kill._target_=tests.helpers.KillAtStep",
            "+callbacks.kill.step=5",
        ],
        tmp_path / "o2",
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    saved = load_checkpoint(part / "checkpoints" / "last.ckpt")
    assert saved["global_step"] == 4
    pool = saved["state_dict"]["degradation.pool._extra_state"]
    assert pool["count"] == 4 and pool["gt"].dtype == torch.uint8  # full, kept in 8 bits
    ok(train_cli([f"resume={part}", "~callbacks.kill"], tmp_path / "o2"))
    a = load_checkpoint(full / "checkpoints" / "last.ckpt")["state_dict"]
    b = load_checkpoint(part / "checkpoints" / "last.ckpt")["state_dict"]
    generator = [k for k in a if k.startswith("generator.")]
    assert generator and all(torch.equal(a[k], b[k]) for k in generator)
    pool_a, pool_b = a["degradation.pool._extra_state"], b["degradation.pool._extra_state"]
    assert torch.equal(pool_a["gt"], pool_b["gt"]) and torch.equal(pool_a["lq"], pool_b["lq"])
