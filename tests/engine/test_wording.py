from app.engine.stats import Summary
from app.engine.wording import count


def test_count_agrees_with_its_number():
    assert [count(n, "row") for n in (0, 1, 2, 1500)] == ["0 rows", "1 row", "2 rows", "1,500 rows"]
    assert count(1, "batch", "batches") == "1 batch" and count(3, "batch", "batches") == "3 batches"


def test_summary_of_one_text_in_one_batch_is_singular():
    summary = Summary(batches=1, rows=1, failed_rows=0, real_tokens=3, padded_tokens=3, elapsed_s=0.01,
                      p50_ms=1.0, p95_ms=1.0, p99_ms=1.0, mean_batch=1.0, stage_ms={"infer_ms": 1.0})
    assert summary.lines()[0].startswith("1 text in 1 batch (")
