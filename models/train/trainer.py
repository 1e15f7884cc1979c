"""The pix2pixHD training loop: explicit generator and discriminator steps, NVIDIA's objective."""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import torch
from p2phd.models.checkpoint.bundle import save_bundle
from p2phd.models.inputs.network_input import get_edges, one_hot
from p2phd.models.networks.discriminator import MultiscaleDiscriminator
from p2phd.models.networks.losses import FeatureMatchingLoss, GANLoss, lattice_loss
from p2phd.models.train import checkpoints as ckpt
from p2phd.models.train.ddp import Distributed
from p2phd.models.train.image_pool import ImagePool
from p2phd.models.train.options import model_config, validate
from p2phd.models.train.schedule import global_frozen, lr_for_epoch, trainable_generator_prefix
from torch import nn


def init_weights(m: nn.Module) -> None:
    """NVIDIA's ``weights_init``: conv weights ~ N(0, 0.02); biases keep PyTorch's default."""
    if "Conv" in m.__class__.__name__:
        nn.init.normal_(m.weight, 0.0, 0.02)


class Synthesizer(nn.Module):
    """G with its encoder E, as one module so DDP syncs both: fake = G(label input ⊕ E(image, inst))."""

    def __init__(self, G: nn.Module, E: nn.Module | None):
        super().__init__()
        self.G, self.E = G, E

    def forward(self, label_input: torch.Tensor, image: torch.Tensor, inst: torch.Tensor) -> torch.Tensor:
        if self.E is not None:
            label_input = torch.cat([label_input, self.E(image, inst).to(label_input.dtype)], dim=1)
        return self.G(label_input)


def grad_scaler(device: torch.device, fp16: bool) -> torch.amp.GradScaler:
    """fp16 needs loss scaling (CUDA); bf16 autocast on the CPU does not: a disabled scaler there."""
    return torch.amp.GradScaler(device.type, enabled=fp16 and device.type == "cuda")


def load_scaler_state(scaler: torch.amp.GradScaler, state: dict | None) -> None:
    """A checkpoint saved without ``--fp16`` holds a disabled scaler's empty state; resuming it with
    ``--fp16`` starts a fresh scale (``load_state_dict({})`` would raise)."""
    if state and scaler.is_enabled():
        scaler.load_state_dict(state)


def _halves(predictions, n: int):
    """Split D outputs on a [fake; real] batch into the fake and real predictions."""
    fake = [[t[:n] for t in scale] for scale in predictions]
    real = [[t[n:] for t in scale] for scale in predictions]
    return fake, real


