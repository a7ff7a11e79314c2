"""MLPerf BERT reference post-processing: start/end logits → answer text per question.

This reproduces `write_predictions`/`get_final_text` of the reference's accuracy-squad.py, which
decides the official F1, but vectorized with numpy so the whole dev set (10,833 features) takes
seconds instead of minutes:

* per feature, the top `n_best_size` start and end positions over all positions (ties keep the
  lower position first, like the reference's stable sort);
* a (start, end) pair is kept when both tokens lie in the document part of the feature, the start
  token has its maximum context in this feature, end >= start and the span has at most
  `max_answer_length` tokens;
* the best pair of an example maximizes start_logit + end_logit (in float64, as the reference sums
  Python floats); ties go to the earliest pair in the reference's order (feature, start rank, end
  rank);
* its WordPiece tokens are de-tokenized and aligned with the original words through the BERT
  BasicTokenizer (`get_final_text`), so the answer keeps the original casing and accents but not
  extra characters such as a trailing "'s".

An example with no valid pair gets the reference's fallback text, the literal string "empty".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np

from bert_sweep.assets.squad import SquadExample
from bert_sweep.errors import HarnessError
from bert_sweep.features.squad_features import Features

# The reference appends `_NbestPrediction(text="empty", ...)` when nothing is valid; keep the same
# text so that scores agree with the official script.
NO_ANSWER_TEXT = "empty"


# -- BERT BasicTokenizer (lower-casing variant), used only to align answer text ---------------
def _is_control(ch: str) -> bool:
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf")


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # All non-alphanumeric printable ASCII counts as punctuation, as in BERT.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def basic_tokenize(text: str, do_lower_case: bool = True) -> list[str]:
    """BERT's BasicTokenizer: clean, space CJK, lower-case and strip accents, split punctuation."""
    chars = []
    for ch in text:
        if ch in ("\x00", "\ufffd") or _is_control(ch):
            continue
        if _is_whitespace(ch):
            chars.append(" ")
        elif _is_cjk(ch):
            chars.append(f" {ch} ")
        else:
            chars.append(ch)
    out: list[str] = []
    for word in "".join(chars).split():
        if do_lower_case:
            word = unicodedata.normalize("NFD", word.lower())
            word = "".join(c for c in word if unicodedata.category(c) != "Mn")
        piece = ""
        for ch in word:
            if _is_punctuation(ch):
                if piece:
                    out.append(piece)
                    piece = ""
                out.append(ch)
            else:
                piece += ch
        if piece:
            out.append(piece)
    return out


def _without_spaces(text: str) -> tuple[str, list[int]]:
    """Text with spaces removed, and for each kept character its index in `text`."""
    kept = [i for i, c in enumerate(text) if c != " "]
    return "".join(text[i] for i in kept), kept


def get_final_text(pred_text: str, orig_text: str, do_lower_case: bool = True) -> str:
    """Project the de-tokenized prediction back onto the original words (reference heuristic).

    `orig_text` covers whole whitespace words (e.g. "Smith's"); `pred_text` is normalized
    WordPiece text (e.g. "smith"). Character-align the BasicTokenizer output of `orig_text` with
    `orig_text` itself; when that alignment is impossible, return `orig_text` unchanged.
    """
    tok_text = " ".join(basic_tokenize(orig_text, do_lower_case))
    start = tok_text.find(pred_text)
    if start == -1:
        return orig_text
    end = start + len(pred_text) - 1
    orig_ns, orig_ns_to_s = _without_spaces(orig_text)
    tok_ns, tok_ns_to_s = _without_spaces(tok_text)
    if len(orig_ns) != len(tok_ns):
        return orig_text
    tok_s_to_ns = {s: ns for ns, s in enumerate(tok_ns_to_s)}
    if start not in tok_s_to_ns or end not in tok_s_to_ns:
        return orig_text
    # Equal lengths without spaces: character ns of one text is character ns of the other.
    return orig_text[orig_ns_to_s[tok_s_to_ns[start]] : orig_ns_to_s[tok_s_to_ns[end]] + 1]


