"""BERT QA architectures with random weights, exported to ONNX: speed measurement only.

Where the real BERT-large weights cannot be downloaded, `model=bert-large-perf` still measures how
fast an engine runs the real architecture. Accuracy of such a model means nothing; the run is marked
so and the submission stage refuses it. backend=torch gets the same weights (same seed, same key)
as a torch checkpoint folder beside the ONNX file.
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


def _random_net(model: ModelConfig, seed: int):
    """The randomly initialised network (eager attention, fp32): the same weights for a seed,
    so the ONNX file and the torch checkpoint of one key hold the same model."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

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
    return BertForQuestionAnswering(config).eval()


def _stem(model: ModelConfig, seed: int) -> str:
    return f"bert-L{model.num_layers}-H{model.hidden_size}-{random_model_key(model, seed)}"


def build_random_model(
    model: ModelConfig, cache_dir: Path, seed: int = 0, progress: bool = True
) -> Path:
    """Build (once, cached) a randomly initialised BertForQuestionAnswering ONNX file."""
    out = Path(cache_dir) / "random" / f"{_stem(model, seed)}.onnx"
    if out.is_file():
        return out
    from bert_sweep.embedded.export import export_onnx

    if progress:
        print(
            f"building random-weight BERT ({model.num_layers} layers, hidden "
            f"{model.hidden_size}) for speed measurement -> {out}",
            flush=True,
        )
    net = _random_net(model, seed)
    return export_onnx(net, out)  # written to a temp file, then renamed


def build_random_checkpoint(
    model: ModelConfig, cache_dir: Path, seed: int = 0, progress: bool = True
) -> Path:
    """Build (once, cached) the same random model as a torch checkpoint folder
    (config.json + model.safetensors) beside the ONNX one, for backend=torch.

    Written into a temporary sibling folder and renamed into place under a lock, so a killed
    build leaves nothing that looks complete and parallel jobs build it once."""
    import os
    import shutil
    import tempfile

    from bert_sweep.backends.torch.checkpoint import CONFIG_FILE, WEIGHTS_FILE
    from bert_sweep.locks import file_lock

    out = Path(cache_dir) / "random" / f"{_stem(model, seed)}.torch"
    if (out / WEIGHTS_FILE).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(out.with_name(out.name + ".lock")):
        if (out / WEIGHTS_FILE).is_file():
            return out
        if progress:
            print(
                f"building random-weight BERT ({model.num_layers} layers, hidden "
                f"{model.hidden_size}) as a torch checkpoint for speed measurement -> {out}",
                flush=True,
            )
        from safetensors.torch import save_file

        net = _random_net(model, seed)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            state = {k: v.contiguous() for k, v in net.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
            config = net.config.to_dict()
            config.pop("_attn_implementation_autoset", None)
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
            os.replace(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out
