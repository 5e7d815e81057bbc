"""``restorelab-data check DIR``: what in a data folder would fail, or surprise, in training.

Every file with an image extension is decoded in full (a truncated file often has a valid
header), the way the loaders read it (:func:`restorelab.data.io.read_image`). The report lists

- unreadable files (the loader's own one-line reason);
- odd modes: anything but 8-bit RGB or grayscale (CMYK, palette, alpha, 16-bit, float...),
  which the loaders convert (README, "Image conversions") but which often means a folder holds
  something other than what was meant;
- sizes: the range, and images smaller than ``min_size`` (a patch cannot be cut from them);
- with an lq folder and a scale: ground truths without a low-quality input, inputs without a
  ground truth (names match by stem, or stem + ``x{scale}`` as DIV2K and EDSR name theirs), and
  pairs whose sizes do not agree with the scale (the rule of ``align_pair``: each lq side is
  the gt side over the scale, rounded down or up).

Any finding of these kinds is a problem: the command then exits with status 1.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from restorelab.data.io import IMAGE_EXTENSIONS, read_image
from restorelab.data.parallel import run_parallel
from restorelab.errors import ConfigError, DataError, one_line

#: 8-bit modes the loaders take as they are.
PLAIN_MODES = {"RGB", "L"}
#: What the loaders do with the other modes (README, "Image conversions").
MODE_NOTES = {
    "CMYK": "CMYK, converted to RGB",
    "P": "palette, converted to RGB",
    "PA": "palette with alpha, converted to RGB",
    "RGBA": "RGBA, alpha dropped",
    "LA": "gray with alpha, alpha dropped",
    "1": "1-bit, converted to gray",
    "YCbCr": "YCbCr, converted to RGB",
    "LAB": "Lab, converted to RGB",
    "HSV": "HSV, converted to RGB",
    "F": "32-bit float, rounded to 8 bits",
    "I": "32-bit integer, scaled to 8 bits",
}
#: The kinds of problem, in the order the report lists them.
KINDS = (
    "unreadable",
    "odd modes",
    "too small",
    "ground truths without lq",
    "lq without ground truth",
    "pairs off scale",
)
#: How many files of one kind the report names before it only counts the rest.
SHOWN = 10


@dataclass(frozen=True)
class FileInfo:
    """One file as the loaders see it: size ``(width, height)``, mode, or why it fails."""

    path: Path
    size: tuple[int, int] | None = None
    mode: str = ""
    error: str = ""


def _mode(img: Image.Image) -> str:
    """The image's mode, with ``;16`` when Pillow reads 16-bit samples it reports as 8-bit."""
    raw = ""
    tile = getattr(img, "tile", None)
    if tile:
        args = tile[0].args
        raw = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) else "")
    if isinstance(raw, str) and ";16" in raw and ";16" not in img.mode:
        return f"{img.mode};16"
    return img.mode


def inspect(path: Path) -> FileInfo:
    """Header facts of ``path`` and a full decode through the loaders' reader."""
    try:
        read_image(path)  # first: its messages say what is wrong with the file
        with Image.open(path) as img:
            size, mode = img.size, _mode(img)
    except DataError as e:
        return FileInfo(path, error=one_line(e))
    except Exception as e:  # any decoder failure is this file's problem, reported as such
        return FileInfo(path, error=f"not a readable image: {path} ({type(e).__name__}: {e})")
    return FileInfo(path, size=size, mode=mode)


def odd_mode(mode: str) -> str | None:
    """Why ``mode`` is worth a look, or None for plain 8-bit RGB and grayscale."""
    if mode in PLAIN_MODES:
        return None
    if mode.startswith("I;16"):
        return "16-bit gray, scaled to 8 bits"
    if mode.endswith(";16"):
        return f"16-bit {mode[:-3]}, reduced to 8 bits"
    return MODE_NOTES.get(mode, f"mode {mode}, converted to RGB")


