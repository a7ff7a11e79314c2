"""MLPerf reference featurization of SQuAD, reproduced exactly and made fast.

The reference (`convert_examples_to_features` in the BERT reference's create_squad_data.py)
WordPiece-tokenizes each whitespace word, truncates the question to `max_query_length` tokens and
slides a window of `max_seq_length - len(query) - 3` document tokens with step
`min(length, doc_stride)` over the document; every window becomes one feature
`[CLS] query [SEP] window [SEP]` zero-padded to `max_seq_length`. On SQuAD v1.1 dev this gives
exactly 10,833 features. A tokenizer call with `stride=` windows differently (10,784 features),
so we only use the fast tokenizer for the WordPiece step (batched over pre-split words, which is
equivalent to tokenizing each word on its own) and do the windowing here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bert_sweep.assets.squad import SquadExample
from bert_sweep.atomic import atomic_path

# Bump when the feature layout or algorithm changes, so stale caches are not reused.
FEATURES_FORMAT = 1
UNIQUE_ID_BASE = 1_000_000_000


@dataclass(frozen=True)
class FeatureParams:
    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64


@dataclass
class Features:
    """All features of a dataset as flat arrays (one row per loadgen sample)."""

    input_ids: np.ndarray  # int32 [N, seq]
    input_mask: np.ndarray  # int8 [N, seq]
    segment_ids: np.ndarray  # int8 [N, seq]
    example_index: np.ndarray  # int32 [N]: which example the feature came from
    doc_offset: np.ndarray  # int32 [N]: sequence position of the first document token
    span_start: np.ndarray  # int32 [N]: first document sub-token index of this window
    span_length: np.ndarray  # int32 [N]: number of document sub-tokens in this window
    max_context: np.ndarray  # bool [N, seq]: token has its maximum context in this window
    tok_to_orig: np.ndarray  # int32 [sum of sub-tokens]: sub-token → whitespace word
    tok_to_orig_offsets: np.ndarray  # int64 [E+1]: per example slice into tok_to_orig
    start_positions: np.ndarray | None = None  # int32 [N] training targets (0 = not in window)
    end_positions: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def unique_ids(self) -> np.ndarray:
        return UNIQUE_ID_BASE + np.arange(len(self), dtype=np.int64)

    def lengths(self) -> np.ndarray:
        """Number of real (unpadded) tokens of each feature."""
        return self.input_mask.sum(axis=1).astype(np.int32)

    def token_to_orig(self, i: int, position: int) -> int | None:
        """Whitespace-word index of the token at `position` of feature `i` (None outside doc)."""
        rel = position - int(self.doc_offset[i])
        if rel < 0 or rel >= int(self.span_length[i]):
            return None
        base = int(self.tok_to_orig_offsets[self.example_index[i]])
        return int(self.tok_to_orig[base + int(self.span_start[i]) + rel])

    def select(self, rows: np.ndarray) -> Features:
        """A subset of features (rows in order); example-level arrays are shared."""
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return Features(
            input_ids=self.input_ids[rows],
            input_mask=self.input_mask[rows],
            segment_ids=self.segment_ids[rows],
            example_index=self.example_index[rows],
            doc_offset=self.doc_offset[rows],
            span_start=self.span_start[rows],
            span_length=self.span_length[rows],
            max_context=self.max_context[rows],
            tok_to_orig=self.tok_to_orig,
            tok_to_orig_offsets=self.tok_to_orig_offsets,
            start_positions=pick(self.start_positions),
            end_positions=pick(self.end_positions),
        )

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write atomically (temp file in the same folder, then rename)."""
        arrays = {k: v for k, v in self.__dict__.items() if v is not None}
        with atomic_path(Path(path), suffix=".npz") as tmp:
            np.savez(tmp, **arrays)

    @classmethod
    def load(cls, path: Path) -> Features:
        with np.load(path) as data:
            kwargs = {k: data[k] for k in data.files}
        return cls(**kwargs)


