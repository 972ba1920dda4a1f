"""Turn texts into token ids with a ``tokenizers.Tokenizer``: truncation, padding to the batch's longest text.

Sieve owns padding: the padding a ``tokenizer.json`` carries (all-MiniLM pads every text to 128) is switched off
and each batch is padded to its own longest row. The file's truncation length is kept.

The tokenizer is handed at most :data:`CHARS_PER_TOKEN` characters per token of the maximum length (32,768 for 512
tokens): ``tokenizers`` needs about 100 bytes of memory per character it is given, whatever truncation keeps, so a
20 MB line would cost 2 GB. Truncation cannot use more: the first 512 tokens of ordinary text span a few
thousand characters. A text cut this way is flagged ``truncated`` unless only whitespace was cut.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from .errors import ModelError
from .session import InputSpec

DEFAULT_MAX_LENGTH = 512
# Characters handed to the tokenizer per token of the maximum length. Generous: a WordPiece token covers at most 100
# characters (longer words become one [UNK]) and ordinary text averages 4-6 characters per token.
CHARS_PER_TOKEN = 64
_NOT_SPACE = re.compile(r"\S")
_PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>", "<PAD>")


@dataclass(frozen=True)
class EncodedTexts:
    """Token ids of several texts, stored flat: text ``i`` is ``ids[offsets[i]:offsets[i] + lengths[i]]``.

    ``lengths`` counts real tokens (special tokens included, padding excluded). ``truncated[i]`` is true when text
    ``i`` was cut at the maximum length.
    """

    ids: np.ndarray
    type_ids: np.ndarray | None
    offsets: np.ndarray
    lengths: np.ndarray
    truncated: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)


class TextEncoder:
    """Encodes texts for one model; thread-safe (``encode_batch`` releases the GIL)."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, pad_id: int, path: Path | None = None) -> None:
        if max_length < 2:
            raise ModelError(f"Maximum length {max_length} is too short for any text", "Use 8 or more tokens")
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.max_chars = CHARS_PER_TOKEN * max_length  # characters of a text the tokenizer is given at most
        self.requested_length = max_length  # before a model limit clamped it (see from_file)
        self.pad_id = pad_id
        self.path = path

    @classmethod
    def from_file(
        cls, path: str | Path, *, max_length: int | None = None, model_max_length: int | None = None
    ) -> TextEncoder:
        """Load ``tokenizer.json``.

        ``max_length`` (tokens) overrides the file's truncation length (512 when the file has none);
        ``model_max_length`` caps it when the model has a fixed sequence length.
        """
        path = Path(path)
        try:
            if path.stat().st_size == 0:
                raise ModelError(f"{path.name} is empty", "Save the tokenizer again with tokenizer.save_pretrained")
            tokenizer = Tokenizer.from_file(str(path))
        except ModelError:
            raise
        except Exception as exc:  # tokenizers raises a bare Exception with serde's message
            raise ModelError(
                f"{path.name} is not a valid tokenizers file ({str(exc).splitlines()[0][:200]})",
                "Use the tokenizer.json written by a HuggingFace fast tokenizer (tokenizer.save_pretrained)",
            ) from exc
        file_padding = tokenizer.padding or {}
        file_truncation = tokenizer.truncation or {}
        requested = max_length or file_truncation.get("max_length") or DEFAULT_MAX_LENGTH
        length = min(requested, model_max_length) if model_max_length else requested
        pad_id = file_padding.get("pad_id")
        if pad_id is None:
            pad_id = next((i for t in _PAD_TOKENS if (i := tokenizer.token_to_id(t)) is not None), 0)
        encoder = cls(tokenizer, int(length), int(pad_id), path)
        encoder.requested_length = int(requested)
        return encoder

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, texts: Sequence[str], *, with_type_ids: bool = False) -> EncodedTexts:
        """Tokenize ``texts`` (truncated, not padded; each cut to :attr:`max_chars` characters first)."""
        texts = list(texts)
        cut = [i for i, text in enumerate(texts) if len(text) > self.max_chars]
        rest_matters = [bool(_NOT_SPACE.search(texts[i], self.max_chars)) for i in cut]
        for i in cut:
            texts[i] = texts[i][: self.max_chars]
        encodings = self.tokenizer.encode_batch_fast(texts, add_special_tokens=True)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        offsets = np.zeros(len(encodings), dtype=np.int64)
        if len(encodings) > 1:
            np.cumsum(lengths[:-1], out=offsets[1:])
        total = int(lengths.sum())
        ids = np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=total)
        type_ids = None
        if with_type_ids:
            type_ids = np.fromiter(chain.from_iterable(e.type_ids for e in encodings), dtype=np.int64, count=total)
        truncated = lengths >= self.max_length
        for i in np.flatnonzero(truncated):  # only full-length rows can have been cut
            truncated[i] = bool(encodings[i].overflowing)
        for i, matters in zip(cut, rest_matters, strict=True):
            truncated[i] |= matters
        return EncodedTexts(ids, type_ids, offsets, lengths.astype(np.int32), truncated)


