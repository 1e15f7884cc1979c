"""The render controller: requests leave the UI thread, previews during a stroke, the exact frame
after it, results come back on the UI thread, model loading never blocks and failures are reported."""

import threading
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from p2phd.editor.document import Document  # noqa: E402
from p2phd.editor.qt.render_controller import ModelSettings, RenderController  # noqa: E402
from p2phd.models.engine.request import EngineResult  # noqa: E402
from PySide6.QtCore import QThread  # noqa: E402

SKY = 23


class FakeEngine:
    """Records requests; each run waits until the test opens the gate (no sleeps anywhere)."""

    def __init__(self, block=False):
        self.requests = []
        self.run_ms = []  # each run's own duration: a lower bound of the latency the controller reports
        self.threads = set()
        self.gate = threading.Event()
        if not block:
            self.gate.set()

    def run(self, request, should_cancel=lambda: False):
        started = time.perf_counter()
        self.threads.add(threading.get_ident())
        self.requests.append(request)
        assert self.gate.wait(30)
        image = np.zeros((*request.label.shape, 3), np.uint8)
        image[..., 0] = request.label
        self.run_ms.append((time.perf_counter() - started) * 1000.0)
        return EngineResult(image, request.revision, {"fake": 0.0}, preview=request.preview)


@pytest.fixture
def controller(qtbot):
    render = RenderController()
    yield render
    render.close()


def test_without_engine_state_is_no_model(controller):
    controller.set_document(Document(64, 32))
    assert controller.state == "no model"


def test_full_frame_arrives_on_ui_thread(qtbot, controller):
    doc = Document(64, 32, fill=7)
    controller.set_document(doc)
    engine = FakeEngine()
    ui_thread = QThread.currentThread()
    with qtbot.waitSignal(controller.sig_frame, timeout=10000) as blocker:
        controller.set_engine(engine)
    frame = blocker.args[0]
    assert QThread.currentThread() is ui_thread
    assert threading.get_ident() not in engine.threads  # the engine ran on the worker
    assert frame.revision == doc.revision and not frame.preview
    assert (frame.image.width(), frame.image.height()) == (64, 32)
    assert frame.latency_ms >= engine.run_ms[-1] > 0  # submit -> result includes the run itself
    assert controller.state == "ready"


def test_stroke_sends_previews_then_the_exact_frame_on_one_copy_of_the_maps(qtbot, controller):
    """The exact frame a stroke's release asks for has the last preview's maps: not copied again."""
    doc = Document(64, 32, fill=7)
    controller.set_document(doc)
    engine = FakeEngine()
    with qtbot.waitSignal(controller.sig_frame, timeout=10000):
        controller.set_engine(engine)
    stroke = doc.begin_stroke(SKY, 2)
    stroke.add_point(5, 5)
    with qtbot.waitSignal(controller.sig_frame, timeout=10000) as preview:
        stroke.add_point(20, 5)
    assert preview.args[0].preview
    previewed = engine.requests[-1]
    assert previewed.dirty is not None and previewed.dirty[0] <= 3
    with qtbot.waitSignal(controller.sig_frame, timeout=10000, check_params_cb=lambda f: not f.preview) as final:
        stroke.commit()
    assert final.args[0].revision == doc.revision
    exact = engine.requests[-1]
    assert not exact.preview and exact.revision == previewed.revision
    assert exact.label is previewed.label and exact.instance is previewed.instance
    with qtbot.waitSignal(controller.sig_frame, timeout=10000):
        doc.paint_stroke([(40, 20)], SKY, 3)  # a new revision: new copies, with the new pixels
    after = engine.requests[-1]
    assert after.label is not exact.label and after.label[20, 40] == SKY and exact.label[20, 40] == 7
    assert not after.label.flags.writeable and not np.shares_memory(after.label, doc.label)


