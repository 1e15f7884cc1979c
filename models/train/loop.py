"""``fit``: epochs, logging (JSONL + tqdm), the HTML report and checkpoint cadence around
:meth:`Trainer.step`."""

from __future__ import annotations

import json
import os
import time

import torch
from p2phd.models.data import PairedMapsDataset
from p2phd.models.train.ddp import EpochSampler
from p2phd.models.train.options import preprocess
from p2phd.models.train.report import sample_row, write_report
from p2phd.models.train.schedule import global_frozen
from p2phd.models.train.trainer import Trainer
from tqdm import tqdm


def build_loader(trainer: Trainer) -> tuple[torch.utils.data.DataLoader, EpochSampler]:
    opt = trainer.opt
    dataset = PairedMapsDataset(
        opt.dataroot,
        preprocess(opt, trainer.config),
        opt.phase,
        opt.max_dataset_size,
        label_nc=opt.label_nc,
        seed=opt.seed,
        cache=opt.cache_maps,
    )
    if len(dataset) < opt.batchSize * trainer.ctx.world_size:
        raise ValueError(
            f"{len(dataset)} samples cannot fill one batch of {opt.batchSize} x {trainer.ctx.world_size} ranks"
        )
    sampler = EpochSampler(len(dataset), opt.batchSize, trainer.ctx, opt.seed)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=opt.batchSize,
        sampler=sampler,
        drop_last=True,
        num_workers=opt.nThreads,
        # workers live through the run: an epoch of a small data set is a few batches, and forking
        # workers (and decoding their --cache_maps) again every epoch cost more than the batches
        persistent_workers=opt.nThreads > 0,
        # spawned, not forked: forking a process that already runs threads (CUDA, OpenMP, a Qt test
        # session) can crash the child; persistent workers pay the start-up once per run
        multiprocessing_context="spawn" if opt.nThreads > 0 else None,
    )
    return loader, sampler


def close_loader(loader: torch.utils.data.DataLoader) -> None:
    """End persistent workers now, on this thread. Left to the garbage collector, they end whenever a
    collection happens to find the loader, in the middle of whatever runs then."""
    iterator = getattr(loader, "_iterator", None)
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
    loader._iterator = None


