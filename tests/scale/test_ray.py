"""``sieve score --ray`` on a local Ray started by the test session: the file a local run writes, byte for byte."""

import socket

import pytest
from cli.test_cli import interrupt_after

from app.cli import main
from app.engine import Classifier

from .conftest import SMALL, score_locally

pytestmark = pytest.mark.ray


def test_ray_writes_the_local_output_byte_for_byte(ray_cluster, batch_dependent_bundle, messy_inputs, tmp_path,
                                                    capsys):
    root = batch_dependent_bundle  # its scores change with their batch-mates, so every batch must be the local one
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    local.mkdir()
    on_ray.mkdir()
    score_locally(list(messy_inputs), local, root)
    capsys.readouterr()
    # Two inputs in one dataset, blocks of 8 rows spread over two actors: order and windows must survive both.
    assert main(["score", *map(str, messy_inputs), "-o", str(on_ray), "--model", str(root), *SMALL,
                 "--ray", "--actors", "2"]) == 0
    err = capsys.readouterr().err
    for name in ("tweets.scored.csv", "reviews.scored.jsonl"):
        assert (on_ray / name).read_bytes() == (local / name).read_bytes(), name
    assert "on 2 Ray actors (CPU)" in err and "rows could not be read" in err and "texts/s" in err


def test_ray_resumes_a_partial_output(ray_cluster, shared_bundle, messy_inputs, tmp_path, monkeypatch, capsys):
    root = shared_bundle[0]
    csv_in = messy_inputs[0]
    reference, out = tmp_path / "reference.csv", tmp_path / "out.csv"
    score_locally([csv_in], reference, root)
    with monkeypatch.context() as m:
        m.setattr(Classifier, "stream", interrupt_after(3))  # a local run stopped after three windows of 8 rows
        assert main(["score", str(csv_in), "-o", str(out), "--model", str(root), *SMALL]) == 130
    assert "24 rows are kept" in capsys.readouterr().err
    assert main(["score", str(csv_in), "-o", str(out), "--model", str(root), *SMALL, "--ray", "--actors", "1",
                 "--resume"]) == 0
    assert out.read_bytes() == reference.read_bytes()


def test_ray_writes_standard_output_as_the_local_run_does(ray_cluster, shared_bundle, messy_inputs, capsys):
    args = ["score", str(messy_inputs[1]), "-o", "-", "--model", str(shared_bundle[0]), *SMALL, "-q"]
    assert main(args) == 0
    local = capsys.readouterr().out
    assert main([*args, "--ray", "--actors", "1"]) == 0
    assert capsys.readouterr().out == local and local.count("\n") > 50


def test_an_actor_without_the_device_asked_for_stops_the_run(ray_cluster, shared_bundle, messy_inputs, tmp_path,
                                                            capsys):
    """The session's Ray declares a GPU this machine lacks: the actor's ONNX Runtime falls back to the CPU, and the
    actor has to say so instead of scoring on the wrong device."""
    out = tmp_path / "o.csv"
    args = ["score", str(messy_inputs[0]), "-o", str(out), "--model", str(shared_bundle[0]), "--window", "8"]
    assert main([*args, "--provider", "cuda", "--ray"]) == 2
    err = capsys.readouterr().err
    assert "got CPU, not the CUDA the run asked for" in err, err
    assert err.strip().splitlines()[-1].startswith("sieve: A scoring actor on 127.0.0.1 got CPU"), err
    assert not out.exists()


def test_an_unreachable_address_is_a_sentence(shared_bundle, messy_inputs, tmp_path, capsys):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
    with socket.socket() as s:  # a port on this machine that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "o.csv"
    assert main(["score", str(messy_inputs[0]), "-o", str(out), "--model", str(shared_bundle[0]),
                 "--ray", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert f"Cannot reach a Ray cluster at 127.0.0.1:{port}: connection refused" in err, err
    assert not out.exists()


def test_a_block_that_cannot_be_read_carries_a_sentence(messy_inputs, tmp_path):
    """An input missing on the node a read task runs on (no shared folder), or changed since the driver indexed it,
    reaches the driver as a sentence in the block, not as a traceback from the worker."""
    pytest.importorskip("ray.data", reason="the ray extra is not installed (pip install -e '.[ray]')")
    import json

    from app.engine import open_source
    from app.scale.blocks import plan_blocks
    from app.scale.ray_run import _read_blocks

    source = open_source(messy_inputs[0])
    plan = plan_blocks(source, 16)
    missing = type(source)(**{**vars(source), "path": tmp_path / "elsewhere.csv"})
    (table,) = list(_read_blocks(0, missing, plan.blocks[1:2]))
    message, hint = json.loads(table["problem"][0].as_py())
    assert "elsewhere.csv cannot be read on" in message and "same path on every node" in hint

    messy_inputs[0].write_bytes(b"id,text\n1,short now\n")
    tables = list(_read_blocks(0, source, plan.blocks[:2]))
    message, _ = json.loads(tables[-1]["problem"][0].as_py())
    assert "tweets.csv changed while it was being scored" in message
