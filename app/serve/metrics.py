"""Prometheus metrics for ``sieve serve``: per request, per batch, and the live state read at scrape time.

Each server has its own registry (no process-global state, so tests can start several). Durations are in
seconds, as Prometheus expects; the response headers carry the same stage times in ms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..engine.microbatcher import BatchReport, MicroBatcher, StageTimes
from ..engine.stats import StatsRecorder

disable_created_metrics()  # the *_created series double every counter for no use here
CONTENT_TYPE = CONTENT_TYPE_LATEST
_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TEXTS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_TOKENS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


class ServeMetrics:
    """The server's metrics; ``live`` returns the current (classifier stats, batcher) pair, or None while loading."""

    def __init__(self, live: Callable[[], tuple[StatsRecorder, MicroBatcher] | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("sieve_requests", "HTTP requests answered, by endpoint and status code",
                                ["endpoint", "code"], registry=r)
        self.request_seconds = Histogram("sieve_request_duration_seconds",
                                         "POST /predict: time from the request to its response body",
                                         buckets=_SECONDS, registry=r)
        self.queue_seconds = Histogram("sieve_queue_duration_seconds",
                                       "Time a request waited for the model (before and after tokenization)",
                                       buckets=_SECONDS, registry=r)
        self.tokenize_seconds = Histogram("sieve_tokenize_duration_seconds", "Time tokenizing a request",
                                          buckets=_SECONDS, registry=r)
        self.inference_seconds = Histogram("sieve_inference_duration_seconds",
                                           "Time from a request's batch starting to its last result",
                                           buckets=_SECONDS, registry=r)
        self.texts = Counter("sieve_texts", "Texts answered with a result", registry=r)
        self.batch_size = Histogram("sieve_batch_size", "Texts per model call", buckets=_TEXTS, registry=r)
        self.batch_tokens = Histogram("sieve_batch_tokens", "Padded tokens per model call (texts × longest text)",
                                      buckets=_TOKENS, registry=r)
        self.batch_requests = Histogram("sieve_batch_requests", "Requests sharing a model call", buckets=_TEXTS,
                                        registry=r)
        r.register(_LiveCollector(live))

    def observe_request(self, endpoint: str, code: int, seconds: float | None = None) -> None:
        self.requests.labels(endpoint, str(code)).inc()
        if seconds is not None:
            self.request_seconds.observe(seconds)

    def observe_stages(self, times: StageTimes, texts: int) -> None:
        self.queue_seconds.observe(times.queue_ms / 1000.0)
        self.tokenize_seconds.observe(times.tokenize_ms / 1000.0)
        self.inference_seconds.observe(times.inference_ms / 1000.0)
        self.texts.inc(texts)

    def observe_batch(self, report: BatchReport) -> None:
        """The micro-batcher's ``on_batch`` hook (runs on its runner thread)."""
        self.batch_size.observe(report.texts)
        self.batch_tokens.observe(report.padded_tokens)
        self.batch_requests.observe(report.requests)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector(Collector):
    """State read when Prometheus scrapes: queue depth, running batches, and totals from the stats recorder."""

    def __init__(self, live: Callable[[], tuple[StatsRecorder, MicroBatcher] | None]) -> None:
        self.live = live

    def describe(self) -> list[Metric]:
        return []  # values exist only once the model is loaded

    def collect(self) -> Iterator[Metric]:
        live = self.live()
        if live is None:
            return
        stats, batcher = live
        yield GaugeMetricFamily("sieve_queue_depth", "Requests accepted and waiting for the model",
                                value=batcher.waiting)
        yield GaugeMetricFamily("sieve_batches_running", "Model calls in progress", value=batcher.running)
        yield GaugeMetricFamily("sieve_overloaded", "1 while new requests are refused with 429",
                                value=int(batcher.overloaded))
        summary = stats.summary()
        yield CounterMetricFamily("sieve_model_batches", "Model calls (all paths sharing this model)",
                                  value=summary.batches)
        yield CounterMetricFamily("sieve_model_failed_texts", "Texts whose model call failed",
                                  value=summary.failed_rows)
        yield CounterMetricFamily("sieve_real_tokens", "Real (non-padding) tokens computed", value=summary.real_tokens)
        yield CounterMetricFamily("sieve_padded_tokens", "Tokens computed including padding",
                                  value=summary.padded_tokens)
        yield GaugeMetricFamily("sieve_padding_efficiency", "Real ÷ padded tokens since the model was loaded",
                                value=summary.padding_efficiency)
