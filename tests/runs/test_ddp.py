"""DDP on the CPU: global batch, 2-process runs equal to 1-process runs, two nodes on loopback.

Multi-process runs go through the real CLI in subprocesses: Lightning's DDP launcher re-runs
the command line for ranks > 0, which must be ``restorelab-train``, not pytest.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from restorelab.data.datamodule import RestorationDataModule
from restorelab.data.sampling import EpochSampler
from restorelab.data.sharding import EvalShardSampler, per_device_batch_size
from restorelab.data.sources import Sample, Source
from restorelab.errors import ConfigError
from restorelab.runs.ddp import child_argv
from restorelab.runs.wandb_offline import find_run_files, read_tables, wait_until_complete
from restorelab.weights import load_checkpoint
from tests.helpers import ROOT, ok, train_cli

GLOBAL_BATCH = 4
# 7 images x repeat 4 = 28 patches: 7 global batches of 4 per epoch, no padding with 2 ranks
COMMON = [
    "generator.num_feat=8",
    "generator.num_conv=2",
    f"data.batch_size={GLOBAL_BATCH}",
    "data.patch_size=32",
    "data.repeat=4",
    "data.val_names=[coffee,immunohistochemistry]",
    "trainer.max_steps=4",
    "trainer.val_check_interval=4",
    "trainer.precision=32-true",
    "trainer.max_time=null",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "~callbacks.rich_progress_bar",
    "~callbacks.image_grid",
    "~callbacks.val_table",
]


class ListSource(Source):
    """In-memory images for sampler tests."""

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(0)
        self.samples = [
            Sample(f"i{i}", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)) for i in range(n)
        ]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]


def generator_weights(run: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("generator.")}


def assert_same_run(a: Path, b: Path) -> None:
    """Same metrics (float tolerance: gradients are summed in another order) and weights."""
    ma = json.loads((a / "metrics.json").read_text())
    mb = json.loads((b / "metrics.json").read_text())
    assert ma["step"] == mb["step"] == 4
    for key in ("val/psnr_y", "val/ssim_y", "val/psnr_y_bicubic"):
        assert ma[key] == pytest.approx(mb[key], abs=1e-4), key
    wa, wb = generator_weights(a), generator_weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- global batch
def test_per_device_batch_is_the_global_batch_shared_by_the_processes() -> None:
    assert per_device_batch_size(16, 1) == 16
    assert per_device_batch_size(16, 4) == 4
    with pytest.raises(ConfigError, match=r"data.batch_size=6 .* not divisible by the 4 proc"):
        per_device_batch_size(6, 4)


def test_two_ranks_draw_exactly_the_global_batches_of_one_process() -> None:
    source = ListSource(7)

    def batches(world: int, rank: int) -> list[list[tuple[int, int]]]:
        module = RestorationDataModule(
            train=source, val=None, scale=4, patch_size=16, batch_size=GLOBAL_BATCH, repeat=4
        )
        module.seed = 3
        loader = module.train_dataloader()
        sampler = EpochSampler(loader.dataset, num_replicas=world, rank=rank, seed=3)
        sampler.set_epoch(1)
        per = per_device_batch_size(GLOBAL_BATCH, world)
        order = list(sampler)
        return [order[i : i + per] for i in range(0, len(order), per)]

    single = batches(1, 0)
    r0, r1 = batches(2, 0), batches(2, 1)
    assert len(single) == len(r0) == len(r1) == 7
    for step in range(7):
        assert sorted(single[step]) == sorted(r0[step] + r1[step])
        assert all(epoch == 1 for epoch, _ in single[step])


def test_evaluation_shards_count_every_image_once_with_equal_lengths() -> None:
    def shards(n: int, world: int) -> list[list[tuple[int, bool]]]:
        dataset = ListSource(n)
        return [list(EvalShardSampler(dataset, world, rank)) for rank in range(world)]  # type: ignore[arg-type]

    assert shards(3, 1) == [[(0, True), (1, True), (2, True)]]
    # contiguous shares, rank 0 first; the padding repeats are marked
    assert shards(3, 2) == [[(0, True), (1, True)], [(2, True), (0, False)]]
    assert shards(1, 3) == [[(0, True)], [(0, False)], [(0, False)]]
    for n, world in [(5, 4), (7, 3), (8, 4), (2, 5)]:
        parts = shards(n, world)
        assert len({len(p) for p in parts}) == 1  # every rank runs as many batches
        counted = sorted(i for p in parts for i, c in p if c)
        assert counted == list(range(n))


def test_evaluation_batches_say_which_images_count() -> None:
    module = RestorationDataModule(train=None, val=ListSource(2), scale=4)
    batches = list(module.val_dataloader())
    assert [b["name"] for b in batches] == [["i0"], ["i1"]]
    assert [b["counted"].tolist() for b in batches] == [[True], [True]]


def test_patches_are_a_function_of_seed_epoch_and_index() -> None:
    module = RestorationDataModule(
        train=ListSource(3), val=None, scale=4, patch_size=16, batch_size=2, seed=5
    )
    dataset = module.train_dataloader().dataset
    torch.manual_seed(0)
    a = dataset[(2, 1)]["gt"]
    torch.manual_seed(1)  # another process or worker: torch's seed does not matter
    assert torch.equal(a, dataset[(2, 1)]["gt"])
    assert not torch.equal(a, dataset[(3, 1)]["gt"])  # a new epoch draws new patches


def test_ddp_children_of_a_sweep_job_get_the_job_overrides_not_the_sweep() -> None:
    argv = ["restorelab-train", "-m", "--config-dir", "/x", "generator=compact,rrdbnet", "seed=1"]
    assert child_argv(argv, ["generator=rrdbnet", "seed=1"]) == [
        "restorelab-train",
        "--config-dir",
        "/x",
        "generator=rrdbnet",
        "seed=1",
    ]


def test_indivisible_global_batch_fails_at_start_up_naming_the_keys(tmp_path: Path) -> None:
    proc = train_cli([*COMMON, "trainer=ddp_sim", "data.batch_size=5", "logger=none"], tmp_path)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "restorelab-train: error: data.batch_size=5 (the global batch) is not divisible by the "
            "2 processes (trainer.devices x trainer.num_nodes)"
        )
    )


# ------------------------------------------------------------------------- real DDP runs
@pytest.fixture(scope="module")
def single_process_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: one process, global batch 4."""
    out = tmp_path_factory.mktemp("single")
    run = out / "run"
    ok(train_cli([*COMMON, "logger=csv", f"hydra.run.dir={run}"], out))
    return run


