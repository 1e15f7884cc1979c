"""Frozen copies for other threads: immutable, made without letting go of the GIL, and (CopyPool) in
reused memory instead of fresh pages."""

import resource
import sys
import time

import numpy as np
import pytest
from p2phd.models.engine.gil_copy import CopyPool, is_immutable
from p2phd.models.engine.request import EngineRequest

MAPS = (1024, 2048)  # a 2048 x 1024 document: 8 MB of instance ids


def test_pool_copies_are_frozen_equal_and_shared_by_requests():
    pool = CopyPool()
    inst = np.arange(64 * 32, dtype=np.int32).reshape(32, 64)
    frozen = pool.copy(inst)
    np.testing.assert_array_equal(frozen, inst)
    assert not frozen.flags.writeable and is_immutable(frozen) and is_immutable(frozen[3:9, ::2])
    with pytest.raises(ValueError):
        frozen[0, 0] = 1
    inst[0, 0] = 99  # the source changes: the copy does not
    assert frozen[0, 0] == 0
    assert EngineRequest(frozen.astype(np.uint8), frozen).instance is frozen  # shared, not copied again
    assert not is_immutable(inst) and not is_immutable(inst.view())


def test_a_buffer_is_reused_only_once_no_view_of_it_is_alive():
    pool = CopyPool(buffers=2)
    a = np.zeros((8, 8), np.uint8)
    first = pool.copy(a)
    first_buffer = id(first.base)
    rows = first[2:4]  # a view of the view: still holds the buffer
    del first
    second = pool.copy(a + 1)
    assert id(second.base) != first_buffer and rows.sum() == 0  # not overwritten under a live view
    del rows
    third = pool.copy(a + 2)
    assert id(third.base) == first_buffer and (third == 2).all()
    fourth = pool.copy(a + 3)  # both buffers in use: a fresh bytes copy, frozen all the same
    assert isinstance(fourth.base.base if isinstance(fourth.base, np.ndarray) else fourth.base, bytes)
    assert is_immutable(fourth) and (second == 1).all() and (third == 2).all() and (fourth == 3).all()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-process page fault counts (Linux)")
def test_reserved_buffers_take_copies_without_faulting_pages_in():
    inst = np.ones(MAPS, np.int32)
    pool = CopyPool()
    pool.reserve(inst, 2)
    faults = []
    for _ in range(6):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        frozen = pool.copy(inst)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        del frozen
    assert sum(faults) < 50, faults  # fresh memory for an 8 MB copy faults 2,048 pages of 4 KB in


def test_a_pool_copy_keeps_the_gil(busy_python_thread):
    inst = np.ones(MAPS, np.int32)
    pool = CopyPool()
    pool.reserve(inst, 1)
    t0 = time.perf_counter()
    frozen = pool.copy(inst)
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.25 and (frozen == 1).all()  # a GIL hand-over would take ~0.5 s
