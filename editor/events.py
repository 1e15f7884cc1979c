"""Change events: plain callbacks carrying the dirty rectangle (the Qt side adapts them to signals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from p2phd.editor.geometry import Rect


@dataclass(frozen=True)
class ChangeEvent:
    #: ``pixels``: label/instance values changed inside ``rect``; ``styles``: only object styles changed
    #: (``rect`` covers the objects concerned); ``document``: everything was replaced (open, new).
    kind: str
    rect: Rect
    revision: int
    #: True when the document is at a history boundary again (a command finished, a stroke was
    #: committed or aborted, undo, redo). Dab events during a stroke have ``committed=False``:
    #: views redraw them at once, the renderer may wait for the committed frame.
    committed: bool
    action: str = ""
    object_ids: tuple[int, ...] = ()


Callback = Callable[[ChangeEvent], None]


class Subscribers:
    """An ordered list of callbacks; ``subscribe`` returns the function that unsubscribes."""

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        if not callable(callback):
            raise TypeError("subscribe() needs a callable taking a ChangeEvent")
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def emit(self, event: ChangeEvent) -> None:
        for callback in list(self._callbacks):
            callback(event)
