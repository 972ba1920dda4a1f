"""Sieve's engine: everything that loads, classifies, measures, reads and writes. Imports no Qt.

Three lines from a script::

    from app.engine import Classifier
    clf = Classifier.load("resources/models/default")
    print(clf.predict(["What a lovely day!"])[0].label)
"""

# Names load on first use (PEP 562), so `from app.engine.io import …` does not pull in onnxruntime, and the
# desktop window can show before the inference stack is imported.
_WHERE = {
    "BatchPolicy": "batching",
    "MicroBatcher": "microbatcher",
    "plan_batches": "batching",
    "ModelBundle": "bundle",
    "ModelCard": "card",
    "Comparison": "compare",
    "DoctorReport": "doctor",
    "run_doctor": "doctor",
    "ExportError": "errors",
    "InferenceError": "errors",
    "InputError": "errors",
    "ModelError": "errors",
    "OutputError": "errors",
    "SieveError": "errors",
    "ResultWriter": "io",
    "SourceRow": "io",
    "TextSource": "io",
    "open_source": "io",
    "rows_from_texts": "io",
    "Classifier": "pipeline",
    "ScoredChunk": "pipeline",
    "FAILED": "scoring",
    "NOT_SCORED": "scoring",
    "Prediction": "scoring",
    "ModelSession": "session",
    "SessionConfig": "session",
    "StatsRecorder": "stats",
    "Summary": "stats",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "FAILED",
    "NOT_SCORED",
    "BatchPolicy",
    "Classifier",
    "Comparison",
    "DoctorReport",
    "ExportError",
    "InferenceError",
    "InputError",
    "MicroBatcher",
    "ModelBundle",
    "ModelCard",
    "ModelError",
    "ModelSession",
    "OutputError",
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
    "run_doctor",
]
