"""``sieve score --shard I/N`` + ``sieve merge``: the parts join into the file an unsharded run writes, byte for byte,
and anything else (a part missing, cut short, changed, twice, or from another run) is refused with a sentence."""

import shutil
import subprocess
import sys

import pytest

from app.cli import main

from .conftest import SMALL, score_locally


def shard(inputs, out, model, i, n, *extra):
    return main(["score", *map(str, inputs), "-o", str(out), "--model", str(model), *SMALL, "--shard", f"{i}/{n}",
                 *extra])


@pytest.mark.parametrize("shards", [1, 3, 12])  # 12: more shards than blocks, so some parts hold no rows
def test_parts_merge_into_the_unsharded_output(batch_dependent_bundle, messy_inputs, tmp_path, shards, capsys):
    root = batch_dependent_bundle  # its scores change with their batch-mates, so every batch must be the local one
    local, parts, merged = (tmp_path / d for d in ("local", "parts", "merged"))
    for d in (local, parts, merged):
        d.mkdir()
    score_locally(list(messy_inputs), local, root)
    for i in range(1, shards + 1):
        assert shard(messy_inputs, parts, root, i, shards) == 0
    assert "shard 1 of" in capsys.readouterr().err
    assert main(["merge", *map(str, sorted(parts.iterdir())), "-o", str(merged)]) == 0
    for name in ("tweets.scored.csv", "reviews.scored.jsonl"):
        assert (merged / name).read_bytes() == (local / name).read_bytes(), name


def test_merge_writes_beside_the_parts_by_default(shared_bundle, messy_inputs, tmp_path):
    root = shared_bundle[0]
    csv_in = messy_inputs[0]
    score_locally([csv_in], tmp_path / "local.csv", root)
    for i in (1, 2):
        assert shard([csv_in], tmp_path / "out.csv", root, i, 2) == 0
    assert sorted(p.name for p in tmp_path.glob("out.csv.part-*")) == ["out.csv.part-1-of-2", "out.csv.part-2-of-2"]
    assert main(["merge", str(tmp_path / "out.csv.part-2-of-2"), str(tmp_path / "out.csv.part-1-of-2")]) == 0
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


@pytest.fixture
def three_parts(shared_bundle, messy_inputs, tmp_path):
    root = shared_bundle[0]
    out = tmp_path / "out.csv"
    for i in (1, 2, 3):
        assert shard([messy_inputs[0]], out, root, i, 3) == 0
    return [tmp_path / f"out.csv.part-{i}-of-3" for i in (1, 2, 3)]


