"""The editor and the engine's fast path (OpenVINO behind the one-hot lookups, issue 11): the first exact
frame renders eager at once, the fast path is prepared on a background thread (never the UI thread,
never the engine's, never twice for one engine and size) and the exact frame is rendered again through
it; the status bar says which path rendered. A failed preparation leaves eager frames; a stale one
(another model loaded meanwhile, the window closed) is ignored. Without OpenVINO nothing is prepared."""

import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from p2phd.editor.document import Document  # noqa: E402
from p2phd.editor.qt.render_controller import RenderController  # noqa: E402
from p2phd.editor.template import new_from_template  # noqa: E402
from p2phd.models.checkpoint.bundle import save_bundle  # noqa: E402
from p2phd.models.engine import engine as engine_mod  # noqa: E402
from p2phd.models.engine.engine import Engine  # noqa: E402
from p2phd.models.engine.request import EngineResult  # noqa: E402
from test_qt_window import make_window  # noqa: E402
from tiny import tiny_config  # noqa: E402

ROAD, CAR = 7, 26


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    import torch

    cfg = tiny_config("local", features=True, native_width=128, native_height=64)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    clusters = {c: rng.normal(size=(3, cfg.feat_num)).astype(np.float32) for c in (ROAD, 11, CAR)}
    return save_bundle(tmp_path_factory.mktemp("model") / "tiny", cfg, cfg.build_G(), cfg.build_E(), clusters)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_mod, "CACHE_DIR", tmp_path / "cache")
    return tmp_path / "cache" / "openvino"


class GatedPrepare:
    """Engine.prepare_fast, recording the thread and size of each call, held until ``gate`` opens."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[threading.Thread, tuple[int, int]]] = []
        self.gate = threading.Event()
        real = Engine.prepare_fast

        def prepare_fast(engine, size=None):
            self.calls.append((threading.current_thread(), size))
            assert self.gate.wait(60)
            return real(engine, size)

        monkeypatch.setattr(Engine, "prepare_fast", prepare_fast)


def exact_frames(frames):
    return [f for f in frames if not f.preview]


def stroke_and_wait(qtbot, window):
    """Paint a car stroke and return the exact frame of the document's new revision."""
    window.document.paint_stroke([(10, 100), (60, 100)], CAR, 4)
    with qtbot.waitSignal(
        window.render.sig_frame, timeout=60000, check_params_cb=lambda f: f.revision == window.document.revision
    ) as blocker:
        pass
    return blocker.args[0]


def test_first_frame_is_eager_then_the_fast_path_renders_it_again(qtbot, tmp_path, bundle_dir, cache, monkeypatch):
    pytest.importorskip("openvino")
    prepare = GatedPrepare(monkeypatch)
    window = make_window(qtbot, tmp_path)
    frames = []
    window.render.sig_frame.connect(frames.append)
    with qtbot.waitSignal(window.render.sig_frame, timeout=60000):
        window.load_model(bundle_dir, "cpu", "auto")
    first = frames[0]
    assert not first.preview and first.backend.startswith("eager")  # at once, while the fast path waits
    assert "eager" in window.status_latency.text()
    assert window.render.fast_state == "preparing"
    assert window.status_fast.isVisible() and "preparing fast renderer" in window.status_fast.text()
    assert len(prepare.calls) == 1
    thread, size = prepare.calls[0]
    assert thread is not threading.main_thread() and thread.name == "p2phd-fast-prepare"
    assert size == (window.document.width, window.document.height)
    window.set_document(new_from_template(window.document.width, window.document.height))
    assert len(prepare.calls) == 1  # same engine, same size: the running preparation serves it
    with qtbot.waitSignal(window.render.sig_frame, timeout=120000, check_params_cb=lambda f: "openvino" in f.backend):
        prepare.gate.set()
    assert window.render.fast_state == "ready" and not window.status_fast.isVisible()
    assert "openvino" in window.status_latency.text() and "+ lookup" in window.status_latency.text()
    assert len(list((cache / "ir").glob("*.xml"))) == 1  # converted once, on disk
    # an edit renders exact through the fast path too
    assert stroke_and_wait(qtbot, window).backend.startswith("openvino")
    assert len(prepare.calls) == 1  # ready for this size: nothing prepared again


