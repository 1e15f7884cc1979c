"""Benchmark: per-dab cost of a 200-dab brush stroke on a 2048x1024 document (history recording included).

Run: /work/venv/bin/python tests/bench/bench_history.py   (prints medians; not a test, nothing is asserted)
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from p2phd.editor.template import new_from_template

DABS = 200
RADIUS = 24


def run_stroke(doc, rng) -> tuple[list[float], float, int]:
    """One stroke of DABS points across the image; returns (per-dab seconds, commit seconds, bytes)."""
    xs = np.linspace(100, 1950, DABS) + rng.normal(0, 3, DABS)
    ys = 500 + 300 * np.sin(np.linspace(0, 3, DABS))
    events = []
    unsubscribe = doc.subscribe(events.append)  # a view listening, as in the GUI
    stroke = doc.begin_stroke(23, RADIUS)
    per_dab = []
    for x, y in zip(xs, ys):
        t0 = time.perf_counter()
        stroke.add_point(x, y)
        per_dab.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    stroke.commit()
    commit = time.perf_counter() - t0
    unsubscribe()
    return per_dab, commit, doc.history.nbytes


def main() -> None:
    rng = np.random.default_rng(0)
    doc = new_from_template(seed=0)
    dabs, commits = [], []
    for _ in range(5):
        per_dab, commit, nbytes = run_stroke(doc, rng)
        dabs += per_dab
        commits.append(commit)
    undo = []
    for _ in range(5):
        t0 = time.perf_counter()
        doc.undo()
        undo.append(time.perf_counter() - t0)
    print(f"document 2048x1024, {DABS}-dab strokes, radius {RADIUS}, 5 strokes")
    print(
        f"median per dab segment: {statistics.median(dabs) * 1e3:.3f} ms "
        f"(p95 {np.percentile(dabs, 95) * 1e3:.3f} ms, max {max(dabs) * 1e3:.3f} ms)"
    )
    print(f"median commit (diff to tiles): {statistics.median(commits) * 1e3:.1f} ms")
    print(f"median undo of one stroke: {statistics.median(undo) * 1e3:.1f} ms")
    print(f"history after 5 strokes: {nbytes / 2**20:.2f} MiB (full image = {doc.label.nbytes * 5 / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
