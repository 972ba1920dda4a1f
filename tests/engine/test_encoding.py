import numpy as np
import pytest
from builders import make_tokenizer, token_ids

from app.engine import ModelError
from app.engine.encoding import DEFAULT_MAX_LENGTH, TextEncoder, pad_batch
from app.engine.session import InputSpec

IDS_MASK = (InputSpec("input_ids", np.int64, None, None), InputSpec("attention_mask", np.int64, None, None))


def test_file_padding_is_switched_off_and_truncation_kept(tmp_path):
    tok = make_tokenizer(tmp_path / "tokenizer.json", max_length=6, fixed_padding=32)
    enc = TextEncoder.from_file(tmp_path / "tokenizer.json")
    assert enc.max_length == 6
    out = enc.encode(["i love this", "i love this great movie so much"])
    assert out.lengths.tolist() == [5, 6]  # not 32: no fixed padding
    assert out.truncated.tolist() == [False, True]
    expected = token_ids(tok, ["i love this", "i love this great movie so much"], max_length=6)
    assert out.ids[out.offsets[1]: out.offsets[1] + 6].tolist() == expected[1]


def test_max_length_defaults_and_overrides(tmp_path):
    make_tokenizer(tmp_path / "tokenizer.json")
    assert TextEncoder.from_file(tmp_path / "tokenizer.json").max_length == DEFAULT_MAX_LENGTH
    assert TextEncoder.from_file(tmp_path / "tokenizer.json", max_length=20).max_length == 20
    assert TextEncoder.from_file(tmp_path / "tokenizer.json", max_length=20, model_max_length=8).max_length == 8


def test_a_row_of_exactly_max_length_is_not_flagged(tmp_path):
    make_tokenizer(tmp_path / "tokenizer.json", max_length=5)
    out = TextEncoder.from_file(tmp_path / "tokenizer.json").encode(["i love this", "i love this movie"])
    assert out.lengths.tolist() == [5, 5]
    assert out.truncated.tolist() == [False, True]


def test_pad_batch_pads_to_the_longest_row_of_the_batch(tmp_path):
    make_tokenizer(tmp_path / "tokenizer.json")
    enc = TextEncoder.from_file(tmp_path / "tokenizer.json")
    out = enc.encode(["i love this", "bad", "the best day ever with a movie"])
    feeds, width = pad_batch(out, np.array([0, 1]), IDS_MASK, pad_id=enc.pad_id)
    assert width == 5 and feeds["input_ids"].shape == (2, 5)
    assert feeds["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert feeds["input_ids"][1, 3:].tolist() == [enc.pad_id] * 2
    assert feeds["input_ids"][0].tolist() == out.ids[: 5].tolist()


def test_pad_batch_fixed_shapes_int32_and_type_ids(tmp_path):
    make_tokenizer(tmp_path / "tokenizer.json")
    enc = TextEncoder.from_file(tmp_path / "tokenizer.json")
    out = enc.encode(["i love this", "bad"], with_type_ids=True)
    specs = (
        InputSpec("input_ids", np.int32, 4, 8),
        InputSpec("attention_mask", np.int32, 4, 8),
        InputSpec("token_type_ids", np.int32, 4, 8),
    )
    feeds, width = pad_batch(out, np.array([1, 0]), specs, pad_id=0, fixed_length=8, fixed_batch=4)
    assert width == 8
    assert all(a.dtype == np.int32 and a.shape == (4, 8) for a in feeds.values())
    assert feeds["attention_mask"][:2].sum(axis=1).tolist() == [3, 5]
    assert feeds["attention_mask"][2:, 0].tolist() == [1, 1]  # filler rows are never fully masked
    assert feeds["token_type_ids"].sum() == 0


@pytest.mark.parametrize("content", ["", "{not json", '{"model": 3}'])
def test_invalid_tokenizer_files(tmp_path, content):
    (tmp_path / "tokenizer.json").write_text(content)
    with pytest.raises(ModelError, match="tokenizer.json"):
        TextEncoder.from_file(tmp_path / "tokenizer.json")


def test_empty_and_whitespace_texts_encode_to_special_tokens(tmp_path):
    make_tokenizer(tmp_path / "tokenizer.json")
    out = TextEncoder.from_file(tmp_path / "tokenizer.json").encode(["", "   \t "])
    assert out.lengths.tolist() == [2, 2]
