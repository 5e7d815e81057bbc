"""Start-up checks shared by the entry points: do the configured pieces agree?"""

from __future__ import annotations

from typing import Any

from restorelab.errors import ConfigError


def check_scales(data_scale: int, generator: Any, degradation: Any, label: str) -> None:
    """Fail before any work, naming the keys, when generator/degradation/data scales disagree.

    Args:
        data_scale: ``data.scale``.
        generator: the built generator (its ``scale`` attribute is compared).
        degradation: the built degradation pipeline, or None (paired data).
        label: where the generator came from (config target or checkpoint path), for the message.
    """
    gen_scale = getattr(generator, "scale", None)
    if gen_scale is not None and int(gen_scale) != data_scale:
        raise ConfigError(
            f"generator.scale={int(gen_scale)} ({label}) disagrees with data.scale="
            f"{data_scale}: set data.scale={int(gen_scale)}, or use a generator for x{data_scale}"
        )
    if degradation is not None and int(degradation.scale) != data_scale:
        raise ConfigError(
            f"the degradation shrinks by {degradation.scale} but data.scale={data_scale}: "
            f"pick a degradation of scale {data_scale} (e.g. degradation=bicubic)"
        )
