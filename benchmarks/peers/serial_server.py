"""The batch-1 serial server: one request, one model call, one at a time. Same HTTP stack and engine as
``sieve serve`` (Starlette, uvicorn, orjson, Sieve's tokenizer and session) but no micro-batcher, so the
difference between the two is the batching alone. The reference for "one caller within 10%" and "never below it
at 8 and 32 callers" in ``benchmarks/serve.py``.

    python benchmarks/peers/serial_server.py --model DIR --port PORT [--threads N]
"""

import argparse
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson  # noqa: E402
import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from app.engine import Classifier  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--threads", type=int, default=0)
parser.add_argument("--provider", choices=("cpu", "cuda"), default="cpu")
args = parser.parse_args()

clf = Classifier.load(args.model, provider=args.provider, threads=args.threads)
clf.predict(["warm-up"])
lock = threading.Lock()


def score(texts: list[str]) -> list:
    with lock:  # one model call at a time, each holding exactly one request's texts
        return clf.predict(texts)


async def predict(request: Request) -> Response:
    texts = orjson.loads(await request.body())["texts"]
    results = await run_in_threadpool(score, texts)
    body = {"predictions": [{"label": p.label, "confidence": p.confidence, "scores": p.scores,
                             "truncated": p.truncated} for p in results]}
    return Response(orjson.dumps(body), media_type="application/json")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
