"""Open and save: ask where (starting in the folder used last), hand the path on, and remember the folder only
once something was really opened or written there."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from ..engine.errors import SieveError
from . import settings as keys
from .controller import NO_EVALUATION

if TYPE_CHECKING:
    from .main_window import MainWindow
    from .plots import PlotCard

RESULTS_FILTER = "CSV (*.csv);;TSV (*.tsv);;JSON Lines (*.jsonl)"
TEXTS_FILTER = "Texts (*.txt *.csv *.tsv *.jsonl *.ndjson);;All files (*)"


class FileDialogs:
    """The window's open and save dialogs (File menu, buttons, Save PNG…)."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.settings = window.settings
        self.controller = window.controller

    def _ask_save(self, title: str, name: str, filters: str) -> Path | None:
        start = str(Path(self.settings.folder(keys.LAST_EXPORT_DIR)) / name)
        path, _ = QFileDialog.getSaveFileName(self.window, title, start, filters)
        return Path(path) if path else None

    def _written(self, path: Path, ok: bool) -> None:
        if ok:
            self.settings.set(keys.LAST_EXPORT_DIR, str(path.parent))

    # ------------------------------------------------------------------ open
    def model_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window, "Open model folder (model.onnx + tokenizer.json)",
                                                self.settings.folder(keys.LAST_MODEL_DIR))
        if path:
            self.window.load_model(path)

    def model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open the model's .onnx file",
                                              self.settings.folder(keys.LAST_MODEL_DIR), "ONNX models (*.onnx)")
        if path:
            self.window.load_model(path)

    def texts(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.window, "Import texts", self.settings.folder(keys.LAST_INPUT_DIR),
                                                TEXTS_FILTER)
        if paths:
            self.window.add_inputs(paths, ask=True)

    # ------------------------------------------------------------------ save
    def results(self, shown_only: bool = False) -> None:
        """Results are written in the background; the folder is remembered when the controller says ``exported``."""
        if not len(self.controller.store):
            self.window.show_error("Nothing to export", "There are no results to export yet. Run some texts first.")
            return
        path = self._ask_save("Export results", "results.csv", RESULTS_FILTER)
        if path:
            self.window.write_results(path, shown_only=shown_only)

    def report(self) -> None:
        if self.controller.evaluation() is None:
            self.window.show_error("Nothing to export", NO_EVALUATION)
            return
        path = self._ask_save("Export evaluation report", "evaluation.json", "JSON (*.json);;CSV (*.csv)")
        if path:
            self._written(path, self.controller.write_report(path))

    def latency_records(self) -> None:
        path = self._ask_save("Export latency records", "latency.csv", "CSV (*.csv)")
        if path:
            self._written(path, self.controller.write_stats(path))

    def sweep(self) -> None:
        points = self.window.sweep.points
        if not points:
            self.window.show_error("Nothing to export", "There is no sweep to export yet. Run one first.")
            return
        path = self._ask_save("Export sweep", "sweep.csv", "CSV (*.csv);;JSON (*.json)")
        if path:
            self._written(path, self.controller.write_sweep(path, points))

    def serve_texts(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Texts to send", self.settings.folder(keys.LAST_INPUT_DIR),
                                              TEXTS_FILTER)
        self.window.serve.form.set_texts_file(path or None)
        if path:
            self.settings.set(keys.LAST_INPUT_DIR, str(Path(path).parent))

    def serve_run(self) -> None:
        if self.controller.serve.record is None:
            self.window.show_error("Nothing to export", "There is no load run to export yet. Run one first.")
            return
        path = self._ask_save("Export load run", "load-run.json", "JSON (*.json)")
        if path:
            self._written(path, self.controller.serve.write_record(path.with_suffix(".json")))

    def plot(self, card: PlotCard) -> None:
        path = self._ask_save("Save plot as PNG", f"{card.name}.png", "PNG images (*.png)")
        if not path:
            return
        path = path.with_suffix(".png")
        try:
            card.save_png(path)
        except (OSError, SieveError) as exc:
            self.window.show_error("Could not save the plot", f"Could not write {path}: {exc}")
            return
        self._written(path, True)
        self.window.status.show_message(f"Saved the plot to {path}.")
