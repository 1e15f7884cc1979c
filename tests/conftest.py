import gc
import os
import sys
import threading
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cityscapes-samples"


@pytest.fixture(autouse=True)
def collect_qt_widgets_after_their_test(request):
    """Qt tests leave closed widgets in reference cycles; collected here, after qtbot closed them,
    they are destroyed at a known point instead of in the middle of a later test."""
    yield
    if request.module.__name__.startswith("test_qt_"):
        gc.collect()


@pytest.fixture(scope="session")
def cityscapes_samples() -> Path:
    """The 8 real Cityscapes triplets in ../shared; integration tests skip without them."""
    if not (SHARED / "train_label").is_dir():
        pytest.skip(f"Cityscapes samples not found at {SHARED} (../shared is absent)")
    return SHARED


@pytest.fixture
def busy_python_thread():
    """A thread running pure Python beside the test, with a 0.5 s GIL switch interval: code on the test's
    thread that let go of the GIL would wait ~0.5 s to take it back (the editor's workers run Python
    beside the UI thread; the default 5 ms interval then costs a UI stall per hand-over).

    Yields a function that stops it (call it once the timed part is over: other threads that need the
    GIL, e.g. a worker the test waits for, would crawl beside it)."""
    stop = threading.Event()

    def spin() -> None:  # holds the GIL until the interpreter asks it to switch
        while not stop.is_set():
            pass

    interval = sys.getswitchinterval()
    spinner = threading.Thread(target=spin)

    def finish() -> None:
        stop.set()
        sys.setswitchinterval(interval)
        spinner.join()

    sys.setswitchinterval(0.5)
    spinner.start()
    try:
        yield finish
    finally:
        finish()