def test_a_document_of_another_size_prepares_for_that_size(qtbot, tmp_path, bundle_dir, cache, monkeypatch):
    pytest.importorskip("openvino")
    prepare = GatedPrepare(monkeypatch)
    prepare.gate.set()
    window = make_window(qtbot, tmp_path)
    with qtbot.waitSignal(window.render.sig_frame, timeout=120000, check_params_cb=lambda f: "openvino" in f.backend):
        window.load_model(bundle_dir, "cpu", "auto")
    with qtbot.waitSignal(window.render.sig_frame, timeout=120000, check_params_cb=lambda f: "openvino" in f.backend):
        window.set_document(new_from_template(64, 32))  # below native size: renders at 64x32
    assert [size for _, size in prepare.calls] == [(256, 128), (64, 32)]
    assert len(list((cache / "ir").glob("*.xml"))) == 2


def test_a_failed_preparation_leaves_eager_frames_and_says_so(qtbot, tmp_path, bundle_dir, cache, monkeypatch):
    pytest.importorskip("openvino")
    from p2phd.models.engine.backends import openvino as ov_backend

    def broken(*args):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(ov_backend, "convert", broken)
    window = make_window(qtbot, tmp_path)
    with qtbot.waitSignal(window.render.fast_changed, timeout=120000, check_params_cb=lambda s: s == "failed"):
        window.load_model(bundle_dir, "cpu", "auto")
    assert window.status_fast.isVisible() and "failed" in window.status_fast.text()
    assert "exploded" in window.status_fast.toolTip() and "exploded" in window.render.fast_error
    assert stroke_and_wait(qtbot, window).backend.startswith("eager")
    assert window.render.fast_state == "failed"  # not retried for every frame


