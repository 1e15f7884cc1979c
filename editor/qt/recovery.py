"""The crash-recovery prompt: when the work was last saved, a thumbnail of it, the undo steps that
come back; and the start-up loop that offers each dead instance's recovery once."""

from __future__ import annotations

import time
from pathlib import Path

from p2phd.editor.qt.image_convert import rgb_to_qimage
from p2phd.editor.recovery import Recovery, claim_dead
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QMessageBox, QWidget


def describe_time(saved_at: float | None, now: float | None = None) -> str:
    """ "today at 15:42:07 (3 minutes ago)", "on 2026-11-24 at 09:10 (yesterday)"..."""
    if saved_at is None:
        return "at an unknown time"
    now = time.time() if now is None else now
    then, today = time.localtime(saved_at), time.localtime(now)
    if then[:3] == today[:3]:
        when = time.strftime("today at %H:%M:%S", then)
    else:
        when = time.strftime("on %Y-%m-%d at %H:%M", then)
    age = max(0.0, now - saved_at)
    if age < 60:
        ago = "moments ago"
    elif age < 3600:
        ago = f"{int(age // 60)} minute{'s' if age >= 120 else ''} ago"
    elif age < 86400:
        ago = f"{int(age // 3600)} hour{'s' if age >= 7200 else ''} ago"
    else:
        ago = f"{int(age // 86400)} day{'s' if age >= 172800 else ''} ago"
    return f"{when} ({ago})"


def recovery_text(recovery: Recovery, now: float | None = None) -> str:
    """What the prompt says: no internal path, the user's own file name when there is one."""
    origin = f" of {Path(recovery.source).name}" if recovery.source else ""
    steps = f"\nThe last {recovery.steps} undo steps come back with it." if recovery.steps else ""
    return (
        "pix2pixHD Studio did not close normally.\n\n"
        f"Your work{origin} was last saved {describe_time(recovery.saved_at, now)}.{steps}\n\nRecover it?"
    )


def recovery_dialog(parent: QWidget | None, recovery: Recovery) -> QMessageBox:
    box = QMessageBox(parent)
    box.setWindowTitle("Recover your work?")
    box.setText(recovery_text(recovery))
    if recovery.thumbnail is not None:
        box.setIconPixmap(QPixmap.fromImage(rgb_to_qimage(recovery.thumbnail)))
    box.recover_button = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
    box.discard_button = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(box.recover_button)
    return box


def ask_recover(parent: QWidget | None, recovery: Recovery) -> bool:
    box = recovery_dialog(parent, recovery)
    box.exec()
    return box.clickedButton() is box.recover_button


def offer_recoveries(files) -> bool:
    """At start: offer each dead instance's work once, newest first, until one is recovered.

    Declined recoveries are deleted; a damaged one is moved into ``damaged/`` with a message and
    the editor starts fresh. Work not offered (another one was recovered first) stays for the next
    start. ``files`` is the window's FileController. True when a document was recovered."""
    claims = claim_dead(files.recovery_dir)
    try:
        for claim in claims:
            try:
                document = claim.load()
            except Exception as exc:  # whatever is wrong with it, it must not stop every start
                where = claim.move_aside()
                files.prompts.error(
                    files.window,
                    f"A recovery file could not be read ({str(exc)[:200]}).\n"
                    f"It was moved to {where}; the editor starts fresh.",
                )
                continue
            if not files.prompts.recover(files.window, claim):
                claim.discard()
                continue
            files.set_recovered(document)  # writes this window's own recovery before the old one goes
            claim.discard()
            return True
        return False
    finally:
        for claim in claims:
            claim.release()