@pytest.mark.slow
def test_ddp_sim_equals_one_process_and_makes_one_run_dir_and_one_wandb_run(
    single_process_run: Path, tmp_path: Path
) -> None:
    with_table = [a for a in COMMON if a != "~callbacks.val_table"]
    proc = ok(train_cli([*with_table, "trainer=ddp_sim", "logger=default"], tmp_path))
    assert "Starting with 2 processes" in proc.stderr + proc.stdout
    runs = list((tmp_path / "train" / "runs").iterdir())
    assert len(runs) == 1, runs  # ranks > 0 joined rank 0's run directory
    (run,) = runs
    assert len(list((run / "wandb").glob("offline-run-*"))) == 1
    (wandb_file,) = {p.resolve() for p in find_run_files(run)}
    # each rank scored one validation image; rank 0 logged both in one table
    (table,) = read_tables(wait_until_complete(wandb_file), "val/images")
    assert [r["name"] for r in table["rows"]] == ["coffee", "immunohistochemistry"]
    assert not list(tmp_path.glob("**/.pl_hydra*")) and (run / ".hydra" / "config.yaml").is_file()
    assert_same_run(single_process_run, run)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_nodes_on_loopback_train_together(single_process_run: Path, tmp_path: Path) -> None:
    env = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": "2",
        "GLOO_SOCKET_IFNAME": "lo",
    }
    args = [*COMMON, "trainer=ddp_sim", "trainer.devices=1", "trainer.num_nodes=2", "logger=csv"]
    logs = [(tmp_path / f"node{r}.log").open("w") for r in (0, 1)]  # files: pipes could fill
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "restorelab.commands.train",
                *args,
                f"hydra.run.dir={tmp_path / f'node{r}'}",
            ],
            cwd=ROOT,
            env={**os.environ, **env, "NODE_RANK": str(r), "RESTORELAB_OUTPUTS": str(tmp_path)},
            stdout=logs[r],
            stderr=subprocess.STDOUT,
        )
        for r in (0, 1)
    ]
    for proc in procs:
        proc.wait(timeout=600)
    for log in logs:
        log.close()
    out = [(tmp_path / f"node{r}.log").read_text() for r in (0, 1)]
    for proc, text in zip(procs, out, strict=True):
        assert proc.returncode == 0, text[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in out[1]
    # rank 0 (node 0) writes the results; node 1 only trained
    assert (tmp_path / "node0" / "metrics.json").is_file()
    assert not (tmp_path / "node1" / "metrics.json").exists()
    assert_same_run(single_process_run, tmp_path / "node0")


@pytest.mark.slow
def test_ddp_job_of_a_sweep_stays_in_its_job_dir(tmp_path: Path) -> None:
    # ranks > 0 re-run the command line: with `-m` they would start a sweep of their own
    ok(train_cli(["-m", *COMMON, "trainer=ddp_sim", "seed=42", "trainer.max_steps=2"], tmp_path))
    assert [p.name for p in (tmp_path / "train").iterdir()] == ["multiruns"]  # no runs/ dir
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "multirun.yaml"]
    assert len(list((sweep / "0" / "wandb").glob("offline-run-*"))) == 1
    assert json.loads((sweep / "0" / "metrics.json").read_text())["step"] == 2


