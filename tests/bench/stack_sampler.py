"""What the UI thread was doing during its longest stalls: a thread samples its Python stack every ~1 ms.

Used by ``bench_ui_stall.py --stacks N``. A gap with few or no samples means the sampler could not run
either: the GIL was held in C code (a copy, a collection) or the process had no CPU (VM steal). Frames
inside Qt's own C++ work show as the event loop's Python caller.
"""

from __future__ import annotations

import sys
import threading
import time


class StackSampler:
    def __init__(self, thread_id: int | None = None, depth: int = 7) -> None:
        self.thread_id = thread_id or threading.get_ident()
        self.depth = depth
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stack-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = sys._current_frames().get(self.thread_id)
            stack = []
            while frame is not None and len(stack) < self.depth:
                code = frame.f_code
                stack.append(f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}:{frame.f_lineno}")
                frame = frame.f_back
            self.samples.append((time.perf_counter(), tuple(stack)))
            time.sleep(0.0005)

    def report(self, stamps: list[float], n: int) -> str:
        """The stacks sampled inside the ``n`` longest gaps between ``stamps`` (the event loop's ticks)."""
        gaps = sorted(((b - a, a, b) for a, b in zip(stamps, stamps[1:])), reverse=True)[:n]
        lines = []
        for gap, start, end in gaps:
            inside = [stack for t, stack in self.samples if start < t < end]
            lines.append(f"gap {1000 * gap:.1f} ms: {len(inside)} samples")
            previous = None
            for stack in inside:
                if stack != previous:
                    lines.append("    " + " < ".join(stack))
                previous = stack
        return "\n".join(lines)
