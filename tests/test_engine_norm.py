"""Cached-statistics instance norm: same output as nn.InstanceNorm2d, exact record/replay."""

import pytest
import torch
from p2phd.models.engine.norm import CachedStatsInstanceNorm, norm_mode, norms_in, replace_instance_norms
from torch import nn


def test_compute_and_record_match_instance_norm_and_replay_reuses_statistics():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 10, 12) * 4 + 2
    norm = CachedStatsInstanceNorm(3)
    expected = nn.InstanceNorm2d(3)(x)
    torch.testing.assert_close(norm(x), expected)
    norm.mode = "record"
    torch.testing.assert_close(norm(x), expected)
    var, mean = torch.var_mean(x, dim=(2, 3), correction=0)
    torch.testing.assert_close(norm.stats[0], mean[0])
    torch.testing.assert_close(norm.stats[1], var[0])
    norm.mode = "replay"
    crop = x[:, :, 2:6, 3:9]
    torch.testing.assert_close(norm(crop), expected[:, :, 2:6, 3:9], rtol=1e-5, atol=1e-5)
    batch = torch.cat([crop, crop])  # one set of statistics serves a whole batch of crops
    torch.testing.assert_close(norm(batch)[1], expected[0, :, 2:6, 3:9], rtol=1e-5, atol=1e-5)


def test_replay_without_statistics_and_batched_record_are_errors():
    norm = CachedStatsInstanceNorm(2)
    norm.mode = "replay"
    with pytest.raises(RuntimeError, match="full pass"):
        norm(torch.zeros(1, 2, 4, 4))
    norm.mode = "record"
    with pytest.raises(ValueError, match="one image"):
        norm(torch.zeros(2, 2, 4, 4))


def test_replace_and_mode_context():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.InstanceNorm2d(2), nn.Sequential(nn.InstanceNorm2d(2)))
    assert len(replace_instance_norms(net)) == 2 and len(norms_in(net)) == 2
    with norm_mode(net, "record"):
        assert all(n.mode == "record" for n in norms_in(net))
    assert all(n.mode == "compute" for n in norms_in(net))
    with pytest.raises(ValueError):
        replace_instance_norms(nn.Sequential(nn.InstanceNorm2d(2, affine=True)))
