"""The one error type of the document core: bad maps or a request the document cannot honour."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from p2phd.models.errors import InputMapError


class DocumentError(InputMapError, ValueError):
    """Unreadable or inconsistent maps, an unknown object, an edit that cannot be applied.

    It is a :class:`p2phd.models.errors.P2PHDError` (the CLI prints it as one line, the GUI in a dialog)
    and a ``ValueError`` (so generic callers that catch bad values catch it too).
    """


@contextmanager
def as_document_errors() -> Iterator[None]:
    """Errors of the shared map readers (:mod:`p2phd.models.mapfiles`) raised as :class:`DocumentError`."""
    try:
        yield
    except DocumentError:
        raise
    except InputMapError as exc:
        raise DocumentError(str(exc)) from None
