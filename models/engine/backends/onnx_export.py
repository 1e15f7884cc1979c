"""One ONNX export for every backend that starts from ONNX (OpenVINO here, ONNX Runtime in the peers bench)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn


def export_onnx(module: nn.Module, example: tuple[torch.Tensor, ...], path: Path) -> None:
    """``module`` traced on ``example`` into ``path`` (opset 17, fixed shapes).

    The TorchScript exporter (deprecated in torch 2.9, still shipped): 50 s for label2city_1024p, where
    OpenVINO's direct PyTorch conversion took 206 s (issue 11)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and tracer chatter; callers check the output
        torch.onnx.export(module, example, str(path), opset_version=17, dynamo=False)
