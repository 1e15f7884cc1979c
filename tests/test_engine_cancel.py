"""A stale frame stops inside the generator (eager: before a layer; OpenVINO: the running inference is
cancelled), so the next exact frame does not wait for a frame nobody will see; the engine renders
normally afterwards and keeps no hook."""

import numpy as np
import pytest
from p2phd.models.engine import engine as engine_mod
from p2phd.models.engine.backends import openvino as ov_backend
from p2phd.models.engine.engine import Engine
from p2phd.models.engine.request import EngineRequest, RunCancelledError
from test_engine import FP32, scene, tiny_bundle, tiny_config


class CancelAfter:
    """should_cancel() that turns true at its ``n``-th call."""

    def __init__(self, n: int):
        self.n, self.calls = n, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


def no_hooks_left(engine: Engine) -> bool:
    return all(not m._forward_pre_hooks for m in engine.G.modules())


def test_an_eager_frame_stops_inside_the_generator_and_the_next_one_renders():
    engine = Engine(tiny_bundle(tiny_config()), FP32, backend="eager")
    label, inst = scene()
    layers = sum(1 for m in engine.G.modules() if next(m.children(), None) is None)
    should_cancel = CancelAfter(5)  # 1: the check after encoding; 2-5: before the generator's first layers
    with pytest.raises(RunCancelledError):
        engine.run(EngineRequest(label, inst, revision=1), should_cancel)
    assert should_cancel.calls == 5 < layers  # stopped at the 4th layer, not after the whole network
    assert engine.generating is None and no_hooks_left(engine)
    result = engine.run(EngineRequest(label, inst, revision=2))
    fresh = Engine(tiny_bundle(tiny_config()), FP32, backend="eager").run(EngineRequest(label, inst, revision=2))
    np.testing.assert_array_equal(result.image, fresh.image)  # nothing of the stopped frame remains


def test_a_frame_that_is_not_cancelled_checks_every_layer_and_completes():
    engine = Engine(tiny_bundle(tiny_config()), FP32, backend="eager")
    label, inst = scene()
    layers = sum(1 for m in engine.G.modules() if next(m.children(), None) is None)
    should_cancel = CancelAfter(10**9)
    engine.run(EngineRequest(label, inst, revision=1), should_cancel)
    assert should_cancel.calls > layers  # every layer looked (some run twice: shared norms' modules)
    assert no_hooks_left(engine)


def test_an_openvino_inference_is_cancelled_while_it_runs(tmp_path, monkeypatch):
    pytest.importorskip("openvino")
    monkeypatch.setattr(engine_mod, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(ov_backend, "POLL_MS", 1)
    engine = Engine(tiny_bundle(tiny_config()), FP32, backend="openvino")
    label, inst = scene(512, 1024)  # an inference of tens of ms: longer than one 1 ms poll
    engine.run(EngineRequest(label, inst, revision=1))  # converts and compiles
    polls = []
    original = engine._openvino._call

    def call(compiled, x, should_cancel):
        def polled():
            polls.append(True)
            return True  # stale from the first poll on

        return original(compiled, x, polled)

    monkeypatch.setattr(engine._openvino, "_call", call)
    with pytest.raises(RunCancelledError):
        engine.run(EngineRequest(label, inst, revision=2))
    assert len(polls) == 1  # the poll while OpenVINO ran cancelled it
