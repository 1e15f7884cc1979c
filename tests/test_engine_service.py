"""The engine service: one thread, latest wins per kind, cancellation, loading on the same thread.

Fake engines block on events; no sleeps, no timing: every wait is released by an event and the
timeouts are only safety nets."""

import os
import sys
import threading
import time

import numpy as np
import pytest
from p2phd.models.engine.request import EngineRequest, EngineResult, RunCancelledError
from p2phd.models.engine.service import EngineService, JobQueue, NoModelError

TIMEOUT = 10


class FakeEngine:
    """Each run announces itself on ``started`` and blocks until the test sets ``release``."""

    def __init__(self, name="A", stages: int = 1):
        self.name = name
        self.stages = stages
        self.seen: list[EngineRequest] = []
        self.threads: set[int] = set()
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_revisions: set[int] = set()

    def run(self, request, should_cancel):
        self.threads.add(threading.get_ident())
        self.seen.append(request)
        self.started.set()
        assert self.release.wait(TIMEOUT)
        for _ in range(self.stages):
            if should_cancel():
                raise RunCancelledError
        if request.revision in self.fail_revisions:
            raise ValueError("boom")
        return EngineResult(np.zeros((2, 2, 3), np.uint8), request.revision)

    def style_previews(self, request, object_id, indices=None):
        self.threads.add(threading.get_ident())
        return self.name, object_id


def request(revision, dirty=None, preview=False):
    return EngineRequest(np.zeros((8, 8), np.uint8), revision=revision, dirty=dirty, preview=preview)


class Harness:
    def __init__(self, engine=None):
        self.outcomes = []
        self.service = EngineService(self.outcomes.append, engine)

    def results(self, kind="frame"):
        return [o.result for o in self.outcomes if o.kind == kind and o.error is None]

    def errors(self, kind="frame"):
        return [o.error for o in self.outcomes if o.kind == kind and o.error is not None]

    def idle(self):
        assert self.service.wait_idle(TIMEOUT)


@pytest.fixture
def engine():
    return FakeEngine()


@pytest.fixture
def harness(engine):
    h = Harness(engine)
    yield h
    engine.release.set()
    h.service.close()


def test_single_request_is_delivered(harness, engine):
    engine.release.set()
    ticket = harness.service.render(request(1))
    harness.idle()
    (outcome,) = harness.outcomes
    assert (outcome.kind, outcome.ticket, outcome.result.revision, outcome.serial) == ("frame", ticket, 1, 1)


def test_newer_requests_supersede_waiting_ones_and_stale_results_are_dropped(harness, engine):
    engine.stages = 0  # revision 1 runs to the end although it is stale by then
    harness.service.render(request(1))
    assert engine.started.wait(TIMEOUT)  # revision 1 is running and blocked
    harness.service.render(request(2, dirty=(0, 0, 2, 2)))
    harness.service.render(request(3, dirty=(4, 4, 6, 6)))
    engine.release.set()
    harness.idle()
    assert [r.revision for r in engine.seen] == [1, 3]  # 2 never ran
    assert engine.seen[1].dirty == (0, 0, 6, 6)  # its dirty area was folded into 3
    assert [r.revision for r in harness.results()] == [3]  # 1 finished after 3 arrived: stale, dropped
    assert harness.outcomes[0].serial == 2  # a gap: completed frame 1 never reached the caller
    assert harness.service.jobs.dropped == 2


def test_superseding_with_full_frame_dirty_keeps_full_frame(harness, engine):
    harness.service.render(request(1))
    assert engine.started.wait(TIMEOUT)
    harness.service.render(request(2, dirty=None))
    harness.service.render(request(3, dirty=(1, 1, 2, 2)))
    engine.release.set()
    harness.idle()
    assert engine.seen[-1].dirty is None


def test_running_request_is_cancelled_and_its_area_folded_into_the_next():
    engine = FakeEngine(stages=3)
    h = Harness(engine)
    try:
        h.service.render(request(1, dirty=(0, 0, 2, 2), preview=True))
        assert engine.started.wait(TIMEOUT)
        h.service.render(request(2, dirty=(6, 6, 8, 8), preview=True))
        engine.release.set()
        h.idle()
        assert [r.revision for r in h.results()] == [2]  # 1 stopped at its first stage boundary
        assert engine.seen[1].dirty == (0, 0, 8, 8)  # 1 did not finish: its area is re-rendered by 2
    finally:
        h.service.close()


def test_cancel_drops_a_kind_and_its_unrendered_area_reaches_the_next_request(harness, engine):
    harness.service.render(request(1, dirty=(3, 3, 4, 4)))
    assert engine.started.wait(TIMEOUT)
    harness.service.render(request(2, dirty=(0, 0, 2, 2)))
    harness.service.cancel("frame")  # the waiting 2 is dropped, the running 1 made stale
    assert not harness.service.busy("styles")
    engine.release.set()
    harness.idle()
    assert harness.outcomes == [] and [r.revision for r in engine.seen] == [1]
    harness.service.render(request(3, dirty=(6, 6, 8, 8)))
    harness.idle()
    assert engine.seen[-1].dirty == (0, 0, 8, 8) and [r.revision for r in harness.results()] == [3]


def test_errors_reach_the_caller_and_the_worker_survives(harness, engine):
    engine.fail_revisions = {1}
    engine.release.set()
    harness.service.render(request(1))
    harness.idle()
    harness.service.render(request(2))
    harness.idle()
    assert [str(e) for e in harness.errors()] == ["boom"] and [r.revision for r in harness.results()] == [2]


