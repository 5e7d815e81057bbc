"""Datasets, image sources and the LightningDataModule."""

from restorelab.data.datamodule import (
    RestorationDataModule,
    embedded_datamodule,
    folder_datamodule,
    paired_datamodule,
)
from restorelab.data.datasets import ImageDataset, PatchDataset, image_seed
from restorelab.data.io import read_image
from restorelab.data.scan import list_images, scan_folder
from restorelab.data.sources import EmbeddedSource, FolderSource, PairedSource, Sample, Source

__all__ = [
    "EmbeddedSource",
    "FolderSource",
    "ImageDataset",
    "PairedSource",
    "PatchDataset",
    "RestorationDataModule",
    "Sample",
    "Source",
    "embedded_datamodule",
    "folder_datamodule",
    "image_seed",
    "list_images",
    "paired_datamodule",
    "read_image",
    "scan_folder",
]
