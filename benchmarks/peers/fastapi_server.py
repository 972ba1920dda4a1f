"""The server the article's Python readers write: FastAPI + uvicorn, a HuggingFace ``AutoTokenizer``, one ONNX
Runtime session under a lock, every request padded to 128 tokens. The baseline of ``benchmarks/serve.py``.

    python benchmarks/peers/fastapi_server.py --model DIR --port PORT [--threads N]

Needs the bench extra (``pip install -e '.[bench]'``: fastapi, transformers; no torch). The tokenizer is read from
the model folder's own files (``local_files_only``): nothing is downloaded.
"""

import argparse
import json
import os
import threading
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--threads", type=int, default=0)
parser.add_argument("--provider", choices=("cpu", "cuda"), default="cpu")
args = parser.parse_args()

model_dir = Path(args.model)
tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
options = ort.SessionOptions()
options.intra_op_num_threads = args.threads
providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if args.provider == "cuda" else ["CPUExecutionProvider"]
session = ort.InferenceSession(str(model_dir / "model.onnx"), options, providers=providers)
id2label = json.loads((model_dir / "config.json").read_text())["id2label"]
labels = [id2label[str(i)] for i in range(len(id2label))]
lock = threading.Lock()  # one session, serialised, as in the article
app = FastAPI()


class PredictRequest(BaseModel):
    texts: list[str]


class Prediction(BaseModel):
    label: str
    confidence: float


class PredictResponse(BaseModel):
    predictions: list[Prediction]


@app.post("/predict", response_model=PredictResponse)
def predict(req: PredictRequest) -> PredictResponse:
    enc = tokenizer(req.texts, padding="max_length", truncation=True, max_length=128, return_tensors="np")
    feeds = {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)}
    with lock:
        logits = session.run(None, feeds)[0]
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = exp / exp.sum(axis=1, keepdims=True)
    best = probs.argmax(axis=1)
    return PredictResponse(predictions=[Prediction(label=labels[b], confidence=float(p[b]))
                                        for b, p in zip(best, probs, strict=True)])


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
