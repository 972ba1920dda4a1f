"""What every plot shares: a Qt title and legend above it (never over the data), colours taken from the Qt palette,
"Save PNG…", and a late start: pyqtgraph is imported only after the window has painted (see :func:`load_pyqtgraph`).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from .widgets import ElidedLabel


def load_pyqtgraph():  # noqa: ANN201 - the pyqtgraph module
    """Import pyqtgraph (half a second on a slow machine) with options that suit live plots."""
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=False)
    return pg


def import_in_background(done) -> None:  # noqa: ANN001 - a Signal, emitted (queued) once pyqtgraph is in
    """Import pyqtgraph on a thread of its own, so the GUI thread stays free to answer meanwhile."""

    def work() -> None:
        load_pyqtgraph()
        with contextlib.suppress(RuntimeError):  # the window was closed meanwhile
            done.emit()

    threading.Thread(target=work, name="sieve-import-plots", daemon=True).start()


def pyqtgraph_loaded() -> bool:
    return "pyqtgraph" in sys.modules


def plot_colours(palette: QPalette) -> tuple[str, str]:
    """(background, foreground) for plots from the palette: a dark palette gives dark plots."""
    return (palette.color(QPalette.ColorRole.Base).name(), palette.color(QPalette.ColorRole.Text).name())


def style_plot(plot, palette: QPalette) -> None:  # noqa: ANN001 - a pyqtgraph PlotWidget
    """Paint a plot in the palette's colours: background, axes, tick labels."""
    import pyqtgraph as pg

    background, foreground = plot_colours(palette)
    plot.setBackground(background)
    pen = pg.mkPen(foreground)
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getPlotItem().getAxis(name)
        axis.setPen(pen)
        axis.setTextPen(pen)


class PlotCard(QWidget):
    """A plot with its title, legend and a Save PNG button above it. The plot itself arrives later (:meth:`fill`)."""

    save_requested = Signal(object)  # this card

    def __init__(self, title: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.name = name
        self.title = ElidedLabel(title)
        self.title.setObjectName(f"{name}Title")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.legend = QLabel()
        self.legend.setObjectName(f"{name}Legend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.legend.setFixedHeight(self.legend.fontMetrics().lineSpacing() + 2)  # one line, clipped when narrow
        self.save = QToolButton()
        self.save.setText("Save PNG…")
        self.save.setAutoRaise(True)
        self.save.setToolTip(f"Save this plot as a PNG image ({title})")
        self.save.clicked.connect(lambda: self.save_requested.emit(self))
        head = QHBoxLayout()
        head.setContentsMargins(4, 0, 0, 0)
        head.addWidget(self.title, 1)
        head.addWidget(self.save)
        self.placeholder = QLabel("Plots appear in a moment…")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setEnabled(False)
        self.plot = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(1)
        self._layout.addLayout(head)
        self._layout.addWidget(self.legend)
        self._layout.addWidget(self.placeholder, 1)
        self.setMinimumSize(150, 120)

    def fill(self, make: Callable[[], QWidget]) -> QWidget:
        """Create the plot widget now (pyqtgraph must be importable) in place of the placeholder."""
        if self.plot is None:
            self.plot = make()
            self._layout.replaceWidget(self.placeholder, self.plot)
            self.placeholder.deleteLater()
            self.placeholder = None
            self.restyle()
        return self.plot

    def restyle(self) -> None:
        if self.plot is not None and hasattr(self.plot, "getPlotItem"):
            style_plot(self.plot, self.palette())

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.restyle()
        super().changeEvent(event)

    def legend_lines(self, lines: int) -> None:
        """Let the legend wrap onto ``lines`` lines (a fixed height, so plots side by side stay aligned)."""
        self.legend.setWordWrap(lines > 1)
        self.legend.setFixedHeight(lines * self.legend.fontMetrics().lineSpacing() + 2)

    def set_legend(self, html: str) -> None:
        self.legend.setText(html)
        self.legend.setVisible(bool(html))

    def save_png(self, path: Path) -> None:
        """Write the card (title, legend and plot) as a PNG, atomically. Raises OSError on failure."""
        from ..engine.io import atomic_path

        image = self.grab()
        with atomic_path(Path(path)) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise OSError(f"could not encode {path.name} as PNG")


def swatch(colour: str, text: str, dashed: bool = False) -> str:
    """A legend entry: a coloured mark and its text."""
    mark = "┅" if dashed else "●"
    return f"<span style='color:{colour}'>{mark}</span>&nbsp;{text}"
