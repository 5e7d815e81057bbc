"""The LightningDataModule: sources in, DataLoaders out, with checks before training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from restorelab.data.cache import with_cache
from restorelab.data.concat import ConcatSource
from restorelab.data.datasets import ImageDataset, PatchDataset
from restorelab.data.sampling import EpochSampler, ResumableDataLoader
from restorelab.data.sharding import (
    CountedDataset,
    EvalShardSampler,
    data_seed,
    per_device_batch_size,
)
from restorelab.data.sources import EmbeddedSource, FolderSource, PairedSource, Source
from restorelab.errors import ConfigError


class RestorationDataModule(L.LightningDataModule):
    """Training patches and whole validation/test images from any :class:`Source`.

    Args:
        train: source of training images (None: this data module cannot train).
        val: source of validation images.
        test: source of test images (defaults to ``val``).
        scale: super-resolution factor of the task (1 for restoration).
        patch_size: ground-truth training patch size; must be a multiple of ``scale`` (checked
            only with training data: evaluation never cuts patches).
        batch_size: GLOBAL training batch size: each of the ``world_size`` processes (devices x
            nodes) loads ``batch_size / world_size`` of it, so a recipe optimizes the same way on
            1 or N devices; it must be divisible by the world size.
        val_batch_size: validation/test batch size (1: images have different sizes).
        num_workers: DataLoader worker processes.
        repeat: patches drawn per training image per epoch.
        hflip: random horizontal flips in training.
        rot90: random vertical flips and transposes in training.
        pin_memory: pin host memory (useful with a GPU).
        seed: seed of the training order and patches (``(seed, epoch, index)``); None: the
            seed Lightning's ``seed_everything`` set (``PL_GLOBAL_SEED``), else 0.
    """

    def __init__(
        self,
        train: Source | None,
        val: Source | None,
        test: Source | None = None,
        scale: int = 4,
        patch_size: int = 96,
        batch_size: int = 16,
        val_batch_size: int = 1,
        num_workers: int = 0,
        repeat: int = 1,
        hflip: bool = True,
        rot90: bool = True,
        pin_memory: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if scale < 1:
            raise ConfigError(f"data.scale must be >= 1, got {scale}")
        if train is not None and patch_size % scale != 0:
            raise ConfigError(
                f"data.patch_size={patch_size} is not divisible by data.scale={scale}"
            )
        self.train_source = train
        self.val_source = val
        self.test_source = test if test is not None else val
        self.scale = scale
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size
        self.num_workers = num_workers
        self.repeat = repeat
        self.hflip = hflip
        self.rot90 = rot90
        self.pin_memory = pin_memory
        self.seed = seed

    def setup(self, stage: str) -> None:
        """Decode the cached training/validation/test images now, in the main process.

        A corrupt file then fails here, before training starts, with its own one-line message
        (in a DataLoader worker the error would come back wrapped in the worker's traceback),
        and the DataLoader's workers, started later, share the decoded training images.
        """
        if stage == "fit" and self.train_source is not None:
            self.train_source.preload()
        if stage in ("fit", "validate") and self.val_source is not None:
            self.val_source.preload()
        if stage == "test" and self.test_source is not None:
            self.test_source.preload()

    def _loader_kwargs(self) -> dict[str, object]:
        return {
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.num_workers > 0,
        }

    def train_dataloader(self) -> DataLoader:
        if self.train_source is None:
            raise ConfigError("no training data configured (set data.train_dir)")
        seed = data_seed(self.seed)
        dataset = PatchDataset(
            self.train_source,
            self.patch_size,
            self.scale,
            self.repeat,
            self.hflip,
            self.rot90,
            seed=seed,
        )
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        batch_size = per_device_batch_size(self.batch_size, world)
        sampler = EpochSampler(dataset, num_replicas=world, rank=rank, seed=seed)
        return ResumableDataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=len(sampler) >= batch_size,
            # worker seeds come from here, not from torch's global RNG, which then stays the
            # model's alone (and resumes exactly)
            generator=torch.Generator().manual_seed(seed),
            progress=self._batches_consumed,
            **self._loader_kwargs(),  # type: ignore[arg-type]
        )

    def _batches_consumed(self) -> int:
        """Training batches of the current epoch the trainer has processed (for resuming)."""
        trainer = self.trainer
        if trainer is None:
            return 0
        # public loop attributes (Lightning 2.6.6); tests/training/test_compat.py runs this
        # on a real fit
        current = trainer.fit_loop.epoch_loop.batch_progress.current
        return int(getattr(current, "processed", current.completed))

    def val_dataloader(self) -> DataLoader:
        if self.val_source is None:
            raise ConfigError("no validation data configured (set data.val_dir)")
        return self._eval_loader(self.val_source)

    def test_dataloader(self) -> DataLoader:
        if self.test_source is None:
            raise ConfigError("no test data configured (set data.test_dir)")
        return self._eval_loader(self.test_source)

    def _eval_loader(self, source: Source) -> DataLoader:
        """Whole images in order, this process's share; each image counts once in the metrics.

        Under DDP every rank loads the same number of batches, the padding marked
        ``counted=False`` (see :mod:`restorelab.data.sharding`).
        """
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        dataset = CountedDataset(ImageDataset(source, self.scale))
        return DataLoader(
            dataset,
            batch_size=self.val_batch_size,
            sampler=EvalShardSampler(dataset, num_replicas=world, rank=rank),
            **self._loader_kwargs(),  # type: ignore[arg-type]
        )


def embedded_datamodule(
    train_names: Sequence[str], val_names: Sequence[str], **kwargs: object
) -> RestorationDataModule:
    """Data module over scikit-image's bundled photographs with a fixed train/val split."""
    overlap = sorted(set(train_names) & set(val_names))
    if overlap:
        raise ConfigError(f"data.train_names and data.val_names overlap: {overlap}")
    return RestorationDataModule(
        train=EmbeddedSource(train_names),
        val=EmbeddedSource(val_names),
        **kwargs,  # type: ignore[arg-type]
    )


def _folder(path: str | Path | None, key: str, cache: bool = False) -> FolderSource | None:
    return None if path in (None, "") else FolderSource(path, key, cache)  # type: ignore[arg-type]


def _train_folders(paths: str | Sequence[str] | None, cache_mb: float) -> Source | None:
    """One folder or several (``data.train_dir=[a,b]``) as one source, cached up to the cap."""
    if paths in (None, ""):
        return None
    if isinstance(paths, str | Path):
        source: Source = FolderSource(paths, "data.train_dir")
    else:
        if len(paths) == 0:  # type: ignore[arg-type]
            raise ConfigError("data.train_dir is an empty list: name at least one folder")
        source = ConcatSource(
            [FolderSource(p, f"data.train_dir[{i}]") for i, p in enumerate(paths)]  # type: ignore[arg-type]
        )
    return with_cache(source, cache_mb)


def folder_datamodule(
    train_dir: str | Sequence[str] | None = None,
    val_dir: str | None = None,
    test_dir: str | None = None,
    cache_val: bool = True,
    cache_train_mb: float = 0,
    **kwargs: object,
) -> RestorationDataModule:
    """Data module over folders of ground-truth images (lq synthesized by the degradation).

    Folders are scanned here, at start-up, so a missing or empty folder fails before training.
    ``train_dir`` may list several folders (one training set); ``cache_train_mb`` keeps that
    many MB of decoded training images in memory (:mod:`restorelab.data.cache`).
    """
    return RestorationDataModule(
        train=_train_folders(train_dir, cache_train_mb),
        val=_folder(val_dir, "data.val_dir", cache_val),
        test=_folder(test_dir, "data.test_dir", cache_val),
        **kwargs,  # type: ignore[arg-type]
    )


def paired_datamodule(
    train_lq_dir: str | None = None,
    train_gt_dir: str | None = None,
    val_lq_dir: str | None = None,
    val_gt_dir: str | None = None,
    test_lq_dir: str | None = None,
    test_gt_dir: str | None = None,
    cache_train_mb: float = 0,
    **kwargs: object,
) -> RestorationDataModule:
    """Data module over paired lq/gt folders matched by file name; ``cache_train_mb`` as for
    :func:`folder_datamodule`."""

    def pair(lq: str | None, gt: str | None, key: str) -> PairedSource | None:
        if lq in (None, "") and gt in (None, ""):
            return None
        if lq in (None, "") or gt in (None, ""):
            raise ConfigError(f"data.{key}_lq_dir and data.{key}_gt_dir must be set together")
        return PairedSource(lq, gt, f"data.{key}")  # type: ignore[arg-type]

    return RestorationDataModule(
        train=with_cache(pair(train_lq_dir, train_gt_dir, "train"), cache_train_mb),
        val=pair(val_lq_dir, val_gt_dir, "val"),
        test=pair(test_lq_dir, test_gt_dir, "test"),
        **kwargs,  # type: ignore[arg-type]
    )
