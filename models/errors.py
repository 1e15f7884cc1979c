"""Errors the user can act on. The CLI prints them as one line; the GUI shows them in a dialog."""


class P2PHDError(Exception):
    """Base class: bad input from the user, never a bug in our code."""


class CheckpointError(P2PHDError):
    """A checkpoint (bundle or NVIDIA directory) is missing, truncated, unsafe or mismatched."""


class InputMapError(P2PHDError):
    """A label / instance / image map is unreadable or inconsistent."""