@dataclass
class Report:
    """What ``check`` found: a list of files per kind of problem, plus facts."""

    folder: Path
    files: list[FileInfo] = field(default_factory=list)
    others: int = 0  # files without an image extension (the loaders skip them)
    folders: int = 0  # subfolders (the loaders do not look inside)
    problems: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, line: str) -> None:
        assert kind in KINDS, kind
        self.problems.setdefault(kind, []).append(line)
        self.problems = {k: self.problems[k] for k in KINDS if k in self.problems}

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The report as printed."""
        readable = [f for f in self.files if f.size is not None]
        out = [f"{self.folder}: {len(self.files)} image files"]
        if readable:
            widths = [f.size[0] for f in readable if f.size]
            heights = [f.size[1] for f in readable if f.size]
            modes = Counter(f.mode for f in readable)
            out.append(
                f"  sizes: width {min(widths)}-{max(widths)}, height {min(heights)}-"
                f"{max(heights)}; modes: " + ", ".join(f"{m} {n}" for m, n in sorted(modes.items()))
            )
        if self.others or self.folders:
            out.append(
                f"  not looked at: {self.others} other files, {self.folders} subfolders "
                "(the loaders read only image files directly inside a folder)"
            )
        for kind, entries in self.problems.items():
            out.append(f"  {kind}: {len(entries)}")
            out += [f"    {line}" for line in entries[:SHOWN]]
            if len(entries) > SHOWN:
                out.append(f"    ... and {len(entries) - SHOWN} more")
        return out


def scan(folder: Path, key: str, workers: int) -> Report:
    """Inspect every image file directly inside ``folder``."""
    if not folder.is_dir():
        raise DataError(f"check: {key} is not a folder: {folder}")
    report = Report(folder)
    paths = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            report.folders += 1
        elif entry.suffix.lower() in IMAGE_EXTENSIONS:
            paths.append(entry)
        else:
            report.others += 1
    report.files = sorted(
        run_parallel(inspect, paths, workers, f"checking {folder.name}"), key=lambda f: f.path
    )
    return report


def _judge(report: Report, min_size: int) -> None:
    for info in report.files:
        if info.error:
            report.add("unreadable", info.error)
            continue
        note = odd_mode(info.mode)
        if note:
            report.add("odd modes", f"{info.path.name}: {note}")
        if info.size is not None and min(info.size) < min_size:
            w, h = info.size
            report.add("too small", f"{info.path.name}: {w}x{h}, under {min_size} px")


def pair_up(gt: Report, lq: Report, scale: int) -> None:
    """Add the pairing problems of ``lq`` against ``gt`` to ``gt``'s report."""
    gt_files = {f.path.stem: f for f in gt.files}
    lq_files = {f.path.stem: f for f in lq.files}
    matched: set[str] = set()
    for stem, info in gt_files.items():
        partner = lq_files.get(stem) or lq_files.get(f"{stem}x{scale}")
        if partner is None:
            gt.add("ground truths without lq", info.path.name)
            continue
        matched.add(partner.path.stem)
        if info.size is None or partner.size is None:
            continue  # already reported as unreadable
        (w, h), (lw, lh) = info.size, partner.size
        if lw not in (w // scale, -(-w // scale)) or lh not in (h // scale, -(-h // scale)):
            gt.add(
                "pairs off scale",
                f"{info.path.name} {w}x{h} / {partner.path.name} {lw}x{lh}: lq should be "
                f"{w // scale}x{h // scale} at scale {scale}",
            )
    for stem, info in lq_files.items():
        if stem not in matched:
            gt.add("lq without ground truth", info.path.name)


def check(
    folder: str | Path,
    lq_folder: str | Path | None = None,
    scale: int | None = None,
    min_size: int = 0,
    workers: int = 1,
) -> list[Report]:
    """Check ``folder`` (and ``lq_folder`` against it); one report per folder.

    Raises:
        ConfigError: an lq folder without a scale, or a bad value.
        DataError: a folder that does not exist.
    """
    if min_size < 0:
        raise ConfigError(f"check: --min-size must be >= 0, got {min_size}")
    if lq_folder is not None and (scale is None or scale < 1):
        raise ConfigError("check: --lq needs --scale (>= 1), the factor between the folders")
    gt = scan(Path(folder).expanduser(), "DIR", workers)
    _judge(gt, min_size)
    reports = [gt]
    if lq_folder is not None:
        assert scale is not None
        lq = scan(Path(lq_folder).expanduser(), "--lq", workers)
        _judge(lq, 0)
        pair_up(gt, lq, scale)
        reports.append(lq)
    return reports
