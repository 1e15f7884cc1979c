"""pix2pixHD objectives as modules: adversarial (LSGAN / vanilla) and discriminator feature matching."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

Predictions = list[list[torch.Tensor]]  # per D scale, the outputs of every layer group; last = prediction


class GANLoss(nn.Module):
    """Adversarial loss summed over discriminator scales.

    LSGAN (the paper's choice): mean squared error to 1 (real) or 0 (fake). Vanilla: binary cross
    entropy. NVIDIA puts a sigmoid in D and uses ``BCELoss``; we take D's raw output and use
    ``BCEWithLogits``, which is the same objective and stays safe under autocast.
    """

    def __init__(self, use_lsgan: bool = True, target_real_label: float = 1.0, target_fake_label: float = 0.0):
        super().__init__()
        self.use_lsgan = use_lsgan
        self.real_label = target_real_label
        self.fake_label = target_fake_label

    def forward(self, predictions: Predictions, target_is_real: bool) -> torch.Tensor:
        value = self.real_label if target_is_real else self.fake_label
        loss = 0.0
        for scale in predictions:
            pred = scale[-1].float()
            target = torch.full_like(pred, value)
            if self.use_lsgan:
                loss = loss + F.mse_loss(pred, target)
            else:
                loss = loss + F.binary_cross_entropy_with_logits(pred, target)
        return loss


class FeatureMatchingLoss(nn.Module):
    """L1 between D's intermediate features on fake and real, NVIDIA's weighting:
    ``lambda_feat * (1 / num_D) * (4 / (n_layers_D + 1))`` per layer (the prediction excluded)."""

    def __init__(self, n_layers_D: int, num_D: int, lambda_feat: float = 10.0):
        super().__init__()
        self.layer_weight = 4.0 / (n_layers_D + 1)
        self.scale_weight = 1.0 / num_D
        self.lambda_feat = lambda_feat

    def forward(self, pred_fake: Predictions, pred_real: Predictions) -> torch.Tensor:
        loss = 0.0
        for fake_scale, real_scale in zip(pred_fake, pred_real, strict=True):
            for fake, real in zip(fake_scale[:-1], real_scale[:-1], strict=True):
                l1 = F.l1_loss(fake.float(), real.detach().float())
                loss = loss + self.scale_weight * self.layer_weight * l1 * self.lambda_feat
        return loss


def lattice_loss(fake: torch.Tensor, real: torch.Tensor, period: int) -> torch.Tensor:
    """Spectral energy of ``fake`` at the transposed convolutions' lattice frequencies, in excess of ``real``'s.

    A stack of stride-2 transposed convolutions that upsamples by ``period`` in all paints its artefacts
    at periods dividing ``period``: in the spectrum, at multiples of 1/period of the image size along each
    axis. This is the mean over those bins (the constant term left out) of
    ``relu(log(1 + |F(fake)|) - log(1 + |F(real)|)) ** 2`` per channel (orthonormal FFT, fp32): zero unless
    the fake holds more energy there than the photo, whose own content at those frequencies is left alone;
    squared, so that a grid's few strong peaks weigh far more than texture-level differences.
    """
    fake, real = fake.float(), real.float()
    h, w = fake.shape[-2:]
    # bin k * size / period (rounded: crops need not divide by the period); rfft2 keeps x up to size / 2
    ys = torch.unique(torch.round(torch.arange(period, device=fake.device) * h / period).long())
    xs = torch.unique(torch.round(torch.arange(period // 2 + 1, device=fake.device) * w / period).long())
    spectra = [torch.log1p(torch.fft.rfft2(x, norm="ortho").abs()) for x in (fake, real)]
    excess = F.relu(spectra[0] - spectra[1].detach())[..., ys[:, None], xs[None, :]] ** 2
    keep = torch.ones(len(ys), len(xs), dtype=torch.bool, device=fake.device)
    keep[0, 0] = False  # the mean colour: the L1 / GAN terms' business
    return excess[..., keep].mean()
