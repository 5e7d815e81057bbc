"""One upload's work on the demo page, without Gradio: read, enhance, write result and previews.

The uploaded file goes through exactly what ``restorelab-enhance`` does to an input:
:func:`~restorelab.inference.image_io.read_photo` (with the pixel limit), the
:class:`~restorelab.inference.enhancer.Enhancer` with the page's tile size and precision, and
:func:`~restorelab.inference.image_io.write_photo` with its default quality and PNG level, so
the file the page offers for download is byte for byte the one the command writes.

Every upload gets a folder of its own under the session's work folder; the page deletes it once
Gradio has copied the files into its cache (:meth:`DemoSession.forget`), so two uploads never
share a path and finished ones leave nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from restorelab.demo.preview import write_preview
from restorelab.errors import ConfigError, RestorelabError
from restorelab.inference.card import ModelCard
from restorelab.inference.enhancer import Enhancer, EnhanceSettings, TileProgress
from restorelab.inference.image_io import FORMATS, read_photo, write_photo
from restorelab.inference.models import PRECISIONS, Model, TorchModel


def _one_extension_per_format() -> tuple[str, ...]:
    first: dict[str, str] = {}
    for ext, fmt in FORMATS.items():
        first.setdefault(fmt, ext)
    return tuple(first.values())


#: Output formats offered on the page: one extension per format ``write_photo`` knows.
OUTPUT_FORMATS = _one_extension_per_format()
#: Sub-folder of an upload's folder holding the 8-bit images the browser shows.
SHOWN = "shown"


@dataclass(frozen=True)
class DemoModel:
    """A model offered on the page: the loaded generator and its card."""

    model: Model
    card: ModelCard


@dataclass(frozen=True)
class DemoResult:
    """What one upload produced, all inside ``folder``.

    Attributes:
        folder: this upload's folder (delete it with :meth:`DemoSession.forget`).
        before: the input, 8-bit, resized to the output's size (left of the slider).
        after: the result, 8-bit (right of the slider).
        download: the result as ``restorelab-enhance`` writes it, named ``<input stem>.<ext>``.
        stages: (8-bit preview, caption) of each refinement stage; empty for one-stage models.
        message: one line for the page's status box.
    """

    folder: Path
    before: Path
    after: Path
    download: Path
    stages: list[tuple[Path, str]]
    message: str


class DemoSession:
    """The models of one ``restorelab-demo`` server and the work of each upload.

    Args:
        models: the models offered, by the name the page shows (the first is the default).
        work_dir: where uploads' folders are made.
        device: where PyTorch models run (they were loaded there).
        tile_overlap: context around each tile (``--tile-overlap``).
        max_pixels: refuse larger uploads (``--max-pixels``; 0: no limit).
    """

    def __init__(
        self,
        models: Mapping[str, DemoModel],
        work_dir: Path,
        tile_overlap: int = EnhanceSettings.tile_overlap,
        max_pixels: int = EnhanceSettings.max_pixels,
    ) -> None:
        if not models:
            raise ConfigError("the demo needs at least one model")
        self.models = dict(models)
        self.work_dir = Path(work_dir)
        self.tile_overlap = tile_overlap
        self.max_pixels = max_pixels
        EnhanceSettings(tile_overlap=tile_overlap, max_pixels=max_pixels)  # checks the values
        self._by_precision: dict[tuple[str, str], Model] = {}

    @property
    def names(self) -> list[str]:
        return list(self.models)

    def model(self, name: str, precision: str) -> Model:
        """The model ``name`` running in ``precision`` (PyTorch models share their weights)."""
        if name not in self.models:
            raise ConfigError(f"model {name!r}: not one of {', '.join(self.models)}")
        if precision not in PRECISIONS:
            raise ConfigError(f"precision {precision!r}: not one of {', '.join(PRECISIONS)}")
        loaded = self.models[name].model
        if precision == "fp32":
            return loaded
        if not isinstance(loaded, TorchModel):
            raise ConfigError(
                f"precision {precision}: {Path(loaded.source).name} is an ONNX model, which "
                "runs in fp32 here"
            )
        key = (name, precision)
        if key not in self._by_precision:
            self._by_precision[key] = TorchModel(
                loaded.module,
                loaded.scale,
                str(loaded.device),
                precision,
                loaded.config,
                loaded.source,
                loaded.channels_last,
            )
        return self._by_precision[key]

    def enhance(
        self,
        upload: Path,
        name: str,
        tile: int,
        precision: str,
        ext: str,
        on_tile: TileProgress | None = None,
    ) -> DemoResult:
        """Enhance the uploaded file ``upload`` with model ``name``.

        Raises:
            RestorelabError: a bad upload or option, its message naming the upload by its file
                name (not Gradio's temporary path); nothing is left behind.
        """
        upload = Path(upload)
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=self.work_dir))
        try:
            return self._enhance(upload, folder, name, tile, precision, ext, on_tile)
        except RestorelabError as e:
            self.forget(folder)
            # name files as the user knows them, not by the server's temporary paths
            message = str(e).replace(str(upload), upload.name)
            message = message.replace(f"{folder}{os.sep}", "")
            raise type(e)(message) from None

    def _enhance(
        self,
        upload: Path,
        folder: Path,
        name: str,
        tile: int,
        precision: str,
        ext: str,
        on_tile: TileProgress | None,
    ) -> DemoResult:
        if ext not in OUTPUT_FORMATS:
            raise ConfigError(f"output format {ext!r}: not one of {', '.join(OUTPUT_FORMATS)}")
        model = self.model(name, precision)
        settings = EnhanceSettings(int(tile), self.tile_overlap, self.max_pixels)
        photo = read_photo(upload, self.max_pixels)
        outs = Enhancer(model, settings).enhance_photo(
            photo, steps=model.has_stages, on_tile=on_tile
        )
        final = outs[-1]
        download = write_photo(final, folder / f"{upload.stem}.{ext}")
        shown = folder / SHOWN
        shown.mkdir()
        h, w = final.pixels.shape[:2]
        before = write_preview(photo, shown / "before.png", h, w)
        after = write_preview(final, shown / "after.png")
        stages = [
            (write_preview(out, shown / f"stage{k}.png"), f"stage {k}")
            for k, out in enumerate(outs if len(outs) > 1 else [], start=1)
        ]
        ih, iw = photo.pixels.shape[:2]
        depth = 16 if final.pixels.dtype.itemsize == 2 else 8
        message = f"{upload.name}: {iw}x{ih} -> {w}x{h} ({depth}-bit {ext.upper()}) with {name}"
        return DemoResult(folder, before, after, download, stages, message)

    def forget(self, folder: Path | str | None) -> None:
        """Delete an upload's folder (Gradio has its own copies of what it shows)."""
        if folder is None:
            return
        path = Path(folder).resolve()
        if path.parent == self.work_dir.resolve():
            shutil.rmtree(path, ignore_errors=True)
