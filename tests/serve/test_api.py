"""Every endpoint and every error code of ``sieve serve``, on a real server on an ephemeral port."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from builders import make_poisoned_bundle, make_slow_bundle, reference_logits, token_ids
from prometheus_client.parser import text_string_to_metric_families
from servers import Client, metric, running_server, wait_until

from app.engine import Classifier


@pytest.fixture
def client(tiny_server):
    c = Client(tiny_server.url)
    yield c
    c.close()


def expected(shared_bundle, texts):
    return Classifier.load(shared_bundle[0]).predict(texts)


def assert_answers(reply, expected_predictions):
    assert reply.status == 200, reply.body
    got = reply.json["predictions"]
    assert [p["label"] for p in got] == [e.label for e in expected_predictions]
    for g, e in zip(got, expected_predictions, strict=True):
        assert list(g["scores"]) == list(e.scores) and g["truncated"] == e.truncated
        np.testing.assert_allclose(list(g["scores"].values()), list(e.scores.values()), atol=1e-6)
        assert g["confidence"] == pytest.approx(e.confidence, abs=1e-6)


# ---------------------------------------------------------------------- the endpoints
def test_predict_answers_the_articles_request_in_order(client, shared_bundle):
    texts = ["i love this movie", "awful and boring", "", "the weather today"]
    reply = client.predict(texts)
    assert_answers(reply, expected(shared_bundle, texts))
    assert reply.headers["content-type"] == "application/json"
    for header in ("x-queue-time", "x-tokenization-time", "x-inference-time", "x-total-time"):
        assert float(reply.headers[header]) >= 0
    assert float(reply.headers["x-total-time"]) >= float(reply.headers["x-inference-time"])


def test_predict_takes_the_tei_shape_and_raw_scores(client, shared_bundle):
    root, weights, tok = shared_bundle
    one = client.request("POST", "/predict", {"inputs": "i love this"})
    assert_answers(one, expected(shared_bundle, ["i love this"]))
    raw = client.request("POST", "/predict", {"inputs": ["i love this", "bad"], "raw_scores": True, "truncate": True})
    assert raw.status == 200
    logits = [list(p["scores"].values()) for p in raw.json["predictions"]]
    np.testing.assert_allclose(logits, reference_logits(weights, token_ids(tok, ["i love this", "bad"])), atol=1e-5)


def test_health_ready_and_info(client, tiny_server):
    assert client.request("GET", "/health").json == {"status": "alive"}
    assert client.request("GET", "/ready").json == {"status": "ready"}
    info = client.request("GET", "/info")
    assert info.status == 200
    data = info.json
    assert data["model"]["labels"] == ["negative", "neutral", "positive"]
    assert len(data["model"]["sha256"]) == 64 and "batch_invariant" in data["model"]  # the engine's ModelCard
    assert data["provider"]["device"] == "CPU" and "cuda_fallback_reason" in data["provider"]
    assert data["limits"]["max_texts_per_request"] == 16 and data["limits"]["max_wait_ms"] == 0
    assert data["limits"]["max_batch_tokens"] == 256  # the CPU's live default
    assert data["status"] == "ready"


def test_metrics_parse_as_prometheus_text(client, tiny_server):
    assert client.predict(["i love this", "bad"]).status == 200
    assert client.predict([]).status == 400
    reply = client.request("GET", "/metrics")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(reply.body.decode())}
    for name in ("sieve_requests", "sieve_request_duration_seconds", "sieve_queue_duration_seconds",
                 "sieve_tokenize_duration_seconds", "sieve_inference_duration_seconds", "sieve_batch_size",
                 "sieve_batch_tokens", "sieve_queue_depth", "sieve_padding_efficiency"):
        assert name in families, name
    codes = {(s.labels["endpoint"], s.labels["code"]): s.value for s in families["sieve_requests"].samples}
    assert codes[("/predict", "200")] >= 1 and codes[("/predict", "400")] >= 1
    efficiency = families["sieve_padding_efficiency"].samples[0].value
    assert 0 < efficiency <= 1
    sizes = {s.name: s.value for s in families["sieve_batch_size"].samples}
    assert sizes["sieve_batch_size_count"] >= 1


# ---------------------------------------------------------------------- errors: one JSON sentence each
@pytest.mark.parametrize(("body", "status", "kind", "words"), [
    ({"texts": []}, 400, "empty", "empty"),
    ({"inputs": []}, 400, "empty", "empty"),
    ({"texts": ["a"] * 17}, 413, "too_large", "17 texts"),
    (b'{"texts": ["unterminated', 422, "validation", "not valid JSON"),
    (b"[1, 2]", 422, "validation", "JSON object"),
    ({"text": ["a"]}, 422, "validation", "no \"texts\""),
    ({"texts": "a"}, 422, "validation", "list of strings"),
    ({"texts": ["a", 3]}, 422, "validation", "[1] must be a string"),
    ({"texts": ["a"], "inputs": ["b"]}, 422, "validation", "not both"),
    ({"inputs": "a", "truncate": "no"}, 422, "validation", "true or false"),
    ({"inputs": "a " * 600, "truncate": False}, 422, "validation", "maximum length"),
])
def test_bad_requests_get_their_code_and_one_sentence(client, body, status, kind, words):
    reply = client.request("POST", "/predict", body)
    assert reply.status == status
    assert reply.json["error_type"] == kind and words in reply.json["error"]
    assert "Traceback" not in reply.body.decode()


def test_a_body_over_the_limit_is_refused_with_413(client):
    reply = client.predict(["great " * 20_000])
    assert reply.status == 413 and reply.json["error_type"] == "too_large"
    assert client.predict(["still serving"]).status == 200  # the connection and the server carry on


def test_unknown_paths_and_methods_are_json_too(client):
    missing = client.request("GET", "/nope")
    assert missing.status == 404 and missing.json["error_type"] == "not_found"
    wrong = client.request("GET", "/predict")
    assert wrong.status == 405 and wrong.json["error_type"] == "method_not_allowed"


def test_api_key_is_required_except_for_probes(shared_bundle):
    with running_server(shared_bundle[0], api_key="s3cret") as server:
        c = Client(server.url)
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
            reply = c.request("POST", "/predict", {"texts": ["hi"]}, headers)
            assert reply.status == 401 and reply.json["error_type"] == "unauthorized"
            assert reply.headers["www-authenticate"] == "Bearer"
        assert c.request("GET", "/metrics").status == 401 and c.request("GET", "/info").status == 401
        assert c.request("GET", "/health").status == 200 and c.request("GET", "/ready").status == 200
        ok = c.request("POST", "/predict", {"texts": ["hi"]}, {"authorization": "Bearer s3cret"})
        assert ok.status == 200
        c.close()


def test_cors_preflight_and_exposed_stage_headers(shared_bundle):
    with running_server(shared_bundle[0], cors_origins=("https://app.example",)) as server:
        c = Client(server.url)
        pre = c.request("OPTIONS", "/predict", None, {"origin": "https://app.example",
                                                      "access-control-request-method": "POST"})
        assert pre.status == 200 and pre.headers["access-control-allow-origin"] == "https://app.example"
        reply = c.request("POST", "/predict", {"texts": ["hi"]}, {"origin": "https://app.example"})
        assert "x-total-time" in reply.headers["access-control-expose-headers"]
        c.close()


def test_503_while_loading_then_ready(shared_bundle):
    with running_server(shared_bundle[0], load_model=False) as server:
        c = Client(server.url)
        for reply in (c.request("GET", "/ready"), c.predict(["hi"])):
            assert reply.status == 503 and "loading" in reply.json["error"] and reply.headers["retry-after"] == "1"
        assert c.request("GET", "/health").status == 200
        server.host.load()
        assert c.request("GET", "/ready").status == 200 and c.predict(["hi"]).status == 200
        c.close()


def test_503_while_draining(shared_bundle):
    with running_server(shared_bundle[0]) as server:
        c = Client(server.url)
        server.host.drain()
        ready = c.request("GET", "/ready")
        assert ready.status == 503 and ready.json["error_type"] == "draining"
        assert c.predict(["taken while draining"]).status == 200  # requests that reach it are still answered
        server.host.close()
        closed = c.predict(["after the batcher stopped"])
        assert closed.status == 503 and "shutting down" in closed.json["error"]
        c.close()


def test_424_only_for_the_request_whose_own_text_fails(tmp_path):
    root, _, _ = make_poisoned_bundle(tmp_path / "m")
    clf = Classifier.load(root)
    good = ["bad", "i love", "so sad", "the best day ever", "awful", "fine"]
    replies: dict[str, object] = {}
    with running_server(root, max_wait_ms=200) as server:  # requests sent together share batches
        def send(text):
            c = Client(server.url)
            replies[text] = c.predict([text])
            c.close()

        threads = [threading.Thread(target=send, args=(t,)) for t in [*good[:3], "poison", *good[3:]]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert replies["poison"].status == 424 and replies["poison"].json["error_type"] == "inference"
    for text in good:
        assert_answers(replies[text], clf.predict([text]))


def test_429_with_retry_after_when_the_queue_is_full_and_504_past_the_deadline(tmp_path):
    root, _, _ = make_slow_bundle(tmp_path / "m")
    clf = Classifier.load(root, threads=1)
    t0 = time.perf_counter()
    clf.predict(["slow"])
    per_word = time.perf_counter() - t0
    timeout_s = 0.3
    slow_text = " ".join(["slow"] * min(20, max(2, math.ceil(4 * timeout_s / per_word))))  # ≥ 4× the deadline
    replies: dict[str, object] = {}
    with running_server(root, max_queue=1, timeout_s=timeout_s) as server:
        def send(name, texts):
            c = Client(server.url)
            replies[name] = c.predict(texts)
            c.close()

        running = threading.Thread(target=send, args=("running", [slow_text]))
        running.start()
        wait_until(lambda: metric(server.url, "sieve_batches_running") == 1, "the slow batch to start")
        queued = threading.Thread(target=send, args=("queued", ["i love this"]))
        queued.start()
        wait_until(lambda: metric(server.url, "sieve_queue_depth") == 1, "a queued request")
        c = Client(server.url)
        refused = c.predict(["one too many"])
        assert refused.status == 429 and refused.json["error_type"] == "overloaded"
        assert int(refused.headers["retry-after"]) >= 1
        queued.join()
        running.join()
        metrics_text = c.request("GET", "/metrics").body.decode()
        c.close()
    assert replies["queued"].status == 504 and replies["queued"].json["error_type"] == "timeout"
    assert replies["running"].status == 200  # a request already computing finishes past its deadline
    assert 'sieve_requests_total{code="504",endpoint="/predict"} 1.0' in metrics_text
    assert 'sieve_requests_total{code="429",endpoint="/predict"} 1.0' in metrics_text


def test_a_queued_request_whose_client_hangs_up_is_never_computed(tmp_path):
    root, _, _ = make_slow_bundle(tmp_path / "m")
    with running_server(root) as server:
        replies = {}

        def send(name, texts):
            c = Client(server.url)
            replies[name] = c.predict(texts)
            c.close()

        running = threading.Thread(target=send, args=("running", ["slow slow"]))
        running.start()
        wait_until(lambda: metric(server.url, "sieve_batches_running") == 1, "the slow batch to start")
        gone = Client(server.url)
        gone.conn.request("POST", "/predict", body=b'{"texts": ["never computed"]}',
                          headers={"content-type": "application/json"})
        wait_until(lambda: metric(server.url, "sieve_queue_depth") == 1, "the request to be queued")
        gone.close()  # the caller hangs up while its request waits
        wait_until(lambda: metric(server.url, "sieve_queue_depth") == 0, "the request to be dropped")
        running.join()
        assert replies["running"].status == 200
        assert metric(server.url, "sieve_model_batches_total") == 1  # the slow one only: the dropped one never ran
        c = Client(server.url)
        text = c.request("GET", "/metrics").body.decode()
        c.close()
    assert 'sieve_requests_total{code="499",endpoint="/predict"} 1.0' in text
