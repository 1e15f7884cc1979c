"""``p2phd bench --peers``: our CPU renderer against its peers in one interleaved run, and the machine's limit.

Contenders (each where installed), all rendering the same synthetic street scene from the same weights:

- ``eager fp32``: NVIDIA's way (torch, fp32, their convolutions); the reference for speed-ups and PSNR.
- ``ours``: what ``p2phd synthesize`` runs by default (``--precision auto --backend auto``).
- ``openvino bf16``: the generator converted to OpenVINO as a user would, bf16 asked (OpenVINO uses f32
  on CPUs without bf16 instructions and says so: ``precision_used``), no lookups.
- ``onnxruntime fp32``: the same ONNX export run by ONNX Runtime's CPU provider.

Set-up (building, converting or loading from the cache, compiling, the first frame) is timed on its own;
then every round runs each contender once, in a rotating order, so a slow spell of a shared machine hits
all of them alike. The roofline: the machine's GEMM rate (a large matmul, fp32 and, where the CPU has
bf16 instructions, bf16) and the MACs of the convolutions each contender performs (``ours`` skips the
input convolutions it computes as lookups), so ``floor_s`` = MACs / rate and ``x_floor`` = median / floor.
"""

from __future__ import annotations

import copy
import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from p2phd.models.checkpoint.bundle import Bundle
from p2phd.models.engine.backends.onnx_export import export_onnx
from p2phd.models.engine.backends.stems import stem_slots
from p2phd.models.engine.benchmark import psnr, synthetic_scene
from p2phd.models.engine.engine import CACHE_DIR, Engine, fast_path_for, lookup_for, openvino_installed, precision_for
from p2phd.models.engine.precision import Precision, cpu_supports_bf16, torch_dtype
from p2phd.models.engine.request import EngineRequest
from p2phd.models.mapfiles.to_image import to_uint8_image
from torch import nn

FP32 = Precision("cpu", torch.float32, channels_last=False)
Frame = Callable[[], np.ndarray]


