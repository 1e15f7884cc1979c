"""Fast inference: the Qt-free :class:`Engine`, frozen requests/results and a latest-wins scheduler."""

from p2phd.models.engine.request import EngineRequest, EngineResult
from p2phd.models.engine.scheduler import LatestWinsScheduler, RunCancelledError

__all__ = ["RunCancelledError", "EngineRequest", "EngineResult", "LatestWinsScheduler"]
