"""Latest-wins scheduler semantics with a fake engine that blocks on events (no sleeps)."""

import threading

import numpy as np
import pytest
from p2phd.models.engine.request import EngineRequest, EngineResult
from p2phd.models.engine.scheduler import LatestWinsScheduler, RunCancelledError

TIMEOUT = 10  # safety net only: every wait below is released by an event, never by time


class FakeEngine:
    """Each run announces itself on ``started`` and blocks until the test sets ``release``."""

    def __init__(self, stages: int = 1):
        self.stages = stages
        self.seen: list[EngineRequest] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_revisions: set[int] = set()

    def run(self, request, should_cancel):
        self.seen.append(request)
        self.started.set()
        assert self.release.wait(TIMEOUT)
        for _ in range(self.stages):
            if should_cancel():
                raise RunCancelledError
        if request.revision in self.fail_revisions:
            raise ValueError("boom")
        return EngineResult(np.zeros((2, 2, 3), np.uint8), request.revision)


def request(revision, dirty=None):
    return EngineRequest(np.zeros((8, 8), np.uint8), revision=revision, dirty=dirty)


@pytest.fixture
def harness():
    engine = FakeEngine()
    results, errors = [], []
    scheduler = LatestWinsScheduler(engine.run, results.append, lambda req, exc: errors.append((req.revision, exc)))
    yield engine, scheduler, results, errors
    engine.release.set()
    scheduler.close()


def test_single_request_is_delivered(harness):
    engine, scheduler, results, _ = harness
    engine.release.set()
    scheduler.submit(request(1))
    assert scheduler.wait_idle(TIMEOUT)
    assert [r.revision for r in results] == [1]


def test_newer_requests_supersede_queued_ones_and_stale_results_are_dropped(harness):
    engine, scheduler, results, _ = harness
    scheduler.submit(request(1))
    assert engine.started.wait(TIMEOUT)  # revision 1 is running and blocked
    scheduler.submit(request(2, dirty=(0, 0, 2, 2)))
    scheduler.submit(request(3, dirty=(4, 4, 6, 6)))
    engine.release.set()
    assert scheduler.wait_idle(TIMEOUT)
    assert [r.revision for r in engine.seen] == [1, 3]  # 2 never ran
    assert engine.seen[1].dirty == (0, 0, 6, 6)  # its dirty area was folded into 3
    assert [r.revision for r in results] == [3]  # 1 finished after 3 arrived: stale, dropped
    assert scheduler.dropped == 2


def test_superseding_with_full_frame_dirty_keeps_full_frame(harness):
    engine, scheduler, _, _ = harness
    scheduler.submit(request(1))
    assert engine.started.wait(TIMEOUT)
    scheduler.submit(request(2, dirty=None))
    scheduler.submit(request(3, dirty=(1, 1, 2, 2)))
    engine.release.set()
    assert scheduler.wait_idle(TIMEOUT)
    assert engine.seen[-1].dirty is None


def test_running_request_is_cancelled_between_stages():
    engine = FakeEngine(stages=3)
    results = []
    cancelled_checks = []

    def run(req, should_cancel):
        def spy():
            cancelled_checks.append(should_cancel())
            return cancelled_checks[-1]

        return engine.run(req, spy)

    scheduler = LatestWinsScheduler(run, results.append)
    try:
        scheduler.submit(request(1))
        assert engine.started.wait(TIMEOUT)
        scheduler.submit(request(2))
        engine.release.set()
        assert scheduler.wait_idle(TIMEOUT)
        assert cancelled_checks[0] is True  # revision 1 stopped at its first stage boundary
        assert [r.revision for r in results] == [2]
    finally:
        scheduler.close()


def test_errors_reach_the_callback_and_the_worker_survives(harness):
    engine, scheduler, results, errors = harness
    engine.fail_revisions = {1}
    engine.release.set()
    scheduler.submit(request(1))
    assert scheduler.wait_idle(TIMEOUT)
    scheduler.submit(request(2))
    assert scheduler.wait_idle(TIMEOUT)
    assert [rev for rev, _ in errors] == [1] and isinstance(errors[0][1], ValueError)
    assert [r.revision for r in results] == [2]


def test_closed_scheduler_refuses_requests(harness):
    _, scheduler, _, _ = harness
    scheduler.close()
    with pytest.raises(RuntimeError):
        scheduler.submit(request(1))


def test_request_is_a_frozen_private_copy():
    label = np.zeros((4, 4), np.uint8)
    req = EngineRequest(label, styles={5: 1}, dirty=(-3, 1, 99, 3))
    label[0, 0] = 9
    assert req.label[0, 0] == 0 and not req.label.flags.writeable
    assert req.dirty == (0, 1, 4, 3)  # clipped to the map
    with pytest.raises(TypeError):
        req.styles[6] = 2