def _check_is_max_context(spans: list[tuple[int, int]], cur: int, position: int) -> bool:
    """The reference rule: the window where the token has the most context on its shorter side."""
    best_score, best_index = None, None
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_index = score, index
    return cur == best_index


def _improve_answer_span(doc_tokens, start, end, answer_tokens: list[str]) -> tuple[int, int]:
    """The reference's tightening of a word-level answer to the matching sub-token span."""
    target = " ".join(answer_tokens)
    for new_start in range(start, end + 1):
        for new_end in range(end, new_start - 1, -1):
            if " ".join(doc_tokens[new_start : new_end + 1]) == target:
                return new_start, new_end
    return start, end


def _tokenize_words(tokenizer, docs: Sequence[Sequence[str]], desc: str, progress: bool):
    """WordPiece ids per word for many documents; returns (ids, word_index) per document."""
    out = []
    chunk = 256
    for lo in tqdm(range(0, len(docs), chunk), desc=desc, unit_scale=chunk, disable=not progress):
        batch = [list(d) if d else [""] for d in docs[lo : lo + chunk]]
        enc = tokenizer(batch, is_split_into_words=True, add_special_tokens=False)
        for j, ids in enumerate(enc["input_ids"]):
            words = enc.word_ids(j)
            if not docs[lo + j]:
                out.append((np.zeros(0, np.int32), np.zeros(0, np.int32)))
                continue
            out.append((np.asarray(ids, np.int32), np.asarray(words, np.int32)))
    return out


