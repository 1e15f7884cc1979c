"""``p2phd train`` options with NVIDIA's names and defaults (``options/*_options.py``).

One difference: ``--checkpoints_dir`` defaults to ``./runs`` because this repository's
``checkpoints/`` holds only shipped inference bundles.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from p2phd.models.config import ModelConfig
from p2phd.models.vocabulary import MAX_SIDE, RESIZE_OR_CROP, TRAIN_DEVICES


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    # experiment
    a("--name", default="label2city", help="run name: outputs go to CHECKPOINTS_DIR/NAME")
    a("--checkpoints_dir", default="./runs", help="where runs are written (default ./runs)")
    a("--dataroot", default="./datasets/cityscapes/", help="pix2pixHD layout (train_label/...) or Cityscapes layout")
    a("--phase", default="train")
    a("--seed", type=int, default=0)
    a("--fp16", action="store_true", help="mixed precision: fp16 autocast + GradScaler on CUDA, bf16 autocast on CPU")
    a("--device", default="auto", choices=TRAIN_DEVICES, help="under torchrun each rank uses cuda:LOCAL_RANK")
    # input
    a("--label_nc", type=int, default=35)
    a("--output_nc", type=int, default=3)
    a("--no_instance", action="store_true")
    a("--instance_feat", action="store_true", help="train the encoder E and feed instance features to G")
    a("--feat_num", type=int, default=3)
    a("--nef", type=int, default=16)
    a("--n_downsample_E", type=int, default=4)
    a("--batchSize", type=int, default=1)
    a("--loadSize", type=int, default=1024)
    a("--fineSize", type=int, default=512)
    a("--resize_or_crop", default="scale_width", choices=RESIZE_OR_CROP)
    a("--no_flip", action="store_true")
    a(
        "--scale_jitter",
        type=float,
        nargs=2,
        default=(1.0, 1.0),
        metavar=("MIN", "MAX"),
        help="scale each sample by a random factor in [MIN, MAX] after --loadSize, before the crop (small data sets)",
    )
    a("--color_jitter", type=float, default=0.0, help="photo brightness/contrast/saturation jitter of +-F")
    a("--max_dataset_size", type=int, default=None)
    a("--nThreads", type=int, default=2, help="DataLoader workers")
    a("--cache_maps", action="store_true", help="keep decoded maps in memory (small data sets; use --nThreads 0)")
    # generator
    a("--netG", default="global", choices=("global", "local"))
    a("--ngf", type=int, default=64)
    a("--n_downsample_global", type=int, default=4)
    a("--n_blocks_global", type=int, default=9)
    a("--n_local_enhancers", type=int, default=1)
    a("--n_blocks_local", type=int, default=3)
    a("--niter_fix_global", type=int, default=0, help="stage 2: epochs training only the local enhancer")
    # discriminator and losses
    a("--num_D", type=int, default=2)
    a("--n_layers_D", type=int, default=3)
    a("--ndf", type=int, default=64)
    a("--lambda_feat", type=float, default=10.0)
    a("--no_ganFeat_loss", action="store_true")
    a(
        "--lambda_L1",
        type=float,
        default=0.0,
        help="weight of pix2pix's L1 loss between fake and real photo (default 0: NVIDIA's pix2pixHD has none). "
        "Without VGG weights, a few frames and few iterations, 10 suppresses the transposed convs' grid and "
        "holds each class's colour",
    )
    a(
        "--lambda_lattice",
        type=float,
        default=0.0,
        help="weight of a penalty on the generator's spectral energy at the transposed convs' lattice "
        "frequencies beyond the photo's (default 0: not in NVIDIA's recipe; see networks/losses.lattice_loss)",
    )
    a("--no_vgg_loss", action="store_true")
    a("--vgg_weights", default=None, help="VGG19 weights file for the perceptual loss (never downloaded)")
    a("--no_lsgan", action="store_true", help="vanilla GAN loss instead of least squares")
    a("--pool_size", type=int, default=0)
    # schedule
    a("--niter", type=int, default=100)
    a("--niter_decay", type=int, default=100)
    a("--lr", type=float, default=0.0002)
    a("--beta1", type=float, default=0.5)
    a(
        "--lr_G_scale",
        type=float,
        default=1.0,
        help="the generator (and encoder) learn at --lr times this, the discriminator at --lr (two time-scale "
        "updates): below 1 when a trained generator meets a fresh discriminator and must not drift while it learns",
    )
    a("--load_pretrain", default="", help="stage-1 run (or bundle) whose weights initialise this run")
    a("--continue_train", action="store_true")
    a("--which_epoch", default="latest")
    a(
        "--warmup_moments",
        type=int,
        default=200,
        help="resuming from a checkpoint without optimiser state (slimmed with slim_training_state to move a run "
        "between machines): this many iterations at learning rate 0 first rebuild Adam's moments, not counted",
    )
    a(
        "--warmup_D",
        type=int,
        default=0,
        help="with --load_pretrain: this many iterations train only the (fresh) discriminator first, so the "
        "pretrained generator is not fine-tuned against a random critic, then --warmup_moments iterations at lr 0 "
        "fill G's fresh Adam moments; neither counted towards the schedule",
    )
    # outputs
    a("--save_latest_freq", type=int, default=1000, help="images between 'latest' checkpoints")
    a("--save_epoch_freq", type=int, default=10)
    a("--display_freq", type=int, default=100, help="images between HTML report refreshes")
    a("--print_freq", type=int, default=100, help="images between loss log lines")
    _add_nvidia_compat_arguments(p)


def _add_nvidia_compat_arguments(p: argparse.ArgumentParser) -> None:
    """Options of NVIDIA's scripts that have another spelling here, or no effect, so their documented
    command lines run unchanged after ``python train.py`` -> ``p2phd train``."""
    g = p.add_argument_group("NVIDIA compatibility")
    g.add_argument("--gpu_ids", default=None, help="'-1': CPU; one id: that GPU; several: use torchrun instead")
    g.add_argument("--data_type", type=int, choices=(8, 16, 32), default=32, help="16 = --fp16")
    g.add_argument("--norm", default="instance", choices=("instance",), help="only instance norm (NVIDIA's default)")
    g.add_argument("--model", default="pix2pixHD", choices=("pix2pixHD",))
    g.add_argument("--local_rank", type=int, default=0, help="ignored: torchrun sets LOCAL_RANK")
    for flag in ("--verbose", "--tf_log", "--serial_batches", "--no_html", "--use_dropout"):
        g.add_argument(flag, action="store_true", help="accepted, no effect")
    g.add_argument("--display_winsize", type=int, default=512, help="accepted, no effect")
    for flag in ("--label_feat", "--load_features"):
        g.add_argument(flag, action="store_true", help="not supported (an error)")


def apply_nvidia_compat(opt: argparse.Namespace) -> None:
    """Map NVIDIA's spellings onto ours (called before :func:`validate`)."""
    if getattr(opt, "label_feat", False) or getattr(opt, "load_features", False):
        raise ValueError("--label_feat and --load_features are not supported; use --instance_feat")
    if getattr(opt, "data_type", 32) == 16:
        opt.fp16 = True
    gpu_ids = getattr(opt, "gpu_ids", None)
    if gpu_ids is not None:
        ids = [int(i) for i in str(gpu_ids).split(",") if i.strip()]
        if not ids or ids == [-1]:
            opt.device = "cpu"
        elif len(ids) == 1:
            opt.device = "cuda"
            _select_gpu(ids[0])
        else:
            raise ValueError(
                f"--gpu_ids {gpu_ids}: several GPUs train with DDP: "
                f"torchrun --nproc_per_node {len(ids)} $(which p2phd) train ... (batchSize is per process)"
            )

        opt.gpu_ids = None  # applied: a second call (validate) must not select again