def test_ui_is_free_while_the_engine_works(qtbot, controller):
    doc = Document(64, 32, fill=7)
    controller.set_document(doc)
    engine = FakeEngine(block=True)
    controller.set_engine(engine)
    qtbot.waitUntil(lambda: len(engine.requests) == 1)  # the worker is inside run(), blocked
    assert controller.state == "rendering"
    doc.paint_stroke([(1, 1), (9, 1)], SKY, 1)  # editing goes on meanwhile
    doc.paint_stroke([(1, 9), (9, 9)], SKY, 1)
    with qtbot.waitSignal(controller.sig_frame, timeout=10000, check_params_cb=lambda f: f.revision == doc.revision):
        engine.gate.set()
    assert len(engine.requests) == 2  # latest wins: the two edits were rendered as one request


def test_exact_frame_renders_the_current_revision(qtbot, controller):
    doc = Document(64, 32, fill=7)
    controller.set_document(doc)
    with qtbot.waitSignal(controller.sig_frame, timeout=10000):
        controller.set_engine(FakeEngine())
    doc.paint_stroke([(1, 1), (9, 1)], SKY, 1)
    frame = controller.exact_frame(timeout_ms=10000)
    assert frame is not None and frame.revision == doc.revision and not frame.preview


def test_model_loads_in_background(qtbot, tmp_path):
    gate = threading.Event()
    engine = FakeEngine()

    def loader(settings):
        assert gate.wait(30)
        return engine

    controller = RenderController(loader=loader)
    controller.set_document(Document(64, 32))
    controller.load_model(ModelSettings(tmp_path))
    assert controller.state == "loading model" and controller.loading  # returned at once
    with qtbot.waitSignal(controller.engine_changed, timeout=10000):
        gate.set()
    assert controller.engine is engine and not controller.loading
    controller.close()


def test_a_model_load_runs_on_the_engine_thread_never_beside_a_render(qtbot, tmp_path):
    old, new = FakeEngine(block=True), FakeEngine()
    loaded_on = []

    def loader(settings):
        loaded_on.append(threading.get_ident())
        return new

    controller = RenderController(loader=loader)
    controller.set_document(Document(64, 32, fill=7))
    controller.set_engine(old)
    qtbot.waitUntil(lambda: len(old.requests) == 1)  # the old engine is rendering, blocked
    controller.load_model(ModelSettings(tmp_path))
    assert controller.loading and loaded_on == []  # the engine thread is busy: the load waits its turn
    with qtbot.waitSignal(controller.engine_changed, timeout=10000):
        old.gate.set()
    with qtbot.waitSignal(controller.sig_frame, timeout=10000):
        pass  # the new engine renders the document
    assert controller.engine is new and not controller.loading
    assert set(loaded_on) == old.threads == new.threads  # one thread loads and renders
    assert threading.get_ident() not in old.threads
    controller.close()


def test_model_failure_is_reported_and_editor_stays_usable(qtbot, tmp_path):
    def loader(settings):
        raise ValueError("no config.json here\nsecond line")

    controller = RenderController(loader=loader)
    controller.set_document(Document(64, 32))
    with qtbot.waitSignal(controller.sig_model_failed, timeout=10000) as failed:
        controller.load_model(ModelSettings(tmp_path))
    assert failed.args == ["no config.json here"]
    assert controller.state == "no model"
    controller.close()


def test_engine_error_shows_in_state(qtbot, controller):
    class Broken(FakeEngine):
        def run(self, request, should_cancel=lambda: False):
            raise ValueError("map 65x33: bad size")

    controller.set_document(Document(64, 32))
    with qtbot.waitSignal(controller.state_changed, timeout=10000, check_params_cb=lambda s: s.startswith("error")):
        controller.set_engine(Broken())
    assert "bad size" in controller.state


def test_real_engine_renders_a_large_document_at_the_models_native_size(qtbot, tmp_path):
    from p2phd.models.checkpoint.bundle import save_bundle
    from tiny import tiny_config

    cfg = tiny_config("local", n_downsample_global=1, native_width=64, native_height=32)
    save_bundle(tmp_path / "bundle", cfg, cfg.build_G())
    controller = RenderController()
    controller.set_document(Document(256, 128))
    with qtbot.waitSignal(controller.sig_frame, timeout=30000) as frame:
        controller.load_model(ModelSettings(tmp_path / "bundle", device="cpu", precision="fp32"))
    assert frame.args[0].image.size().width() == 64 and frame.args[0].image.size().height() == 32
    controller.close()
