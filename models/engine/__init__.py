"""Fast inference: the Qt-free :class:`Engine`, frozen requests/results and a latest-wins scheduler."""

from .request import EngineRequest, EngineResult
from .scheduler import LatestWinsScheduler, RunCancelledError

__all__ = ["RunCancelledError", "EngineRequest", "EngineResult", "LatestWinsScheduler"]
