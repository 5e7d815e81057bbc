"""``trainer.precision: auto``: the fastest safe precision for the device a run trains on.

bf16 autocast is only a speed-up where the hardware computes bf16 natively. On a CPU without
AVX-512 BF16 or AMX, oneDNN emulates it and a convolution step is about 12x *slower* than fp32
(measured on an AVX2-only 2-core machine, see issue 11), so a fixed ``bf16-mixed`` default
trains a fraction of the steps in the same time. The rule:

- CUDA with compute capability >= 8.0 (Ampere and later): ``bf16-mixed``;
- older CUDA GPUs: ``16-mixed`` (fp16 with gradient scaling, what their tensor cores run);
- a CPU with native bf16 (AVX-512 BF16 or AMX, and neither ATen nor oneDNN restricted below
  AVX-512 by ``ATEN_CPU_CAPABILITY`` / ``ONEDNN_MAX_CPU_ISA``): ``bf16-mixed``;
- anything else (AVX2 CPUs, Apple MPS, other accelerators): ``32-true``.

The hardware questions are the small ``*_native_bf16`` / ``cuda_capability`` probes below, so
tests fake a device by monkeypatching them; on a CPU that has AVX-512 BF16 the real slow path
is reproduced with ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

AUTO = "auto"
#: Lightning accelerator names that mean a CUDA device.
CUDA_ACCELERATORS = ("gpu", "cuda")


@dataclass(frozen=True)
class PrecisionChoice:
    """What ``trainer.precision`` became and why (printed and stored in ``run_info.json``)."""

    requested: str
    precision: str
    device: str
    reason: str

    def line(self) -> str:
        """The one line a run prints about its precision."""
        how = "auto" if self.requested == AUTO else "set in the config"
        return f"precision: {self.precision} ({how}; {self.reason})"

    def as_dict(self) -> dict[str, str]:
        return {
            "requested": self.requested,
            "precision": self.precision,
            "device": self.device,
            "reason": self.reason,
        }


def cpu_capability() -> str:
    """ATen's vector instruction set for this process (``AVX2``, ``AVX512``, ...)."""
    return str(torch.backends.cpu.get_cpu_capability())


def cpu_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware and this process may use it.

    True when the CPU has AVX-512 BF16 or AMX tiles, ATen dispatches AVX-512 kernels, and
    oneDNN is allowed bf16 (``ONEDNN_MAX_CPU_ISA`` below AVX-512 turns that off).
    """
    from restorelab.training import compat

    has_units = compat.cpu_has_avx512_bf16() or compat.cpu_has_amx()
    return has_units and cpu_capability().startswith("AVX512") and compat.onednn_bf16_allowed()


def cuda_capability() -> tuple[int, int] | None:
    """The lowest compute capability among the visible CUDA devices (None: no CUDA)."""
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return None
    return min(torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count()))


def mps_available() -> bool:
    """Whether Apple's Metal backend is usable."""
    return bool(torch.backends.mps.is_available())


def device_kind(accelerator: str) -> str:
    """``cuda``, ``mps``, ``cpu`` or the accelerator's own name, as Lightning would pick it."""
    name = str(accelerator).lower()
    if name in CUDA_ACCELERATORS:
        return "cuda"
    if name == AUTO:
        if cuda_capability() is not None:
            return "cuda"
        return "mps" if mps_available() else "cpu"
    return name


def choose_precision(requested: str | int | None, accelerator: str = AUTO) -> PrecisionChoice:
    """Resolve ``trainer.precision`` for ``trainer.accelerator``; explicit values are kept."""
    value = AUTO if requested is None else str(requested)
    device = device_kind(accelerator)
    if value != AUTO:
        return PrecisionChoice(value, value, device, f"on {device}")
    if device == "cuda":
        cap = cuda_capability()
        if cap is None:
            return PrecisionChoice(AUTO, "32-true", device, "no CUDA device is visible")
        text = f"CUDA compute capability {cap[0]}.{cap[1]}"
        if cap >= (8, 0):
            return PrecisionChoice(AUTO, "bf16-mixed", device, f"{text} computes bf16 natively")
        return PrecisionChoice(AUTO, "16-mixed", device, f"{text} has no fast bf16; fp16 instead")
    if device == "cpu":
        cap_name = cpu_capability()
        if cpu_native_bf16():
            return PrecisionChoice(
                AUTO, "bf16-mixed", device, f"CPU {cap_name} with AVX-512 BF16/AMX: native bf16"
            )
        return PrecisionChoice(
            AUTO,
            "32-true",
            device,
            f"CPU {cap_name} without native bf16 (bf16 autocast would be emulated, ~12x slower)",
        )
    return PrecisionChoice(AUTO, "32-true", device, f"no fast mixed precision known for {device}")
