"""Device and precision choice. Pure logic over injectable facts, so every branch is testable here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from p2phd.models.vocabulary import DEVICES, DTYPE_NAMES, PRECISIONS

__all__ = ["DEVICES", "PRECISIONS", "HardwareFacts", "Precision", "select_device", "select_precision"]


def torch_dtype(precision: str) -> torch.dtype:
    """``torch.float32`` for ``"fp32"`` ... (names: :data:`p2phd.models.vocabulary.DTYPE_NAMES`)."""
    if precision not in DTYPE_NAMES:
        raise ValueError(f"unknown precision {precision!r} (choose from {', '.join(DTYPE_NAMES)})")
    return getattr(torch, DTYPE_NAMES[precision])


def precision_name(dtype: torch.dtype) -> str:
    """``"bf16"`` for ``torch.bfloat16`` ... (the inverse of :func:`torch_dtype`)."""
    names = {attr: name for name, attr in DTYPE_NAMES.items()}
    return names[str(dtype).removeprefix("torch.")]


@dataclass(frozen=True)
class HardwareFacts:
    """What the machine offers; tests build these by hand to exercise GPU branches without a GPU."""

    cuda: bool = False
    cuda_capability: tuple[int, int] | None = None
    mps: bool = False
    cpu_bf16: bool = False

    @classmethod
    def probe(cls) -> HardwareFacts:
        cuda = torch.cuda.is_available()
        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        return cls(
            cuda=cuda,
            cuda_capability=torch.cuda.get_device_capability() if cuda else None,
            mps=mps,
            cpu_bf16=cpu_supports_bf16(),
        )


def cpu_supports_bf16(cpuinfo: str | None = None, mkldnn: bool | None = None) -> bool:
    """Fast bf16 on this CPU: oneDNN present and AMX-BF16 or AVX512-BF16 in the CPU flags."""
    if mkldnn is None:
        mkldnn = torch.backends.mkldnn.is_available()
    if not mkldnn:
        return False
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set(cpuinfo.split())
    return bool(flags & {"amx_bf16", "avx512_bf16"})


@dataclass(frozen=True)
class Precision:
    """How the engine runs: device, weight/activation dtype, norm-statistics dtype, memory layout."""

    device: str
    dtype: torch.dtype
    # dtype of the instance-norm statistics previews replay (the norms accumulate in fp32 either way).
    # fp32, except fp16 on MPS: F.batch_norm with fp16 input and fp32 mean/var aborts there in some
    # torch versions, so the statistics take the input's dtype.
    norm_dtype: torch.dtype = torch.float32
    channels_last: bool = True

    def __post_init__(self):
        if self.norm_dtype not in (torch.float32, self.dtype):
            raise ValueError(f"norm_dtype must be float32 or the engine's dtype, not {self.norm_dtype}")

    @property
    def name(self) -> str:
        return precision_name(self.dtype)


def select_device(requested: str = "auto", facts: HardwareFacts | None = None) -> str:
    if requested not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {requested!r}")
    facts = facts or HardwareFacts.probe()
    if requested == "auto":
        return "cuda" if facts.cuda else "mps" if facts.mps else "cpu"
    if requested == "cuda" and not facts.cuda:
        raise ValueError("device 'cuda' requested but no CUDA GPU is available")
    if requested == "mps" and not facts.mps:
        raise ValueError("device 'mps' requested but Apple MPS is not available")
    return requested


def select_precision(requested: str = "auto", device: str = "auto", facts: HardwareFacts | None = None) -> Precision:
    """``auto``: CUDA fp16 (bf16 is no faster there and fp16 has more mantissa), MPS fp16, CPU bf16
    when the CPU has bf16 instructions, else fp32. Explicit choices are checked, not corrected."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    facts = facts or HardwareFacts.probe()
    device = select_device(device, facts)
    if requested == "auto":
        if device in ("cuda", "mps"):
            requested = "fp16"
        else:
            requested = "bf16" if facts.cpu_bf16 else "fp32"
    if requested == "fp16" and device == "cpu":
        raise ValueError("fp16 is not supported on the CPU; use bf16 or fp32")
    if requested == "bf16" and device == "cuda" and facts.cuda_capability and facts.cuda_capability < (8, 0):
        raise ValueError(
            f"bf16 needs an Ampere or newer GPU (this one is sm_{facts.cuda_capability[0]}"
            f"{facts.cuda_capability[1]}); use fp16"
        )
    dtype = torch_dtype(requested)
    # Measured on the 2-core CPU: channels-last bf16 is ~3x slower than NCHW there (oneDNN reorders
    # around reflection padding and transposed convs); GPUs' tensor cores want channels-last.
    norm_dtype = dtype if device == "mps" else torch.float32
    return Precision(device=device, dtype=dtype, norm_dtype=norm_dtype, channels_last=device != "cpu")