# -- span search -------------------------------------------------------------------------------
def best_spans(
    features: Features,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best_size: int = 20,
    max_answer_length: int = 30,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best valid (start, end) per feature and its score (-inf when the feature has none).

    Within a feature the winner is the first maximum in (start rank, end rank) order.
    """
    n = min(n_best_size, start_logits.shape[1])
    starts = np.argsort(-start_logits, axis=1, kind="stable")[:, :n]  # [N, n]
    ends = np.argsort(-end_logits, axis=1, kind="stable")[:, :n]
    off = features.doc_offset.astype(np.int64)[:, None]
    length = features.span_length.astype(np.int64)[:, None]
    start_ok = (starts >= off) & (starts < off + length)
    start_ok &= np.take_along_axis(features.max_context, starts, axis=1)
    end_ok = (ends >= off) & (ends < off + length)
    span = ends[:, None, :] - starts[:, :, None]  # [N, n, n]: end - start
    ok = start_ok[:, :, None] & end_ok[:, None, :] & (span >= 0) & (span < max_answer_length)
    s_val = np.take_along_axis(start_logits, starts, axis=1).astype(np.float64)
    e_val = np.take_along_axis(end_logits, ends, axis=1).astype(np.float64)
    score = s_val[:, :, None] + e_val[:, None, :]
    ok &= np.isfinite(score)
    score = np.where(ok, score, -np.inf).reshape(len(features), n * n)
    flat = np.argmax(score, axis=1)  # first maximum = reference order within the feature
    rows = np.arange(len(features))
    best = score[rows, flat]
    return starts[rows, flat // n], ends[rows, flat % n], best


def _answer_text(
    example: SquadExample, features: Features, row: int, start: int, end: int, tokenizer
) -> str:
    ids = [int(t) for t in features.input_ids[row, start : end + 1]]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    tok_text = " ".join(tokens).replace(" ##", "").replace("##", "")
    tok_text = " ".join(tok_text.strip().split())
    first, last = features.token_to_orig(row, start), features.token_to_orig(row, end)
    orig_text = " ".join(example.doc_tokens[first : last + 1])
    return get_final_text(tok_text, orig_text, do_lower_case=True)


def predictions_from_logits(
    examples: Sequence[SquadExample],
    features: Features,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    tokenizer,
    n_best_size: int = 20,
    max_answer_length: int = 30,
) -> dict[str, str]:
    """Answer text (qas_id → text) for every example that has at least one row in `features`.

    `start_logits`/`end_logits` are float `[len(features), seq]`, row i belonging to feature i;
    `features.example_index` indexes `examples`. Examples without any feature are left out (the
    evaluation then scores them 0, as the official script does for missing predictions).
    """
    start_logits = np.asarray(start_logits)
    end_logits = np.asarray(end_logits)
    expected = features.input_ids.shape
    if start_logits.shape != expected or end_logits.shape != expected:
        raise HarnessError(
            f"logits: expected start and end of shape {expected}, got "
            f"{start_logits.shape} and {end_logits.shape}"
        )
    if len(features) == 0:
        return {}
    if int(features.example_index.max()) >= len(examples):
        raise HarnessError(
            f"features: example_index up to {int(features.example_index.max())} but only "
            f"{len(examples)} examples were given"
        )
    s_best, e_best, score = best_spans(
        features, start_logits, end_logits, n_best_size, max_answer_length
    )
    # Group rows by example keeping row order (the reference's feature order within an example).
    order = np.argsort(features.example_index, kind="stable")
    ex_sorted = features.example_index[order]
    bounds = np.flatnonzero(np.diff(ex_sorted)) + 1
    predictions: dict[str, str] = {}
    for group in np.split(order, bounds):
        example = examples[int(features.example_index[group[0]])]
        pick = int(np.argmax(score[group]))  # first maximum = earliest feature
        row = int(group[pick])
        if not np.isfinite(score[row]):
            predictions[example.qas_id] = NO_ANSWER_TEXT
            continue
        predictions[example.qas_id] = _answer_text(
            example, features, row, int(s_best[row]), int(e_best[row]), tokenizer
        )
    return predictions
