"""The embedded default: synthetic SQuAD-format data and a MiniLM QA model built offline.

`build_embedded(cache_dir)` returns the cached build (ONNX model, dev/train JSON, metadata with
the model's reference F1), building it first when needed. Names are resolved lazily so that
`import bert_sweep.embedded` stays cheap and `python -m bert_sweep.embedded.build` runs cleanly.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "EmbeddedAssets": "bert_sweep.embedded.build",
    "EmbeddedSpec": "bert_sweep.embedded.build",
    "build_embedded": "bert_sweep.embedded.build",
    "load_embedded": "bert_sweep.embedded.build",
    "generate_squad": "bert_sweep.embedded.synthetic",
    "write_squad": "bert_sweep.embedded.synthetic",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
