"""``p2phd train``: NVIDIA's ``train.py`` options; runs under ``torchrun`` for DDP."""

from __future__ import annotations

import argparse
import time

from p2phd.models.train.options import add_train_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a pix2pixHD model (NVIDIA's train.py options)",
        description="Train pix2pixHD. Outputs go to CHECKPOINTS_DIR/NAME: train/ (resumable checkpoints, "
        "'latest' pointer), bundle/ (inference bundle), loss_log.jsonl, web/index.html.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_train_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from p2phd.models.train import ddp
    from p2phd.models.train.loop import fit
    from p2phd.models.train.options import apply_nvidia_compat
    from p2phd.models.train.trainer import Trainer

    apply_nvidia_compat(args)  # --gpu_ids picks the device before DDP starts
    ctx = ddp.setup(args.device)
    try:
        trainer = Trainer(args, ctx)
        if ctx.is_main:
            for net, (copied, untouched) in trainer.pretrain_report.items():
                print(f"load_pretrain {net}: {copied} tensors copied; not initialised from it: {untouched or 'none'}")
        start = time.time()
        losses = fit(trainer)
        if ctx.is_main:
            summary = ", ".join(f"{k} {v:.3f}" for k, v in losses.items())
            print(f"done in {time.time() - start:.0f} s, {trainer.total_steps} images; last losses: {summary}")
            print(f"bundle: {trainer.run_dir / 'bundle'}")
    finally:
        ddp.teardown(ctx)
    return 0
