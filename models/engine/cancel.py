"""Stopping a frame inside the generator once it went stale (a newer edit arrived).

Between stages the engine already checks ``should_cancel()``; the generator itself is one stage of
11-23 s for label2city_1024p at 2048x1024 on a 2-core CPU, and a stale frame that runs to its end keeps
the next exact frame waiting that long. Eager frames check before each layer, OpenVINO frames are
polled and cancelled (OpenVINO stops within ~0.1 s, measured)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from p2phd.models.engine.request import RunCancelledError

if TYPE_CHECKING:  # the service imports this module, and the editor's window opens before torch loads
    from torch import nn

ShouldCancel = Callable[[], bool]


def never() -> bool:
    return False


@contextmanager
def cancellable(module: nn.Module, should_cancel: ShouldCancel) -> Iterator[None]:
    """Within the block every leaf module of ``module`` checks ``should_cancel()`` before it runs and
    raises :class:`RunCancelledError` when it is true. The hooks exist only inside the block (eager
    calls): a torch.compile'd call outside it traces no hook."""
    if should_cancel is never:
        yield
        return

    def check(_module: nn.Module, _args) -> None:
        if should_cancel():
            raise RunCancelledError

    leaves = [m for m in module.modules() if next(m.children(), None) is None]
    handles = [leaf.register_forward_pre_hook(check) for leaf in leaves]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