def _cut(path):
    path.write_bytes(path.read_bytes()[:-10])


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda parts, ctx: [parts[0], parts[2]], "Shard 2 of 3 for out.csv is missing"),
        (lambda parts, ctx: [parts[0], parts[1], parts[2], parts[1]], "is given twice"),
        (lambda parts, ctx: [parts[0], ctx["copy"](parts[0]), parts[1], parts[2]], "are both shard 1 of 3"),
        (lambda parts, ctx: [*parts[:2], ctx["rescore"](3, "--max-length", "6")],
         "come from different runs: their scoring options"),
        (lambda parts, ctx: [*parts[:2], ctx["rescore"](3, "--column", "gold")], "their reading options"),
        (lambda parts, ctx: ctx["apply"](_cut, parts, 1), "out.csv.part-2-of-3 is cut short"),
        (lambda parts, ctx: ctx["apply"](_flip_a_byte, parts, 2), "out.csv.part-3-of-3 was changed after its shard"),
        (lambda parts, ctx: [ctx["input"], *parts], "tweets.csv is not a finished Sieve part"),
    ],
)
def test_merge_refuses_what_is_not_one_whole_run(three_parts, shared_bundle, messy_inputs, tmp_path, capsys,
                                                 change, message):
    root = shared_bundle[0]

    def copy(part):
        twin = part.with_name(part.name + ".copy")
        shutil.copy(part, twin)
        return twin

    def rescore(i, *extra):
        other = tmp_path / "other"
        other.mkdir(exist_ok=True)
        assert shard([messy_inputs[0]], other / "out.csv", root, i, 3, *extra) == 0
        return other / f"out.csv.part-{i}-of-3"

    def apply(fn, parts, i):
        fn(parts[i])
        return parts

    ctx = {"copy": copy, "rescore": rescore, "apply": apply, "input": messy_inputs[0]}
    given = change(three_parts, ctx)
    merged = tmp_path / "merged.csv"
    capsys.readouterr()
    assert main(["merge", *map(str, given), "-o", str(merged)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err  # one sentence
    assert not merged.exists() and not list(tmp_path.glob(".merged.csv.*"))  # nothing half-written left


@pytest.mark.parametrize(
    ("output", "message"),
    [("out.csv.part-1-of-3", "is one of the parts"), ("merged.jsonl", "The parts hold CSV but merged.jsonl")],
)
def test_merge_never_overwrites_a_part_or_writes_the_wrong_format(three_parts, tmp_path, capsys, output, message):
    before = [p.read_bytes() for p in three_parts]
    assert main(["merge", *map(str, three_parts), "-o", str(tmp_path / output)]) == 2
    assert message in capsys.readouterr().err
    assert [p.read_bytes() for p in three_parts] == before


def test_merge_never_overwrites_the_input(shared_bundle, messy_inputs, tmp_path, capsys):
    csv_in = messy_inputs[0]
    for i in (1, 2):
        assert shard([csv_in], tmp_path / "out.csv", shared_bundle[0], i, 2) == 0
    before = csv_in.read_bytes()
    assert main(["merge", *map(str, sorted(tmp_path.glob("out.csv.part-*"))), "-o", str(csv_in)]) == 2
    assert "is the input file the parts were scored from" in capsys.readouterr().err
    assert csv_in.read_bytes() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--shard", "3/2"], "I must be between 1 and N"), (["--shard", "2"], "is not I/N"),
     (["--shard", "1/2", "--resume"], "--shard runs are not resumed"),
     (["--shard", "1/2", "-o", "-"], "--shard does not write to standard output"),
     (["--shard", "1/2", "--ray"], "--ray and --shard do not go together"),
     (["--actors", "2"], "--actors is for --ray runs")],
)
def test_shard_options_are_checked(shared_bundle, messy_inputs, tmp_path, capsys, extra, message):
    args = ["score", str(messy_inputs[0]), "--model", str(shared_bundle[0]), *extra]
    if "-o" not in extra:
        args += ["-o", str(tmp_path / "o.csv")]
    with pytest.raises(SystemExit) if "I/N" in message or "between" in message else _no_exit():
        assert main(args) == 2
    assert message in capsys.readouterr().err


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_standard_input_cannot_be_sharded(shared_bundle, tmp_path, capsys, monkeypatch):
    import io
    import sys as _sys

    monkeypatch.setattr(_sys, "stdin", io.TextIOWrapper(io.BytesIO(b"one\ntwo\n")))
    assert main(["score", "-", "-o", str(tmp_path / "o.csv"), "--model", str(shared_bundle[0]), "--shard", "1/2"]) == 2
    assert "--shard reads its inputs more than once, so it needs files, not standard input" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_missing_ray_extra_is_a_sentence(shared_bundle, messy_inputs, tmp_path):
    """Without Ray installed, --ray says how to install it (exit 2). A process where ``import ray`` fails stands in."""
    code = ("import sys; sys.modules['ray'] = None\n"
            "from app.cli import main\n"
            f"sys.exit(main(['score', {str(messy_inputs[0])!r}, '-o', {str(tmp_path / 'o.csv')!r}, "
            f"'--model', {str(shared_bundle[0])!r}, '--ray']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("sieve: --ray needs Ray, which is not installed here. "
                                     "install with pip install -e '.[ray]'.")
    assert not (tmp_path / "o.csv").exists()