def conv_macs(G: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(MACs of every convolution of ``G(x)``, MACs of its input convolutions), counted with hooks."""
    counts: dict[nn.Module, int] = {}

    def hook(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):
            counts[module] = inputs[0].numel() * module.out_channels // module.groups * k
        else:
            counts[module] = output.numel() * module.in_channels // module.groups * k

    handles = [m.register_forward_hook(hook) for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.inference_mode():
            G(x)
    finally:
        for handle in handles:
            handle.remove()
    stems = sum(counts.get(seq[1], 0) for seq in stem_slots(G))
    return sum(counts.values()), stems


def gemm_rate(dtype: torch.dtype, n: int = 2048, seconds: float = 2.0) -> float:
    """GMAC/s of an n x n x n matmul in ``dtype`` on the CPU: the best of repeats for ~``seconds`` (the
    machine's limit; a median taken while a neighbour loaded this shared VM once read 43 instead of ~58)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up (oneDNN picks its kernel)
    times, t_end = [], time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 3:
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return n**3 / min(times) / 1e9


Encode = Callable[[], torch.Tensor]  # NVIDIA's encoding of the bench's request (fp32, N=1)


def _plain_onnx(bundle: Bundle, x: torch.Tensor, cache: Path) -> tuple[Path, int]:
    """NVIDIA's generator exported to ONNX as a user would (fp32, none of our rewrites), cached by weights and
    shape; returns (path, 1 if exported now else 0)."""
    from p2phd.models.engine.backends.openvino import weights_hash

    G = copy.deepcopy(bundle.G).float().eval()
    path = cache / "onnx" / f"{weights_hash(G)[:16]}-{'x'.join(map(str, x.shape))}.onnx"
    if path.exists():
        return path, 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    export_onnx(G, (x,), tmp)
    tmp.replace(path)
    return path, 1


def _openvino_raw(bundle: Bundle, encode: Encode, cache: Path) -> tuple[Frame, dict]:
    """OpenVINO on a user's own conversion: the plain ONNX export compiled with the bf16 hint. Not our
    OpenVINO path: no lookups, and none of its graph rewrites (sub-pixel transposed convs, phase-split
    output conv), which a user's conversion of NVIDIA's generator would not have."""
    from p2phd.models.engine.backends.openvino import compile_keeping_locale, precision_used, require_openvino

    ov = require_openvino()
    x = encode()
    path, converted = _plain_onnx(bundle, x, cache)
    compiled = compile_keeping_locale(
        ov.Core(), path, {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"}
    )
    request = compiled.create_infer_request()

    def frame() -> np.ndarray:
        request.infer({0: encode().numpy()}, share_inputs=True)
        return to_uint8_image(torch.from_numpy(request.get_output_tensor(0).data)[0])

    return frame, {"precision_used": precision_used(compiled), "converted": converted}


def _onnxruntime(bundle: Bundle, encode: Encode, cache: Path) -> tuple[Frame, dict]:
    import onnxruntime as ort

    x = encode()
    path, converted = _plain_onnx(bundle, x, cache)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def frame() -> np.ndarray:
        return to_uint8_image(torch.from_numpy(session.run(None, {name: encode().numpy()})[0])[0])

    return frame, {"converted": converted}


def bundle_copy(bundle: Bundle) -> Bundle:
    """An independent copy (engines take over and cast their bundle's generator)."""
    return Bundle(bundle.config, copy.deepcopy(bundle.G), copy.deepcopy(bundle.E), dict(bundle.clusters))


def contenders(
    bundle: Bundle, request: EngineRequest, cache: Path, encode: Encode
) -> dict[str, Callable[[], tuple[Frame, dict]]]:
    """name -> set-up function returning (frame function, facts); peers only where installed."""

    def engine(precision: str, backend: str) -> Callable[[], tuple[Frame, dict]]:
        def setup() -> tuple[Frame, dict]:
            b = bundle_copy(bundle)
            chosen = FP32 if precision == "fp32" else precision_for(b, precision, "cpu")
            lookup = lookup_for(precision, chosen)
            fast = fast_path_for(precision, chosen, backend)
            e = Engine(b, chosen, backend, lookup=lookup, fast_path=fast)
            e.full_frame(request)  # converts / compiles / loads from the cache as a real first run would
            facts = {"backend": e.describe_backend()}
            if e._openvino is not None:
                facts["converted"] = e._openvino.converted
            if e.fast_error is not None:  # said in the table ("renders with") and here, with the reason
                facts["fast_path_failed"] = str(e.fast_error) or type(e.fast_error).__name__

            def frame() -> np.ndarray:
                image = e.full_frame(request).image
                if e._openvino is not None and e._openvino.last_timings:  # the lookups' share of the frame
                    facts["lookup_stems_s"] = e._openvino.last_timings["stems"]
                return image

            return frame, facts

        return setup

    found = {"eager fp32": engine("fp32", "eager"), "ours": engine("auto", "auto")}
    if openvino_installed():
        found["openvino bf16"] = lambda: _openvino_raw(bundle, encode, cache)
    if importlib.util.find_spec("onnxruntime") is not None:
        found["onnxruntime fp32"] = lambda: _onnxruntime(bundle, encode, cache)
    return found


def run_peers(
    load: Callable[[], Bundle],
    size: tuple[int, int],
    rounds: int = 3,
    only: list[str] | None = None,
    cache: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """The interleaved comparison (see the module docstring) as a dict of figures."""
    w, h = size
    cache = Path(cache or CACHE_DIR / "openvino")
    bundle = load()
    label, inst = synthetic_scene(w, h)
    request = EngineRequest(label, inst, revision=1)
    encoder = Engine(bundle_copy(bundle), FP32, "eager")  # one encoder for the peers that need one

    def encode() -> torch.Tensor:
        return encoder.encode(request).float()

    x = encode()
    total_macs, stem_macs = conv_macs(copy.deepcopy(bundle.G).float().eval(), x)
    rates = {"fp32": gemm_rate(torch.float32)}
    if cpu_supports_bf16():
        rates["bf16"] = gemm_rate(torch.bfloat16)
    log(f"{total_macs / 1e9:.1f} GMAC per frame ({stem_macs / 1e9:.1f} in the input convs); GEMM GMAC/s {rates}")

    frames, rows, facts_of = {}, {}, {}
    for name, setup in contenders(bundle, request, cache, encode).items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        frame, facts = setup()
        rows[name] = {"setup_s": time.perf_counter() - t0, "times_s": []}
        frames[name], facts_of[name] = frame, facts
        log(f"set-up {name}: {rows[name]['setup_s']:.1f} s {facts}")
        if "fast_path_failed" in facts:
            log(
                f"WARNING: {name} renders without its fast path ({facts['fast_path_failed']}): its figures are not ours"
            )
    names = list(frames)
    images = {}
    early = dict(rates)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            images[name] = frames[name]()
            rows[name]["times_s"].append(time.perf_counter() - t0)
            log(f"round {r + 1} {name}: {rows[name]['times_s'][-1]:.2f} s")
    # measured again after the rounds, the better of the two kept: a slow moment at the start would
    # otherwise make every contender look closer to the limit than it is
    rates = {name: max(rate, gemm_rate(torch_dtype(name))) for name, rate in early.items()}
    log(f"GEMM GMAC/s after the rounds (the better one kept): {rates}")
    reference = rows.get("eager fp32")
    for name, row in rows.items():
        row.update(facts_of[name])  # facts a frame updates (e.g. the lookups' seconds) as of the last round
        row["min_s"], row["median_s"] = min(row["times_s"]), statistics.median(row["times_s"])
        if reference:
            row["speedup_vs_fp32"] = reference["median_s"] / row["median_s"]
            row["psnr_vs_fp32_db"] = psnr(images[name], images["eager fp32"])
        macs = total_macs - (stem_macs if name == "ours" and "lookup" in row.get("backend", "") else 0)
        rate = rates.get("bf16") if "bf16" in row.get("backend", "") or row.get("precision_used") == "bf16" else None
        rate = rate or rates["fp32"]
        row["gmac_performed"] = macs / 1e9
        row["floor_s"] = macs / (rate * 1e9)
        row["x_floor"] = row["median_s"] / row["floor_s"]
    ours, ov = rows.get("ours"), rows.get("openvino bf16")
    return {
        "size": f"{w}x{h}",
        "rounds": rounds,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "gmac_per_frame": total_macs / 1e9,
        "gmac_input_convs": stem_macs / 1e9,
        "gemm_gmacs": rates,
        "contenders": rows,
        "ours_vs_openvino": ov["median_s"] / ours["median_s"] if ours and ov else None,
    }


def markdown(report: dict, command: str) -> str:
    """The report as the README's performance table."""
    gemm = ", ".join(f"{k} {v:.0f}" for k, v in report["gemm_gmacs"].items())
    lines = [
        f"`{command}` ({report['size']}, {report['rounds']} interleaved rounds, {report['threads']} threads; "
        f"{report['gmac_per_frame']:.0f} GMAC/frame, GEMM {gemm} GMAC/s):",
        "",
        "| contender | min s | median s | vs eager fp32 | PSNR vs fp32 | x floor | set-up s | renders with |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in report["contenders"].items():
        with_ = row.get("backend") or row.get("precision_used") or ""
        psnr_db = row.get("psnr_vs_fp32_db", float("inf"))
        lines.append(
            f"| {name} | {row['min_s']:.2f} | {row['median_s']:.2f} | {row.get('speedup_vs_fp32', 1):.2f}x | "
            f"{psnr_db:.1f} dB | {row['x_floor']:.2f} | {row['setup_s']:.1f} | {with_} |"
        )
    if report.get("ours_vs_openvino"):
        lines += ["", f"ours vs OpenVINO bf16: {report['ours_vs_openvino']:.2f}x (median)."]
    return "\n".join(lines) + "\n"
