"""The one error type of the document core: bad maps or a request the document cannot honour."""

from __future__ import annotations

from p2phd.models.errors import InputMapError


class DocumentError(InputMapError, ValueError):
    """Unreadable or inconsistent maps, an unknown object, an edit that cannot be applied.

    It is a :class:`p2phd.models.errors.P2PHDError` (the CLI prints it as one line, the GUI in a dialog)
    and a ``ValueError`` (so generic callers that catch bad values catch it too).
    """
