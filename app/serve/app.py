"""The HTTP API of ``sieve serve`` (Starlette): ``POST /predict``, ``GET /health``, ``/ready``, ``/info``, ``/metrics``.

Every error is JSON ``{"error": sentence, "error_type": kind}`` with its status code, never a traceback.
Every ``/predict`` response carries ``x-queue-time``, ``x-tokenization-time``, ``x-inference-time`` and
``x-total-time`` (ms, as text-embeddings-inference does).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from .. import __version__
from ..engine.errors import InputError, SieveError
from ..engine.microbatcher import BatcherClosed, DeadlineExceeded, Overloaded, TextTooLong
from .metrics import CONTENT_TYPE, ServeMetrics
from .model_host import ModelHost

log = logging.getLogger(__name__)
STAGE_HEADERS = ("x-queue-time", "x-tokenization-time", "x-inference-time", "x-total-time")


class ApiError(Exception):
    """An error answer: status code, kind and one sentence (plus optional headers)."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"error": message, "error_type": kind}), status, headers,
                    media_type="application/json")


def json_response(payload: object, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), 200, headers, media_type="application/json")


# ---------------------------------------------------------------------- request body → texts
def parse_predict_body(body: bytes, max_texts: int) -> tuple[list[str], bool, bool]:
    """``(texts, truncate, raw_scores)`` from the article's ``{"texts": [...]}`` or TEI's ``{"inputs": ...}``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(422, "validation", f"The body is not valid JSON ({exc}); send "
                                          '{"texts": ["a text", ...]}') from None
    if not isinstance(data, dict):
        raise ApiError(422, "validation", 'The body must be a JSON object such as {"texts": ["a text", ...]}')
    if "texts" in data and "inputs" in data:
        raise ApiError(422, "validation", 'Send either "texts" or "inputs", not both')
    if "texts" in data:
        texts, key = data["texts"], "texts"
    elif "inputs" in data:
        texts, key = data["inputs"], "inputs"
        if isinstance(texts, str):
            texts = [texts]
    else:
        raise ApiError(422, "validation", 'The body has no "texts" (a list of strings) or "inputs" field')
    if not isinstance(texts, list):
        raise ApiError(422, "validation", f'"{key}" must be a list of strings, not {_json_type(texts)}')
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ApiError(422, "validation", f'"{key}"[{i}] must be a string, not {_json_type(text)}')
    if not texts:
        raise ApiError(400, "empty", f'"{key}" is empty: send at least one text')
    if len(texts) > max_texts:
        raise ApiError(413, "too_large", f"{len(texts)} texts in one request is over the limit of {max_texts}; "
                                         "split them into several requests")
    flags = []
    for name in ("truncate", "raw_scores"):
        value = data.get(name, name == "truncate")
        if not isinstance(value, bool):
            raise ApiError(422, "validation", f'"{name}" must be true or false, not {_json_type(value)}')
        flags.append(value)
    return texts, flags[0], flags[1]


def _json_type(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"The body is {int(declared):,} bytes, over the limit of {limit:,}; "
                                         "send fewer or shorter texts per request")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"The body is over the limit of {limit:,} bytes; "
                                             "send fewer or shorter texts per request")
        chunks.append(chunk)
    return b"".join(chunks)


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (after the body has been read, the next message can only be that)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


# ---------------------------------------------------------------------- the application
def create_app(host: ModelHost, metrics: ServeMetrics, *, on_startup: Callable[[], Awaitable[None]] | None = None,
               on_shutdown: Callable[[], Awaitable[None]] | None = None) -> Starlette:
    """The Starlette application over ``host``'s model; ``on_startup``/``on_shutdown`` run in its lifespan."""
    options = host.options
    key = options.api_key.encode() if options.api_key else None

    def authorized(request: Request) -> bool:
        if key is None:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key)

    def unauthorized() -> ApiError:
        return ApiError(401, "unauthorized", "This server needs an API key: send the header "
                                             "'Authorization: Bearer KEY'", {"www-authenticate": "Bearer"})

    def unavailable() -> ApiError:
        if host.status == "loading":
            return ApiError(503, "unavailable", "The model is still loading; retry in a moment",
                            {"retry-after": "1"})
        if host.status == "failed":
            return ApiError(503, "unavailable", f"The model could not be loaded: {host.error}")
        return ApiError(503, "unavailable", "The server is shutting down and takes no new requests; "
                                            "send it to another instance")

    async def predict(request: Request) -> Response:
        t0 = time.perf_counter()
        try:
            if not authorized(request):
                raise unauthorized()
            batcher = host.batcher
            if batcher is None or host.status not in ("ready", "draining"):
                raise unavailable()
            body = await read_body(request, options.max_body_bytes)
            texts, truncate, raw_scores = parse_predict_body(body, options.max_texts)
            response = await _score(request, batcher, texts, truncate, raw_scores, t0)
        except ApiError as exc:
            response = error_response(exc.status, exc.kind, exc.message, exc.headers)
        except ClientDisconnect:
            response = error_response(400, "disconnected", "The client went away before sending the whole body")
        except Exception as exc:  # a bug: still one JSON sentence for the client, the traceback in the log
            log.error("unexpected error on /predict", exc_info=exc)
            response = error_response(500, "internal", f"Sieve failed unexpectedly ({type(exc).__name__}); "
                                                       "the server log has the details")
        metrics.observe_request("/predict", response.status_code, time.perf_counter() - t0)
        return response

    async def _score(request: Request, batcher, texts: list[str], truncate: bool, raw_scores: bool,  # noqa: ANN001
                     t0: float) -> Response:
        try:
            future = batcher.submit(texts, timeout_s=options.timeout_s, truncate=truncate)
        except Overloaded as exc:
            raise ApiError(429, "overloaded", str(exc), {"retry-after": str(exc.retry_after_s)}) from None
        except BatcherClosed:
            raise unavailable() from None
        host.count(accepted=1)
        loop = asyncio.get_running_loop()
        dropped: list[str] = []  # why the queued request was dropped: "deadline" or "gone"

        def drop(reason: str) -> None:  # only a request still queued can be dropped; a running one finishes
            if future.cancel():
                dropped.append(reason)

        timer = loop.call_later(max(0.0, t0 + options.timeout_s - time.perf_counter()), drop, "deadline")
        watch = loop.create_task(_client_gone(request))
        watch.add_done_callback(lambda task: task.cancelled() or drop("gone"))
        try:
            try:
                results = await asyncio.wrap_future(future, loop=loop)
            except asyncio.CancelledError:
                if not dropped:
                    raise  # the server itself is stopping this task
                if dropped[0] == "gone":
                    raise ApiError(499, "client_closed", "The client closed the connection; the request was "
                                                         "dropped before it was computed") from None
                raise DeadlineExceeded((time.perf_counter() - t0) * 1000.0) from None
            finally:
                timer.cancel()
                watch.cancel()
        except DeadlineExceeded as exc:
            raise ApiError(504, "timeout", str(exc)) from None
        except TextTooLong as exc:
            raise ApiError(422, "validation", str(exc)) from None
        except InputError as exc:
            raise ApiError(422, "validation", str(exc)) from None
        except BatcherClosed:
            raise unavailable() from None
        except SieveError as exc:
            raise ApiError(424, "inference", f"The model failed on this request: {exc}") from None
        finally:
            host.count(answered=1)
        times = future.times
        metrics.observe_stages(times, len(texts))
        if raw_scores:  # a one-logit binary head has one raw score, for its second label
            predictions = [{"label": p.label, "confidence": p.confidence,
                            "scores": dict(zip(list(p.scores)[-len(p.logits):], p.logits, strict=True)),
                            "truncated": p.truncated} for p in results]
        else:
            predictions = [{"label": p.label, "confidence": p.confidence, "scores": p.scores,
                            "truncated": p.truncated} for p in results]
        body = orjson.dumps({"predictions": predictions})
        headers = {"x-queue-time": f"{times.queue_ms:.3f}", "x-tokenization-time": f"{times.tokenize_ms:.3f}",
                   "x-inference-time": f"{times.inference_ms:.3f}",
                   "x-total-time": f"{(time.perf_counter() - t0) * 1000.0:.3f}"}
        return Response(body, 200, headers, media_type="application/json")

    async def health(request: Request) -> Response:
        metrics.observe_request("/health", 200)
        return json_response({"status": "alive"})

    async def ready(request: Request) -> Response:
        if host.status == "ready":
            metrics.observe_request("/ready", 200)
            return json_response({"status": "ready"})
        exc = unavailable()
        metrics.observe_request("/ready", 503)
        return error_response(503, host.status, exc.message, exc.headers)

    async def info(request: Request) -> Response:
        if not authorized(request):
            return _counted("/info", unauthorized())
        if host.classifier is None:
            return _counted("/info", unavailable())
        clf = host.classifier
        s = clf.session
        payload = {
            "sieve_version": __version__,
            "status": host.status,
            "model": host.card,
            "provider": {"device": s.providers.device, "in_use": list(s.providers.active),
                         "cuda_fallback_reason": s.providers.fallback_reason},
            "limits": options.limits(host.max_tokens),
            "load_seconds": host.load_seconds,
            "request_shapes": ['{"texts": [str, ...]}',
                               '{"inputs": str | [str, ...], "truncate": bool, "raw_scores": bool}'],
        }
        metrics.observe_request("/info", 200)
        return json_response(payload)

    async def prometheus(request: Request) -> Response:
        if not authorized(request):
            return _counted("/metrics", unauthorized())
        metrics.observe_request("/metrics", 200)
        return Response(metrics.exposition(), 200, media_type=CONTENT_TYPE)

    def _counted(endpoint: str, exc: ApiError) -> Response:
        metrics.observe_request(endpoint, exc.status)
        return error_response(exc.status, exc.kind, exc.message, exc.headers)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        kinds = {404: ("not_found", f"There is no {request.url.path}; the endpoints are POST /predict, GET /health, "
                                    "/ready, /info and /metrics"),
                 405: ("method_not_allowed", f"{request.method} is not allowed on {request.url.path}")}
        kind, message = kinds.get(exc.status_code, ("http", str(exc.detail)))
        return error_response(exc.status_code, kind, message, getattr(exc, "headers", None))

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        return error_response(500, "internal", f"Sieve failed unexpectedly ({type(exc).__name__}); "
                                               "the server log has the details")

    @asynccontextmanager
    async def lifespan(app: Starlette):  # noqa: ANN202
        if on_startup is not None:
            await on_startup()
        yield
        if on_shutdown is not None:
            await on_shutdown()

    middleware = []
    if options.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(options.cors_origins),
                                     allow_methods=["GET", "POST"], allow_headers=["authorization", "content-type"],
                                     expose_headers=list(STAGE_HEADERS)))
    routes = [Route("/predict", predict, methods=["POST"]), Route("/health", health, methods=["GET"]),
              Route("/ready", ready, methods=["GET"]), Route("/info", info, methods=["GET"]),
              Route("/metrics", prometheus, methods=["GET"])]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, Exception: internal_error})
