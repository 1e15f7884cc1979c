"""Fast inference: the Qt-free :class:`Engine`, frozen requests/results and the engine service that
runs every engine job on one thread (latest wins per kind)."""

from p2phd.models.engine.request import EngineRequest, EngineResult, RunCancelledError
from p2phd.models.engine.service import EngineService, JobQueue, Outcome

__all__ = ["EngineRequest", "EngineResult", "EngineService", "JobQueue", "Outcome", "RunCancelledError"]
