"""What ``sieve loadgen`` sends and reports: the plan of a run, one second of it, the whole run.

Plain data (no HTTP client here), so a program that only reads reports — the window, reading ``sieve loadgen
--events`` from a child process — does not load aiohttp. The load itself is :mod:`app.serve.loadgen`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..engine.errors import InputError
from ..paths import samples_dir

STAGES = {"x-queue-time": "queue", "x-tokenization-time": "tokenization", "x-inference-time": "inference",
          "x-total-time": "total"}
PERCENTILES = (50, 90, 99, 99.9)
_BODIES = 4096  # distinct request bodies prepared before the run (cycled)


# ---------------------------------------------------------------------- what to send
@dataclass(frozen=True)
class LoadPlan:
    """One load run. Exactly one of ``rate`` (open loop, requests/s) and ``concurrency`` (closed loop)."""

    url: str
    texts: tuple[str, ...]
    per_request: int = 1
    rate: float | None = None
    poisson: bool = False
    concurrency: int | None = None
    duration_s: float = 10.0
    timeout_s: float = 30.0
    api_key: str | None = None
    max_connections: int = 1024  # open loop: beyond this many in flight, requests wait for a connection (and it counts)
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.rate is None) == (self.concurrency is None):
            raise InputError("Give either a rate (open loop) or a concurrency (closed loop)", "Use --rate or --concurrency")
        if self.rate is not None and not self.rate > 0:
            raise InputError(f"The rate must be above 0 requests per second (got {self.rate})")
        if self.concurrency is not None and self.concurrency < 1:
            raise InputError(f"The concurrency must be 1 or more (got {self.concurrency})")
        if not self.texts:
            raise InputError("There are no texts to send", "Give a file with at least one text (--texts)")
        if self.per_request < 1 or not self.duration_s > 0 or not self.timeout_s > 0:
            raise InputError("Texts per request must be 1 or more, and duration and timeout above 0")
        if not self.url.startswith(("http://", "https://")):
            raise InputError(f"{self.url!r} is not an http:// or https:// URL", "Use e.g. http://127.0.0.1:8000")

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    def describe(self) -> str:
        how = (f"open loop at {self.rate:g} requests/s ({'Poisson' if self.poisson else 'even'} arrivals)"
               if self.open_loop else f"closed loop on {self.concurrency} connections")
        return (f"{how}, {self.per_request} text{'s' if self.per_request > 1 else ''} per request, "
                f"{self.duration_s:g} s against {self.url}")

    def bodies(self) -> list[bytes]:
        n = min(_BODIES, max(1, len(self.texts)))
        k = len(self.texts)
        import orjson

        return [orjson.dumps({"texts": [self.texts[(i * self.per_request + j) % k] for j in range(self.per_request)]})
                for i in range(n)]


def predict_url(url: str) -> str:
    """``http://host:port`` → ``http://host:port/predict``; a URL with a path is kept as it is."""
    scheme, sep, rest = url.partition("://")
    if sep and "/" not in rest:
        return url + "/predict"
    return url


def load_texts(path: str | None, column: str | None = None) -> list[str]:
    """Texts from a .txt/.csv/.tsv/.jsonl file (or the bundled sample tweets), unreadable rows left out."""
    from ..engine.io import open_source

    source = Path(path) if path else samples_dir() / "tweets.csv"
    kwargs = {}
    if column is not None:
        kwargs = {"field": column} if source.suffix.lower() in (".jsonl", ".ndjson") else {"column": column}
    texts = [row.text for row in open_source(source, **kwargs) if row.text]
    if not texts:
        raise InputError(f"{source.name} has no texts to send", "Give a file with one text per line or a text column")
    return texts


# ---------------------------------------------------------------------- what comes back
@dataclass(frozen=True)
class Snapshot:
    """One second of a run: rates, latency of the answers that came back in it (ms), errors, server stage times."""

    second: int
    offered_per_s: float  # requests due in this second (open loop) or sent (closed loop)
    sent_per_s: float
    ok_per_s: float  # answered with 200 and the right number of predictions
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    stage_ms: dict[str, float]  # mean of the server's x-*-time headers over this second's answers
    in_flight: int
    total_ok: int
    total_errors: int

    def line(self) -> str:
        errors = sum(self.errors.values())
        stages = " ".join(f"{k} {v:.1f}" for k, v in self.stage_ms.items() if k != "total")
        return (f"{self.second + 1:>4} s  offered {self.offered_per_s:7.1f}/s  ok {self.ok_per_s:7.1f}/s  "
                f"p50 {self.p50_ms:7.2f}  p99 {self.p99_ms:8.2f}  max {self.max_ms:8.2f} ms"
                + (f"  errors {errors} ({_codes(self.errors)})" if errors else "")
                + (f"  server: {stages} ms" if stages else ""))


@dataclass
class LoadReport:
    """A whole run. Latencies (ms) are over successful answers; rates are per second of the run."""

    plan: dict
    elapsed_s: float
    sent: int
    ok: int
    errors: dict[str, int]
    offered_per_s: float
    sent_per_s: float
    ok_per_s: float
    texts_per_s: float
    latency_ms: dict[str, float]
    stage_ms: dict[str, dict[str, float]]
    cancelled: bool
    unfinished: int  # requests in flight when the run ended (cancelled, or past the timeout after the last send)
    snapshots: list[Snapshot] = field(default_factory=list)

    def error_summary(self) -> str:
        return _codes(self.errors) or "no errors"

    def lines(self) -> list[str]:
        lat = self.latency_ms
        out = [
            f"sent {self.sent:,} requests in {self.elapsed_s:.1f} s: {self.ok:,} ok, "
            f"{sum(self.errors.values()):,} failed" + (f" ({self.error_summary()})" if self.errors else "")
            + (", cancelled" if self.cancelled else "") + (f", {self.unfinished} unanswered" if self.unfinished else ""),
            f"rate: offered {self.offered_per_s:,.1f}/s, sent {self.sent_per_s:,.1f}/s, achieved {self.ok_per_s:,.1f}/s "
            f"({self.texts_per_s:,.1f} texts/s)",
        ]
        if self.ok:
            out.append("latency ms: " + "  ".join(f"{k} {v:,.2f}" for k, v in lat.items()))
        if self.stage_ms:
            out.append("server stages, ms (p50 / p99): " + "  ".join(
                f"{k} {v['p50']:.2f} / {v['p99']:.2f}" for k, v in self.stage_ms.items()))
        return out

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LoadReport:
        """The report :meth:`as_dict` wrote (as ``sieve loadgen --events`` sends it), snapshots included."""
        return cls(**{**data, "snapshots": [Snapshot(**s) for s in data.get("snapshots", ())]})


def _codes(errors: dict[str, int]) -> str:
    return ", ".join(f"{n} × {code}" for code, n in sorted(errors.items(), key=lambda kv: -kv[1]))
