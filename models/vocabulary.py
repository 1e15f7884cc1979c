"""The command line's vocabulary: devices, precisions, backends, dtype names, resize modes and size
bounds. One owner for each word, and no torch here, so ``p2phd --help`` and the editor's start stay
fast (torch is imported only by the code that computes)."""

from __future__ import annotations

import argparse

from p2phd.models.mapfiles.limits import MAX_SIDE  # one limit: files, documents, sizes

DEVICES = ("auto", "cpu", "cuda", "mps")
#: ``p2phd train`` runs on the CPU or CUDA (DDP backends gloo / NCCL); no MPS path.
TRAIN_DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BACKENDS = ("auto", "eager", "compile", "openvino")  # openvino: an optional extra, auto's CPU choice where installed
#: precision name -> the ``torch`` dtype attribute it means.
DTYPE_NAMES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
#: NVIDIA's ``--resize_or_crop`` modes.
RESIZE_OR_CROP = ("resize_and_crop", "scale_width", "scale_width_and_crop", "crop", "none")


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (w, h), both in 1..MAX_SIDE (an argparse ``type``)."""
    try:
        w, h = text.lower().split("x")
        w, h = int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size wants WxH, e.g. 1024x512, not {text!r}") from None
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"--size {w}x{h}: width and height must be between 1 and {MAX_SIDE}")
    return w, h


def bounded_int(low: int, high: int | None = None):
    """An argparse ``type``: an integer in [low, high] (``high`` None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: must be {span}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its message: "invalid integer value"
    return parse
