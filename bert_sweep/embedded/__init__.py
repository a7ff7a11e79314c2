"""The embedded default: synthetic SQuAD-format data and a MiniLM QA model built offline.

`build_embedded(cache_dir)` returns the cached build (ONNX model, dev/train JSON, metadata with
the model's reference F1), building it first when needed. Importing this package is cheap: torch,
transformers and onnxruntime load only inside the build.
"""

from bert_sweep.embedded.build import EmbeddedAssets, EmbeddedSpec, build_embedded, load_embedded
from bert_sweep.embedded.synthetic import generate_squad, write_squad

__all__ = [
    "EmbeddedAssets",
    "EmbeddedSpec",
    "build_embedded",
    "generate_squad",
    "load_embedded",
    "write_squad",
]
