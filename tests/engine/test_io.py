import csv
import io
import json
import os
import re
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.engine import InputError, ResultWriter, open_source
from app.engine.io import MAX_ISSUE_LINES, atomic_path, expand_inputs, partial_path, resolve_column


def write(path, data: bytes | str):
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def texts(source):
    return [r.text for r in source]


def test_txt_one_text_per_line_keeps_blank_lines(tmp_path):
    src = open_source(write(tmp_path / "a.txt", "one\r\ntwo\n\nfour"))
    rows = list(src)
    assert [r.text for r in rows] == ["one", "two", "", "four"]
    assert [r.line for r in rows] == [1, 2, 3, 4]
    assert src.estimate_rows() == 4


def test_csv_finds_text_column_and_keeps_all_fields(tmp_path):
    src = open_source(write(tmp_path / "a.csv", "id,Text,score\n1,hello,3\n2,\"multi\nline, with comma\",4\n3,bye,5\n"))
    rows = list(src)
    assert [r.text for r in rows] == ["hello", "multi\nline, with comma", "bye"]
    assert [r.line for r in rows] == [2, 3, 5]
    assert rows[1].record == ["2", "multi\nline, with comma", "4"]
    assert src.columns == ["id", "Text", "score"]


@pytest.mark.parametrize(("column", "expected"), [("body", ["x", "y"]), (0, ["1", "2"]), ("2", ["x", "y"])])
def test_csv_column_by_name_or_index(tmp_path, column, expected):
    path = write(tmp_path / "a.csv", "id,title,body\n1,t1,x\n2,t2,y\n")
    assert texts(open_source(path, column=column)) == expected


def test_csv_semicolon_and_tsv(tmp_path):
    assert texts(open_source(write(tmp_path / "a.csv", "id;text\n1;a, b\n"))) == ["a, b"]
    assert texts(open_source(write(tmp_path / "a.tsv", "text\tid\nhi there\t1\n"))) == ["hi there"]


def test_csv_without_the_column_lists_the_real_columns(tmp_path):
    path = write(tmp_path / "a.csv", "id,title\n1,x\n")
    with pytest.raises(InputError, match=r"no column named 'text' \(its columns are 'id', 'title'\)"):
        open_source(path)
    with pytest.raises(InputError, match="no column 'body'"):
        open_source(path, column="body")
    with pytest.raises(InputError, match="no column 5"):
        open_source(path, column=5)


def test_ragged_rows_become_failed_rows_or_lose_only_extra_fields(tmp_path):
    src = open_source(write(tmp_path / "a.csv", "id,text\n1,ok\n2\n3,fine,extra\n\n4,last\n"))
    rows = list(src)
    assert [r.text for r in rows] == ["ok", None, "fine", "last"]
    assert "line 3 has 1 fields" in rows[1].error
    assert rows[2].record == ["3", "fine"]
    assert src.issues.counts == {"bad_row": 1, "extra_fields": 1}


def test_undecodable_lines_are_replaced_and_reported_with_line_numbers(tmp_path):
    path = write(tmp_path / "a.txt", b"fine\ncaf\xe9\nok\nna\xefve\n")
    src = open_source(path)
    assert texts(src) == ["fine", "caf\ufffd", "ok", "na\ufffdve"]
    assert src.issues.counts == {"decode": 2} and src.issues.lines["decode"] == [2, 4]
    assert "line 2, 4" in src.issues.messages("a.txt")[0]
    assert texts(open_source(path, encoding="cp1252")) == ["fine", "café", "ok", "naïve"]
    with pytest.raises(InputError, match=r"line 2 is not valid utf-8 \(byte 0xe9 at column 4\)"):
        list(open_source(path, errors="strict"))


def test_bom_is_dropped(tmp_path):
    assert texts(open_source(write(tmp_path / "a.csv", b"\xef\xbb\xbftext\nhi\n"))) == ["hi"]


def test_jsonl_bad_lines_are_rows_with_errors(tmp_path):
    lines = ['{"text": "good", "id": 1}', "{broken", "", '{"body": "x"}', "[1, 2]", '{"text": 5}']
    src = open_source(write(tmp_path / "a.jsonl", "\n".join(lines) + "\n"))
    rows = list(src)
    assert [r.text for r in rows] == ["good", None, None, None, "5"]
    assert [r.line for r in rows] == [1, 2, 4, 5, 6]
    assert "line 2 is not valid JSON" in rows[1].error
    assert "has no 'text' field" in rows[2].error
    assert "not an object" in rows[3].error
    assert texts(open_source(tmp_path / "a.jsonl", field="body")) == [None, None, "x", None, None]


