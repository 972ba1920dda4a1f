"""Draw Sieve's icon (a round sieve with a mesh, three dots falling through) to resources/icons/sieve.png.

    QT_QPA_PLATFORM=offscreen python packaging/make_icon.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QImage, QPainter, QPainterPath, QPen

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons" / "sieve.png"


def draw(size: int = 256) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    s = size / 256
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    rim = QRectF(28 * s, 40 * s, 200 * s, 120 * s)
    p.setBrush(QBrush(QColor("#e3f2fd")))
    p.setPen(QPen(QColor("#1565c0"), 12 * s))
    p.drawEllipse(rim)
    clip = QPainterPath()
    clip.addEllipse(rim.adjusted(8 * s, 8 * s, -8 * s, -8 * s))
    p.save()
    p.setClipPath(clip)
    p.setPen(QPen(QColor("#64b5f6"), 4 * s))
    step = 18 * s
    x = rim.left()
    while x < rim.right():
        p.drawLine(QPointF(x, rim.top()), QPointF(x, rim.bottom()))
        x += step
    y = rim.top()
    while y < rim.bottom():
        p.drawLine(QPointF(rim.left(), y), QPointF(rim.right(), y))
        y += step
    p.restore()
    p.setPen(Qt.PenStyle.NoPen)
    for cx, cy, colour in ((96, 190, "#2e7d32"), (128, 214, "#757575"), (160, 190, "#c62828")):
        p.setBrush(QBrush(QColor(colour)))
        p.drawEllipse(QPointF(cx * s, cy * s), 14 * s, 14 * s)
    p.end()
    return image


if __name__ == "__main__":
    app = QGuiApplication(sys.argv[:1])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    draw().save(str(OUT))
    print(f"wrote {OUT}")
