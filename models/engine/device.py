"""Per-device settings the engine runs under, and timing/memory helpers that are honest on a GPU.

``backend_flags(precision)`` is pure (tests pass a CUDA precision object on a CPU machine);
``applied(flags)`` sets them for the duration of a run and restores the previous values, so an fp32
engine does not leave TF32 off for the rest of the process and two engines cannot fight over it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
from p2phd.models.engine.precision import Precision


def backend_flags(precision: Precision) -> dict[str, object]:
    """The ``torch.backends`` settings a run of the engine needs on ``precision``'s device.

    CUDA: ``cudnn_benchmark`` (frame sizes are fixed and preview crops come from a small grid, so the
    fastest kernels are picked once per shape), and for fp32 ``fp32_precision="ieee"``: torch enables
    TF32 for cuDNN convolutions by default (10-bit mantissa on Ampere and newer), so "fp32" would not
    be fp32. NVIDIA's pix2pixHD set only ``cudnn.benchmark = True``; it predates TF32 (PyTorch 0.4,
    Pascal/Volta GPUs), so its fp32 was IEEE fp32 -- which is what reproducing it needs.
    """
    if precision.device != "cuda":
        return {}
    flags: dict[str, object] = {"cudnn_benchmark": True}
    if precision.dtype == torch.float32:
        flags["fp32_precision"] = "ieee"
    return flags


def crop_grid(precision: Precision) -> int:
    """Side grid of stroke-preview crops: 64 px where kernels are chosen per shape (cudnn.benchmark on
    CUDA, a graph per shape on MPS), so a stroke meets a handful of shapes instead of one per dab.
    1 on the CPU, where every extra pixel costs time (+21-44% area for 12-32 px brushes) and nothing
    is re-tuned."""
    return 1 if precision.device == "cpu" else 64


def _new_tf32_api() -> bool:
    conv = getattr(torch.backends.cudnn, "conv", None)
    return conv is not None and hasattr(conv, "fp32_precision")


def _get(name: str) -> object:
    if name == "cudnn_benchmark":
        return torch.backends.cudnn.benchmark
    if name == "fp32_precision":
        if _new_tf32_api():  # torch >= 2.9: mixing it with the legacy allow_tf32 flags is an error
            return torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision
        return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    raise KeyError(name)


def _set(name: str, value: object) -> None:
    if name == "cudnn_benchmark":
        torch.backends.cudnn.benchmark = bool(value)
    elif name == "fp32_precision":
        if isinstance(value, tuple):  # a saved pair from _get
            conv, matmul = value
        else:
            conv = matmul = value
        if _new_tf32_api():
            torch.backends.cudnn.conv.fp32_precision = conv
            torch.backends.cuda.matmul.fp32_precision = matmul
        else:
            torch.backends.cudnn.allow_tf32 = conv in (True, "tf32")
            torch.backends.cuda.matmul.allow_tf32 = matmul in (True, "tf32")
    else:
        raise KeyError(name)


@contextmanager
def applied(flags: Mapping[str, object]) -> Iterator[None]:
    """Set ``flags`` (from :func:`backend_flags`) for the block; the previous values come back after."""
    saved = {name: _get(name) for name in flags}
    try:
        for name, value in flags.items():
            _set(name, value)
        yield
    finally:
        for name, value in saved.items():
            _set(name, value)


def synchronizer(device: torch.device | str) -> Callable[[], None]:
    """A callable that waits for ``device``'s queued work: stage timings on a GPU measure work, not launches."""
    kind = torch.device(device).type
    if kind == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if kind == "mps":
        return torch.mps.synchronize
    return lambda: None


def peak_gpu_memory_gib(device: torch.device | str) -> float | None:
    """``max_memory_allocated`` on a CUDA device (GiB), None elsewhere."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30
