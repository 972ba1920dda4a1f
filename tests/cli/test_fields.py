"""Every input field survives scoring, in every format pair, and Sieve's own fields never overwrite one
(issue 11, item 3: a JSONL ``label`` field, the gold answer, was replaced by the model's label)."""

import csv
import json

from app.cli import main

LABELS = ["negative", "neutral", "positive"]
ROWS = [
    {"text": "i love this", "label": "positive", "id": 1},
    {"text": "awful", "id": 2},
    {"text": "the weather today", "id": 3, "confidence": "high", "meta": {"k": [1, 2]}, "ok": True, "none": None},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_jsonl_to_jsonl_keeps_every_field_and_prefixes_sieves_own(shared_bundle, tmp_path):
    src = write_jsonl(tmp_path / "gold.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    assert main(["score", str(src), "-o", str(out), "--model", str(shared_bundle[0]), "-q"]) == 0
    back = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [{k: b[k] for k in row} for b, row in zip(back, ROWS, strict=True)] == ROWS  # the gold label is intact
    for b, row in zip(back, ROWS, strict=True):
        # one prefix for every row, though only some rows use Sieve's names
        assert set(b) == set(row) | {"sieve_label", "sieve_confidence", "sieve_scores"}
        assert b["sieve_label"] in LABELS and list(b["sieve_scores"]) == LABELS
        assert b["sieve_confidence"] == max(b["sieve_scores"].values())


def test_jsonl_to_csv_keeps_every_field_as_a_column_in_first_seen_order(shared_bundle, tmp_path):
    src = write_jsonl(tmp_path / "gold.jsonl", ROWS)
    out = tmp_path / "out.csv"
    assert main(["score", str(src), "-o", str(out), "--model", str(shared_bundle[0]), "-q"]) == 0
    header, *rows = read_csv(out)
    assert header == ["text", "label", "id", "confidence", "meta", "ok", "none", "sieve_label", "sieve_confidence",
                      *(f"sieve_score_{x}" for x in LABELS), "sieve_truncated", "sieve_error"]
    assert [r[:7] for r in rows] == [
        ["i love this", "positive", "1", "", "", "", ""],
        ["awful", "", "2", "", "", "", ""],
        ["the weather today", "", "3", "high", '{"k": [1, 2]}', "true", ""],
    ]
    assert all(r[7] in LABELS for r in rows)


def test_jsonl_without_sieves_names_gets_no_prefix(shared_bundle, tmp_path):
    src = write_jsonl(tmp_path / "plain.jsonl", [{"text": "i love this", "id": 1}, {"id": 2, "text": "awful"}])
    out = tmp_path / "out.csv"
    assert main(["score", str(src), "-o", str(out), "--model", str(shared_bundle[0]), "-q"]) == 0
    assert read_csv(out)[0][:4] == ["text", "id", "label", "confidence"]


def test_scoring_an_output_again_adds_a_second_prefix_and_keeps_both_earlier_columns(shared_bundle, tmp_path):
    root = str(shared_bundle[0])
    src = tmp_path / "gold.csv"
    src.write_text("text,label\ni love this,positive\nawful,negative\n", encoding="utf-8")
    once, twice = tmp_path / "once.csv", tmp_path / "twice.csv"
    assert main(["score", str(src), "-o", str(once), "--model", root, "-q"]) == 0
    assert main(["score", str(once), "-o", str(twice), "--model", root, "-q"]) == 0
    first, second = read_csv(once), read_csv(twice)
    assert len(set(second[0])) == len(second[0])  # no column name twice
    assert second[0][: len(first[0])] == first[0] and second[0][len(first[0])] == "sieve_sieve_label"
    assert [r[: len(first[0])] for r in second[1:]] == first[1:]  # every earlier cell kept as it was
    twice_jsonl = tmp_path / "twice.jsonl"
    assert main(["score", str(once), "-o", str(twice_jsonl), "--model", root, "-q"]) == 0
    objs = [json.loads(x) for x in twice_jsonl.read_text(encoding="utf-8").splitlines()]
    assert [o["label"] for o in objs] == ["positive", "negative"] and all("sieve_sieve_scores" in o for o in objs)
    assert [o["sieve_label"] for o in objs] == [r[first[0].index("sieve_label")] for r in first[1:]]


def test_txt_to_jsonl_and_csv_to_jsonl_keep_their_fields(shared_bundle, tmp_path):
    root = str(shared_bundle[0])
    (tmp_path / "a.txt").write_text("i love this\n")
    (tmp_path / "b.csv").write_text("id,text,note\n7,awful,é\n", encoding="utf-8")
    assert main(["score", str(tmp_path / "a.txt"), str(tmp_path / "b.csv"), "-o", str(tmp_path), "--format", "jsonl",
                 "--model", root, "-q"]) == 0
    a = json.loads((tmp_path / "a.scored.jsonl").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "b.scored.jsonl").read_text(encoding="utf-8"))
    assert a["text"] == "i love this" and a["label"] in LABELS
    assert (b["id"], b["text"], b["note"]) == ("7", "awful", "é") and b["label"] in LABELS


def test_a_lone_surrogate_escape_in_jsonl_is_replaced_and_reported(shared_bundle, tmp_path, capsys):
    root, _, _ = shared_bundle
    src = tmp_path / "s.jsonl"
    src.write_text('{"text": "i love \\ud800 this", "note": "x\\udc00"}\n{"text": "fine \\ud83d\\ude00"}\n')
    for out in ("s.scored.jsonl", "s.scored.csv"):
        assert main(["score", str(src), "--model", str(root), "-o", str(tmp_path / out), "-q"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "s.scored.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[0]["text"] == "i love \ufffd this" and rows[0]["note"] == "x\ufffd" and rows[0]["label"]
    assert rows[1]["text"] == "fine \U0001f600" and rows[1]["label"]  # a valid pair is one character, kept
    assert "lone UTF-16 surrogates" in capsys.readouterr().err
    with open(tmp_path / "s.scored.csv", encoding="utf-8", newline="") as fh:
        assert [r["text"] for r in csv.DictReader(fh)] == ["i love \ufffd this", "fine \U0001f600"]
