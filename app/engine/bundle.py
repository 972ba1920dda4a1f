"""Find and validate a model bundle: ``model.onnx`` + ``tokenizer.json`` + optional ``config.json``/``labels.txt``.

A bundle is what a person points Sieve at. This module only looks at files; it does not start ONNX Runtime
(see :mod:`app.engine.session`) or load the tokenizer (see :mod:`app.engine.encoding`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelError

MULTI_LABEL = "multi_label_classification"
SINGLE_LABEL = "single_label_classification"


@dataclass(frozen=True)
class ModelBundle:
    """Paths and metadata of one text classifier.

    ``labels`` is empty when neither ``config.json`` nor ``labels.txt`` names them; the session then names them
    ``LABEL_0..n`` once it knows the logits width.
    """

    root: Path
    model_path: Path
    tokenizer_path: Path
    config_path: Path | None = None
    labels: tuple[str, ...] = ()
    problem_type: str = SINGLE_LABEL
    config: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.root.name or str(self.root)

    @property
    def multi_label(self) -> bool:
        return self.problem_type == MULTI_LABEL

    @property
    def size_bytes(self) -> int:
        return self.model_path.stat().st_size

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        tokenizer: str | Path | None = None,
        config: str | Path | None = None,
    ) -> ModelBundle:
        """Resolve a bundle from a folder, or from an ``.onnx`` file with its siblings.

        ``tokenizer`` and ``config`` override the files found next to the model.
        """
        path = Path(path).expanduser()
        if not path.exists():
            raise ModelError(f"No model at {path}", "Choose a folder that holds model.onnx and tokenizer.json")
        if path.is_dir():
            root = path
            model_path = _find_onnx(root)
        else:
            if path.suffix.lower() != ".onnx":
                raise ModelError(
                    f"{path.name} is not an ONNX model file",
                    "Choose a model folder, or a file ending in .onnx",
                )
            root, model_path = path.parent, path

        tokenizer_path = Path(tokenizer).expanduser() if tokenizer else root / "tokenizer.json"
        if not tokenizer_path.is_file():
            raise ModelError(
                f"No tokenizer.json next to {model_path.name} in {root}",
                "Put the tokenizer.json saved with the model (tokenizer.save_pretrained) in the same folder",
            )

        config_path = Path(config).expanduser() if config else root / "config.json"
        cfg: dict = {}
        if config_path.is_file():
            cfg = _read_config(config_path)
        elif config:
            raise ModelError(f"No config file at {config_path}", "Check the path given for config.json")
        else:
            config_path = None

        labels = _labels_from_config(cfg, config_path) or _labels_from_txt(root / "labels.txt")
        problem_type = cfg.get("problem_type") or SINGLE_LABEL
        if problem_type not in (SINGLE_LABEL, MULTI_LABEL):
            raise ModelError(
                f"config.json has problem_type {problem_type!r}, which is not a classification task",
                f"Sieve scores {SINGLE_LABEL} and {MULTI_LABEL} models",
            )
        return cls(
            root=root,
            model_path=model_path,
            tokenizer_path=tokenizer_path,
            config_path=config_path,
            labels=labels,
            problem_type=problem_type,
            config=cfg,
        )


def _find_onnx(root: Path) -> Path:
    preferred = root / "model.onnx"
    if preferred.is_file():
        return preferred
    candidates = sorted(p for p in root.glob("*.onnx") if p.is_file())
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ModelError(
            f"No .onnx file in {root}",
            "Export the model to ONNX first (sieve export CHECKPOINT_DIR OUT_DIR) and choose that folder",
        )
    names = ", ".join(p.name for p in candidates)
    raise ModelError(
        f"{root} holds several ONNX files ({names}) and none is named model.onnx",
        "Rename the one to use to model.onnx, or choose the .onnx file itself",
    )


def _read_config(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path.name} is not valid JSON ({exc})", "Fix or remove config.json") from exc
    except RecursionError as exc:
        raise ModelError(f"{path.name} nests JSON values too deeply to be read", "Fix or remove config.json") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path.name} does not hold a JSON object", "Fix or remove config.json")
    return data


def _labels_from_config(cfg: dict, path: Path | None) -> tuple[str, ...]:
    id2label = cfg.get("id2label")
    if not id2label:
        return ()
    if not isinstance(id2label, dict):
        raise ModelError(f"id2label in {path} is not an object", 'Write it as {"0": "negative", "1": "positive"}')
    try:
        by_index = {int(k): str(v) for k, v in id2label.items()}
    except ValueError as exc:
        raise ModelError(f"id2label in {path} has a key that is not a number ({exc})", "Use keys 0..n-1") from exc
    if sorted(by_index) != list(range(len(by_index))):
        raise ModelError(
            f"id2label in {path} has keys {sorted(by_index)}, not 0..{len(by_index) - 1}",
            "Number the labels from 0 without gaps",
        )
    labels = tuple(by_index[i] for i in range(len(by_index)))
    _refuse_duplicates(labels, f"id2label in {path}")
    return labels


def _refuse_duplicates(labels: tuple[str, ...], where: str) -> None:
    """Two labels with one name cannot be told apart in a result (a JSON ``scores`` object would keep one)."""
    repeated = [name for name, count in Counter(labels).items() if count > 1]
    if repeated:
        ids = ", ".join(str(i) for i, name in enumerate(labels) if name == repeated[0])
        raise ModelError(f"{where} names the label {repeated[0]!r} more than once (ids {ids})",
                         "Give every label its own name, so that each score can be told apart")


def _labels_from_txt(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path} is not UTF-8 text", "Save labels.txt as UTF-8, one label per line") from exc
    labels = tuple(line.strip() for line in lines if line.strip())
    _refuse_duplicates(labels, str(path))
    return labels