def _select_gpu(index: int) -> None:
    """``--gpu_ids N`` as in NVIDIA's train.py: the N-th GPU this process may see. With
    ``CUDA_VISIBLE_DEVICES`` already set, N indexes that list (it is honoured, not ignored)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index)
        return
    entries = [e.strip() for e in visible.split(",") if e.strip()]
    if not 0 <= index < len(entries):
        raise ValueError(
            f"--gpu_ids {index}: CUDA_VISIBLE_DEVICES={visible!r} makes {len(entries)} GPU(s) visible "
            f"(ids 0..{len(entries) - 1})"
        )
    if entries != [entries[index]]:
        print(
            f"--gpu_ids {index} with CUDA_VISIBLE_DEVICES={visible}: training on GPU {entries[index]}",
            file=sys.stderr,
        )
    os.environ["CUDA_VISIBLE_DEVICES"] = entries[index]


#: Upper bounds of the allocation-sized training options (the architecture's are ModelConfig's).
TRAIN_BOUNDS = {
    "loadSize": MAX_SIDE,
    "fineSize": MAX_SIDE,
    "batchSize": 1024,
    "num_D": 8,
    "n_layers_D": 8,
    "ndf": 512,
    "pool_size": 100_000,
}


def validate(opt: argparse.Namespace) -> None:
    """Every option checked before anything is written (a run directory, options.json)."""
    apply_nvidia_compat(opt)
    for name in (
        "batchSize",
        "niter",
        "loadSize",
        "fineSize",
        "num_D",
        "n_layers_D",
        "ndf",
        "print_freq",
        "display_freq",
        "save_latest_freq",
        "save_epoch_freq",
    ):
        if getattr(opt, name) <= 0:
            raise ValueError(f"--{name} must be positive")
    if not opt.lr_G_scale > 0:
        raise ValueError("--lr_G_scale must be positive")
    if opt.niter_decay < 0 or opt.pool_size < 0 or opt.niter_fix_global < 0:
        raise ValueError("--niter_decay, --pool_size and --niter_fix_global must be >= 0")
    if not opt.no_vgg_loss and not opt.vgg_weights:
        raise ValueError("the VGG loss needs --vgg_weights PATH (weights are never downloaded); or pass --no_vgg_loss")
    if opt.continue_train and opt.load_pretrain:
        raise ValueError("use either --continue_train or --load_pretrain, not both")
    if opt.instance_feat and opt.no_instance:
        raise ValueError("--instance_feat needs instance maps; drop --no_instance")
    for name, high in TRAIN_BOUNDS.items():
        if getattr(opt, name) > high:
            raise ValueError(f"--{name} {getattr(opt, name)} is too large (at most {high})")
    model_config(opt)  # the architecture's types and bounds (ModelConfig's), as one-line errors


def model_config(opt: argparse.Namespace) -> ModelConfig:
    """The architecture fields of ``opt`` (ModelConfig uses NVIDIA's option names)."""
    fields = {f.name: getattr(opt, f.name) for f in dataclasses.fields(ModelConfig) if hasattr(opt, f.name)}
    fields["provenance"] = {"name": opt.name, "trained_with": "p2phd train"}
    return ModelConfig(**fields)


def preprocess(opt: argparse.Namespace, config: ModelConfig):
    from p2phd.models.data import Preprocess  # imports torch (the datasets): only when training

    return Preprocess(
        opt.resize_or_crop,
        opt.loadSize,
        opt.fineSize,
        not opt.no_flip,
        config.size_multiple,
        tuple(getattr(opt, "scale_jitter", (1.0, 1.0))),
        getattr(opt, "color_jitter", 0.0),
    )


def default_namespace(**overrides) -> argparse.Namespace:
    """NVIDIA's defaults with ``overrides`` applied (for tests and scripts)."""
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    opt = parser.parse_args([])
    for key, value in overrides.items():
        if not hasattr(opt, key):
            raise ValueError(f"unknown training option {key!r}")
        setattr(opt, key, value)
    return opt