def pad_batch(
    encoded: EncodedTexts,
    rows: np.ndarray,
    inputs: Sequence[InputSpec],
    *,
    pad_id: int,
    fixed_length: int | None = None,
    fixed_batch: int | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """Build the model's feeds for ``rows`` of ``encoded``, padded to the longest of them.

    Returns ``(feeds, padded_length)``. A model with a fixed sequence length or batch size is padded to it; extra
    batch rows are filler whose outputs the caller drops.
    """
    lengths = encoded.lengths[rows]
    width = fixed_length or int(lengths.max())
    height = max(fixed_batch or 0, len(rows))
    real = np.arange(width) < lengths[:, None]  # [rows, width] true where a real token sits
    source = (encoded.offsets[rows][:, None] + np.arange(width))[real]
    ids = np.full((height, width), pad_id, dtype=np.int64)
    mask = np.zeros((height, width), dtype=np.int64)
    ids[: len(rows)][real] = encoded.ids[source]
    mask[: len(rows)][real] = 1
    types = None
    if encoded.type_ids is not None:
        types = np.zeros((height, width), dtype=np.int64)
        types[: len(rows)][real] = encoded.type_ids[source]
    if height > len(rows):
        mask[len(rows) :, 0] = 1  # filler rows attend to one token so no softmax sees an all-masked row
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    feeds = {}
    for spec in inputs:
        array = arrays[spec.name]
        if array is None:
            array = np.zeros((height, width), dtype=np.int64)
        feeds[spec.name] = array if spec.dtype is np.int64 else array.astype(spec.dtype)
    return feeds, width


def split_encoded(encoded: EncodedTexts, counts: Sequence[int]) -> list[EncodedTexts]:
    """Cut ``encoded`` into consecutive pieces of ``counts`` texts each (one tokenizer call, several requests)."""
    pieces, start = [], 0
    for n in counts:
        stop = start + n
        lo = int(encoded.offsets[start]) if n else 0
        hi = int(encoded.offsets[stop - 1] + encoded.lengths[stop - 1]) if n else 0
        pieces.append(EncodedTexts(
            encoded.ids[lo:hi],
            None if encoded.type_ids is None else encoded.type_ids[lo:hi],
            encoded.offsets[start:stop] - lo,
            encoded.lengths[start:stop],
            encoded.truncated[start:stop],
        ))
        start = stop
    return pieces


def join_encoded(parts: Sequence[EncodedTexts]) -> EncodedTexts:
    """Concatenate encodings, texts in order (the inverse of :func:`split_encoded`)."""
    if len(parts) == 1:
        return parts[0]
    sizes = [len(p.ids) for p in parts]
    shift = np.repeat(np.concatenate([[0], np.cumsum(sizes[:-1])]), [len(p) for p in parts])
    type_ids = None
    if all(p.type_ids is not None for p in parts):
        type_ids = np.concatenate([p.type_ids for p in parts])
    return EncodedTexts(
        np.concatenate([p.ids for p in parts]),
        type_ids,
        np.concatenate([p.offsets for p in parts]) + shift.astype(np.int64),
        np.concatenate([p.lengths for p in parts]),
        np.concatenate([p.truncated for p in parts]),
    )
