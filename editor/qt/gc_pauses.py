"""Keep Python's cyclic garbage collector from pausing the UI thread for a full scan of the heap.

A full (generation 2) collection walks every tracked object: with torch, OpenVINO, Qt and a model
loaded that is ~200,000 objects, and the editor measured 30-130 ms pauses on the UI thread (whichever
thread allocates when a collection is due runs it, holding the GIL, so every thread stops). The
objects alive once the window is built and each model is installed live as long as the editor: they
are frozen (``gc.freeze``) out of the collector's reach, so later collections scan only what was made
since. Cycles among them stay until exit, which is what they would do anyway.
"""

from __future__ import annotations

import gc


def freeze_long_lived(window) -> None:
    """Freeze what is alive now, and again each time ``window`` installs a model (the real editor only:
    tests build many windows that must stay collectable)."""
    gc.freeze()
    window.render.engine_changed.connect(lambda _engine: gc.freeze())
