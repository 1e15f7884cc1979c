"""``p2phd bench``: full-frame, stroke-preview and style-preview speed of the engine vs eager fp32."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from p2phd.models.config import ARCHS
from p2phd.models.vocabulary import BACKENDS, DEVICES, PRECISIONS, parse_size


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure inference speed",
        description="Measure full-frame, stroke-preview and style-preview speed of the engine against eager fp32.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", metavar="DIR", help="bundle or NVIDIA checkpoint directory")
    source.add_argument(
        "--arch", choices=sorted(ARCHS), help="random weights of this architecture (default: label2city_1024p)"
    )
    p.add_argument(
        "--features",
        action="store_true",
        help="with --arch: an instance-feature variant, "
        "so style previews are measured too (10 random clusters per class)",
    )
    p.add_argument("--size", type=parse_size, default=(2048, 1024), metavar="WxH", help="default: 2048x1024")
    p.add_argument("--repeat", type=int, default=3, metavar="N", help="engine runs per measurement (default 3)")
    p.add_argument(
        "--reference-repeat",
        type=int,
        default=2,
        metavar="N",
        help="eager fp32 runs (default 2; 0 skips the reference and the PSNR)",
    )
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="auto (default): torch.compile only for CPU bf16 frames of 1024x512 and more, else (or if compiling "
        "fails) eager; openvino: the optional OpenVINO CPU backend for full frames",
    )
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads for everything (default: torch's)")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    peers = p.add_argument_group("peers (CPU): our default renderer vs eager fp32, OpenVINO and ONNX Runtime")
    peers.add_argument(
        "--peers",
        action="store_true",
        help="instead of the engine measurements: one interleaved run of eager fp32, ours (auto), OpenVINO bf16 "
        "and ONNX Runtime fp32 (those installed), with PSNR, set-up cost and the machine's GEMM roofline",
    )
    peers.add_argument("--rounds", type=int, default=3, metavar="N", help="interleaved rounds (default 3)")
    peers.add_argument("--only", nargs="+", metavar="NAME", help="only these contenders (e.g. ours 'openvino bf16')")
    peers.add_argument("--markdown", metavar="OUT", help="also write the table as Markdown (the README's)")
    p.set_defaults(func=run)


def run(args) -> int:
    from p2phd.models.engine.benchmark import loader, run_benchmark

    if args.peers:
        return run_peers(args, loader(args.checkpoint, args.arch, args.features))
    if args.repeat < 1 or args.reference_repeat < 0 or (args.threads is not None and args.threads < 1):
        raise ValueError("--repeat and --threads must be >= 1, --reference-repeat >= 0")
    report = run_benchmark(
        loader(args.checkpoint, args.arch, args.features),
        args.size,
        args.repeat,
        args.reference_repeat,
        args.device,
        args.precision,
        args.backend,
        args.threads,
    )
    report["command"] = "p2phd " + " ".join(sys.argv[1:])
    text = json.dumps(report, indent=2, sort_keys=True)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def run_peers(args, load) -> int:
    from p2phd.models.engine.peers import markdown, run_peers

    if args.rounds < 1:
        raise ValueError("--rounds must be >= 1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    report = run_peers(load, args.size, args.rounds, args.only, log=lambda line: print(line, file=sys.stderr))
    command = "p2phd " + " ".join(sys.argv[1:])
    report["command"] = command
    text = json.dumps(report, indent=2, sort_keys=True)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(report, command))
    return 0
