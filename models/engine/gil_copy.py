"""Copies of arrays for other threads that keep the GIL on the thread that makes them."""

from __future__ import annotations

import sys
import weakref

import numpy as np

# ids of the live CopyPool buffers: written only while no frozen view of them is alive, so their read-only
# views count as frozen (arrays are unhashable: ids, dropped by a finalizer when a buffer dies)
_POOL_BUFFERS: set[int] = set()


def copy_holding_gil(array: np.ndarray) -> np.ndarray:
    """A read-only C-order copy made by one memcpy that keeps the GIL.

    numpy's own copy of a large array releases the GIL and takes it back afterwards; taking it back
    waits up to the switch interval (5 ms) while any other thread runs Python. On a UI thread whose
    workers run Python beside it (the render engine's polling, the autosave worker) a 10 MB copy then
    took 12-30 ms instead of ~2 ms. Through ``bytes`` the copy is immutable, so read-only by construction.
    """
    return np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)  # tobytes: C order


def is_immutable(array: np.ndarray) -> bool:
    """True for a copy nobody can write into: over ``bytes`` (:func:`copy_holding_gil`), or a read-only
    view of a :class:`CopyPool` buffer (or a view of one); such a copy can be shared, not copied again."""
    base = array
    while isinstance(base, np.ndarray):
        if id(base) in _POOL_BUFFERS:
            return True
        if base.flags.writeable:
            return False
        base = base.base
    return isinstance(base, bytes)


class CopyPool:
    """Frozen copies written into reused buffers: what :func:`copy_holding_gil` makes, without fresh memory.

    A fresh 10 MB copy (a 2048 x 1024 document's maps) page-faults its memory in: 1,000-2,000 faults, and
    the copy took 5-25 ms on the UI thread beside a rendering engine instead of ~1.5 ms. A buffer is
    reused once no view of it is alive (its reference count is back to the pool's own); at most
    ``buffers`` per shape and dtype, beyond which copies fall back to fresh ``bytes``.
    """

    def __init__(self, buffers: int = 4) -> None:
        self.buffers = buffers
        self._free_refs: int | None = None  # sys.getrefcount of a buffer only the pool holds
        self._pools: dict[tuple, list[np.ndarray]] = {}

    def copy(self, array: np.ndarray) -> np.ndarray:
        array = np.asarray(array)
        pool = self._pools.setdefault((array.shape, array.dtype.str), [])
        for i in range(len(pool)):
            if sys.getrefcount(pool[i]) == self._free_refs:
                return self._frozen_view(pool[i], array)
        if len(pool) >= self.buffers:
            return copy_holding_gil(array)
        pool.append(np.empty(array.shape, array.dtype))
        _POOL_BUFFERS.add(id(pool[-1]))
        weakref.finalize(pool[-1], _POOL_BUFFERS.discard, id(pool[-1]))
        if self._free_refs is None:
            self._free_refs = sys.getrefcount(pool[-1])  # the same expression as in the loop above
        return self._frozen_view(pool[-1], array)

    def reserve(self, array: np.ndarray, count: int) -> None:
        """Allocate and touch ``count`` buffers for arrays like ``array`` ahead (e.g. when a document opens)."""
        held = [self.copy(array) for _ in range(count)]
        del held

    @staticmethod
    def _frozen_view(buffer: np.ndarray, array: np.ndarray) -> np.ndarray:
        # a memoryview assignment is one memcpy that keeps the GIL (numpy's copyto lets go of it)
        memoryview(buffer).cast("B")[:] = memoryview(np.ascontiguousarray(array)).cast("B")
        view = buffer.view()
        view.flags.writeable = False
        return view