class Trainer:
    def __init__(self, opt: argparse.Namespace, ctx: Distributed | None = None):
        validate(opt)
        self.opt = opt
        self.ctx = ctx or Distributed()
        self.device = self.ctx.device
        self.config = model_config(opt)
        self.run_dir = Path(opt.checkpoints_dir) / opt.name
        torch.manual_seed(opt.seed)
        G = self.config.build_G()
        E = self.config.build_E() if opt.instance_feat else None
        d_input_nc = opt.label_nc + (0 if opt.no_instance else 1) + opt.output_nc
        self.D = MultiscaleDiscriminator(
            d_input_nc, opt.ndf, opt.n_layers_D, False, opt.num_D, getIntermFeat=not opt.no_ganFeat_loss
        )
        self.synth = Synthesizer(G, E)
        for net in (self.synth, self.D):
            net.apply(init_weights)
        self.synth.to(self.device)
        self.D.to(self.device)
        self.gan_loss = GANLoss(use_lsgan=not opt.no_lsgan)
        self.feat_loss = FeatureMatchingLoss(opt.n_layers_D, opt.num_D, opt.lambda_feat)
        # the generator's total upsampling: G1's transposed convs, then one per local enhancer
        enhancers = self.config.n_local_enhancers if self.config.netG == "local" else 0
        self.lattice_period = 2 ** (self.config.n_downsample_global + enhancers)
        self.vgg_loss = None
        if not opt.no_vgg_loss:
            from p2phd.models.networks.vgg import VGGLoss

            self.vgg_loss = VGGLoss(opt.vgg_weights).to(self.device)
        self.pool = ImagePool(opt.pool_size, seed=opt.seed + self.ctx.rank)
        self.epoch, self.epoch_iter, self.total_steps = 1, 0, 0
        cuda = self.device.type == "cuda"
        self.amp_dtype = (torch.float16 if cuda else torch.bfloat16) if opt.fp16 else None
        self.scaler_G = grad_scaler(self.device, bool(opt.fp16))
        self.scaler_D = grad_scaler(self.device, bool(opt.fp16))
        self.D_ddp = self.ctx.wrap(self.D)
        self.optimizer_D = torch.optim.Adam(self.D.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
        self.pretrain_report: dict[str, tuple[int, list[str]]] = {}
        state = None
        if opt.continue_train:
            state = ckpt.load_training_state(ckpt.resolve_checkpoint(self.run_dir, opt.which_epoch), self.device)
            self._load_nets(state, strict=True)
            self.epoch, self.epoch_iter, self.total_steps = state["epoch"], state["epoch_iter"], state["total_steps"]
        elif opt.load_pretrain:
            self._load_nets(ckpt.pretrained_states(opt.load_pretrain, opt.which_epoch), strict=False)
        self.frozen = None
        # A resumed run rebuilds the optimiser its state was saved with; fit() then applies the
        # freeze of the epoch it starts (a fresh Adam at the stage-2 boundary, as NVIDIA does).
        frozen = (
            state["global_frozen"] if state is not None else global_frozen(self.epoch, opt.niter_fix_global, opt.netG)
        )
        self.set_global_frozen(bool(frozen))
        # iterations at lr 0 that fit() runs first: a slimmed checkpoint carries no Adam moments, and a
        # fresh Adam's first steps are lr-sized sign steps on every weight, a jolt to a trained GAN
        self.moments_to_warm = 0
        if state is not None and "optimizer_G" in state:
            self._load_optim(state)
        elif state is not None:
            self.moments_to_warm = max(0, opt.warmup_moments)
        # a pretrained G meets a freshly initialised D: D learns to judge before G listens to it, then
        # G's fresh Adam gathers its moments at lr 0 (its first steps would otherwise be lr-sized sign steps)
        self.D_to_warm = max(0, opt.warmup_D) if state is None and opt.load_pretrain else 0
        if self.D_to_warm:
            self.moments_to_warm = max(0, opt.warmup_moments)
        if self.device.type == "cuda":  # the crop size is fixed: let cuDNN pick its kernels once
            torch.backends.cudnn.benchmark = True

    # ----- setup -------------------------------------------------------------------------------
    def _load_nets(self, states: dict, strict: bool) -> None:
        nets = {"G": self.synth.G, "E": self.synth.E, "D": self.D}
        for key, net in nets.items():
            if net is None or key not in states:
                continue
            if strict:
                net.load_state_dict(states[key], strict=True)
            else:
                self.pretrain_report[key] = ckpt.load_matching(net, states[key])

    def set_global_frozen(self, frozen: bool) -> None:
        """Stage 2's freeze: only ``model{n_local_enhancers}*`` (+ E) train; a fresh Adam on change,
        as NVIDIA's ``update_fixed_params``. Frozen weights get no gradients, which also skips
        the backward pass through the global generator."""
        if frozen == self.frozen:
            return
        self.frozen = frozen
        prefix = trainable_generator_prefix(self.opt.n_local_enhancers)
        for name, p in self.synth.G.named_parameters():
            p.requires_grad_(not frozen or name.startswith(prefix))
        self.synth_ddp = self.ctx.wrap(self.synth)
        params = [p for p in self.synth.parameters() if p.requires_grad]
        self.optimizer_G = torch.optim.Adam(params, lr=self.opt.lr * self.opt.lr_G_scale, betas=(self.opt.beta1, 0.999))

    def set_lr(self, lr: float) -> None:
        """``lr`` is the schedule's rate: D's; G and E take ``--lr_G_scale`` of it."""
        for opt, scale in ((self.optimizer_G, self.opt.lr_G_scale), (self.optimizer_D, 1.0)):
            for group in opt.param_groups:
                group["lr"] = lr * scale

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ----- one iteration -----------------------------------------------------------------------
    def label_input(self, label: torch.Tensor, inst: torch.Tensor) -> torch.Tensor:
        """One-hot labels (+ the instance edge map): what G and D see, before E's features."""
        parts = [one_hot(label, self.opt.label_nc)]
        if not self.opt.no_instance:
            parts.append(get_edges(inst))
        return torch.cat(parts, dim=1)

    def step(self, batch: dict, train_G: bool = True) -> tuple[dict[str, float], torch.Tensor]:
        """One G step then one D step on the same fakes, NVIDIA's order; returns losses and fakes.
        ``train_G=False`` (--warmup_D) only renders the fakes, without gradients, and steps D."""
        label = batch["label"].to(self.device)
        inst = batch["inst"].to(self.device)
        real = batch["image"].to(self.device)
        label_input = self.label_input(label, inst)
        real_pair = torch.cat([label_input, real], dim=1)
        if train_G:
            losses, fake = self._generator_step(label_input, real, inst, real_pair)
        else:
            with torch.no_grad(), self.autocast():
                fake, losses = self.synth(label_input, real, inst), {}
        losses.update(self._discriminator_step(label_input, fake.detach().to(real.dtype), real_pair))
        return {k: float(v.detach()) for k, v in losses.items()}, fake.detach()

    def _generator_step(self, label_input, real, inst, real_pair) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """D only scores here (its gradients would be discarded, so none are computed)."""
        n = real.shape[0]
        self.D.requires_grad_(False)
        with self.autocast():
            fake = self.synth_ddp(label_input, real, inst)
            pred_fake, pred_real = _halves(self.D(torch.cat([torch.cat([label_input, fake], 1), real_pair])), n)
            losses = {"G_GAN": self.gan_loss(pred_fake, True)}
            if not self.opt.no_ganFeat_loss:
                losses["G_GAN_Feat"] = self.feat_loss(pred_fake, pred_real)
            if self.vgg_loss is not None:
                losses["G_VGG"] = self.vgg_loss(fake.float(), real) * self.opt.lambda_feat
            if self.opt.lambda_L1 > 0:
                losses["G_L1"] = (fake.float() - real.float()).abs().mean() * self.opt.lambda_L1
            if self.opt.lambda_lattice > 0:
                losses["G_lattice"] = lattice_loss(fake, real, self.lattice_period) * self.opt.lambda_lattice
        loss_G = sum(losses.values())
        self.optimizer_G.zero_grad(set_to_none=True)
        self.scaler_G.scale(loss_G).backward()
        self.scaler_G.step(self.optimizer_G)
        self.scaler_G.update()
        return losses, fake

    def _discriminator_step(self, label_input, fake, real_pair) -> dict[str, torch.Tensor]:
        """Pooled fakes vs reals, one forward on the stacked batch."""
        self.D.requires_grad_(True)
        fake_pair = self.pool.query(torch.cat([label_input, fake], 1))
        with self.autocast():
            pred_fake, pred_real = _halves(self.D_ddp(torch.cat([fake_pair, real_pair])), fake_pair.shape[0])
            losses = {"D_fake": self.gan_loss(pred_fake, False), "D_real": self.gan_loss(pred_real, True)}
        loss_D = (losses["D_fake"] + losses["D_real"]) * 0.5
        self.optimizer_D.zero_grad(set_to_none=True)
        self.scaler_D.scale(loss_D).backward()
        self.scaler_D.step(self.optimizer_D)
        self.scaler_D.update()
        return losses

    # ----- persistence -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "G": self.synth.G.state_dict(),
            "E": self.synth.E.state_dict() if self.synth.E is not None else {},
            "D": self.D.state_dict(),
            "optimizer_G": self.optimizer_G.state_dict(),
            "optimizer_D": self.optimizer_D.state_dict(),
            "scaler_G": self.scaler_G.state_dict(),
            "scaler_D": self.scaler_D.state_dict(),
            "epoch": self.epoch,
            "epoch_iter": self.epoch_iter,
            "total_steps": self.total_steps,
            "global_frozen": bool(self.frozen),
            "pool": self.pool.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "options": {k: v for k, v in vars(self.opt).items() if isinstance(v, (int, float, str, bool, type(None)))},
        }

    def _load_optim(self, state: dict) -> None:
        self.optimizer_G.load_state_dict(state["optimizer_G"])
        self.optimizer_D.load_state_dict(state["optimizer_D"])
        load_scaler_state(self.scaler_G, state.get("scaler_G"))
        load_scaler_state(self.scaler_D, state.get("scaler_D"))
        self.pool.load_state_dict(state["pool"], self.device)
        torch.set_rng_state(state["torch_rng"].cpu())

    def save(self, label: str) -> None:
        """Training checkpoint ``label`` (+ the ``latest`` pointer) and the current inference bundle."""
        if not self.ctx.is_main:
            return
        ckpt.save_training_state(self.run_dir, label, self.state_dict())
        width, height = getattr(self, "native_size", (None, None))
        cfg = self.config.replace(
            native_width=width,
            native_height=height,
            provenance={
                **self.config.provenance,
                **({"trained_on": self.trained_on} if getattr(self, "trained_on", None) else {}),
                "epoch": self.epoch,
                "total_steps": self.total_steps,
                "saved": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
        save_bundle(self.run_dir / "bundle", cfg, self.synth.G, self.synth.E, replace=True)

    def lr(self) -> float:
        return lr_for_epoch(self.epoch, self.opt.lr, self.opt.niter, self.opt.niter_decay)
