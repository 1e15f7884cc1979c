"""The one sizing rule, nearest resize equal to PIL's, and network output rounded to 8 bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nvidia_ref import tensor2im as nvidia_tensor2im
from p2phd.models.config import ModelConfig
from p2phd.models.errors import InputMapError
from p2phd.models.mapfiles.limits import MAX_SIDE
from p2phd.models.mapfiles.resize import resize_nearest
from p2phd.models.mapfiles.sizing import explicit_size, render_size, round_to_multiple, work_size
from p2phd.models.mapfiles.to_image import to_uint8_image
from PIL import Image

DEMO_LIKE = ModelConfig(netG="global", ngf=4, n_downsample_global=5, native_width=512, native_height=256)  # x32


@pytest.mark.parametrize("in_hw, out_wh", [((37, 53), (64, 32)), ((1024, 2048), (256, 128)), ((31, 65), (17, 90))])
def test_resize_nearest_equals_pil(in_hw, out_wh):
    ids = np.random.default_rng(0).integers(0, 40000, in_hw).astype(np.int32)
    expected = np.array(Image.fromarray(ids).resize(out_wh, Image.NEAREST))
    np.testing.assert_array_equal(resize_nearest(ids, out_wh), expected)


def test_the_sizing_rule():
    assert work_size(DEMO_LIKE, (2048, 1024)) == (512, 256)  # scaled down to the native width
    assert work_size(DEMO_LIKE, (1024, 1024)) == (512, 512)  # the aspect ratio is kept
    assert work_size(DEMO_LIKE, (256, 128)) == (256, 128)  # never scaled up
    assert work_size(DEMO_LIKE, (300, 100)) == (288, 96)  # sides rounded to multiples of 32
    assert work_size(DEMO_LIKE, (10, 3)) == (32, 32)  # at least one multiple
    nvidia = DEMO_LIKE.replace(native_width=None, native_height=None, n_downsample_global=3)  # x8, no native size
    assert work_size(nvidia, (70, 37)) == (72, 40)  # NVIDIA's __make_power_2
    assert work_size(nvidia, (100, 20)) == (96, 16)  # 12.5 -> 12 and 2.5 -> 2: Python's round, as NVIDIA
    assert round_to_multiple(2047, 32) == 2048


def test_explicit_sizes_are_checked():
    assert render_size(DEMO_LIKE, (2048, 1024), (1024, 512)) == (1024, 512)
    with pytest.raises(InputMapError, match="multiples of 32"):
        explicit_size(DEMO_LIKE, (100, 64))
    for bad in ((0, 0), (65536, 65536), (MAX_SIDE + 32, 32)):
        with pytest.raises(InputMapError, match=f"1..{MAX_SIDE}"):
            explicit_size(DEMO_LIKE, bad)


def test_to_uint8_image_truncates_and_agrees_for_arrays_and_tensors():
    values = torch.tensor([-1.5, -1.0, -0.9961, 0.0, 0.0039, 0.999, 1.0, 2.0])
    image = values.reshape(1, 1, -1).repeat(3, 1, 1)
    levels = to_uint8_image(image)[0, :, 0].tolist()
    assert levels == [0, 0, 0, 127, 127, 254, 255, 255]  # 127.5 truncates to 127, as NVIDIA's astype(uint8)
    np.testing.assert_array_equal(to_uint8_image(image.numpy()), to_uint8_image(image))
    assert to_uint8_image(image).shape == (1, 8, 3)


def test_to_uint8_image_is_nvidia_tensor2im_bit_for_bit():
    image = torch.rand(3, 64, 96) * 2.2 - 1.1  # also outside [-1, 1]
    np.testing.assert_array_equal(to_uint8_image(image), nvidia_tensor2im(image.clone()))
