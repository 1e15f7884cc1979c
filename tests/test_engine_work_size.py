"""Documents larger than the model's native size render at native size (the editor's setting)."""

import numpy as np
import pytest
from p2phd.models.checkpoint.bundle import Bundle
from p2phd.models.engine.engine import Engine
from p2phd.models.engine.precision import select_precision
from p2phd.models.engine.request import EngineRequest
from p2phd.models.engine.work_size import fit_request
from p2phd.models.mapfiles.resize import resize_nearest
from p2phd.models.mapfiles.sizing import work_size
from tiny import tiny_config

CFG = tiny_config("local", n_downsample_global=1, native_width=64, native_height=32)


def _maps(h, w, seed=0):
    rng = np.random.default_rng(seed)
    label = np.repeat(np.repeat(rng.integers(0, 34, (h // 8, w // 8)), 8, 0), 8, 1).astype(np.uint8)
    return label, label.astype(np.int32)


def test_work_size_keeps_aspect_and_multiple():
    assert work_size(CFG, (256, 128)) == (64, 32)
    assert work_size(CFG, (48, 24)) == (48, 24)  # smaller than native: as it is
    assert work_size(CFG, (200, 64)) == (64, 20)  # size_multiple is 4 here
    assert work_size(CFG.replace(native_width=None), (256, 128)) == (256, 128)


def test_fit_request_samples_like_pil_nearest_and_scales_the_dirty_rect():
    label, inst = _maps(128, 256)
    request = EngineRequest(label, inst, dirty=(100, 40, 120, 60), revision=7, preview=True)
    fitted = fit_request(CFG, request)
    assert fitted.size == (64, 32)
    np.testing.assert_array_equal(fitted.label, resize_nearest(label, (64, 32)))
    np.testing.assert_array_equal(fitted.instance, resize_nearest(inst, (64, 32)))
    x0, y0, x1, y1 = fitted.dirty
    assert x0 <= 25 and y0 <= 10 and x1 >= 30 and y1 >= 15
    assert (fitted.revision, fitted.preview) == (7, True)


@pytest.mark.parametrize("render_at_native", [False, True])
def test_engine_renders_large_documents_at_native_size(render_at_native):
    G = CFG.build_G()
    engine = Engine(Bundle(CFG, G), select_precision("fp32", "cpu"), backend="eager", render_at_native=render_at_native)
    with pytest.raises(AttributeError):  # a loading option, not an attribute flipped later
        engine.render_at_native = not render_at_native
    label, inst = _maps(128, 256)
    result = engine.run(EngineRequest(label, inst))
    assert result.image.shape == ((32, 64, 3) if render_at_native else (128, 256, 3))
    if render_at_native:
        direct = engine.full_frame(EngineRequest(resize_nearest(label, (64, 32)), resize_nearest(inst, (64, 32))))
        np.testing.assert_array_equal(result.image, direct.image)
