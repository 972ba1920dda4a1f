"""The model panel: what the loaded model is, which provider runs it and why, and the batching knobs."""

from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from ..engine.card import ModelCard

PROVIDERS = (("Auto (CUDA if it works, else CPU)", "auto"), ("CUDA", "cuda"), ("CPU", "cpu"))


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class ModelPanel(QWidget):
    open_folder = Signal()
    open_files = Signal()
    recent_chosen = Signal(str)
    reload_requested = Signal()  # provider or threads changed: the session must be rebuilt
    policy_changed = Signal()  # max batch / max tokens / max wait changed: applied without reloading

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(280)
        open_button = QPushButton("Open model…")
        open_button.setToolTip("Open a model folder: model.onnx + tokenizer.json (+ config.json) (Ctrl+O)")
        open_button.clicked.connect(self.open_folder)
        files_button = QPushButton("Files…")
        files_button.setToolTip("Pick the .onnx file (its tokenizer.json and config.json are found beside it)")
        files_button.clicked.connect(self.open_files)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self)
        self.recent_button.setMenu(self.recent_menu)
        buttons = QHBoxLayout()
        buttons.addWidget(open_button)
        buttons.addWidget(files_button)
        buttons.addWidget(self.recent_button)

        self.state = QLabel("No model loaded.")
        self.state.setObjectName("modelState")
        self.state.setWordWrap(True)
        self.card = QLabel()
        self.card.setObjectName("modelCard")
        self.card.setWordWrap(True)
        self.card.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.card.setAlignment(Qt.AlignmentFlag.AlignTop)
        card_box = QGroupBox("Model")
        card_layout = QVBoxLayout(card_box)
        card_layout.addWidget(self.state)
        card_layout.addWidget(self.card)

        self.provider = QComboBox()
        self.provider.setObjectName("providerBox")
        for text, value in PROVIDERS:
            self.provider.addItem(text, value)
        self.provider_state = QLabel()
        self.provider_state.setObjectName("providerState")
        self.provider_state.setWordWrap(True)
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
        self.max_wait = QDoubleSpinBox()
        self.max_wait.setRange(0.0, 1000.0)
        self.max_wait.setDecimals(1)
        self.max_wait.setValue(5.0)
        self.max_wait.setSuffix(" ms")
        self.max_wait.setToolTip("Quick classify: how long the micro-batcher waits to fill a batch")
        run_box = QGroupBox("Execution")
        form = QFormLayout(run_box)
        form.addRow("Provider", self.provider)
        form.addRow(self.provider_state)
        form.addRow("Threads", self.threads)
        form.addRow("Max batch", self.max_batch)
        form.addRow("Max tokens", self.max_tokens)
        form.addRow("Max wait", self.max_wait)

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(card_box)
        layout.addWidget(run_box)
        layout.addStretch(1)

        self.provider.currentIndexChanged.connect(self.reload_requested)
        self.threads.editingFinished.connect(self.reload_requested)
        self.max_batch.valueChanged.connect(self.policy_changed)
        self.max_tokens.valueChanged.connect(self.policy_changed)
        self.max_wait.valueChanged.connect(self.policy_changed)

    # ------------------------------------------------------------------ state
    @property
    def provider_value(self) -> str:
        return self.provider.currentData()

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
        self.state.setText(f"<i>Loading model…</i><br>{html.escape(path)}")
        self.card.setText("")

    def show_failed(self, message: str) -> None:
        self.state.setText(f"<span style='color:#c62828'>Could not load the model.</span><br>{html.escape(message)}")

    def show_card(self, card: ModelCard) -> None:
        e = html.escape
        self.state.setText(f"<b>{e(card.name)}</b>")
        inputs = "<br>".join(f"&nbsp;&nbsp;{e(n)} {e(t)} {e(str(s))}" for n, t, s in card.inputs)
        outputs = "<br>".join(f"&nbsp;&nbsp;{e(n)} {e(t)} {e(str(s))}" for n, t, s in card.outputs)
        labels = ", ".join(e(x) for x in card.labels)
        kind = "multi-label (sigmoid)" if card.multi_label else "single-label (softmax)"
        self.card.setText(
            f"<small>{e(card.path)}</small><br>"
            f"{_mb(card.size_bytes)} · opset {card.opset} · IR {card.ir_version}"
            + (f" · {e(card.producer)}" if card.producer else "") + "<br>"
            f"<b>Labels</b> ({len(card.labels)}, {kind}): {labels}<br>"
            f"<b>Inputs</b><br>{inputs}<br><b>Outputs</b> (logits: {e(card.logits_output)})<br>{outputs}<br>"
            f"<b>Max length</b> {card.max_length} tokens · vocabulary {card.vocab_size:,}<br>"
            f"<b>Weights</b> {e(card.quantization)} · sha256 {e(card.short_hash)}"
            + "".join(f"<br><span style='color:#b26a00'>{e(note)}</span>" for note in card.notes)
        )
        reason = card.cuda_fallback_reason
        text = f"In use: <b>{e(card.device)}</b> ({e(', '.join(card.providers_in_use))})"
        if reason:
            text += f"<br><span style='color:#ef6c00'>CUDA not used: {e(reason)}</span>"
        self.provider_state.setText(text)
        self.provider_state.setToolTip("Available here: " + ", ".join(card.providers_available))