def test_without_openvino_nothing_is_prepared(qtbot, tmp_path, bundle_dir, cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed
    prepare = GatedPrepare(monkeypatch)
    prepare.gate.set()
    window = make_window(qtbot, tmp_path)
    with qtbot.waitSignal(window.render.sig_frame, timeout=60000) as blocker:
        window.load_model(bundle_dir, "cpu", "auto")
    assert window.render.engine.fast_path is None
    assert blocker.args[0].backend == "eager fp32 + lookup" and "eager fp32" in window.status_latency.text()
    window.set_document(new_from_template(64, 32))
    with qtbot.waitSignal(window.render.sig_frame, timeout=60000):
        pass
    assert prepare.calls == [] and window.render.fast_state == "" and not window.status_fast.isVisible()


# -- the controller with fake engines: stale completions --------------------------------------------------------
class FakeFastEngine:
    """A fast path whose preparation waits for ``gate``; frames say which path rendered them."""

    fast_error = None

    def __init__(self, name):
        self.name = name
        self.gate = threading.Event()
        self.prepared = threading.Event()
        self.ready = False
        self.prepare_calls = []
        self.requests = []

    @property
    def fast_path(self):
        return f"{self.name} fast"

    def input_shape(self, size):
        return (1, 3, size[1], size[0])

    def fast_ready(self, size):
        return self.ready

    def prepare_fast(self, size):
        self.prepare_calls.append(threading.current_thread())
        assert self.gate.wait(30)
        self.ready = True
        self.prepared.set()
        return True

    def run(self, request, should_cancel=lambda: False):
        self.requests.append(request)
        image = np.zeros((*request.label.shape, 3), np.uint8)
        backend = self.fast_path if self.ready else f"{self.name} eager"
        return EngineResult(image, request.revision, {}, preview=request.preview, backend=backend)


def test_a_new_model_ignores_the_old_models_preparation(qtbot):
    controller = RenderController()
    controller.set_document(Document(64, 32, fill=ROAD))
    old, new = FakeFastEngine("old"), FakeFastEngine("new")
    with qtbot.waitSignal(controller.sig_frame, timeout=10000) as first:
        controller.set_engine(old)
    assert first.args[0].backend == "old eager" and controller.fast_state == "preparing"
    with qtbot.waitSignal(controller.sig_frame, timeout=10000):
        controller.set_engine(new)
    qtbot.waitUntil(lambda: len(new.prepare_calls) == 1)
    frames = []
    controller.sig_frame.connect(frames.append)
    old.gate.set()
    assert old.prepared.wait(10)
    qtbot.waitUntil(lambda: all(key[0] is not old for key in controller._preparing))  # its completion arrived
    assert controller.fast_state == "preparing" and frames == []  # ignored: no frame requested for it
    with qtbot.waitSignal(controller.sig_frame, timeout=10000) as fast:
        new.gate.set()
    assert fast.args[0].backend == "new fast" and controller.fast_state == "ready"
    assert len(old.prepare_calls) == len(new.prepare_calls) == 1
    assert len(old.requests) == 1
    controller.close()


def test_closing_while_preparing_neither_crashes_nor_waits(qtbot):
    controller = RenderController()
    controller.set_document(Document(64, 32, fill=ROAD))
    engine = FakeFastEngine("e")
    with qtbot.waitSignal(controller.sig_frame, timeout=10000):
        controller.set_engine(engine)
    qtbot.waitUntil(lambda: len(engine.prepare_calls) == 1)
    thread = engine.prepare_calls[0]
    assert thread.daemon  # would not keep the process alive
    controller.close()  # returns although the preparation still runs
    assert thread.is_alive()
    engine.gate.set()
    thread.join(10)
    assert not thread.is_alive()
    qtbot.wait(50)  # let the late completion's queued signal arrive: it is ignored
    assert controller.fast_state == "preparing" and len(engine.requests) == 1
    controller.deleteLater()


def test_the_window_closes_while_preparing(qtbot, tmp_path, bundle_dir, cache, monkeypatch):
    pytest.importorskip("openvino")
    prepare = GatedPrepare(monkeypatch)
    window = make_window(qtbot, tmp_path)
    with qtbot.waitSignal(window.render.sig_frame, timeout=60000):
        window.load_model(bundle_dir, "cpu", "auto")
    qtbot.waitUntil(lambda: len(prepare.calls) == 1)
    thread = prepare.calls[0][0]
    window.close()
    assert thread.is_alive()
    prepare.gate.set()
    thread.join(120)
    assert not thread.is_alive()
    qtbot.wait(50)  # the late completion reaches a closed controller: nothing happens
    assert window.render.fast_state == "preparing"


class FramesWaitForPreparation(FakeFastEngine):
    """A frame in flight while the fast path is prepared: ``eager=False`` waits for the preparation and
    comes from the fast path (the engine compiles a cached conversion in its first frame); ``eager=True``
    renders eager until it is told to stop (should_cancel) or the preparation is done."""

    def __init__(self, name, eager):
        super().__init__(name)
        self.eager = eager
        self.generating = None
        self.cancelled = 0

    def run(self, request, should_cancel=lambda: False):
        from p2phd.models.engine.request import RunCancelledError

        if not self.requests:  # the first frame is the one in flight
            self.generating = "eager" if self.eager else None
            while not self.prepared.wait(0.01):
                pass
            if self.eager:
                deadline = time.monotonic() + 10
                while not should_cancel() and time.monotonic() < deadline:
                    time.sleep(0.005)
                self.generating = None
                if should_cancel():
                    self.cancelled += 1
                    self.requests.append(request)
                    raise RunCancelledError
        self.generating = None
        return super().run(request, should_cancel)


def rendering_with(engine):
    """A controller on a small document that renders with ``engine``; the frames it shows."""
    controller = RenderController()
    controller.set_document(Document(64, 32, fill=ROAD))
    frames = []
    controller.sig_frame.connect(frames.append)
    controller.set_engine(engine)
    return controller, frames


def test_a_frame_in_flight_through_the_fast_path_is_not_rendered_twice(qtbot):
    engine = FramesWaitForPreparation("e", eager=False)
    controller, frames = rendering_with(engine)
    qtbot.waitUntil(lambda: len(engine.prepare_calls) == 1 and controller._awaiting)
    engine.gate.set()
    qtbot.waitUntil(lambda: bool(frames) and controller.fast_state == "ready")
    qtbot.wait(200)  # time for a second request, were one made
    assert [f.backend for f in frames] == ["e fast"] and len(engine.requests) == 1
    controller.close()


def test_an_eager_frame_in_flight_is_cancelled_when_the_fast_path_is_ready(qtbot):
    engine = FramesWaitForPreparation("e", eager=True)
    controller, frames = rendering_with(engine)
    qtbot.waitUntil(lambda: len(engine.prepare_calls) == 1 and engine.generating == "eager")
    with qtbot.waitSignal(controller.sig_frame, timeout=10000) as fast:
        engine.gate.set()
    assert fast.args[0].backend == "e fast" and engine.cancelled == 1
    assert [f.backend for f in frames] == ["e fast"]  # the eager frame was stopped, never shown
    controller.close()
