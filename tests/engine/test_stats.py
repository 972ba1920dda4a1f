import csv
import io

import numpy as np
import pytest

from app.engine import StatsRecorder
from app.engine.stats import batch_latency_ms


def test_summary_percentiles_throughput_and_padding():
    rec = StatsRecorder()
    rng = np.random.default_rng(3)
    infer = rng.uniform(1, 50, size=200)
    for ms in infer:
        rec.add(rows=4, padded_len=10, real_tokens=30, encode_ms=1.0, infer_ms=float(ms), post_ms=0.5)
    s = rec.summary()
    expected = np.percentile(infer.astype(np.float32) + np.float32(1.5), [50, 95, 99])
    np.testing.assert_allclose([s.p50_ms, s.p95_ms, s.p99_ms], expected, rtol=1e-5)
    assert s.rows == 800 and s.batches == 200
    assert s.padding_efficiency == pytest.approx(30 / 40)
    assert s.real_tokens == 6000 and s.padded_tokens == 8000
    assert s.stage_ms["infer_ms"] == pytest.approx(infer.mean(), rel=1e-5)
    assert s.texts_per_s > 0 and s.tokens_per_s == pytest.approx(s.texts_per_s * 7.5)


def test_ring_buffer_keeps_the_latest_records_in_order():
    rec = StatsRecorder(capacity=5)
    for i in range(12):
        rec.add(rows=1, padded_len=1, real_tokens=1, infer_ms=float(i))
    snap = rec.snapshot()
    assert snap["infer_ms"].tolist() == [7, 8, 9, 10, 11]
    assert rec.snapshot(last=2)["infer_ms"].tolist() == [10, 11]
    assert rec.summary().batches == 12  # totals are not limited by the buffer


def test_failed_batches_are_counted_but_not_in_latency():
    rec = StatsRecorder()
    rec.add(rows=3, padded_len=4, real_tokens=10, infer_ms=1.0)
    rec.add(rows=2, padded_len=4, real_tokens=5, infer_ms=999.0, failed=True)
    s = rec.summary()
    assert s.failed_rows == 2 and s.p99_ms == pytest.approx(1.0)


def test_reset_and_version():
    rec = StatsRecorder()
    v0 = rec.version
    rec.add(rows=1, padded_len=1, real_tokens=1)
    assert rec.version != v0
    rec.reset()
    assert rec.summary().batches == 0 and len(rec.snapshot()) == 0


def test_write_csv(tmp_path):
    rec = StatsRecorder()
    rec.add(rows=2, padded_len=5, real_tokens=8, queue_ms=1, encode_ms=2, infer_ms=3, post_ms=4)
    assert rec.write_csv(tmp_path / "batches.csv") == 1
    rows = list(csv.DictReader(io.StringIO((tmp_path / "batches.csv").read_text(encoding="utf-8"), newline="")))
    assert rows[0]["rows"] == "2" and float(rows[0]["latency_ms"]) == 10.0
    assert batch_latency_ms(rec.snapshot()).tolist() == [10.0]
