"""BERT QA architectures with random weights, exported to ONNX: speed measurement only.

Where the real BERT-large weights cannot be downloaded, `model=bert-large-perf` still measures how
fast an engine runs the real architecture. Accuracy of such a model means nothing; the run is marked
so and the submission stage refuses it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bert_sweep.config.schema import ModelConfig

RANDOM_FORMAT = 1


def random_model_key(model: ModelConfig, seed: int = 0) -> str:
    spec = {
        "format": RANDOM_FORMAT,
        "layers": model.num_layers,
        "hidden": model.hidden_size,
        "heads": model.num_heads,
        "intermediate": model.intermediate_size,
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def build_random_model(
    model: ModelConfig, cache_dir: Path, seed: int = 0, progress: bool = True
) -> Path:
    """Build (once, cached) a randomly initialised BertForQuestionAnswering ONNX file."""
    out = (
        Path(cache_dir)
        / "random"
        / f"bert-L{model.num_layers}-H{model.hidden_size}-{random_model_key(model, seed)}.onnx"
    )
    if out.is_file():
        return out
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    from bert_sweep.embedded.export import export_onnx

    if progress:
        print(
            f"building random-weight BERT ({model.num_layers} layers, hidden "
            f"{model.hidden_size}) for speed measurement -> {out}",
            flush=True,
        )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=model.hidden_size,
        num_hidden_layers=model.num_layers,
        num_attention_heads=model.num_heads,
        intermediate_size=model.intermediate_size,
        max_position_embeddings=512,
        attn_implementation="eager",
    )
    net = BertForQuestionAnswering(config).eval()
    return export_onnx(net, out)  # written to a temp file, then renamed