def test_kinds_do_not_supersede_each_other_and_run_in_submission_order(harness, engine):
    harness.service.render(request(1))
    assert engine.started.wait(TIMEOUT)  # the worker is busy: the next jobs wait
    harness.service.style_previews(request(1), 26001)
    harness.service.render(request(2))
    harness.service.style_previews(request(1), 26002)  # replaces 26001 and keeps its place: before frame 2
    engine.release.set()
    harness.idle()
    assert [(o.kind, getattr(o.result, "revision", o.result)) for o in harness.outcomes] == [
        ("styles", ("A", 26002)),
        ("frame", 2),
    ]
    assert len(engine.threads) == 1 and threading.get_ident() not in engine.threads


def test_load_runs_on_the_engine_thread_and_never_beside_a_render(harness, engine):
    new = FakeEngine("B")
    new.release.set()
    loading, loaded = threading.Event(), threading.Event()

    def loader():
        loading.set()
        assert loaded.wait(TIMEOUT)  # the "device transfer" takes until the test says so
        return new

    harness.service.render(request(1))
    assert engine.started.wait(TIMEOUT)
    harness.service.load(loader)
    harness.service.render(request(2))  # submitted after the load: it runs after it, on the new engine
    engine.release.set()
    assert loading.wait(TIMEOUT)
    assert harness.service.engine is engine and harness.service.busy("load")
    loaded.set()
    harness.idle()
    assert [o.kind for o in harness.outcomes] == ["load", "frame"]  # frame 1 was superseded by 2
    assert harness.results("load") == [new] and harness.service.engine is new
    assert [r.revision for r in engine.seen] == [1] and [r.revision for r in new.seen] == [2]
    assert engine.threads == new.threads  # one thread for rendering and loading alike


def test_a_superseded_load_is_never_installed_and_a_failed_one_keeps_the_engine(harness, engine):
    gate = threading.Event()
    first, second = FakeEngine("B"), FakeEngine("C")
    harness.service.load(lambda: gate.wait(TIMEOUT) and first)
    harness.service.load(lambda: second)
    gate.set()
    harness.idle()
    assert harness.service.engine is second and harness.results("load") == [second]

    def broken():
        raise OSError("no config.json")

    harness.service.load(broken)
    harness.idle()
    assert harness.service.engine is second and isinstance(harness.errors("load")[0], OSError)


def test_a_replaced_engine_releases_its_memory_on_the_worker_thread(harness, engine):
    released = []
    engine.release_memory = lambda: released.append(threading.current_thread())
    new = FakeEngine("B")
    new.release_memory = lambda: released.append("new")
    harness.service.load(lambda: new)
    harness.idle()
    assert released == [harness.service.jobs.thread]  # the old engine's, once, not the new one's
    harness.service.load(lambda: new)  # the same engine again: nothing to release
    harness.idle()
    assert released == [harness.service.jobs.thread]


def test_without_a_model_engine_jobs_fail_clearly():
    h = Harness()
    try:
        h.service.render(request(1))
        h.idle()
        assert isinstance(h.errors()[0], NoModelError)
    finally:
        h.service.close()


def test_closed_service_refuses_jobs(harness):
    harness.service.close()
    with pytest.raises(RuntimeError, match="closed"):
        harness.service.render(request(1))
    with pytest.raises(ValueError, match="render"):
        Harness().service.submit("frame", lambda engine, cancel: None)


def test_request_is_a_frozen_private_copy():
    label = np.zeros((4, 4), np.uint8)
    req = EngineRequest(label, styles={5: 1}, dirty=(-3, 1, 99, 3))
    label[0, 0] = 9
    assert req.label[0, 0] == 0 and not req.label.flags.writeable
    assert req.dirty == (0, 1, 4, 3)  # clipped to the map
    with pytest.raises(TypeError):
        req.styles[6] = 2


def test_a_request_shares_maps_that_are_already_frozen_copies_and_copies_any_other():
    label = np.zeros((8, 8), np.uint8)
    frozen = EngineRequest(label).label  # over bytes: nobody can write into it
    with pytest.raises(ValueError):
        frozen.flags.writeable = True
    assert EngineRequest(frozen).label is frozen
    readonly_view = label.view()
    readonly_view.flags.writeable = False  # read-only here, but `label` can still change it
    shared = EngineRequest(readonly_view).label
    label[0, 0] = 5
    assert shared[0, 0] == 0


def test_a_request_copies_its_maps_without_waiting_for_busy_python_threads(busy_python_thread):
    """The UI thread builds a request while the engine thread runs Python: a copy that let go of the GIL
    would wait a whole switch interval to take it back (0.5 s here; the default 5 ms made a stroke's request
    cost 12-15 ms instead of ~2 ms in the editor)."""
    label = np.arange(1024 * 2048, dtype=np.int64).reshape(1024, 2048).astype(np.uint8)  # 2048x1024
    inst = label.astype(np.int32) * 1000
    t0 = time.perf_counter()
    req = EngineRequest(label, inst)
    elapsed = time.perf_counter() - t0
    np.testing.assert_array_equal(req.instance, inst)
    assert not np.shares_memory(req.instance, inst) and not req.instance.flags.writeable
    assert elapsed < 0.25  # no GIL hand-over inside (one would take ~0.5 s)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_a_niced_queue_runs_its_jobs_at_lower_priority_and_leaves_the_caller_alone():
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    caller = niceness()
    seen = []
    queue = JobQueue(seen.append, nice=3)
    queue.submit("frame", lambda should_cancel: niceness())
    assert queue.wait_idle(10)
    plain = JobQueue(seen.append)
    plain.submit("frame", lambda should_cancel: niceness())
    assert plain.wait_idle(10)
    assert [o.result for o in seen] == [min(caller + 3, 19), caller] and niceness() == caller
    queue.close()
    plain.close()