def convert_examples_to_features(
    examples: Sequence[SquadExample],
    tokenizer,
    params: FeatureParams = FeatureParams(),
    is_training: bool = False,
    progress: bool = True,
) -> Features:
    """Featurize examples exactly like the MLPerf reference (see module docstring)."""
    seq_len, stride, max_q = params.max_seq_length, params.doc_stride, params.max_query_length
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id

    # Tokenize each distinct context once: SQuAD has ~5 questions per paragraph.
    doc_key: dict[int, int] = {}
    docs: list[list[str]] = []
    doc_of_example = []
    for ex in examples:
        key = id(ex.doc_tokens)
        if key not in doc_key:
            doc_key[key] = len(docs)
            docs.append(ex.doc_tokens)
        doc_of_example.append(doc_key[key])
    doc_enc = _tokenize_words(tokenizer, docs, "tokenize contexts", progress)
    questions = tokenizer([ex.question_text for ex in examples], add_special_tokens=False)[
        "input_ids"
    ]

    rows_ids, rows_seg, rows_ctx = [], [], []
    ex_index, doc_offsets, span_starts, span_lengths = [], [], [], []
    starts, ends = [], []
    tok_to_orig_parts, offsets = [], [0]

    answer_tokens = None
    if is_training:
        answer_tokens = tokenizer(
            [ex.answers[0] if ex.answers else "" for ex in examples], add_special_tokens=False
        )["input_ids"]

    for e, ex in enumerate(tqdm(examples, desc="window features", disable=not progress)):
        doc_ids, tok_to_orig = doc_enc[doc_of_example[e]]
        tok_to_orig_parts.append(tok_to_orig)
        offsets.append(offsets[-1] + len(tok_to_orig))
        query = list(questions[e][:max_q])
        n_doc = len(doc_ids)

        tok_start = tok_end = None
        if is_training:
            # orig_to_tok_index: first sub-token of each word (words with no sub-token map to
            # the next word's first sub-token, as in the reference's running counter).
            orig_to_tok = np.searchsorted(tok_to_orig, np.arange(len(ex.doc_tokens) + 1))
            tok_start = int(orig_to_tok[ex.start_position])
            if ex.end_position < len(ex.doc_tokens) - 1:
                tok_end = int(orig_to_tok[ex.end_position + 1]) - 1
            else:
                tok_end = n_doc - 1
            tok_start, tok_end = _improve_answer_span(
                [str(t) for t in doc_ids], tok_start, tok_end, [str(t) for t in answer_tokens[e]]
            )

        max_doc = seq_len - len(query) - 3
        spans: list[tuple[int, int]] = []
        start = 0
        while start < n_doc:
            length = min(n_doc - start, max_doc)
            spans.append((start, length))
            if start + length == n_doc:
                break
            start += min(length, stride)

        for s, (start, length) in enumerate(spans):
            ids = np.zeros(seq_len, np.int32)
            seg = np.zeros(seq_len, np.int8)
            ctx = np.zeros(seq_len, bool)
            q = len(query)
            ids[0] = cls_id
            ids[1 : 1 + q] = query
            ids[1 + q] = sep_id
            off = q + 2
            ids[off : off + length] = doc_ids[start : start + length]
            ids[off + length] = sep_id
            seg[off : off + length + 1] = 1
            for i in range(length):
                ctx[off + i] = _check_is_max_context(spans, s, start + i)
            rows_ids.append(ids)
            rows_seg.append(seg)
            rows_ctx.append(ctx)
            ex_index.append(e)
            doc_offsets.append(off)
            span_starts.append(start)
            span_lengths.append(length)
            if is_training:
                if tok_start >= start and tok_end <= start + length - 1:
                    starts.append(tok_start - start + off)
                    ends.append(tok_end - start + off)
                else:
                    starts.append(0)
                    ends.append(0)

    input_ids = np.stack(rows_ids) if rows_ids else np.zeros((0, seq_len), np.int32)
    lengths = np.array([o + n + 1 for o, n in zip(doc_offsets, span_lengths, strict=True)])
    input_mask = (np.arange(seq_len)[None, :] < lengths[:, None]).astype(np.int8)
    return Features(
        input_ids=input_ids,
        input_mask=input_mask,
        segment_ids=np.stack(rows_seg) if rows_seg else np.zeros((0, seq_len), np.int8),
        example_index=np.asarray(ex_index, np.int32),
        doc_offset=np.asarray(doc_offsets, np.int32),
        span_start=np.asarray(span_starts, np.int32),
        span_length=np.asarray(span_lengths, np.int32),
        max_context=np.stack(rows_ctx) if rows_ctx else np.zeros((0, seq_len), bool),
        tok_to_orig=np.concatenate(tok_to_orig_parts).astype(np.int32)
        if tok_to_orig_parts
        else np.zeros(0, np.int32),
        tok_to_orig_offsets=np.asarray(offsets, np.int64),
        start_positions=np.asarray(starts, np.int32) if is_training else None,
        end_positions=np.asarray(ends, np.int32) if is_training else None,
    )


def features_cache_key(dataset_md5: str, vocab_md5: str, params: FeatureParams, is_training: bool):
    payload = json.dumps(
        {
            "format": FEATURES_FORMAT,
            "dataset": dataset_md5,
            "vocab": vocab_md5,
            "params": params.__dict__,
            "training": is_training,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def load_or_build_features(
    dataset_path: Path,
    vocab_path: Path,
    cache_dir: Path,
    params: FeatureParams = FeatureParams(),
    is_training: bool = False,
    progress: bool = True,
) -> tuple[Features, list[SquadExample], Path]:
    """Featurize a SQuAD file, cached on disk by dataset, vocab, parameters and format version.

    Returns the features, the examples (needed for post-processing) and the cache file path.
    """
    from bert_sweep.assets.squad import load_squad
    from bert_sweep.assets.vocab import load_tokenizer, md5sum

    examples = load_squad(dataset_path, is_training=is_training)
    key = features_cache_key(md5sum(dataset_path), md5sum(vocab_path), params, is_training)
    path = Path(cache_dir) / "features" / f"{Path(dataset_path).stem}-{key}.npz"
    if path.is_file():
        try:
            return Features.load(path), examples, path
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # corrupt cache entry: rebuild it
    tokenizer = load_tokenizer(Path(vocab_path))
    features = convert_examples_to_features(examples, tokenizer, params, is_training, progress)
    features.save(path)
    return features, examples, path