# ------------------------------------------------------- validation: every image counts once
# 3 validation images on 2 processes: a padding DistributedSampler would score one of them twice.
# The learning rate is 0, so both runs validate the very same weights: any difference in the
# metric is how the images are counted, not the order gradients were summed in.
THREE_VAL = [
    *COMMON,
    "data.train_names=[astronaut,chelsea,motorcycle_left,motorcycle_right,hubble_deep_field,retina]",
    "data.val_names=[coffee,immunohistochemistry,rocket]",
    "optimizer.generator.lr=0",
    "scheduler=constant",
    "trainer.max_steps=1",
    "trainer.val_check_interval=1",
]


#: val/lpips with a random VGG, the same on every rank: cheap, and reduced like the real one
LPIPS_RANDOM = ["+callbacks.lpips._target_=tests.helpers.seeded_perceptual_metric"]


@pytest.mark.slow
def test_ddp_validation_counts_each_image_once(tmp_path: Path) -> None:
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    # one thread in every process: Lightning gives each DDP rank cores / ranks threads, and
    # convolutions summed in another order flip a few 8-bit pixels (~1e-6 dB)
    threads = {"OMP_NUM_THREADS": "1"}
    callbacks = [a for a in THREE_VAL if a not in ("~callbacks.val_table", "~callbacks.image_grid")]
    grid = [*callbacks, "callbacks.image_grid.num_images=2", "callbacks.image_grid.crop=64"]
    grid += LPIPS_RANDOM
    ok(train_cli([*grid, "logger=csv", f"hydra.run.dir={single}"], tmp_path, threads))
    args = [*grid, "trainer=ddp_sim", "logger=default", f"hydra.run.dir={ddp}"]
    ok(train_cli(args, tmp_path, threads))
    one = json.loads((single / "metrics.json").read_text())
    two = json.loads((ddp / "metrics.json").read_text())
    for key in ("val/psnr_y", "val/psnr_y_bicubic"):
        assert two[key] == pytest.approx(one[key], abs=1e-6), key
    for key in ("val/ssim_y", "val/ssim_y_bicubic", "val/lpips"):
        assert two[key] == pytest.approx(one[key], abs=1e-8), key
    # the per-image table and the logged mean agree: three rows, their mean is val/psnr_y
    (wandb_file,) = {p.resolve() for p in find_run_files(ddp)}
    (table,) = read_tables(wait_until_complete(wandb_file), "val/images")
    assert [r["name"] for r in table["rows"]] == ["coffee", "immunohistochemistry", "rocket"]
    mean = sum(r["psnr_y"] for r in table["rows"]) / 3
    assert mean == pytest.approx(two["val/psnr_y"], abs=1e-6)
    # rank 0 holds the first images, so its grid shows the same two images as one process
    png = "images/val_step0000001.png"
    assert (ddp / png).read_bytes() == (single / png).read_bytes()


# ------------------------------------------------------ nonfinite=skip: every rank decides alike
def nan_on_rank_1(report: Path, nonfinite: str) -> list[str]:
    """A 3-step ddp_sim run whose rank 1 alone sees a NaN loss at batch 1.

    The process-group timeout is short: a rank left waiting in a collective fails in a minute.
    """
    return [
        *COMMON,
        "trainer=ddp_sim",
        "logger=none",
        "trainer.max_steps=3",
        "trainer.val_check_interval=3",
        f"module.nonfinite={nonfinite}",
        "+callbacks.nan._target_=tests.helpers.NaNOnRank",
        "+callbacks.nan.rank=1",
        "+callbacks.nan.batch=1",
        f"+callbacks.nan.out={report}",
        "+trainer.strategy.timeout._target_=datetime.timedelta",
        "+trainer.strategy.timeout.seconds=60",
    ]


@pytest.mark.slow
def test_a_nan_on_one_rank_is_skipped_on_every_rank(tmp_path: Path) -> None:
    # before the ranks agreed, rank 1 skipped its backward while rank 0 waited in the gradient
    # all-reduce until the timeout ("Application timeout caused pair closure")
    report = tmp_path / "ranks"
    proc = ok(train_cli(nan_on_rank_1(report, "skip"), tmp_path, timeout=300))
    ranks = [json.loads((report / f"rank{r}.json").read_text()) for r in (0, 1)]
    # both skipped the one update, trained the same 3 steps and hold the same weights
    assert [r["skipped"] for r in ranks] == [1, 1]
    assert [r["global_step"] for r in ranks] == [3, 3]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    log = proc.stdout + proc.stderr
    assert "rank 1: non-finite generator loss at step 1 (epoch 0, batch 1): l1=nan" in log
    elsewhere = "rank 0: non-finite generator loss on another process at step 1 (epoch 0, batch 1)"
    assert elsewhere in log and "update skipped on every process" in log


@pytest.mark.slow
def test_a_nan_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    report = tmp_path / "ranks"
    proc = train_cli(nan_on_rank_1(report, "raise"), tmp_path, timeout=300)
    assert proc.returncode != 0
    log = proc.stdout + proc.stderr
    assert "rank 1: non-finite generator loss at step 1 (epoch 0, batch 1): l1=nan" in log
    assert "rank 0: non-finite generator loss on another process at step 1" in log
    assert "timeout" not in log.lower()  # rank 0 stopped too, it did not wait for rank 1
    assert not report.exists()  # no rank finished training
