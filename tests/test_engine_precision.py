"""Device/precision selection: every branch, GPU ones by injecting hardware facts."""

import pytest
import torch
from p2phd.models.engine.precision import HardwareFacts, cpu_supports_bf16, select_device, select_precision

CPU_PLAIN = HardwareFacts()
CPU_BF16 = HardwareFacts(cpu_bf16=True)
CUDA_AMPERE = HardwareFacts(cuda=True, cuda_capability=(8, 0), cpu_bf16=True)
CUDA_TURING = HardwareFacts(cuda=True, cuda_capability=(7, 5))
MPS = HardwareFacts(mps=True)


def test_auto_device_prefers_cuda_then_mps_then_cpu():
    assert select_device("auto", CUDA_AMPERE) == "cuda"
    assert select_device("auto", HardwareFacts(cuda=True, cuda_capability=(9, 0), mps=True)) == "cuda"
    assert select_device("auto", MPS) == "mps"
    assert select_device("auto", CPU_BF16) == "cpu"


def test_explicit_missing_device_is_an_error():
    with pytest.raises(ValueError, match="no CUDA"):
        select_device("cuda", CPU_PLAIN)
    with pytest.raises(ValueError, match="MPS"):
        select_device("mps", CPU_PLAIN)
    with pytest.raises(ValueError, match="device must be"):
        select_device("tpu", CPU_PLAIN)


def test_auto_precision_per_device():
    cuda = select_precision("auto", "auto", CUDA_AMPERE)
    assert (cuda.device, cuda.dtype, cuda.norm_dtype, cuda.channels_last) == (
        "cuda",
        torch.float16,
        torch.float32,
        True,
    )
    assert select_precision("auto", "auto", MPS).dtype == torch.float16
    cpu = select_precision("auto", "auto", CPU_BF16)
    assert (cpu.dtype, cpu.channels_last, cpu.name) == (torch.bfloat16, False, "bf16")
    assert select_precision("auto", "auto", CPU_PLAIN).dtype == torch.float32
    assert select_precision("auto", "cpu", CUDA_AMPERE).dtype == torch.bfloat16


def test_explicit_precisions_are_checked_not_corrected():
    assert select_precision("fp32", "auto", CUDA_AMPERE).dtype == torch.float32
    assert select_precision("bf16", "cuda", CUDA_AMPERE).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="fp16 is not supported on the CPU"):
        select_precision("fp16", "cpu", CPU_BF16)
    with pytest.raises(ValueError, match="Ampere"):
        select_precision("bf16", "cuda", CUDA_TURING)
    with pytest.raises(ValueError, match="precision must be"):
        select_precision("int8", "cpu", CPU_PLAIN)


def test_cpu_bf16_detection_from_cpuinfo():
    assert cpu_supports_bf16("flags : fpu sse avx512f amx_bf16 amx_tile", mkldnn=True)
    assert cpu_supports_bf16("flags : fpu avx512_bf16", mkldnn=True)
    assert not cpu_supports_bf16("flags : fpu sse avx2", mkldnn=True)
    assert not cpu_supports_bf16("flags : amx_bf16", mkldnn=False)