def write_options(run_dir, opt) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "options.json.tmp"
    tmp.write_text(json.dumps(vars(opt), indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, run_dir / "options.json")


def crossed(before: int, after: int, every: int) -> bool:
    return before // every != after // every


def _uncounted_steps(
    trainer: Trainer, loader, sampler: EpochSampler, steps: int, train_G: bool, desc: str, progress: bool
) -> None:
    """``steps`` iterations on the epoch the run starts in that do not count towards the schedule."""
    loader.dataset.set_epoch(trainer.epoch)
    sampler.set_epoch(trainer.epoch, 0)
    bar = tqdm(total=steps, desc=desc, disable=not (progress and trainer.ctx.is_main), dynamic_ncols=True)
    done = 0
    while done < steps:
        for batch in loader:  # build_loader made sure an epoch holds at least one batch
            losses, _ = trainer.step(batch, train_G=train_G)
            done += 1
            bar.update()
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            if done == steps:
                break
    bar.close()


def warm_moments(trainer: Trainer, loader, sampler: EpochSampler, steps: int, progress: bool = False) -> None:
    """``steps`` iterations at learning rate 0: the weights stay as loaded, Adam's moments fill up."""
    if trainer.ctx.is_main:
        why = "a slimmed checkpoint, or G beside a fresh D"
        print(f"no Adam moments yet ({why}): {steps} iterations at lr 0 fill them first")
    trainer.set_lr(0.0)
    _uncounted_steps(trainer, loader, sampler, steps, True, "moments at lr 0", progress)
    trainer.moments_to_warm = 0


def warm_discriminator(trainer: Trainer, loader, sampler: EpochSampler, steps: int, progress: bool = False) -> None:
    """``steps`` iterations that train only D, at the schedule's learning rate, G as loaded."""
    if trainer.ctx.is_main:
        print(f"pretrained generator, fresh discriminator: {steps} iterations train only D first")
    trainer.set_lr(trainer.lr())
    _uncounted_steps(trainer, loader, sampler, steps, False, "D alone", progress)
    trainer.D_to_warm = 0


def fit(trainer: Trainer, progress: bool = True) -> dict[str, float]:
    """Train from the trainer's epoch / iteration to ``niter + niter_decay``; returns the last losses."""
    loader, sampler = build_loader(trainer)
    try:
        return _fit(trainer, loader, sampler, progress)
    finally:
        close_loader(loader)


def _fit(trainer: Trainer, loader, sampler: EpochSampler, progress: bool) -> dict[str, float]:
    opt, ctx = trainer.opt, trainer.ctx
    run_dir = trainer.run_dir
    options_written = False  # written after the first step: a run that cannot train leaves nothing behind
    last: dict[str, float] = {}
    trainer.native_size = loader.dataset.native_size()  # whole frames, also when training on crops
    trainer.trained_on = loader.dataset.description()  # recorded in the bundle's provenance (model card)
    images_per_step = opt.batchSize * ctx.world_size
    if trainer.D_to_warm:  # first: the moments G gathers next come from a discriminator that judges
        warm_discriminator(trainer, loader, sampler, trainer.D_to_warm, progress)
    if trainer.moments_to_warm:
        warm_moments(trainer, loader, sampler, trainer.moments_to_warm, progress)
    start = time.time()
    for epoch in range(trainer.epoch, opt.niter + opt.niter_decay + 1):
        trainer.epoch = epoch
        trainer.set_global_frozen(global_frozen(epoch, opt.niter_fix_global, opt.netG))
        trainer.set_lr(trainer.lr())
        loader.dataset.set_epoch(epoch)
        sampler.set_epoch(epoch, trainer.epoch_iter)
        bar = tqdm(
            loader,
            desc=f"epoch {epoch}/{opt.niter + opt.niter_decay}",
            disable=not (progress and ctx.is_main),
            initial=trainer.epoch_iter,
            total=sampler.batches_per_epoch(),
            dynamic_ncols=True,
        )
        for batch in bar:
            losses, fake = trainer.step(batch)
            if ctx.is_main and not options_written:
                write_options(run_dir, opt)
                options_written = True
            losses = {k: ctx.mean(v) for k, v in losses.items()}
            before = trainer.total_steps
            trainer.total_steps += images_per_step
            trainer.epoch_iter += 1
            last = losses
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            if not ctx.is_main:
                continue
            if crossed(before, trainer.total_steps, opt.print_freq):
                record = {
                    "epoch": epoch,
                    "epoch_iter": trainer.epoch_iter,
                    "total_steps": trainer.total_steps,
                    "lr": trainer.lr(),
                    "elapsed_s": round(time.time() - start, 2),
                    "losses": losses,
                }
                with open(run_dir / "loss_log.jsonl", "a") as log:
                    log.write(json.dumps(record) + "\n")
            if crossed(before, trainer.total_steps, opt.display_freq):
                row = sample_row(batch["label"][0], fake[0], batch["image"][0])
                write_report(run_dir, opt.name, row, epoch, trainer.total_steps)
            if crossed(before, trainer.total_steps, opt.save_latest_freq):
                trainer.save("latest")
        bar.close()
        trainer.epoch_iter = 0
        if epoch % opt.save_epoch_freq == 0 or epoch == opt.niter + opt.niter_decay:
            trainer.epoch = epoch + 1  # a resumed run starts with the next epoch
            trainer.save(f"epoch{epoch:03d}")
            trainer.epoch = epoch
        ctx.barrier()
    trainer.epoch = opt.niter + opt.niter_decay + 1
    return last
