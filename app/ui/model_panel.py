"""The model panel: what the loaded model is, which provider really runs it and why, and the batching knobs."""

from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFormLayout,
    QGroupBox,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .controller import RunOptions
from .widgets import ERROR_COLOUR, ElidedLabel

if TYPE_CHECKING:
    from ..engine.card import ModelCard

PROVIDERS = (("Auto (CUDA if it works, else CPU)", "auto"), ("CUDA", "cuda"), ("CPU", "cpu"))
WARN_COLOUR = "#b26a00"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _shape(shape: tuple) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _wrapping(widget: QLabel) -> QLabel:
    widget.setWordWrap(True)
    widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return widget


class ModelPanel(QWidget):
    open_folder = Signal()
    open_file = Signal()
    recent_chosen = Signal(str)
    reload_requested = Signal()  # provider or threads changed: the session must be rebuilt
    policy_changed = Signal()  # max batch / max tokens changed: applied without reloading
    doctor_requested = Signal()  # the GPU setup report (sieve doctor)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(210)
        self.open_folder_button = QPushButton("Open model folder…")
        self.open_folder_button.setToolTip("Open a model folder: model.onnx + tokenizer.json (+ config.json) (Ctrl+O)")
        self.open_folder_button.clicked.connect(self.open_folder)
        self.open_file_button = QPushButton("Open model .onnx file…")
        self.open_file_button.setObjectName("openOnnxFile")
        self.open_file_button.setToolTip("Pick the model's .onnx file; its tokenizer.json and config.json are found "
                                         "beside it")
        self.open_file_button.clicked.connect(self.open_file)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent models")
        self.recent_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.recent_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self)
        self.recent_button.setMenu(self.recent_menu)
        buttons = QVBoxLayout()
        buttons.setSpacing(3)
        buttons.addWidget(self.open_folder_button)
        buttons.addWidget(self.open_file_button)
        buttons.addWidget(self.recent_button)

        self.state = _wrapping(QLabel("No model loaded."))
        self.state.setObjectName("modelState")
        self.path = ElidedLabel("", mode=Qt.TextElideMode.ElideMiddle)
        self.path.setObjectName("modelPath")
        self.card = _wrapping(QLabel())
        self.card.setObjectName("modelCard")
        self.card.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.card.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.notes = _wrapping(QLabel())
        self.notes.setObjectName("modelNotes")
        card_box = QGroupBox("Model")
        card_layout = QVBoxLayout(card_box)
        card_layout.addWidget(self.state)
        card_layout.addWidget(self.path)
        card_layout.addWidget(self.card)
        card_layout.addWidget(self.notes)

        self.provider = QComboBox()
        self.provider.setObjectName("providerBox")
        self.provider.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.provider.setMinimumContentsLength(8)
        for text, value in PROVIDERS:
            self.provider.addItem(text, value)
        self.provider_state = _wrapping(QLabel())
        self.provider_state.setObjectName("providerState")
        self.doctor_link = _wrapping(QLabel("<a href='doctor'>Check the GPU setup (sieve doctor)…</a>"))
        self.doctor_link.setObjectName("doctorLink")
        self.doctor_link.setToolTip("What a CUDA run needs, what this machine has, and the command that closes each gap")
        self.doctor_link.linkActivated.connect(lambda _href: self.doctor_requested.emit())
        self.threads = QSpinBox()
        self.threads.setRange(0, max(1, os.cpu_count() or 1) * 2)
        self.threads.setSpecialValueText("auto")
        self.threads.setToolTip("ONNX Runtime intra-op threads (auto: one per physical core)")
        self.max_batch = QSpinBox()
        self.max_batch.setObjectName("maxBatch")
        self.max_batch.setRange(1, 4096)
        self.max_batch.setValue(32)
        self.max_batch.setToolTip("Most texts per batch")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(64, 10_000_000)
        self.max_tokens.setSingleStep(1024)
        self.max_tokens.setValue(8192)
        self.max_tokens.setToolTip("Most padded tokens per batch (rows × longest text): caps memory and latency")
        run_box = QGroupBox("Execution")
        form = QFormLayout(run_box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("Provider", self.provider)
        form.addRow(self.provider_state)
        form.addRow(self.doctor_link)
        form.addRow("Threads", self.threads)
        form.addRow("Max batch", self.max_batch)
        form.addRow("Max tokens", self.max_tokens)

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(card_box)
        layout.addWidget(run_box)
        layout.addStretch(1)

        self.provider.currentIndexChanged.connect(self.reload_requested)
        self.threads.editingFinished.connect(self.reload_requested)
        self.max_batch.valueChanged.connect(self.policy_changed)
        self.max_tokens.valueChanged.connect(self.policy_changed)

    # ------------------------------------------------------------------ state
    @property
    def provider_value(self) -> str:
        return self.provider.currentData()

    def options(self) -> RunOptions:
        return RunOptions(self.provider_value, self.threads.value(), self.max_batch.value(), self.max_tokens.value())

    def set_options(self, options: RunOptions) -> None:
        for box in (self.threads, self.max_batch, self.max_tokens):
            box.blockSignals(True)
        self.set_provider(options.provider)
        self.threads.setValue(options.threads)
        self.max_batch.setValue(options.max_batch)
        self.max_tokens.setValue(options.max_tokens)
        for box in (self.threads, self.max_batch, self.max_tokens):
            box.blockSignals(False)

    def set_provider(self, value: str) -> None:
        i = self.provider.findData(value)
        if i >= 0:
            self.provider.blockSignals(True)
            self.provider.setCurrentIndex(i)
            self.provider.blockSignals(False)

    def set_recent(self, paths: list[str]) -> None:
        self.recent_menu.clear()
        for p in paths:
            self.recent_menu.addAction(p, lambda p=p: self.recent_chosen.emit(p))
        self.recent_button.setEnabled(bool(paths))

    def show_loading(self, path: str) -> None:
        self.state.setText("<i>Loading model…</i>")
        self.path.set_full_text(path)

    def show_failed(self, message: str, still_using: ModelCard | None) -> None:
        text = f"<span style='color:{ERROR_COLOUR}'>Could not load the model.</span> {html.escape(message)}"
        if still_using is not None:
            self.show_card(still_using)
            text = f"<b>{html.escape(still_using.name)}</b><br>" + text + " This model is still in use."
        self.state.setText(text)

    def show_card(self, card: ModelCard) -> None:
        e = html.escape
        self.state.setText(f"<b>{e(card.name)}</b>")
        self.path.set_full_text(card.path)
        inputs = "<br>".join(f"&nbsp;&nbsp;{e(n)} {e(t)} {e(_shape(s))}" for n, t, s in card.inputs)
        outputs = "<br>".join(f"&nbsp;&nbsp;{e(n)} {e(t)} {e(_shape(s))}" for n, t, s in card.outputs)
        labels = ", ".join(e(x) for x in card.labels)
        kind = "multi-label (sigmoid)" if card.multi_label else "single-label (softmax)"
        self.card.setText(
            f"{_mb(card.size_bytes)} · opset {card.opset} · IR {card.ir_version}"
            + (f" · {e(card.producer)}" if card.producer else "") + "<br>"
            f"<b>Labels</b> ({len(card.labels)}, {kind}): {labels}<br>"
            f"<b>Inputs</b><br>{inputs}<br><b>Outputs</b> (logits: {e(card.logits_output)})<br>{outputs}<br>"
            f"<b>Max length</b> {card.max_length} tokens · vocabulary {card.vocab_size:,}<br>"
            f"<b>Weights</b> {e(card.quantization)} · sha256 {e(card.short_hash)}"
        )
        self.card.setToolTip(f"sha256 {card.sha256}")
        self.notes.setText("".join(f"<span style='color:{WARN_COLOUR}'>{e(n)}</span><br>" for n in card.notes))
        self.notes.setVisible(bool(card.notes))
        reason = card.cuda_fallback_reason
        text = f"In use: <b>{e(card.device)}</b> ({e(', '.join(card.providers_in_use))})"
        if reason:
            text += f"<br><span style='color:{WARN_COLOUR}'>CUDA not used: {e(reason)}</span>"
        self.provider_state.setText(text)
        self.provider_state.setToolTip("Available here: " + ", ".join(card.providers_available))
        self.provider.setItemText(0, f"Auto ({card.device})")


class ModelDock(QDockWidget):
    """The model panel in a dock that scrolls down, never sideways (paths elide, long reasons wrap)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.setObjectName("modelDock")
        self.panel = ModelPanel()
        scroll = QScrollArea()
        scroll.setObjectName("modelScroll")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.panel)
        scroll.setMinimumWidth(self.panel.minimumWidth() + scroll.verticalScrollBar().sizeHint().width() + 4)
        self.setWidget(scroll)
        self.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
