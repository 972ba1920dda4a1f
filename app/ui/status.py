"""The status bar's message area and the notices list (warnings worth keeping: bad bytes, extra CSV fields, …)."""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .text import plural
from .widgets import ERROR_COLOUR, ElidedLabel

if TYPE_CHECKING:
    from ..engine.card import ModelCard


class StatusMessage(ElidedLabel):
    """The latest message, elided to the room it has; an error stays (in red) until the next success replaces it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Ready.", parent)
        self.setObjectName("statusMessage")
        self.is_error = False

    def show_message(self, text: str) -> None:
        self.is_error = False
        self.setStyleSheet("")
        self.set_full_text(text)

    def show_error(self, text: str) -> None:
        self.is_error = True
        self.setStyleSheet(f"color:{ERROR_COLOUR}")
        self.set_full_text(" ".join(text.split()))  # one line in the bar; the dialog shows the lines


class NoticesButton(QToolButton):
    """"Notices (3)": opens the list of warnings the app collected, newest first."""

    changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticesButton")
        self.setAutoRaise(True)
        self.notices: list[tuple[str, str]] = []  # (time, text)
        self.clicked.connect(self.open_list)
        self.dialog: QDialog | None = None
        self._update()

    def add(self, text: str) -> None:
        if self.notices and self.notices[-1][1] == text:
            return
        self.notices.append((time.strftime("%H:%M:%S"), text))
        self._update()

    def clear(self) -> None:
        self.notices.clear()
        self._update()

    def texts(self) -> list[str]:
        return [t for _, t in self.notices]

    def _update(self) -> None:
        n = len(self.notices)
        self.setText(f"⚠ Notices ({n})" if n else "Notices (0)")
        self.setStyleSheet("QToolButton { color: #b26a00; font-weight: bold; }" if n else "")
        self.setToolTip(f"{plural(n, 'notice')} about the data or the model: click to read them" if n
                        else "Warnings about the data or the model appear here")
        self.changed.emit(n)

    def open_list(self) -> None:
        dialog = QDialog(self.window())
        dialog.setObjectName("noticesDialog")
        dialog.setWindowTitle("Notices")
        dialog.resize(720, 360)
        items = QListWidget()
        items.setWordWrap(True)
        items.setObjectName("noticesList")
        for when, text in reversed(self.notices):
            item = QListWidgetItem(f"{when}  {text}")
            item.setToolTip(html.escape(text))
            items.addItem(item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        clear = buttons.addButton("Clear all", QDialogButtonBox.ButtonRole.ResetRole)
        clear.clicked.connect(lambda: (self.clear(), items.clear()))
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(items)
        layout.addWidget(buttons)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.open()


class ModelStatus(QWidget):
    """The model in use, its provider and the processor it runs on, at the right of the status bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QLabel("no model")
        self.provider = QLabel()
        self.device = QLabel()
        self.device.setObjectName("statusDevice")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for label in (self.model, self.provider, self.device):
            layout.addWidget(label)

    def show_loading(self) -> None:
        self.model.setText("loading model…")

    def show_card(self, card: ModelCard | None) -> None:
        if card is None:
            self.model.setText("no model")
            return
        from ..engine.machine import device_name  # cached by the loader thread: no nvidia-smi here

        self.model.setText(f"Model: {card.name}")
        self.provider.setText(f"Provider: {card.device}" + (" (CUDA unavailable)" if card.cuda_fallback_reason
                                                            else ""))
        self.provider.setToolTip(card.cuda_fallback_reason or ", ".join(card.providers_in_use))
        self.device.setText(device_name(card.device))
