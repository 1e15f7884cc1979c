"""Benchmark: the object panel's style gallery on a 2048x1024 template scene, and the UI thread meanwhile.

Measures the time from selecting a car to its k thumbnails being shown (background runner + engine
batched previews) and the longest gap between ticks of a 1 ms UI-thread timer while that happens
(the event-loop stall). Random weights: only timings mean anything.

Run: QT_QPA_PLATFORM=offscreen /work/venv/bin/python tests/bench/bench_qt_style_previews.py [--ngf 16] [--k 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from p2phd.editor.qt.object_panel import ObjectPanel  # noqa: E402
from p2phd.editor.qt.workers import EngineJobs  # noqa: E402
from p2phd.editor.template import new_from_template  # noqa: E402
from p2phd.models.checkpoint.bundle import save_bundle  # noqa: E402
from p2phd.models.config import ModelConfig  # noqa: E402
from p2phd.models.engine.engine import Engine  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

CAR = 26


class StallMeter:
    """A 1 ms timer on the UI thread; the longest interval between its ticks is the worst stall."""

    def __init__(self):
        self.clock, self.worst = QElapsedTimer(), 0.0
        self.timer = QTimer(interval=1, timeout=self._tick)

    def start(self):
        self.worst = 0.0
        self.clock.start()
        self.timer.start()

    def _tick(self):
        self.worst = max(self.worst, self.clock.nsecsElapsed() / 1e6)
        self.clock.restart()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ngf", type=int, default=16)
    parser.add_argument("--k", type=int, default=10, help="clusters of the car class")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    cfg = ModelConfig(netG="local", ngf=args.ngf, instance_feat=True, native_width=2048, native_height=1024)
    torch.manual_seed(0)
    clusters = {CAR: np.random.default_rng(0).normal(size=(args.k, cfg.feat_num)).astype(np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        path = save_bundle(Path(tmp) / "bench", cfg, cfg.build_G(), cfg.build_E(), clusters)
        engine = Engine.load(path, device="cpu", precision="fp32", backend="eager")
    document = new_from_template()
    cars = [o for o in document.objects(instances_only=True) if o.label == CAR]
    car = max(cars, key=lambda o: o.area)
    panel = ObjectPanel(document)
    panel.show()
    jobs = EngineJobs(engine=engine)  # the engine service the render controller would lend the panel
    panel.set_engine(engine, jobs)
    meter = StallMeter()
    latencies, stalls = [], []
    for repeat in range(args.repeats):
        panel.set_object(None)
        meter.start()
        t0 = time.perf_counter()
        panel.set_object(car.id)
        while not (len(panel.gallery.buttons) == args.k and panel.gallery.buttons[0].isEnabled()):
            app.processEvents()
        latencies.append(time.perf_counter() - t0)
        meter.timer.stop()
        stalls.append(meter.worst)
        print(f"run {repeat}: thumbnails after {latencies[-1] * 1e3:.0f} ms, longest UI stall {meter.worst:.1f} ms")
    panel.wait_for_workers()
    jobs.close()
    print(
        f"car {car.id} ({car.area} px), k={args.k}, ngf={args.ngf}, torch threads {torch.get_num_threads()}: "
        f"median latency {statistics.median(latencies) * 1e3:.0f} ms (first includes a full frame), "
        f"worst stall {max(stalls):.1f} ms"
    )


if __name__ == "__main__":
    main()