def test_folders_expand_to_readable_files(tmp_path):
    write(tmp_path / "b.csv", "text\nx\n")
    write(tmp_path / "a.txt", "x\n")
    write(tmp_path / "c.png", b"\x89PNG")
    files, skipped = expand_inputs([tmp_path])
    assert [f.name for f in files] == ["a.txt", "b.csv"]
    assert skipped == ["c.png: not a .txt/.csv/.tsv/.jsonl file"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no"):
        expand_inputs([tmp_path / "empty"])


def test_resolve_column_guesses_single_column():
    assert resolve_column(["sentence"], None) == 0
    assert resolve_column(["only"], None) == 0


# ---------------------------------------------------------------------- writers
def scored(n, k=2):
    probs = np.tile(np.array([[0.25, 0.75]], dtype=np.float32), (n, 1))[:, :k]
    return probs, np.full(n, k - 1, dtype=np.int32), np.zeros(n, dtype=bool)


def test_csv_writer_keeps_input_columns_and_adds_results(tmp_path):
    src = open_source(write(tmp_path / "in.csv", "id,text\n1,hello\n2\n"))
    rows = list(src)
    probs, idx, trunc = scored(2)
    idx[1] = -2
    with ResultWriter(tmp_path / "out.csv", ["neg", "pos"], src.columns, source_kind="csv") as w:
        w.write(rows, probs, idx, trunc, [r.error for r in rows])
    out = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8"), newline="")))
    assert out[0] == ["id", "text", "label", "confidence", "score_neg", "score_pos", "truncated", "error"]
    assert out[1] == ["1", "hello", "pos", "0.75", "0.25", "0.75", "false", ""]
    assert out[2][:3] == ["2", "", ""] and "has 1 fields" in out[2][-1]


def test_column_name_collisions_get_a_prefix(tmp_path):
    with ResultWriter(tmp_path / "out.csv", ["a", "b"], ["text", "label"], source_kind="csv"):
        pass
    header = next(csv.reader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8"), newline="")))
    assert header[:3] == ["text", "label", "sieve_label"]


def test_jsonl_writer_merges_into_the_input_object(tmp_path):
    src = open_source(write(tmp_path / "in.jsonl", '{"text": "hi", "id": 7}\n{oops\n'))
    rows = list(src)
    probs, idx, trunc = scored(2)
    idx[1] = -2
    with ResultWriter(tmp_path / "out.jsonl", ["neg", "pos"], src.columns, source_kind="jsonl") as w:
        w.write(rows, probs, idx, trunc, [r.error for r in rows])
    objs = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert objs[0] == {"text": "hi", "id": 7, "label": "pos", "confidence": 0.75, "scores": {"neg": 0.25, "pos": 0.75}}
    assert objs[1]["label"] is None and "not valid JSON" in objs[1]["error"]


def test_writer_is_atomic(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous results\n")
    with pytest.raises(RuntimeError), ResultWriter(target, ["a"], ["text"]) as w:
        w.write(list(open_source(write(tmp_path / "in.txt", "x\n"))), *scored(1, 1), [None])
        raise RuntimeError("crash mid-export")
    assert target.read_text() == "previous results\n"  # untouched: no half file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.csv"]  # and no temp file left


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_written_atomically_get_normal_permissions(tmp_path, umask):
    """0666 less the umask, as for any file a user saves, not mkstemp's 0600 (issue 12: GUI exports were 0600)."""
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "export.csv") as tmp:
            tmp.write_text("text,label\n")
        with ResultWriter(tmp_path / "results.csv", ["a"], ["text"]) as w:
            w.write([], *scored(0, 1), [])
        with ResultWriter(tmp_path / "resumable.csv", ["a"], ["text"], partial=partial_path(tmp_path / "r.csv")):
            pass
    finally:
        os.umask(old)
    for name in ("export.csv", "results.csv", "resumable.csv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_an_input_without_read_permission_is_a_sentence(tmp_path, monkeypatch):
    path = write(tmp_path / "secret.txt", "hello\n")
    real_open = Path.open

    def refuse(self, *args, **kwargs):  # as the OS does for a file of another user (root reads anything)
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(InputError, match=r"Sieve may not read .*secret.txt \(permission denied\)\. Check the file"):
        open_source(path)


def test_partial_file_survives_a_crash_and_can_be_continued(tmp_path):
    target = tmp_path / "out.jsonl"
    part = partial_path(target)
    rows = list(open_source(write(tmp_path / "in.txt", "x\ny\n")))
    with pytest.raises(KeyboardInterrupt), ResultWriter(target, ["a"], ["text"], partial=part) as w:
        w.write(rows[:1], *scored(1, 1), [None])
        raise KeyboardInterrupt
    assert not target.exists() and part.exists()
    with ResultWriter(target, ["a"], ["text"], partial=part, append=True) as w:
        w.write(rows[1:], *scored(1, 1), [None])
    assert [json.loads(x)["text"] for x in target.read_text().splitlines()] == ["x", "y"]
    assert not part.exists()


# ---------------------------------------------------------------------- properties: nothing lost, nothing reordered
# Pieces that break naive readers: quotes, delimiters, line breaks inside quoted fields, blanks, non-ASCII.
TRICKY = ["", '"', '""', ",", ";", "\t", "|", "\n", "\r\n", "\r", " ", "é", "🙂", "\u2028", "\x85", "a,b", '"q"', "\\"]
plain = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff"), max_size=8)
cell = st.lists(st.one_of(st.sampled_from(TRICKY), plain), max_size=5).map("".join)
one_line = cell.map(lambda s: s.replace("\n", " ").replace("\r", " "))  # \r, \r\n and \n all end a line
PROPERTY = settings(max_examples=80, deadline=None)


@PROPERTY
@given(st.lists(one_line, min_size=1, max_size=40))
def test_txt_reader_yields_every_line_once_in_order(lines):
    with tempfile.TemporaryDirectory() as tmp:
        src = open_source(write(Path(tmp) / "in.txt", "\n".join(lines) + "\n"))
        rows = list(src)
    assert [r.text for r in rows] == lines
    assert [r.line for r in rows] == list(range(1, len(lines) + 1))
    assert src.issues.counts == {}


@PROPERTY
@given(st.lists(st.tuples(one_line, st.sampled_from(["\n", "\r\n", "\r"])), min_size=1, max_size=40),
       st.booleans())
def test_lines_end_at_lf_crlf_or_a_lone_cr(lines, last_ends):
    """Unix, Windows and old Mac line endings, even mixed in one file, give the same rows (issue 11, item 11)."""
    # an empty line ended by \r, then an empty line ended by \n, is one \r\n: the same bytes, one line
    assume(not any(a[1] == "\r" and b == ("", "\n") for a, b in zip(lines, lines[1:], strict=False)))
    data = "".join(text + end for text, end in lines)
    if not last_ends:  # an unterminated last line (it needs text, or there is no last line)
        assume(lines[-1][0])
        data = data[: -len(lines[-1][1])]
    with tempfile.TemporaryDirectory() as tmp:
        src = open_source(write(Path(tmp) / "in.txt", data))
        rows = list(src)
        assert src.estimate_rows() == len(lines)
    assert [r.text for r in rows] == [text for text, _ in lines]
    assert [r.line for r in rows] == list(range(1, len(lines) + 1))


def breaks(text: str) -> int:
    """Line breaks in ``text``: \n, \r\n and a lone \r each end a line."""
    return len(re.findall(r"\r\n|\r|\n", text))


@PROPERTY
@given(st.lists(st.tuples(cell, cell), max_size=30), st.sampled_from([(".csv", ","), (".csv", ";"), (".csv", "|"),
                                                                      (".csv", "\t"), (".tsv", "\t")]))
def test_csv_reader_and_writer_keep_every_row_and_field(pairs, kind):
    suffix, delimiter = kind
    records = [[str(i), text, note] for i, (text, note) in enumerate(pairs)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"in{suffix}"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter=delimiter)
            writer.writerow(["id", "text", "note"])
            writer.writerows(records)
        src = open_source(path)
        rows = list(src)
        assert src.delimiter == delimiter and src.issues.counts == {}
        assert [r.record for r in rows] == records
        assert [r.text for r in rows] == [text for text, _ in pairs]
        # a row starts one line after the previous one ended; line breaks inside quoted fields count
        starts = np.cumsum([2] + [1 + breaks(text) + breaks(note) for text, note in pairs])[:-1]
        assert [r.line for r in rows] == starts.tolist()
        assert src.estimate_rows() >= len(rows)

        out = Path(tmp) / "out.csv"
        with ResultWriter(out, ["neg", "pos"], src.columns, source_kind=src.kind) as w:
            w.write(rows, *scored(len(rows)), [None] * len(rows))
        with open(out, newline="", encoding="utf-8") as fh:
            back = list(csv.reader(fh))
    assert back[0][:3] == ["id", "text", "note"]
    assert [r[:3] for r in back[1:]] == records


@PROPERTY
@given(st.lists(st.tuples(cell, st.one_of(st.none(), st.integers(), cell)), max_size=30), st.booleans())
def test_jsonl_reader_and_writer_keep_every_object(pairs, ascii_only):
    objs = [{"text": text, "id": i, "meta": meta} for i, (text, meta) in enumerate(pairs)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.jsonl"
        path.write_text("".join(json.dumps(o, ensure_ascii=ascii_only) + "\n" for o in objs) or "\n",
                        encoding="utf-8")
        src = open_source(path)
        rows = list(src)
        assert [r.record for r in rows] == objs and [r.text for r in rows] == [t for t, _ in pairs]
        assert [r.line for r in rows] == list(range(1, len(objs) + 1))
        out = Path(tmp) / "out.jsonl"
        with ResultWriter(out, ["neg", "pos"], src.columns, source_kind=src.kind) as w:
            w.write(rows, *scored(len(rows)), [None] * len(rows))
        back = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n")[:-1]]  # \u2028 is no break
    assert [{k: b[k] for k in ("text", "id", "meta")} for b in back] == objs


@PROPERTY
@given(st.lists(st.tuples(st.text("abc xyz", max_size=10), st.booleans()), min_size=1, max_size=60))
def test_undecodable_lines_are_all_counted_and_the_first_named(lines):
    data = b"".join(text.encode() + (b"\xe9" if bad else b"") + b"\n" for text, bad in lines)  # cp1252 é
    bad = [i + 1 for i, (_, is_bad) in enumerate(lines) if is_bad]
    with tempfile.TemporaryDirectory() as tmp:
        src = open_source(write(Path(tmp) / "in.txt", data))
        rows = list(src)
    assert len(rows) == len(lines)  # every line is still a row
    assert [r.text.rstrip("\ufffd") for r in rows] == [text for text, _ in lines]
    assert src.issues.counts.get("decode", 0) == len(bad)
    assert src.issues.lines.get("decode", []) == bad[:MAX_ISSUE_LINES]


READ_FROM_A_ROW = {
    "csv": b'\xef\xbb\xbfid,text\r\n1,"two\nlines ""q"""\r\n2,bad \xff byte\r\n\r\n3\r\n4,plain,surplus\r\n5,""\r\n'
           b'6,"never closed\nrest\n',
    "tsv": b"id\ttext\n1\tone\n2\t\xfe\n3\n4\tfour\textra\n",
    "jsonl": b'{"text": "a"}\n\n{"text": "caf\xe9"}\nnot json\n[1]\n{"no": 1}\n{"text": 7}\n{"text": ""}',
    "txt": b"one\n\ntwo \xff\r\nthree\rfour\r\rfive",  # lone CRs end lines too
}


@pytest.mark.parametrize("kind", sorted(READ_FROM_A_ROW))
def test_a_read_started_at_any_row_matches_a_read_from_the_top(tmp_path, kind):
    """``sieve score --ray`` reads blocks of a file apart; each must read as the whole file reads from there on."""
    path = tmp_path / f"messy.{kind}"
    path.write_bytes(READ_FROM_A_ROW[kind])
    source = open_source(path)
    whole = list(source)
    assert any(r.error for r in whole) or kind == "txt"  # the bad rows are part of the point
    offsets = source.line_offsets([r.line for r in whole])
    for i, (row, offset) in enumerate(zip(whole, offsets, strict=True)):
        assert list(source.rows_from(offset, row.line)) == whole[i:], f"started at row {i} (line {row.line})"


def test_line_offsets_count_lines_as_the_reader_does(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"a\r\nbb\n\nccc\rd")
    assert open_source(path).line_offsets([1, 2, 3, 4, 5]) == [0, 3, 6, 7, 11]
    with pytest.raises(ValueError, match="no line 6"):
        open_source(path).line_offsets([6])
