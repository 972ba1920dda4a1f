"""``sieve serve`` as a process: the article's request on the default model, 32 concurrent callers, SIGTERM."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
from builders import WORDS
from servers import REPO, Client, ServerProcess

from app.engine import Classifier

HEAVY = ("starlette", "uvicorn", "orjson", "prometheus_client", "aiohttp", "fastapi")


@pytest.mark.slow
def test_sieve_serve_answers_the_articles_curl_request_on_the_default_model(default_model):
    server = ServerProcess()  # no --model: the embedded default model
    try:
        assert server.url, server.stderr
        out = subprocess.run(["curl", "-s", "-X", "POST", f"{server.url}/predict", "-H",
                              "Content-Type: application/json", "-d", '{"texts": ["I love this!", "This is awful."]}'],
                             capture_output=True, text=True, timeout=60)
        predictions = json.loads(out.stdout)["predictions"]
        assert [p["label"] for p in predictions] == ["positive", "negative"]
        assert all(0.5 < p["confidence"] <= 1 for p in predictions)
    finally:
        assert server.stop() == 0, server.stderr


def test_32_callers_times_100_requests_each_get_exactly_their_own_answers(shared_bundle):
    root = shared_bundle[0]
    rng = np.random.default_rng(7)
    pool = [" ".join(rng.choice(WORDS, size=n)) for n in rng.integers(0, 60, size=500)]
    clf = Classifier.load(root)
    reference = {t: p for t, p in zip(pool, clf.predict(pool), strict=True)}
    server = ServerProcess("--model", str(root), "--max-batch", "16")
    wrong: list[str] = []
    answered = [0] * 32
    try:
        def caller(i):
            local = np.random.default_rng(i)
            c = Client(server.url)
            for _ in range(100):
                texts = [pool[k] for k in local.integers(0, len(pool), size=local.integers(1, 5))]
                reply = c.predict(texts)
                got = reply.json["predictions"] if reply.status == 200 else []
                if len(got) != len(texts) or any(
                        g["label"] != reference[t].label
                        or not np.allclose(list(g["scores"].values()), list(reference[t].scores.values()), atol=1e-6)
                        for g, t in zip(got, texts, strict=False)):
                    wrong.append(f"caller {i}: {reply.status} {reply.body[:200]!r}")
                answered[i] += 1
            c.close()

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        code = server.stop()
    assert not wrong, wrong[:5]
    assert answered == [100] * 32
    assert code == 0 and "answered 3200 of 3200 requests taken" in server.stderr, server.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_load_loses_no_accepted_request_and_exits_0(shared_bundle, sig):
    root = shared_bundle[0]
    texts = [" ".join(WORDS[i % len(WORDS):][:1 + i % 30]) for i in range(64)]
    expected = {t: p.label for t, p in zip(texts, Classifier.load(root).predict(texts), strict=True)}
    server = ServerProcess("--model", str(root))
    ok, wrong, refused = [0] * 8, [], [0] * 8
    enough = threading.Event()

    def caller(i):
        k = i
        c = Client(server.url, timeout=30)
        while True:
            batch = [texts[k % 64], texts[(k + 1) % 64]]
            k += 8
            try:
                reply = c.predict(batch)
            except (ConnectionError, http.client.HTTPException, OSError):  # closed, or refused once it stopped
                refused[i] += 1
                if refused[i] > 3:
                    return
                c.close()
                c = Client(server.url, timeout=30)
                continue
            if reply.status != 200 or [p["label"] for p in reply.json["predictions"]] != [expected[t] for t in batch]:
                wrong.append((reply.status, reply.body[:200]))
            ok[i] += 1
            if sum(ok) >= 300:
                enough.set()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    assert enough.wait(60), server.stderr
    code = server.stop(sig)
    for t in threads:
        t.join(60)
    assert code == 0, server.stderr
    found = re.search(r"answered (\d+) of (\d+) requests taken", server.stderr)
    assert found, server.stderr
    answered, taken = int(found.group(1)), int(found.group(2))
    assert answered == taken == sum(ok)  # every request the server took was answered, and the answer arrived
    assert not wrong, wrong[:3]


def test_a_model_that_cannot_load_is_one_sentence_and_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    server = ServerProcess("--model", str(tmp_path / "empty"))
    assert server.stop() == 2
    assert "cannot serve:" in server.stderr and "Traceback" not in server.stderr


def test_a_port_in_use_is_one_sentence_and_exit_2(shared_bundle):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())", "serve",
                               "--model", str(shared_bundle[0]), "--port", str(port)],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr


def test_the_window_the_cli_and_the_engine_do_not_import_the_web_stack():
    code = ("import sys, app.cli, app.engine, app.ui; app.cli.build_parser(); "
            "from app.engine import Classifier, MicroBatcher; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
