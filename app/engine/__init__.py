"""Sieve's engine: everything that loads, classifies, measures, reads and writes. Imports no Qt.

Three lines from a script::

    from app.engine import Classifier
    clf = Classifier.load("resources/models/default")
    print(clf.predict(["What a lovely day!"])[0].label)
"""

from .batching import BatchPolicy, MicroBatcher, plan_batches
from .bundle import ModelBundle
from .errors import ExportError, InferenceError, InputError, ModelError, SieveError
from .io import ResultWriter, SourceRow, TextSource, open_source, rows_from_texts
from .pipeline import Classifier, ScoredChunk
from .scoring import FAILED, NOT_SCORED, Prediction
from .session import ModelSession, SessionConfig
from .stats import StatsRecorder, Summary

__all__ = [
    "FAILED",
    "NOT_SCORED",
    "BatchPolicy",
    "Classifier",
    "ExportError",
    "InferenceError",
    "InputError",
    "MicroBatcher",
    "ModelBundle",
    "ModelError",
    "ModelSession",
    "Prediction",
    "ResultWriter",
    "ScoredChunk",
    "SessionConfig",
    "SieveError",
    "SourceRow",
    "StatsRecorder",
    "Summary",
    "TextSource",
    "open_source",
    "plan_batches",
    "rows_from_texts",
]
