"""``restorelab-data download | prepare | check``: the dataset tools behind ``restorelab-data``.

Their command-line options and defaults live here; the work is done in ``restorelab.data``
(``download``, ``prepare``, ``check``). Bad input (an unknown data set, a missing folder, a
failed checksum) ends in one ``restorelab-data: error: ...`` line and exit status 2; ``check``
exits with status 1 when it finds problems.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from restorelab.data.check import check
from restorelab.data.download import DATA_ROOT_ENV, DownloadOptions, data_root, download
from restorelab.data.parallel import available_cpus
from restorelab.data.prepare import PrepareOptions, prepare
from restorelab.data.registry import Entry, load_registry
from restorelab.errors import ConfigError

DOWNLOAD = DownloadOptions()
PREPARE = PrepareOptions()


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Add the download, prepare and check subcommands to ``restorelab-data``'s parser."""
    d = commands.add_parser(
        "download",
        help="download, verify and unpack a data set (DIV2K, Flickr2K, benchmarks, ...)",
        description=(
            "Download the archives of NAME into ROOT/downloads (resuming a partial transfer), "
            "verify their checksums and unpack them into the layout the data configs expect "
            "(paths.data_dir=ROOT). Running it again does only what is missing."
        ),
    )
    d.add_argument("names", nargs="*", metavar="NAME", help="data sets (see --list)")
    d.add_argument("--list", action="store_true", help="list the known data sets and exit")
    d.add_argument(
        "--root", default=None, help=f"data root (default: ${DATA_ROOT_ENV}, else ./data)"
    )
    d.add_argument("--registry", default=None, help="a registry YAML file instead of the built-in")
    d.add_argument("--retries", type=int, default=DOWNLOAD.retries, help="retries per transfer")
    d.add_argument("--timeout", type=float, default=DOWNLOAD.timeout_s, help="seconds of silence")
    d.add_argument(
        "--retry-wait", type=float, default=DOWNLOAD.retry_wait_s, help="seconds before a retry"
    )
    d.add_argument(
        "--delete-archives", action="store_true", help="delete each archive once unpacked"
    )

    p = commands.add_parser(
        "prepare",
        help="cut large images into overlapping sub-images (and their bicubic LR versions)",
        description=(
            "Cut every image of INPUT into crops of --crop px every --step px (BasicSR's DIV2K "
            "sub-images by default) written to OUTPUT; with --scale S and --lq-output DIR also "
            "their MATLAB-bicubic 1/S versions under the same names. Idempotent: finished "
            "images are skipped."
        ),
    )
    p.add_argument("input", metavar="INPUT", help="folder of images")
    p.add_argument("output", metavar="OUTPUT", help="folder for the crops")
    p.add_argument("--crop", type=int, default=PREPARE.crop, help="crop side in px")
    p.add_argument("--step", type=int, default=PREPARE.step, help="distance between crops")
    p.add_argument(
        "--min-remainder",
        type=int,
        default=PREPARE.min_remainder,
        help="add a crop at the border when more than this many px are left",
    )
    p.add_argument("--scale", type=int, default=None, help="factor of the lq crops")
    p.add_argument("--lq-output", default=None, help="folder for the lq crops (needs --scale)")
    p.add_argument(
        "--compress-level", type=int, default=PREPARE.compress_level, help="PNG level 0-9"
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: all CPUs)")

    c = commands.add_parser(
        "check",
        help="report unreadable files, odd modes, sizes and mismatched lq/gt pairs",
        description=(
            "Decode every image in DIR as training would and report unreadable files, odd "
            "modes (CMYK, palette, alpha, 16-bit), sizes and, with --lq and --scale, pairs "
            "that do not match. Exit status 1 when anything is found."
        ),
    )
    c.add_argument("folder", metavar="DIR", help="folder of (ground-truth) images")
    c.add_argument("--lq", default=None, help="folder of low-quality inputs paired with DIR")
    c.add_argument("--scale", type=int, default=None, help="factor between DIR and --lq")
    c.add_argument("--min-size", type=int, default=0, help="report images with a side below this")
    c.add_argument("--workers", type=int, default=None, help="processes (default: all CPUs)")


def _workers(value: int | None) -> int:
    if value is None:
        return available_cpus()
    if value < 1:
        raise ConfigError(f"--workers must be >= 1, got {value}")
    return value


def _status(entry: Entry, args: argparse.Namespace) -> str:
    downloads = data_root(args.root) / "downloads"
    if not entry.archives:
        return "by hand"
    done = sum((downloads / f"{a.file}.extracted").is_file() for a in entry.archives)
    if done == len(entry.archives):
        return "ready"
    return f"{done}/{len(entry.archives)} unpacked" if done else "not here"


def run_download(args: argparse.Namespace) -> int:
    """``restorelab-data download``: list, or fetch each named data set in turn."""
    registry = load_registry(args.registry)
    if args.list:
        width = max(len(n) for n in registry)
        for name, entry in registry.items():
            print(f"{name:<{width}}  {_status(entry, args):<12}  {entry.description}")
        return 0
    if not args.names:
        raise ConfigError("download: name a data set (restorelab-data download --list shows them)")
    unknown = [n for n in args.names if n not in registry]
    if unknown:
        raise ConfigError(f"download: unknown data set(s) {unknown}; known: {', '.join(registry)}")
    options = DownloadOptions(
        retries=args.retries,
        timeout_s=args.timeout,
        retry_wait_s=args.retry_wait,
        delete_archives=args.delete_archives,
    )
    if options.retries < 0 or options.timeout_s <= 0 or options.retry_wait_s < 0:
        raise ConfigError("download: --retries and --retry-wait must be >= 0, --timeout > 0")
    root = data_root(args.root)
    for name in args.names:
        download(registry[name], root, options)
        print(f"{name}: ready under {root}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    """``restorelab-data prepare``: cut INPUT into OUTPUT and print what was done."""
    options = PrepareOptions(
        **{
            f.name: getattr(args, f.name)
            for f in fields(PrepareOptions)
            if getattr(args, f.name, None) is not None
        }
    )
    totals = prepare(args.input, args.output, options, args.lq_output, _workers(args.workers))
    print(
        f"{totals['images']} images -> {totals['crops']} crops in {args.output}: "
        f"{totals['written']} files written, {totals['skipped_images']} images already done"
    )
    return 0


def run_check(args: argparse.Namespace) -> int:
    """``restorelab-data check``: print the report; status 1 when it found problems."""
    reports = check(args.folder, args.lq, args.scale, args.min_size, _workers(args.workers))
    for report in reports:
        print("\n".join(report.lines()))
    found = [kind for report in reports for kind in report.problems]
    if found:
        print(f"problems found: {', '.join(found)}")
        return 1
    print("no problems found")
    return 0


RUNNERS = {"download": run_download, "prepare": run_prepare, "check": run_check}
