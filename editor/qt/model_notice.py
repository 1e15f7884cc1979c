"""The one-time notice shown while the demo model renders: what it is and where a real model comes from.

It is a bar above the canvas, not a dialog: painting goes on. *Dismiss* (or *Open model…*) hides it
for good; the choice is remembered in the application's QSettings under :data:`DISMISSED_KEY`.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

DISMISSED_KEY = "notices/demo_model_dismissed"


def notice_text(card) -> str:
    return (
        f"<b>Demo model</b> ({card.name}): trained on {card.trained_on.split(' (')[0]} at {card.native_size}, it "
        "shows how the editor works, not photo quality. For real results open NVIDIA's "
        "<i>label2city_1024p</i> or your own model with <b>Model ▸ Open checkpoint</b>; the README's "
        "section <i>Use a real model</i> says where to get one."
    )


class DemoModelNotice(QFrame):
    sig_open_model = Signal()

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("demo_model_notice")
        self.settings = settings
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#demo_model_notice { background: #fff4c2; } QLabel { color: #3a3000; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        layout.addWidget(self.text, 1)
        self.open_button = QPushButton("Open model…", self)
        self.open_button.setObjectName("notice_open_model")
        self.open_button.clicked.connect(self._open)
        self.dismiss_button = QPushButton("Dismiss", self)
        self.dismiss_button.setObjectName("notice_dismiss")
        self.dismiss_button.clicked.connect(self.dismiss)
        layout.addWidget(self.open_button)
        layout.addWidget(self.dismiss_button)
        self.hide()
        # style-sheet polish now, with the window (before it is on screen), not in the UI turn that
        # installs the model and shows the notice (6 ms there on a 2-core machine)
        self.ensurePolished()

    @property
    def dismissed(self) -> bool:
        value = self.settings.value(DISMISSED_KEY, False)
        return value in (True, "true", "1", 1)

    def offer(self, card) -> bool:
        """Show the notice for ``card`` if it is the demo model and the user has not dismissed it."""
        if card is None or not card.is_demo or self.dismissed:
            self.hide()
            return False
        self.text.setText(notice_text(card))
        self.show()
        return True

    def dismiss(self) -> None:
        self.settings.setValue(DISMISSED_KEY, True)
        self.settings.sync()
        self.hide()

    def _open(self) -> None:
        self.dismiss()
        self.sig_open_model.emit()
