"""NVIDIA's rule for the default style (feature cluster) of an object. Pure numpy, no torch."""

from __future__ import annotations

import numpy as np


def default_cluster(object_id: int, k: int) -> int:
    """Cluster index NVIDIA's editing UI gives object ``object_id`` when its class has ``k`` clusters.

    ``ui_model.py`` seeds numpy's global RNG with ``i + 1`` and draws ``randint(0, k)``; a private
    ``RandomState`` gives the same number without touching global state.
    """
    if k <= 0:
        raise ValueError("a class needs at least one cluster")
    return int(np.random.RandomState(int(object_id) + 1).randint(k))
