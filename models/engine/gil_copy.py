"""A copy of an array for another thread that keeps the GIL on the thread that makes it."""

from __future__ import annotations

import numpy as np


def copy_holding_gil(array: np.ndarray) -> np.ndarray:
    """A read-only C-order copy made by one memcpy that keeps the GIL.

    numpy's own copy of a large array releases the GIL and takes it back afterwards; taking it back
    waits up to the switch interval (5 ms) while any other thread runs Python. On a UI thread whose
    workers run Python beside it (the render engine's polling, the autosave worker) a 10 MB copy then
    took 12-30 ms instead of ~2 ms. Through ``bytes`` the copy is immutable, so read-only by construction.
    """
    return np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)  # tobytes: C order


def is_immutable(array: np.ndarray) -> bool:
    """True for an array over ``bytes`` (what :func:`copy_holding_gil` makes, or a view of one): nobody
    can write into it, so it can be shared instead of copied again."""
    base = array
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    return isinstance(base, bytes)
