"""Small widgets shared by the panels: a label that elides, coloured label chips, score bars."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QModelIndex, QObject, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

PALETTE = ("#c62828", "#757575", "#2e7d32", "#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457")
LABEL_COLOURS = {"negative": "#c62828", "neutral": "#757575", "positive": "#2e7d32"}
NO_LABEL_COLOUR = "#9e9e9e"  # failed / not scored
ERROR_COLOUR = "#c62828"


def label_colour(name: str, i: int) -> str:
    """One colour per label, stable within a model: the usual sentiment colours, else a fixed cycle."""
    return LABEL_COLOURS.get(name.lower(), PALETTE[i % len(PALETTE)])


def after_pause(slot: Callable[[], None], ms: int, parent: QObject) -> Callable[..., None]:
    """A callable that runs ``slot`` once calls have paused for ``ms`` (classify or search once typing stops)."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(ms)
    timer.timeout.connect(slot)
    return lambda *_args: timer.start()


class ElidedLabel(QLabel):
    """One line of plain text cut with "…" to the width it is given (the whole text is in the tooltip).

    Its size hint never asks for the text's full width, so a long path or message cannot widen a dock or a bar.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None, *, mode: Qt.TextElideMode =
                 Qt.TextElideMode.ElideRight) -> None:
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)
        self.set_full_text(text)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text if text else "")
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 10)
        super().setText(QFontMetrics(self.font()).elidedText(self._full, self._mode, width))

    def sizeHint(self) -> QSize:  # noqa: N802
        hint = super().sizeHint()
        return QSize(min(hint.width(), 200), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(40, super().minimumSizeHint().height())


class LabelChipDelegate(QStyledItemDelegate):
    """Paints a label as a coloured chip; rows without a label get a grey outline and their status."""

    def __init__(self, colour_of, parent: QWidget | None = None) -> None:  # noqa: ANN001 - (row) -> str | None
        super().__init__(parent)
        self.colour_of = colour_of

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        colour = self.colour_of(index)
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        if not text:
            return
        fm = QFontMetrics(opt.font)
        rect = option.rect.adjusted(4, 3, -4, -3)
        width = min(rect.width(), fm.horizontalAdvance(text) + 18)
        chip = QRect(rect.left(), rect.top(), width, rect.height())
        painter.save()
        painter.setFont(opt.font)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if colour is not None:
            painter.setBrush(QColor(colour))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(chip, 6, 6)
            painter.setPen(QColor("white"))
        else:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QColor(NO_LABEL_COLOUR))
            painter.drawRoundedRect(chip, 6, 6)
            painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        painter.drawText(chip.adjusted(8, 0, -8, 0), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                         fm.elidedText(text, Qt.TextElideMode.ElideRight, chip.width() - 16))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        return QSize(QFontMetrics(option.font).horizontalAdvance(text) + 26, 22)


class ScoreBars(QWidget):
    """Every label's score for one row as a horizontal bar with its value (the chosen label in bold)."""

    ROW = 20

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.items: list[tuple[str, float, str]] = []  # (label, score, colour)
        self.chosen: int | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_scores(self, items: Sequence[tuple[str, float, str]], chosen: int | None) -> None:
        self.items, self.chosen = list(items), chosen
        self.setFixedHeight(max(1, len(self.items)) * self.ROW + 4)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: ANN001, N802
        if not self.items:
            return
        painter = QPainter(self)
        fm = painter.fontMetrics()
        name_w = min(max(fm.horizontalAdvance(n) for n, _, _ in self.items) + 8, self.width() // 3)
        value_w = fm.horizontalAdvance("0.000") + 8
        bar_w = max(10, self.width() - name_w - value_w)
        text = self.palette().color(QPalette.ColorRole.Text)
        track = self.palette().color(QPalette.ColorRole.Mid)
        for i, (name, score, colour) in enumerate(self.items):
            y = 2 + i * self.ROW
            font = painter.font()
            font.setBold(i == self.chosen)
            painter.setFont(font)
            painter.setPen(text)
            painter.drawText(QRect(0, y, name_w - 4, self.ROW), int(Qt.AlignmentFlag.AlignVCenter),
                             fm.elidedText(name, Qt.TextElideMode.ElideRight, name_w - 6))
            painter.fillRect(QRect(name_w, y + 4, bar_w, self.ROW - 8), track)
            painter.fillRect(QRect(name_w, y + 4, int(bar_w * max(0.0, min(1.0, score))), self.ROW - 8),
                             QColor(colour))
            painter.drawText(QRect(name_w + bar_w + 4, y, value_w, self.ROW), int(Qt.AlignmentFlag.AlignVCenter),
                             f"{score:.3f}")
        painter.end()
