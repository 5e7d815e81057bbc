"""``restorelab-archs``: the table of generators: scales, parameters, GFLOPs, CPU latency.

Every option of the ``generator`` config group is a row, built exactly as ``restorelab-train``
builds it. Scales are found by building the config at each candidate scale (an architecture
refuses the ones it does not support); parameters and FLOPs are counted on the ``meta`` device,
so even the largest models cost no memory or time to count; latency is measured on the spot
on the CPU, with the model in inference mode.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from restorelab.config import config_dir
from restorelab.errors import ConfigError

PROG = "restorelab-archs"
#: Scales tried when discovering what an architecture supports.
CANDIDATE_SCALES = (1, 2, 3, 4, 8)
#: Input side (pixels) of the warm-up run of models too costly to warm up at full size.
WARMUP_SIZE = 64
#: Number of spaces between plain-table columns.
COLUMN_GAP = 2


@dataclass
class ArchRow:
    """One line of the table (JSON keys are these field names)."""

    name: str
    arch: str
    scales: list[int]
    scale: int
    params: int
    gflops: float
    latency_ms: float | None


def generator_options(conf: Path | None = None) -> list[str]:
    """The options of the ``generator`` config group, sorted by name."""
    root = Path(conf or config_dir()) / "generator"
    return sorted(p.stem for p in root.glob("*.yaml"))


def _node(name: str, scale: int, conf: Path | None = None) -> DictConfig:
    """The ``generator`` config ``name`` resolved at ``data.scale=scale``."""
    cfg = OmegaConf.load(Path(conf or config_dir()) / "generator" / f"{name}.yaml")
    root = OmegaConf.create({"data": {"scale": scale}, "generator": cfg})
    node = root.generator
    assert isinstance(node, DictConfig)
    return node


def build(name: str, scale: int, device: str = "cpu", conf: Path | None = None) -> nn.Module:
    """Instantiate generator config ``name`` at ``scale`` on ``device`` (no weights loaded)."""
    from hydra.utils import instantiate

    from restorelab.weights import architecture_config

    with torch.device(device):
        net: nn.Module = instantiate(architecture_config(_node(name, scale, conf)))
    return net


def supported_scales(name: str, conf: Path | None = None) -> list[int]:
    """The candidate scales at which config ``name`` builds (the others raise ValueError)."""
    from hydra.errors import InstantiationException

    scales = []
    for s in CANDIDATE_SCALES:
        try:
            build(name, s, "meta", conf)
        except InstantiationException as e:
            if isinstance(e.__cause__, ValueError):  # the architecture refused this scale
                continue
            raise
        scales.append(s)
    return scales


def count_flops(net: nn.Module, size: int, device: str = "meta") -> int:
    """FLOPs of one forward pass on a (1, 3, size, size) input (2 per multiply-add)."""
    x = torch.zeros(1, _in_channels(net), size, size, device=device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(x)
    return int(counter.get_total_flops())


def _in_channels(net: nn.Module) -> int:
    """Input channels: those of the first conv, 3 when the network has none (bicubic)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            return int(m.in_channels)
    return 3


def measure_latency(net: nn.Module, size: int, repeats: int, full_warmup: bool = True) -> float:
    """Median wall time (ms) of ``repeats`` CPU forward passes at ``size`` x ``size``.

    A warm-up pass runs first (oneDNN builds its kernels per shape on the first call): at the
    measured size when ``full_warmup``, else at ``WARMUP_SIZE`` (for models that take tens
    of seconds per pass, where the one-time cost is small in comparison).
    """
    channels = _in_channels(net)
    net.eval()
    times = []
    with torch.inference_mode():
        warm = size if full_warmup else min(size, WARMUP_SIZE)
        net(torch.rand(1, channels, warm, warm))
        x = torch.rand(1, channels, size, size)
        for _ in range(repeats):
            start = time.perf_counter()
            net(x)
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def describe(
    name: str,
    size: int,
    scale: int,
    latency: bool,
    repeats: int,
    max_gflops: float | None,
    conf: Path | None = None,
    warmup_gflops: float = float("inf"),
) -> ArchRow:
    """Build config ``name`` and measure it; ``scale`` falls back to the nearest supported."""
    scales = supported_scales(name, conf)
    if not scales:
        raise ConfigError(f"generator={name}: builds at none of the scales {CANDIDATE_SCALES}")
    chosen = min(scales, key=lambda s: (abs(s - scale), -s))
    meta = build(name, chosen, "meta", conf)
    params = sum(p.numel() for p in meta.parameters())
    try:
        flops = count_flops(meta, size)
    except (NotImplementedError, RuntimeError):  # an op without a meta kernel: count for real
        flops = count_flops(build(name, chosen, "cpu", conf), size, "cpu")
    gflops = flops / 1e9
    ms = None
    if latency and (max_gflops is None or gflops <= max_gflops):
        net = build(name, chosen, "cpu", conf)
        ms = measure_latency(net, size, repeats, full_warmup=gflops <= warmup_gflops)
    return ArchRow(name, type(meta).__name__, scales, chosen, params, gflops, ms)


def _fmt_params(n: int) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}K"
    return str(n)


def _fmt_row(row: ArchRow) -> list[str]:
    latency = "-" if row.latency_ms is None else f"{row.latency_ms:.1f}"
    return [
        row.name,
        row.arch,
        ",".join(map(str, row.scales)),
        f"x{row.scale}",
        _fmt_params(row.params),
        f"{row.gflops:.2f}",
        latency,
    ]


def render(rows: Sequence[ArchRow], fmt: str, size: int) -> str:
    """The table as ``table`` (aligned text), ``markdown`` or ``json`` (one line)."""
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows])
    header = [
        "name",
        "class",
        "scales",
        "at",
        "params",
        f"GFLOPs@{size}",
        f"CPU ms@{size}",
    ]
    cells = [_fmt_row(r) for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c) + " |" for c in cells]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(header, *cells, strict=True)]
    gap = " " * COLUMN_GAP
    return "\n".join(
        gap.join(x.ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="List the generator architectures (the `generator` config group) with "
        "their scales, parameters, GFLOPs and CPU latency at a size x size input.",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="only this generator option (repeatable, or comma-separated)",
    )
    parser.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    parser.add_argument("--no-latency", action="store_true", help="skip the timing runs")
    parser.add_argument("--size", type=int, default=256, help="input side in pixels")
    parser.add_argument(
        "--scale", type=int, default=4, help="scale to measure at (nearest supported one otherwise)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="timed runs per model (median reported), after a small warm-up",
    )
    parser.add_argument(
        "--warmup-gflops",
        type=float,
        default=200.0,
        help="warm up at full size only models up to this many GFLOPs (others at 64 px)",
    )
    parser.add_argument(
        "--max-gflops", type=float, default=None, help="skip timing models above this many GFLOPs"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> str:
    """Build the requested rows and render them."""
    known = generator_options()
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()] or known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"--only: unknown generator {unknown[0]!r} (known: {', '.join(known)})")
    if args.size <= 0 or args.repeats <= 0:
        raise ConfigError(f"--size ({args.size}) and --repeats ({args.repeats}) must be > 0")
    rows = [
        describe(
            n,
            args.size,
            args.scale,
            not args.no_latency,
            args.repeats,
            args.max_gflops,
            warmup_gflops=args.warmup_gflops,
        )
        for n in names
    ]
    return render(rows, args.format, args.size)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point of ``restorelab-archs``."""
    from restorelab.commands.common import report_errors

    args = parse_args(argv)
    print(report_errors(PROG, run, args))


if __name__ == "__main__":
    main()
