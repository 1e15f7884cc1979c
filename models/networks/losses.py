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
